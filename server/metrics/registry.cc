#include "server/metrics/registry.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "server/metrics/validation.h"

namespace nn::metrics {
namespace {

FamilyDescriptor MakeDescriptor(MetricType type, FamilyOptions options) {
  return FamilyDescriptor{.name = std::move(options.name),
                          .help = std::move(options.help),
                          .type = type,
                          .label_names = std::move(options.label_names)};
}

// A collector's histogram must keep the invariants HistogramData documents.
absl::Status ValidateHistogramData(const HistogramData& data) {
  if (absl::Status status = ValidateBucketBounds(data.bucket_bounds);
      !status.ok()) {
    return status;
  }
  if (data.cumulative_counts.size() != data.bucket_bounds.size()) {
    return absl::InvalidArgumentError(
        "histogram has a different number of counts and bounds");
  }
  uint64_t previous = 0;
  for (uint64_t cumulative : data.cumulative_counts) {
    if (cumulative < previous) {
      return absl::InvalidArgumentError(
          "histogram bucket counts are not cumulative");
    }
    previous = cumulative;
  }
  if (data.count < previous) {
    return absl::InvalidArgumentError(
        "histogram count is below its largest bucket count");
  }
  return absl::OkStatus();
}

// Keeps the samples of a collected family that fit its declaration.
void FilterSamples(const FamilyDescriptor& descriptor,
                   std::vector<MetricSample>* samples) {
  std::set<Labels> seen;
  std::vector<MetricSample> kept;
  kept.reserve(samples->size());
  for (MetricSample& sample : *samples) {
    absl::Status status = ValidateLabels(sample.labels, descriptor.label_names);
    if (status.ok() && descriptor.type == MetricType::kHistogram) {
      status = ValidateHistogramData(sample.histogram);
    }
    if (status.ok() && !seen.insert(sample.labels).second) {
      status = absl::InvalidArgumentError("duplicate label set");
    }
    if (!status.ok()) {
      NN_LOG(ERROR) << "metrics: dropping a sample of " << descriptor.name
                    << ": " << status.message();
      continue;
    }
    kept.push_back(std::move(sample));
  }
  *samples = std::move(kept);
}

// The collector behind AddCallbackFamily.
class CallbackCollector final : public Collector {
 public:
  CallbackCollector(FamilyDescriptor descriptor,
                    std::function<std::vector<MetricSample>()> samples_fn)
      : descriptor_(std::move(descriptor)), samples_fn_(std::move(samples_fn)) {}

  std::vector<FamilyDescriptor> Describe() const override {
    return {descriptor_};
  }

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> families(1);
    families[0].name = descriptor_.name;
    families[0].help = descriptor_.help;
    families[0].type = descriptor_.type;
    families[0].samples = samples_fn_();
    return families;
  }

 private:
  const FamilyDescriptor descriptor_;
  const std::function<std::vector<MetricSample>()> samples_fn_;
};

}  // namespace

struct Registry::CollectorEntry {
  std::unique_ptr<Collector> collector;
  std::map<std::string, FamilyDescriptor> descriptors;  // by name
};

Registry::Registry() = default;
Registry::~Registry() = default;

absl::Status Registry::ReserveNames(
    const std::vector<const FamilyDescriptor*>& descriptors) {
  // Check every name before reserving any, so a failure changes nothing.
  std::set<std::string> names;
  for (const FamilyDescriptor* descriptor : descriptors) {
    for (const std::string& series : SeriesNames(*descriptor)) {
      if (series_names_.contains(series) || !names.insert(series).second) {
        return absl::AlreadyExistsError(
            absl::StrCat("metric ", descriptor->name, ": the series name ",
                         series, " is already registered"));
      }
    }
  }
  series_names_.insert(names.begin(), names.end());
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<Family<T>*> Registry::AddFamily(
    FamilyOptions options, std::vector<double> bucket_bounds) {
  FamilyDescriptor descriptor = MakeDescriptor(T::kType, std::move(options));
  if (absl::Status status = ValidateDescriptor(descriptor); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateBucketBounds(bucket_bounds); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric ", descriptor.name, ": ", status.message()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status status = ReserveNames({&descriptor}); !status.ok()) {
    return status;
  }
  auto* family = new Family<T>(std::move(descriptor), std::move(bucket_bounds));
  families_.emplace_back(family);
  return family;
}

absl::StatusOr<Family<Counter>*> Registry::AddCounterFamily(
    FamilyOptions options) {
  return AddFamily<Counter>(std::move(options), {});
}

absl::StatusOr<Family<Gauge>*> Registry::AddGaugeFamily(FamilyOptions options) {
  return AddFamily<Gauge>(std::move(options), {});
}

absl::StatusOr<Family<Histogram>*> Registry::AddHistogramFamily(
    FamilyOptions options, std::vector<double> bucket_bounds) {
  return AddFamily<Histogram>(std::move(options), std::move(bucket_bounds));
}

absl::Status Registry::AddCollector(std::unique_ptr<Collector> collector) {
  if (collector == nullptr) {
    return absl::InvalidArgumentError("null collector");
  }
  auto entry = std::make_unique<CollectorEntry>();
  for (FamilyDescriptor& descriptor : collector->Describe()) {
    if (absl::Status status = ValidateDescriptor(descriptor); !status.ok()) {
      return status;
    }
    const std::string name = descriptor.name;
    if (!entry->descriptors.emplace(name, std::move(descriptor)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("collector describes ", name, " twice"));
    }
  }
  entry->collector = std::move(collector);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const FamilyDescriptor*> descriptors;
  for (const auto& [name, descriptor] : entry->descriptors) {
    descriptors.push_back(&descriptor);
  }
  if (absl::Status status = ReserveNames(descriptors); !status.ok()) {
    return status;
  }
  collectors_.push_back(std::move(entry));
  return absl::OkStatus();
}

absl::Status Registry::AddCallbackFamily(
    MetricType type, FamilyOptions options,
    std::function<std::vector<MetricSample>()> samples_fn) {
  if (samples_fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric ", options.name, ": null callback"));
  }
  return AddCollector(std::make_unique<CallbackCollector>(
      MakeDescriptor(type, std::move(options)), std::move(samples_fn)));
}

std::vector<MetricFamily> Registry::Collect() const {
  // Families and collectors are never removed, so the pointers stay valid
  // after the lock is released; each family locks itself.
  std::vector<const FamilyBase*> families;
  std::vector<const CollectorEntry*> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& family : families_) families.push_back(family.get());
    for (const auto& entry : collectors_) collectors.push_back(entry.get());
  }
  std::vector<MetricFamily> result;
  result.reserve(families.size() + collectors.size());
  for (const FamilyBase* family : families) {
    result.push_back(family->Collect());
  }
  for (const CollectorEntry* entry : collectors) {
    std::set<std::string> returned;
    for (MetricFamily& family : entry->collector->Collect()) {
      auto it = entry->descriptors.find(family.name);
      if (it == entry->descriptors.end() ||
          !returned.insert(family.name).second) {
        NN_LOG(ERROR) << "metrics: dropping family " << family.name
                      << " (undeclared by its collector, or returned twice)";
        continue;
      }
      const FamilyDescriptor& descriptor = it->second;
      family.help = descriptor.help;
      family.type = descriptor.type;
      FilterSamples(descriptor, &family.samples);
      result.push_back(std::move(family));
    }
  }
  std::sort(result.begin(), result.end(),
            [](const MetricFamily& a, const MetricFamily& b) {
              return a.name < b.name;
            });
  return result;
}

}  // namespace nn::metrics
