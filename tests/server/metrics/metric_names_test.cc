// The naming plan's own parts: bucket bounds and enumerated label values.
#include "server/metrics/metric_names.h"

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/check_names.h"

namespace nn::metrics {
namespace {

TEST(MetricNamesTest, ExponentialBucketsMakeTheDocumentedBounds) {
  EXPECT_EQ(ExponentialBuckets(0.001, 2, 4),
            (std::vector<double>{0.001, 0.002, 0.004, 0.008}));
  EXPECT_TRUE(ExponentialBuckets(0, 2, 4).empty());
  EXPECT_TRUE(ExponentialBuckets(1, 1, 4).empty());
  EXPECT_TRUE(ExponentialBuckets(1, 2, 0).empty());
}

TEST(MetricNamesTest, ServingBucketsSpanTheDocumentedRanges) {
  const std::vector<double> latency = LatencyBucketsSeconds();
  ASSERT_EQ(latency.size(), 16u);
  EXPECT_DOUBLE_EQ(latency.front(), 0.0001);
  EXPECT_NEAR(latency.back(), 3.2768, 1e-12);
  const std::vector<double> batch = BatchSizeBuckets();
  ASSERT_EQ(batch.size(), 10u);
  EXPECT_EQ(batch.front(), 1);
  EXPECT_EQ(batch.back(), 512);
  const std::vector<double> load = LoadBucketsSeconds();
  ASSERT_EQ(load.size(), 7u);
  EXPECT_DOUBLE_EQ(load.front(), 0.01);
  EXPECT_NEAR(load.back(), 40.96, 1e-9);
  // prometheus-cpp's Histogram requires increasing bounds.
  for (const auto& bounds : {latency, batch, load}) {
    for (size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
  }
}

TEST(MetricNamesTest, FamilyNamesAreValidAndFollowTheConventions) {
  for (const char* name :
       {kRequestsTotal, kRequestDurationSeconds, kQueueDurationSeconds,
        kComputeDurationSeconds, kBatchSize, kImagesTotal, kQueueDepth,
        kRejectedTotal, kModelInfo, kModelLoadDurationSeconds, kTrainingJobs,
        kTrainingProgressRatio, kTrainingLoss, kTrainingAccuracy}) {
    const std::string n = name;
    EXPECT_TRUE(prometheus::CheckMetricName(n)) << n;
    EXPECT_EQ(n.rfind("nnserve_", 0), 0u) << n;
  }
}

TEST(MetricNamesTest, EveryMethodAndReasonHasADistinctLabel) {
  std::set<std::string> methods;
  for (int i = 0; i < kNumMethods; ++i) {
    methods.insert(MethodLabel(static_cast<Method>(i)));
  }
  EXPECT_EQ(methods.size(), static_cast<size_t>(kNumMethods));
  EXPECT_TRUE(methods.contains("Predict"));
  EXPECT_TRUE(methods.contains("ListTrainingJobs"));
  std::set<std::string> reasons;
  for (int i = 0; i < kNumRejectReasons; ++i) {
    reasons.insert(RejectReasonLabel(static_cast<RejectReason>(i)));
  }
  EXPECT_EQ(reasons, (std::set<std::string>{"queue_full", "draining",
                                            "too_large", "deadline_exceeded",
                                            "cancelled"}));
}

}  // namespace
}  // namespace nn::metrics
