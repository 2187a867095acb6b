// The metrics registry: owns every family and collector of the process and
// produces the snapshot that the text format serialises on each scrape.
//
// Families are created once (at start-up, or when a component appears) and
// never destroyed before the registry, so the pointers handed out by
// Add*Family and Family::Add stay valid for the registry's life. Create the
// registry before, and destroy it after, everything that updates it (the
// HTTP endpoint included).
//
// Names are unique per registry, counting the series a histogram writes: a
// histogram "x" also occupies x_bucket, x_count and x_sum.
#ifndef NNSERVE_SERVER_METRICS_REGISTRY_H_
#define NNSERVE_SERVER_METRICS_REGISTRY_H_

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/metrics/family.h"
#include "server/metrics/metric_family.h"

namespace nn::metrics {

// A family's declaration; the type comes from the Add*Family call.
struct FamilyOptions {
  // [a-zA-Z_:][a-zA-Z0-9_:]*, in base units ("_seconds", "_bytes");
  // counters end in "_total".
  std::string name = {};
  // One line saying what is measured and in which unit. Required.
  std::string help = {};
  // The label names every series of the family has; empty for a single,
  // unlabelled series (then Add({})).
  std::vector<std::string> label_names = {};
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each returns a family owned by the registry, or InvalidArgument for a
  // bad declaration (see ValidateDescriptor) and AlreadyExists when a series
  // name is taken.
  absl::StatusOr<Family<Counter>*> AddCounterFamily(FamilyOptions options)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<Family<Gauge>*> AddGaugeFamily(FamilyOptions options)
      ABSL_LOCKS_EXCLUDED(mu_);
  // `bucket_bounds`: finite, strictly increasing upper bounds, +Inf implicit
  // (see histogram.h for DefaultBuckets / ExponentialBuckets).
  absl::StatusOr<Family<Histogram>*> AddHistogramFamily(
      FamilyOptions options, std::vector<double> bucket_bounds)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Adds a source of families computed at scrape time. Its Describe()d
  // families are validated and their names reserved as for Add*Family.
  absl::Status AddCollector(std::unique_ptr<Collector> collector)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Shorthand for a collector of one family: `samples_fn` is called on every
  // scrape (from the scraping thread, possibly several at once: it must be
  // thread-safe and quick) and returns the family's samples. For a value
  // owned elsewhere, e.g. a queue's depth:
  //   registry.AddCallbackFamily(MetricType::kGauge, {.name = ..., .help = ...},
  //       [q] { return std::vector<MetricSample>{
  //           {.value = static_cast<double>(q->size())}}; });
  absl::Status AddCallbackFamily(
      MetricType type, FamilyOptions options,
      std::function<std::vector<MetricSample>()> samples_fn)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A snapshot of every family, sorted by name; within a family, samples are
  // sorted by label set (collectors' samples keep their order). Samples from
  // collectors that break their declaration (undeclared family, wrong label
  // names, invalid UTF-8, malformed histogram, duplicate label set) are
  // dropped and logged. Thread-safe; runs collectors outside the registry's
  // lock.
  std::vector<MetricFamily> Collect() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct CollectorEntry;

  template <typename T>
  absl::StatusOr<Family<T>*> AddFamily(FamilyOptions options,
                                       std::vector<double> bucket_bounds)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Fails with AlreadyExists if any series name of `descriptors` is taken
  // (or appears twice among them); otherwise takes them all.
  absl::Status ReserveNames(
      const std::vector<const FamilyDescriptor*>& descriptors)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // std::mutex, not absl::Mutex: see family.h.
  mutable std::mutex mu_;
  std::set<std::string> series_names_ ABSL_GUARDED_BY(mu_);
  // Append-only: Collect() reads the elements outside the lock.
  std::vector<std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<CollectorEntry>> collectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_REGISTRY_H_
