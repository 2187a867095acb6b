// The training service publishes through the repository, in-process: a job
// that ends takes the next version number from ModelRepository::Publish and
// that version is served when the job reports SUCCEEDED; two jobs of one
// model get distinct numbers; a cancelled job takes none.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_repository.h"
#include "server/training_service.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

class TrainingPublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = testing::MakeModel("mnist_mlp", 3);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(testing::PublishModel(repo_.path(), "m", 1, **model).ok());
    ModelRepository::Options options;
    options.root = repo_.path();
    options.poll_interval = absl::ZeroDuration();  // only Publish loads
    options.default_batching.set_max_batch_size(4);
    options.default_batching.set_max_queue_size(16);
    options.default_batching.set_workers(1);
    options.default_batching.set_threads_per_worker(1);
    auto repository = ModelRepository::Create(options, Clock::Real());
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    ASSERT_TRUE(repository_->Start().ok());
    TrainingService::Options training;
    training.enabled = true;
    training.max_jobs = 2;
    service_ = std::make_unique<TrainingService>(training, repository_.get(),
                                                 nullptr);
  }

  void TearDown() override {
    if (service_ != nullptr) service_->Shutdown();
  }

  // Fine-tunes version 1 for one epoch on `images` inline images.
  static nnserve::v1::TrainRequest Request(int images = 16) {
    nnserve::v1::TrainRequest request;
    request.set_model("m");
    request.set_base_version(1);
    request.mutable_config()->set_epochs(1);
    request.mutable_config()->set_batch_size(8);
    std::string pixels(static_cast<size_t>(images) * 784, '\0');
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>(i % 251);
    request.mutable_examples()->mutable_images()->mutable_pixels()->set_data(pixels);
    for (int i = 0; i < images; ++i) request.mutable_examples()->add_labels(i % 10);
    return request;
  }

  static absl::Status WaitForEnd(TrainingJob& job) {
    absl::Status status = absl::DeadlineExceededError("job did not end");
    EXPECT_TRUE(testing::Eventually([&] { return job.ended(&status); },
                                    testing::Scaled(absl::Seconds(120))));
    return status;
  }

  testing::TempDir repo_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<TrainingService> service_;
};

TEST_F(TrainingPublishTest, AFinishedJobPublishesTheNextVersionAndItIsServed) {
  auto job = service_->Start(Request());
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitForEnd(**job).ok());
  const nnserve::v1::TrainingJob state = (*job)->Snapshot();
  EXPECT_EQ(state.state(), nnserve::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(state.published_version(), 2);
  const auto events = (*job)->EventsFrom(0);
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events.back().has_result());
  EXPECT_EQ(events.back().result().version(), 2);
  EXPECT_EQ(events.back().result().path(), repo_.Join("m/2/model.nnm"));
  EXPECT_EQ(events.back().result().history().base_version(), 1);
  // Served without a poll: Publish loaded it.
  auto served = repository_->Get("m", 0);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ((*served)->version(), 2);
}

TEST_F(TrainingPublishTest, TwoJobsOfOneModelPublishDistinctVersions) {
  auto first = service_->Start(Request());
  auto second = service_->Start(Request());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(WaitForEnd(**first).ok());
  ASSERT_TRUE(WaitForEnd(**second).ok());
  EXPECT_EQ((std::set<int64_t>{(*first)->Snapshot().published_version(),
                               (*second)->Snapshot().published_version()}),
            (std::set<int64_t>{2, 3}));
  EXPECT_EQ(repository_->HighestVersion("m"), 3);
}

TEST_F(TrainingPublishTest, ACancelledJobTakesNoNumber) {
  // 100 epochs of 250 batches: cancelled long before it could end.
  nnserve::v1::TrainRequest slow = Request(2000);
  slow.mutable_config()->set_epochs(100);
  auto cancelled = service_->Start(slow);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  ASSERT_TRUE(service_->Cancel((*cancelled)->id()).ok());
  EXPECT_EQ(WaitForEnd(**cancelled).code(), absl::StatusCode::kCancelled);
  auto job = service_->Start(Request());
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitForEnd(**job).ok());
  EXPECT_EQ((*job)->Snapshot().published_version(), 2);
}

}  // namespace
}  // namespace nn
