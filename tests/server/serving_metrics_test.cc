// ServingMetrics on a real prometheus::Registry, read back through the text
// exposition: the life of each series (versions, jobs), the counting of
// every RPC and rejection, and the families' HELP texts.
#include "server/serving_metrics.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/metrics/metric_names.h"
#include "tests/support/exposition.h"
#include "tests/support/required_tool.h"

namespace nn {
namespace {

using metrics::Method;
using metrics::RejectReason;
using testing::Exposition;

class ServingMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = ServingMetrics::Create(&registry_);
    ASSERT_TRUE(created.ok()) << created.status();
    metrics_ = *std::move(created);
  }

  std::string Text() const {
    return prometheus::TextSerializer().Serialize(registry_.Collect());
  }

  Exposition Scrape() const {
    absl::StatusOr<Exposition> e = testing::ParseExposition(Text());
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : Exposition{};
  }

  prometheus::Registry registry_{prometheus::Registry::InsertBehavior::Throw};
  std::unique_ptr<ServingMetrics> metrics_;
};

TEST_F(ServingMetricsTest, VersionSeriesGoAwayWithTheirLastVersionMetrics) {
  std::unique_ptr<VersionMetrics> v1 = metrics_->MetricsFor("m", 1);
  v1->RecordPredict(absl::StatusCode::kOk, absl::Milliseconds(2));
  v1->RecordPredict(absl::StatusCode::kOk, absl::Milliseconds(3));
  v1->RecordPredict(absl::StatusCode::kInvalidArgument, absl::Milliseconds(1));
  v1->OnBatchComputed(5, absl::Milliseconds(1));
  Exposition e = Scrape();
  EXPECT_EQ(e.Sum(metrics::kRequestsTotal,
                  {{"model", "m"}, {"version", "1"}, {"code", "OK"}}),
            2);
  EXPECT_EQ(e.Sum(metrics::kImagesTotal, {{"version", "1"}}), 5);

  v1.reset();
  e = Scrape();
  EXPECT_EQ(e.CountSeries(metrics::kRequestsTotal, {{"version", "1"}}), 0);
  EXPECT_EQ(e.CountSeries(metrics::kImagesTotal), 0);
  // The model's own series stay: the model is still known.
  EXPECT_EQ(e.Sum("nnserve_request_duration_seconds_count",
                  {{"model", "m"}, {"method", "Predict"}}),
            3);
  EXPECT_EQ(e.Sum("nnserve_batch_size_count", {{"model", "m"}}), 1);
}

TEST_F(ServingMetricsTest, TwoServablesOfOneVersionShareItsSeriesUntilBothGo) {
  // A version replaced on disk loads again while the old servable drains.
  std::unique_ptr<VersionMetrics> old_one = metrics_->MetricsFor("m", 3);
  std::unique_ptr<VersionMetrics> new_one = metrics_->MetricsFor("m", 3);
  old_one->RecordPredict(absl::StatusCode::kOk, absl::Milliseconds(1));
  new_one->RecordPredict(absl::StatusCode::kOk, absl::Milliseconds(1));
  old_one.reset();
  new_one->RecordPredict(absl::StatusCode::kOk, absl::Milliseconds(1));
  EXPECT_EQ(Scrape().Sum(metrics::kRequestsTotal,
                         {{"version", "3"}, {"code", "OK"}}),
            3);
  new_one.reset();
  EXPECT_EQ(Scrape().CountSeries(metrics::kRequestsTotal, {{"version", "3"}}),
            0);
}

TEST_F(ServingMetricsTest, ModelInfoFollowsTheStateAndGoesWithTheVersion) {
  metrics_->OnVersionState("m", 4, nnserve::v1::VERSION_STATE_LOADING);
  EXPECT_EQ(Scrape().Sum(metrics::kModelInfo,
                         {{"version", "4"}, {"state", "loading"}}),
            1);
  metrics_->OnVersionState("m", 4, nnserve::v1::VERSION_STATE_AVAILABLE);
  Exposition e = Scrape();
  EXPECT_EQ(e.CountSeries(metrics::kModelInfo, {{"version", "4"}}), 1);
  EXPECT_EQ(e.Sum(metrics::kModelInfo, {{"state", "available"}}), 1);
  metrics_->OnVersionState("m", 4, nnserve::v1::VERSION_STATE_UNLOADING);
  metrics_->OnVersionState("m", 4, nnserve::v1::VERSION_STATE_UNSPECIFIED);
  EXPECT_EQ(Scrape().CountSeries(metrics::kModelInfo), 0);
}

