#include "client/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace nn {

LogLinearHistogram::LogLinearHistogram() : counts_(kBucketCount, 0) {}

int LogLinearHistogram::BucketIndex(int64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<int>(std::max<int64_t>(value, 0));
  // value >= 256: its top bit is at position `top` >= 8; keep the 8 bits from
  // the top down (128..255) and drop `shift` = top - 7 >= 1 low bits.
  const int top = 63 - std::countl_zero(static_cast<uint64_t>(value));
  const int shift = top - kSubBucketBits;
  const int64_t sub = value >> shift;  // in [kSubBuckets, 2 * kSubBuckets)
  return static_cast<int>(2 * kSubBuckets + (shift - 1) * kSubBuckets +
                          (sub - kSubBuckets));
}

int64_t LogLinearHistogram::BucketWidth(int index) {
  if (index < 2 * kSubBuckets) return 1;
  const int shift = static_cast<int>((index - 2 * kSubBuckets) / kSubBuckets) + 1;
  return int64_t{1} << shift;
}

int64_t LogLinearHistogram::BucketLowerBound(int index) {
  if (index < 2 * kSubBuckets) return index;
  const int64_t offset = index - 2 * kSubBuckets;
  const int shift = static_cast<int>(offset / kSubBuckets) + 1;
  const int64_t sub = offset % kSubBuckets + kSubBuckets;
  return sub << shift;
}

void LogLinearHistogram::Record(int64_t value) {
  value = std::max<int64_t>(value, 0);
  ++counts_[BucketIndex(value)];
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  ++count_;
  sum_ += static_cast<double>(value);
}

void LogLinearHistogram::Merge(const LogLinearHistogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

double LogLinearHistogram::mean() const {
  return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
}

int64_t LogLinearHistogram::ValueAtQuantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The tolerance keeps 0.99 * 100 (98.99999...) or 0.29 * 100
  // (29.000000004) from moving the rank.
  const int64_t rank = std::max<int64_t>(
      1, static_cast<int64_t>(
             std::ceil(q * static_cast<double>(count_) - 1e-6)));
  // The extremes are known exactly.
  if (rank == 1) return min_;
  if (rank >= count_) return max_;
  int64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const int64_t mid = BucketLowerBound(i) + (BucketWidth(i) - 1) / 2;
      return std::clamp(mid, min(), max());
    }
  }
  return max_;
}

}  // namespace nn
