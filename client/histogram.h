// A log-linear ("HDR-style") histogram of non-negative integers, for latency
// percentiles without keeping every sample.
//
// Values 0..255 are counted exactly. Above, every power-of-two range
// [2^k, 2^(k+1)) is split into 128 equal buckets, so a bucket is at most
// 1/128 of its values wide. A percentile is reported as its bucket's midpoint
// (clamped to the recorded min and max), within 0.4 % of the exact sample of
// that rank. Memory is fixed: kBucketCount counters (~58 KB) cover every
// int64 value, whatever the number of samples.
//
// Not thread-safe: give each thread its own histogram and Merge() them.
#ifndef NNSERVE_CLIENT_HISTOGRAM_H_
#define NNSERVE_CLIENT_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace nn {

class LogLinearHistogram {
 public:
  // Exactly counted values are [0, 2 * kSubBuckets); each power of two above
  // is split into kSubBuckets buckets.
  static constexpr int kSubBucketBits = 7;
  static constexpr int64_t kSubBuckets = int64_t{1} << kSubBucketBits;
  // 256 exact buckets + 55 octaves (2^8 .. 2^63) of 128.
  static constexpr int kBucketCount = 2 * kSubBuckets + 55 * kSubBuckets;

  LogLinearHistogram();

  // Counts `value` once; a negative value counts as 0.
  void Record(int64_t value);
  // Adds every count of `other` (same bucket layout) to this histogram.
  void Merge(const LogLinearHistogram& other);

  int64_t count() const { return count_; }
  // Exact extremes of the recorded values; 0 when empty.
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  // Exact mean of the recorded values; 0 when empty.
  double mean() const;

  // The nearest-rank percentile: the ceil(q * count)-th smallest sample
  // (the smallest for q = 0), as its bucket's midpoint clamped to
  // [min(), max()]; the smallest and the largest sample are exact. `q` is
  // clamped to [0, 1]. 0 when empty.
  int64_t ValueAtQuantile(double q) const;

  // The bucket layout, exposed for tests.
  static int BucketIndex(int64_t value);
  // Smallest value and width of bucket `index`.
  static int64_t BucketLowerBound(int index);
  static int64_t BucketWidth(int index);

 private:
  std::vector<int64_t> counts_;  // kBucketCount entries
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  // The sum as a double: exact up to 2^53 ns (104 days) of total latency.
  double sum_ = 0;
};

}  // namespace nn

#endif  // NNSERVE_CLIENT_HISTOGRAM_H_