TEST_F(ServingMetricsTest, QueueDepthSumsTheVersionsAndDropsAGoneVersionsShare) {
  std::unique_ptr<VersionMetrics> v1 = metrics_->MetricsFor("m", 1);
  std::unique_ptr<VersionMetrics> v2 = metrics_->MetricsFor("m", 2);
  v1->OnQueueDepthChanged(7);
  v2->OnQueueDepthChanged(5);
  v1->OnQueueDepthChanged(4);
  EXPECT_EQ(Scrape().Sum(metrics::kQueueDepth, {{"model", "m"}}), 9);
  v1.reset();
  EXPECT_EQ(Scrape().Sum(metrics::kQueueDepth, {{"model", "m"}}), 5);
}

TEST_F(ServingMetricsTest, RejectionsAndDropsAreCountedPerReason) {
  std::unique_ptr<VersionMetrics> v = metrics_->MetricsFor("m", 1);
  for (int i = 0; i < 1000; ++i) v->RecordRejected(RejectReason::kQueueFull);
  v->RecordRejected(RejectReason::kTooLarge);
  v->OnTaskDropped(absl::StatusCode::kDeadlineExceeded);
  v->OnTaskDropped(absl::StatusCode::kCancelled);
  v->OnTaskDropped(absl::StatusCode::kCancelled);
  const Exposition e = Scrape();
  const auto rejected = [&](const char* reason) {
    return e.Sum(metrics::kRejectedTotal, {{"model", "m"}, {"reason", reason}});
  };
  EXPECT_EQ(rejected("queue_full"), 1000);
  EXPECT_EQ(rejected("too_large"), 1);
  EXPECT_EQ(rejected("deadline_exceeded"), 1);
  EXPECT_EQ(rejected("cancelled"), 2);
  EXPECT_EQ(e.CountSeries(metrics::kRejectedTotal), 4);
}

TEST_F(ServingMetricsTest, EveryMethodIsCountedWithAnEmptyVersion) {
  for (int i = 0; i < metrics::kNumMethods; ++i) {
    metrics_->RecordRequest("m", static_cast<Method>(i),
                            absl::StatusCode::kOk, absl::Milliseconds(1));
  }
  metrics_->RecordRequest("", Method::kCancelTraining,
                          absl::StatusCode::kNotFound, absl::Milliseconds(1));
  metrics_->RecordRequest("", Method::kCancelTraining,
                          absl::StatusCode::kNotFound, absl::Milliseconds(1));
  const Exposition e = Scrape();
  for (int i = 0; i < metrics::kNumMethods; ++i) {
    const char* method = metrics::MethodLabel(static_cast<Method>(i));
    EXPECT_EQ(e.Sum(metrics::kRequestsTotal, {{"model", "m"},
                                              {"version", ""},
                                              {"method", method},
                                              {"code", "OK"}}),
              1)
        << method;
    EXPECT_EQ(e.Sum("nnserve_request_duration_seconds_count",
                    {{"model", "m"}, {"method", method}}),
              1)
        << method;
  }
  EXPECT_EQ(e.Sum(metrics::kRequestsTotal, {{"model", ""},
                                            {"method", "CancelTraining"},
                                            {"code", "NOT_FOUND"}}),
            2);
}

TEST_F(ServingMetricsTest, JobSeriesLiveFromTheStartUntilTheJobIsForgotten) {
  metrics_->OnTrainingJobState("job-1", "m", nnserve::v1::JOB_STATE_UNSPECIFIED,
                               nnserve::v1::JOB_STATE_QUEUED);
  metrics_->OnTrainingJobState("job-1", "m", nnserve::v1::JOB_STATE_QUEUED,
                               nnserve::v1::JOB_STATE_RUNNING);
  metrics_->OnTrainingProgress("job-1", 0.5, 0.7, 0.8);
  Exposition e = Scrape();
  EXPECT_EQ(e.Sum(metrics::kTrainingProgressRatio, {{"job_id", "job-1"}}), 0.5);
  EXPECT_EQ(e.Sum(metrics::kTrainingLoss, {{"job_id", "job-1"}}), 0.7);
  EXPECT_EQ(e.Sum(metrics::kTrainingJobs, {{"state", "running"}}), 1);

  metrics_->OnTrainingJobState("job-1", "m", nnserve::v1::JOB_STATE_RUNNING,
                               nnserve::v1::JOB_STATE_CANCELLED);
  metrics_->ForgetTrainingJob("job-1", nnserve::v1::JOB_STATE_CANCELLED);
  // A cancelled job's thread may still report progress: ignored.
  metrics_->OnTrainingProgress("job-1", 0.6, 0.6, 0.9);
  e = Scrape();
  for (const char* name : {metrics::kTrainingProgressRatio,
                           metrics::kTrainingLoss, metrics::kTrainingAccuracy}) {
    EXPECT_EQ(e.CountSeries(name), 0) << name;
  }
  EXPECT_EQ(e.CountSeries(metrics::kTrainingJobs), 5);
  EXPECT_EQ(e.Sum(metrics::kTrainingJobs), 0);
}

