#include "server/metrics/histogram.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace nn::metrics {

absl::Status ValidateBucketBounds(const std::vector<double>& bucket_bounds) {
  for (size_t i = 0; i < bucket_bounds.size(); ++i) {
    if (!std::isfinite(bucket_bounds[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram bucket bound ", i, " is not finite (the +Inf bucket is "
          "implicit; do not list it)"));
    }
    if (i > 0 && !(bucket_bounds[i - 1] < bucket_bounds[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram bucket bounds must increase strictly; bound ", i, " (",
          bucket_bounds[i], ") is not above bound ", i - 1, " (",
          bucket_bounds[i - 1], ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<double> DefaultBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> ExponentialBuckets(double start, double factor,
                                       int count) {
  std::vector<double> bounds;
  if (!(start > 0) || !(factor > 1) || count < 1) return bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> bounds;
  if (!(width > 0) || count < 1) return bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start + i * width);
  return bounds;
}

absl::StatusOr<std::unique_ptr<Histogram>> Histogram::Create(
    std::vector<double> bucket_bounds) {
  if (absl::Status status = ValidateBucketBounds(bucket_bounds); !status.ok()) {
    return status;
  }
  return std::unique_ptr<Histogram>(new Histogram(std::move(bucket_bounds)));
}

Histogram::Histogram(std::vector<double> bucket_bounds)
    : bucket_bounds_(std::move(bucket_bounds)),
      bucket_counts_(
          std::make_unique<std::atomic<uint64_t>[]>(bucket_bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  const size_t bucket =
      std::isnan(value)
          ? bucket_bounds_.size()
          : static_cast<size_t>(std::lower_bound(bucket_bounds_.begin(),
                                                 bucket_bounds_.end(), value) -
                                bucket_bounds_.begin());
  bucket_counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramData Histogram::Snapshot() const {
  HistogramData data;
  data.bucket_bounds = bucket_bounds_;
  data.cumulative_counts.reserve(bucket_bounds_.size());
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bucket_bounds_.size(); ++i) {
    cumulative += bucket_counts_[i].load(std::memory_order_relaxed);
    data.cumulative_counts.push_back(cumulative);
  }
  cumulative += bucket_counts_[bucket_bounds_.size()].load(
      std::memory_order_relaxed);
  data.count = cumulative;
  data.sum = sum_.load(std::memory_order_relaxed);
  return data;
}

}  // namespace nn::metrics
