// Family<T>: the metrics of one name, one per label set, as prometheus-cpp
// models them. A family is created by the Registry (AddCounterFamily, ...),
// which owns it; Add() returns a pointer that stays valid until the registry
// is destroyed, so callers look a series up once and then update it with one
// atomic operation:
//
//   ASSIGN_OR_RETURN(Family<Counter>* requests, registry.AddCounterFamily({
//       .name = "nnserve_requests_total", .help = "Requests by outcome.",
//       .label_names = {"model", "code"}}));
//   ASSIGN_OR_RETURN(Counter* ok, requests->Add({{"model", "mnist"},
//                                                 {"code", "OK"}}));
//   ok->Increment();   // hot path: no lock, no map lookup
#ifndef NNSERVE_SERVER_METRICS_FAMILY_H_
#define NNSERVE_SERVER_METRICS_FAMILY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/metrics/counter.h"
#include "server/metrics/gauge.h"
#include "server/metrics/histogram.h"
#include "server/metrics/metric_family.h"
#include "server/metrics/validation.h"

namespace nn::metrics {

class Registry;

// The type-independent face of a family, for the registry.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const FamilyDescriptor& descriptor() const { return descriptor_; }

  // A snapshot of every exported series, sorted by label set.
  virtual MetricFamily Collect() const = 0;

 protected:
  explicit FamilyBase(FamilyDescriptor descriptor)
      : descriptor_(std::move(descriptor)) {}

 private:
  const FamilyDescriptor descriptor_;
};

// T is Counter, Gauge or Histogram. Thread-safe: Add and Remove take the
// family's mutex (the slow path: call them when a model, method or job
// appears, not per request); the metrics themselves are lock-free.
template <typename T>
class Family final : public FamilyBase {
  static_assert(std::is_same_v<T, Counter> || std::is_same_v<T, Gauge> ||
                std::is_same_v<T, Histogram>);

 public:
  // The series for `labels`, created at zero on first use. `labels` must
  // have exactly the family's label names and UTF-8 values; otherwise
  // InvalidArgument. The same label set always returns the same pointer,
  // valid until the registry is destroyed.
  absl::StatusOr<T*> Add(const Labels& labels) ABSL_LOCKS_EXCLUDED(mu_) {
    if (absl::Status status = ValidateLabels(labels, descriptor().label_names);
        !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric ", descriptor().name, ": ", status.message()));
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(labels);
    if (it == entries_.end()) {
      std::unique_ptr<T> metric;
      if constexpr (std::is_same_v<T, Histogram>) {
        // The registry validated the bounds when it created the family.
        metric = *Histogram::Create(bucket_bounds_);
      } else {
        metric = std::make_unique<T>();
      }
      it = entries_.emplace(labels, Entry{std::move(metric), true}).first;
    }
    it->second.exported = true;
    return it->second.metric.get();
  }

  // Stops exporting the series for `labels` (e.g. a model version that was
  // unloaded). The metric object stays alive, so pointers to it remain valid
  // (updates through them are kept but not exported); a later Add of the same
  // labels exports it again, value included. Returns false if no such series
  // was ever added.
  bool Remove(const Labels& labels) ABSL_LOCKS_EXCLUDED(mu_) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(labels);
    if (it == entries_.end()) return false;
    it->second.exported = false;
    return true;
  }

  MetricFamily Collect() const override ABSL_LOCKS_EXCLUDED(mu_) {
    MetricFamily family;
    family.name = descriptor().name;
    family.help = descriptor().help;
    family.type = T::kType;
    std::lock_guard<std::mutex> lock(mu_);
    family.samples.reserve(entries_.size());
    for (const auto& [labels, entry] : entries_) {
      if (!entry.exported) continue;
      MetricSample& sample = family.samples.emplace_back();
      sample.labels = labels;
      if constexpr (std::is_same_v<T, Histogram>) {
        sample.histogram = entry.metric->Snapshot();
      } else {
        sample.value = entry.metric->Value();
      }
    }
    return family;
  }

 private:
  friend class Registry;

  // Only the registry creates families, after validating `descriptor` and,
  // for histograms, `bucket_bounds` (ignored for other types).
  Family(FamilyDescriptor descriptor, std::vector<double> bucket_bounds)
      : FamilyBase(std::move(descriptor)),
        bucket_bounds_(std::move(bucket_bounds)) {}

  struct Entry {
    std::unique_ptr<T> metric;  // never freed before the family
    bool exported;
  };

  const std::vector<double> bucket_bounds_;
  // std::mutex, not absl::Mutex: Debian's libabsl carries no ThreadSanitizer
  // annotations, so TSan would report false races (see common/clock.h).
  mutable std::mutex mu_;
  std::map<Labels, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_FAMILY_H_