TEST_F(ServingMetricsTest, ManyVersionsAndJobsLeaveOnlyTheLiveOnesSeries) {
  std::unique_ptr<VersionMetrics> live;
  for (int v = 1; v <= 50; ++v) {
    std::unique_ptr<VersionMetrics> next = metrics_->MetricsFor("m", v);
    next->RecordPredict(absl::StatusCode::kOk, absl::Milliseconds(1));
    next->RecordPredict(absl::StatusCode::kUnavailable, absl::Milliseconds(1));
    next->OnBatchComputed(1, absl::Milliseconds(1));
    metrics_->OnVersionState("m", v, nnserve::v1::VERSION_STATE_AVAILABLE);
    if (live != nullptr) {
      metrics_->OnVersionState("m", v - 1, nnserve::v1::VERSION_STATE_UNSPECIFIED);
    }
    live = std::move(next);
    const std::string job = absl::StrCat("job-", v);
    metrics_->OnTrainingJobState(job, "m", nnserve::v1::JOB_STATE_UNSPECIFIED,
                                 nnserve::v1::JOB_STATE_SUCCEEDED);
    if (v > 3) {
      metrics_->ForgetTrainingJob(absl::StrCat("job-", v - 3),
                                  nnserve::v1::JOB_STATE_SUCCEEDED);
    }
  }
  const Exposition e = Scrape();
  EXPECT_EQ(e.CountSeries(metrics::kRequestsTotal), 2);  // v50: OK, UNAVAILABLE
  EXPECT_EQ(e.CountSeries(metrics::kImagesTotal), 1);
  EXPECT_EQ(e.CountSeries(metrics::kModelInfo), 1);
  EXPECT_EQ(e.CountSeries(metrics::kTrainingLoss), 3);  // 3 remembered jobs
  EXPECT_EQ(e.Sum(metrics::kTrainingJobs, {{"state", "succeeded"}}), 3);
}

// Runs every kind of update once, so that every family has a series.
void Exercise(ServingMetrics* m, std::unique_ptr<VersionMetrics>* keep) {
  *keep = m->MetricsFor("m", 1);
  (*keep)->RecordPredict(absl::StatusCode::kOk, absl::Milliseconds(1));
  (*keep)->RecordRejected(RejectReason::kDraining);
  (*keep)->OnTaskStarted(absl::Microseconds(30));
  (*keep)->OnBatchComputed(4, absl::Microseconds(200));
  (*keep)->OnQueueDepthChanged(2);
  m->RecordRequest("", Method::kListModels, absl::StatusCode::kOk,
                   absl::Microseconds(50));
  m->OnVersionState("m", 1, nnserve::v1::VERSION_STATE_AVAILABLE);
  m->OnVersionLoaded("m", absl::Milliseconds(40));
  m->OnTrainingJobState("j", "m", nnserve::v1::JOB_STATE_UNSPECIFIED,
                        nnserve::v1::JOB_STATE_RUNNING);
  m->OnTrainingProgress("j", 0.25, 1.5, 0.5);
}

TEST_F(ServingMetricsTest, HelpTextsAreOneLineWithoutBackslashes) {
  // TextSerializer writes HELP unescaped: a newline would break the format.
  std::unique_ptr<VersionMetrics> keep;
  Exercise(metrics_.get(), &keep);
  const std::vector<prometheus::MetricFamily> families = registry_.Collect();
  EXPECT_EQ(families.size(), 14u);  // every family of metric_names.h
  for (const prometheus::MetricFamily& family : families) {
    EXPECT_FALSE(family.help.empty()) << family.name;
    EXPECT_EQ(family.help.find_first_of("\n\r\\"), std::string::npos)
        << family.name;
  }
}

TEST_F(ServingMetricsTest, PromtoolAcceptsEveryFamily) {
  std::unique_ptr<VersionMetrics> keep;
  Exercise(metrics_.get(), &keep);
  const std::string text = Text();
  ASSERT_TRUE(testing::ParseExposition(text).ok());
  NN_REQUIRE_TOOL(testing::FindTool("promtool"),
                  "promtool (Debian package prometheus)");
  absl::StatusOr<std::string> lint = testing::PromtoolCheckMetrics(text);
  ASSERT_TRUE(lint.ok()) << lint.status() << "\non:\n" << text;
  EXPECT_EQ(*lint, "") << "promtool lint findings on:\n" << text;
}

}  // namespace
}  // namespace nn
