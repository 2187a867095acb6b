#include "client/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace nn {
namespace {

// The nearest-rank percentile of `sorted`: the ceil(p/1000 * n)-th smallest
// (at least the first), with p in per mille so the rank is exact.
int64_t ExactPercentile(const std::vector<int64_t>& sorted, int per_mille) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t rank = std::max<int64_t>(1, (per_mille * n + 999) / 1000);
  return sorted[rank - 1];
}

TEST(LogLinearHistogramTest, EmptyHistogramReportsZeros) {
  LogLinearHistogram histogram;
  EXPECT_EQ(histogram.count(), 0);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), 0);
  EXPECT_EQ(histogram.mean(), 0.0);
  EXPECT_EQ(histogram.ValueAtQuantile(0.5), 0);
}

TEST(LogLinearHistogramTest, SmallValuesAreCountedExactlyWithNearestRank) {
  LogLinearHistogram histogram;
  for (int64_t v = 1; v <= 100; ++v) histogram.Record(v);
  EXPECT_EQ(histogram.count(), 100);
  EXPECT_EQ(histogram.ValueAtQuantile(0.0), 1);
  EXPECT_EQ(histogram.ValueAtQuantile(0.01), 1);
  EXPECT_EQ(histogram.ValueAtQuantile(0.5), 50);
  EXPECT_EQ(histogram.ValueAtQuantile(0.9), 90);
  EXPECT_EQ(histogram.ValueAtQuantile(0.99), 99);
  EXPECT_EQ(histogram.ValueAtQuantile(0.995), 100);
  EXPECT_EQ(histogram.ValueAtQuantile(1.0), 100);
  EXPECT_DOUBLE_EQ(histogram.mean(), 50.5);
}

TEST(LogLinearHistogramTest, BucketsTileTheRangeWithRelativeWidthBelowOnePercent) {
  for (int i = 0; i + 1 < LogLinearHistogram::kBucketCount; ++i) {
    const int64_t lower = LogLinearHistogram::BucketLowerBound(i);
    const int64_t width = LogLinearHistogram::BucketWidth(i);
    ASSERT_EQ(LogLinearHistogram::BucketLowerBound(i + 1), lower + width)
        << "bucket " << i;
    ASSERT_EQ(LogLinearHistogram::BucketIndex(lower), i);
    ASSERT_EQ(LogLinearHistogram::BucketIndex(lower + width - 1), i);
    if (i >= 2 * LogLinearHistogram::kSubBuckets) {  // above the exact ones
      ASSERT_LE(static_cast<double>(width) / static_cast<double>(lower),
                1.0 / 128 + 1e-12)
          << "bucket " << i;
    }
  }
  EXPECT_EQ(LogLinearHistogram::BucketIndex(std::numeric_limits<int64_t>::max()),
            LogLinearHistogram::kBucketCount - 1);
}

TEST(LogLinearHistogramTest, PercentilesOfKnownSamplesAreWithinHalfAPercent) {
  // Latency-like samples: log-normal around 150 us, in nanoseconds, with a
  // tail to tens of milliseconds.
  std::mt19937_64 random(7);
  std::lognormal_distribution<double> latency(std::log(150e3), 0.8);
  std::vector<int64_t> samples;
  LogLinearHistogram histogram;
  for (int i = 0; i < 200000; ++i) {
    const int64_t value = static_cast<int64_t>(latency(random));
    samples.push_back(value);
    histogram.Record(value);
  }
  std::sort(samples.begin(), samples.end());
  for (int per_mille : {0, 1, 100, 500, 900, 950, 990, 999, 1000}) {
    const double exact = static_cast<double>(ExactPercentile(samples, per_mille));
    const double approx =
        static_cast<double>(histogram.ValueAtQuantile(per_mille / 1000.0));
    EXPECT_NEAR(approx, exact, exact * 0.005) << "per mille " << per_mille;
  }
  EXPECT_EQ(histogram.min(), samples.front());
  EXPECT_EQ(histogram.max(), samples.back());
  EXPECT_EQ(histogram.ValueAtQuantile(1.0), samples.back());
}

TEST(LogLinearHistogramTest, MergingEqualsRecordingIntoOne) {
  std::mt19937_64 random(3);
  std::uniform_int_distribution<int64_t> value(0, int64_t{1} << 40);
  LogLinearHistogram all, part1, part2;
  for (int i = 0; i < 10000; ++i) {
    const int64_t v = value(random);
    all.Record(v);
    (i % 3 == 0 ? part1 : part2).Record(v);
  }
  LogLinearHistogram merged;
  merged.Merge(part1);
  merged.Merge(part2);
  merged.Merge(LogLinearHistogram());  // merging an empty one changes nothing
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double q : {0.0, 0.25, 0.5, 0.9, 0.99, 1.0}) {
    EXPECT_EQ(merged.ValueAtQuantile(q), all.ValueAtQuantile(q)) << q;
  }
}

TEST(LogLinearHistogramTest, ExtremeAndNegativeValuesAreClampedNotLost) {
  LogLinearHistogram histogram;
  histogram.Record(-5);
  histogram.Record(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(histogram.count(), 2);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.ValueAtQuantile(0.5), 0);
  EXPECT_EQ(histogram.ValueAtQuantile(1.0), std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace nn
