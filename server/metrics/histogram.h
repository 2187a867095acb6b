// A distribution of observed values (latencies in seconds, batch sizes)
// counted in fixed buckets, exposed as cumulative `le` buckets plus _sum and
// _count. Lives in a Family<Histogram>, which gives every histogram of the
// family the same bucket bounds (so histogram_quantile can aggregate them).
#ifndef NNSERVE_SERVER_METRICS_HISTOGRAM_H_
#define NNSERVE_SERVER_METRICS_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/metrics/metric_family.h"

namespace nn::metrics {

// Bucket upper bounds must be finite and strictly increasing; the +Inf bucket
// is implicit (do not list it). An empty list is valid: only +Inf.
absl::Status ValidateBucketBounds(const std::vector<double>& bucket_bounds);

// Prometheus' default buckets, in seconds: 0.005 ... 10.
std::vector<double> DefaultBuckets();

// `count` bounds start, start*factor, start*factor^2, ...
// (start > 0, factor > 1, count >= 1; otherwise an empty list).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// `count` bounds start, start+width, start+2*width, ...
// (width > 0, count >= 1; otherwise an empty list).
std::vector<double> LinearBuckets(double start, double width, int count);

// alignas(64): histograms updated by different threads never share a line.
class alignas(64) Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;

  // InvalidArgument if the bounds fail ValidateBucketBounds.
  static absl::StatusOr<std::unique_ptr<Histogram>> Create(
      std::vector<double> bucket_bounds);

  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` in the first bucket whose bound is >= value (inclusive
  // `le`) and adds it to the sum. NaN counts in the +Inf bucket only and
  // makes the sum NaN (as the Go client does). Lock-free: one binary search
  // over the bounds and two atomic adds.
  void Observe(double value);

  // A snapshot with cumulative bucket counts. `count` is the sum of the
  // bucket counts read, so the +Inf bucket equals _count in every snapshot,
  // even one taken while other threads observe. Under concurrent Observe the
  // sum may include an observation whose bucket was read before it was
  // counted (or the other way round); once observers stop, count and sum are
  // exact.
  HistogramData Snapshot() const;

  const std::vector<double>& bucket_bounds() const { return bucket_bounds_; }

 private:
  explicit Histogram(std::vector<double> bucket_bounds);

  const std::vector<double> bucket_bounds_;
  // bucket_bounds_.size() + 1 non-cumulative counts; the last is (bound, +Inf].
  const std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;
  std::atomic<double> sum_{0.0};
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_HISTOGRAM_H_
