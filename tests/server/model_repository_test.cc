// The model repository in-process on temporary directories: the apply step
// through explicit PollOnce calls on a FakeClock (and the poll thread driven
// by advancing it), the loader a version's file chooses, and Publish
// (numbering, atomic files, concurrent publishers, loading once).
#include "server/model_repository.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "engine/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "common/mutex.h"

namespace nn {
namespace {

using ::nnserve::v1::VersionState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Records every state change the repository reports.
class RecordingObserver : public RepositoryObserver {
 public:
  void OnVersionState(const std::string& model, int64_t version,
                      VersionState state) override {
    MutexLock lock(mu_);
    events_.emplace_back(model, version, state);
  }
  void OnVersionLoaded(const std::string&, absl::Duration load_time) override {
    MutexLock lock(mu_);
    load_times_.push_back(load_time);
  }
  int Count(int64_t version, VersionState state) {
    MutexLock lock(mu_);
    int n = 0;
    for (const auto& [m, v, s] : events_) n += (v == version && s == state);
    return n;
  }
  std::vector<absl::Duration> load_times() {
    MutexLock lock(mu_);
    return load_times_;
  }

 private:
  Mutex mu_;
  std::vector<std::tuple<std::string, int64_t, VersionState>> events_;
  std::vector<absl::Duration> load_times_;
};

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = testing::MakeModel("mnist_mlp", 7);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
  }

  ModelRepository::Options Options(absl::Duration poll_interval =
                                       absl::ZeroDuration()) {
    ModelRepository::Options options;
    options.root = repo_.path();
    options.poll_interval = poll_interval;  // zero: polled by the test
    options.default_batching.set_max_batch_size(4);
    options.default_batching.set_max_queue_size(16);
    options.default_batching.set_workers(1);
    options.default_batching.set_threads_per_worker(1);
    options.observer = &observer_;
    return options;
  }

  std::unique_ptr<ModelRepository> Started(ModelRepository::Options options) {
    auto repository = ModelRepository::Create(std::move(options), &clock_);
    EXPECT_TRUE(repository.ok()) << repository.status();
    if (!repository.ok()) return nullptr;
    absl::Status started = (*repository)->Start();
    EXPECT_TRUE(started.ok()) << started;
    return *std::move(repository);
  }

  // A started repository serving m version 1 (default options).
  std::unique_ptr<ModelRepository> ServingVersion1() {
    Write("m", 1);
    return Started(Options());
  }

  void Write(const std::string& model, int64_t version) {
    ASSERT_TRUE(
        testing::PublishModel(repo_.path(), model, version, *model_).ok());
  }

  // Versions of `model` (newest first) with their states.
  std::vector<std::pair<int64_t, VersionState>> States(
      ModelRepository& repository, const std::string& model) {
    std::vector<std::pair<int64_t, VersionState>> out;
    auto info = repository.ModelInfo(model, 0);
    if (!info.ok()) return out;
    for (const auto& v : info->versions()) out.emplace_back(v.version(), v.state());
    return out;
  }

  int64_t Serving(ModelRepository& repository, const std::string& model) {
    auto servable = repository.Get(model, 0);
    return servable.ok() ? (*servable)->version() : 0;
  }

  testing::TempDir repo_;
  FakeClock clock_;
  RecordingObserver observer_;
  std::shared_ptr<const Model> model_;
};

constexpr VersionState kAvailable = nnserve::v1::VERSION_STATE_AVAILABLE;
constexpr VersionState kFailed = nnserve::v1::VERSION_STATE_FAILED;
constexpr VersionState kLoading = nnserve::v1::VERSION_STATE_LOADING;
constexpr VersionState kUnloading = nnserve::v1::VERSION_STATE_UNLOADING;
constexpr VersionState kGone = nnserve::v1::VERSION_STATE_UNSPECIFIED;

// --- Apply ----------------------------------------------------------------------

TEST_F(ModelRepositoryTest, StartLoadsTheNewestVersionOnly) {
  Write("m", 1);
  Write("m", 2);
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(Serving(*repository, "m"), 2);
  EXPECT_THAT(States(*repository, "m"), ElementsAre(std::pair(2, kAvailable)));
  EXPECT_EQ(observer_.Count(1, kLoading), 0);
  EXPECT_EQ(repository->HighestVersion("m"), 2);
}

TEST_F(ModelRepositoryTest, ANewVersionIsSwappedInAndTheOldOneUnloadedAfterItsHandle) {
  auto repository = ServingVersion1();
  ASSERT_NE(repository, nullptr);
  auto handle = repository->Get("m", 1);
  ASSERT_TRUE(handle.ok());
  Write("m", 2);
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_EQ(Serving(*repository, "m"), 2);
  EXPECT_EQ(repository->Get("m", 1).status().code(), absl::StatusCode::kNotFound);
  // Out of service, but held by the handle: not unloaded yet.
  EXPECT_EQ(observer_.Count(1, kUnloading), 1);
  EXPECT_EQ(observer_.Count(1, kGone), 0);
  handle->reset();
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_EQ(observer_.Count(1, kGone), 1);
}

TEST_F(ModelRepositoryTest, ABadNewestVersionFailsOnceAndTheLastGoodOneKeepsServing) {
  auto repository = ServingVersion1();
  ASSERT_NE(repository, nullptr);
  testing::WriteFileOrDie(repo_.Join("m/2/model.nnm"), "not a model file");
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_EQ(Serving(*repository, "m"), 1);
  EXPECT_THAT(States(*repository, "m"),
              ElementsAre(std::pair(2, kFailed), std::pair(1, kAvailable)));
  auto info = repository->ModelInfo("m", 2);
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(info->versions(0).error(), HasSubstr("model.nnm"));
  // Same file: not tried again.
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_EQ(observer_.Count(2, kLoading), 1);
  // A new file: tried again, and served.
  Write("m", 2);
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_EQ(observer_.Count(2, kLoading), 2);
  EXPECT_EQ(Serving(*repository, "m"), 2);
}

TEST_F(ModelRepositoryTest, AFailedVersionWhoseFileIsRemovedIsForgotten) {
  Write("m", 1);
  testing::WriteFileOrDie(repo_.Join("m/2/model.nnm"), "junk");
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(Serving(*repository, "m"), 1);
  ASSERT_EQ(::unlink(repo_.Join("m/2/model.nnm").c_str()), 0);
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_THAT(States(*repository, "m"), ElementsAre(std::pair(1, kAvailable)));
  EXPECT_EQ(observer_.Count(2, kGone), 1);
}

TEST_F(ModelRepositoryTest, TheVersionPolicyOfTheConfigDecidesWhatIsLoaded) {
  Write("m", 1);
  Write("m", 2);
  Write("m", 3);
  testing::WriteFileOrDie(repo_.Join("m/config.textproto"),
                          "version_policy { latest { num_versions: 2 } }");
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  EXPECT_THAT(States(*repository, "m"),
              ElementsAre(std::pair(3, kAvailable), std::pair(2, kAvailable)));
  testing::WriteFileOrDie(repo_.Join("m/config.textproto"),
                          "version_policy { specific { versions: [1] } }");
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_THAT(States(*repository, "m"), ElementsAre(std::pair(1, kAvailable)));
}

TEST_F(ModelRepositoryTest, ABadConfigIsReportedAndThePreviousOneKept) {
  Write("m", 1);
  testing::WriteFileOrDie(repo_.Join("m/config.textproto"),
                          "batching { max_batch_size: 2 }");
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  testing::WriteFileOrDie(repo_.Join("m/config.textproto"), "batching {");
  const absl::Status polled = repository->PollOnce();
  EXPECT_EQ(polled.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(polled.message()), HasSubstr("m/config.textproto"));
  EXPECT_EQ(repository->LastPollError(), polled);
  auto info = repository->ModelInfo("m", 0);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->batching().max_batch_size(), 2);
  EXPECT_EQ(Serving(*repository, "m"), 1);
}

TEST_F(ModelRepositoryTest, AVanishedModelDirectoryKeepsServingAndIsReported) {
  auto repository = ServingVersion1();
  ASSERT_NE(repository, nullptr);
  ASSERT_EQ(::rename(repo_.Join("m").c_str(), repo_.Join(".m-away").c_str()), 0);
  EXPECT_EQ(repository->PollOnce().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Serving(*repository, "m"), 1);
  ASSERT_EQ(::rename(repo_.Join(".m-away").c_str(), repo_.Join("m").c_str()), 0);
  EXPECT_TRUE(repository->PollOnce().ok());
  EXPECT_TRUE(repository->LastPollError().ok());
}

TEST_F(ModelRepositoryTest, TheLoadTimeIsMeasuredOnTheInjectedClock) {
  // A loader that takes three (fake) seconds.
  ModelRepository::Options options = Options();
  ASSERT_TRUE(options.loaders
                  .Add(ModelLoader{"model.slow", "slow",
                                   [this](const std::string& path) {
                                     clock_.Advance(absl::Seconds(3));
                                     return LoadModel(path);
                                   }})
                  .ok());
  testing::MakeDirs(repo_.Join("m/1"));
  ASSERT_TRUE(WriteModelFile(repo_.Join("m/1/model.slow"), model_->ToSavedModel()).ok());
  auto repository = Started(std::move(options));
  ASSERT_NE(repository, nullptr);
  auto info = repository->ModelInfo("m", 1);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->versions(0).state(), kAvailable);
  EXPECT_EQ(info->versions(0).load_seconds(), 3.0);  // fake time: exact
  EXPECT_EQ(info->versions(0).path(), repo_.Join("m/1/model.slow"));
  EXPECT_THAT(observer_.load_times(), ElementsAre(absl::Seconds(3)));
}

TEST_F(ModelRepositoryTest, TheFileInTheVersionDirectoryChoosesTheLoader) {
  std::atomic<int> calls{0};
  ModelRepository::Options options = Options();
  ASSERT_TRUE(options.loaders
                  .Add(ModelLoader{"model.other", "other",
                                   [&calls](const std::string& path) {
                                     ++calls;
                                     return LoadModel(path);  // same bytes
                                   }})
                  .ok());
  Write("m", 1);  // model.nnm: the default loader
  testing::MakeDirs(repo_.Join("m/2"));
  ASSERT_TRUE(
      WriteModelFile(repo_.Join("m/2/model.other"), model_->ToSavedModel()).ok());
  testing::MakeDirs(repo_.Join("m/3"));  // nothing this repository reads
  testing::WriteFileOrDie(repo_.Join("m/3/model.pt"), "x");
  auto repository = Started(std::move(options));
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(Serving(*repository, "m"), 2);
  auto info = repository->ModelInfo("m", 2);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->versions(0).path(), repo_.Join("m/2/model.other"));
  EXPECT_EQ(info->versions(0).total_parameters(), model_->total_parameters());
}

TEST_F(ModelRepositoryTest, AVersionWithTwoModelFilesFailsAndThePreviousKeepsServing) {
  ModelRepository::Options options = Options();
  ASSERT_TRUE(options.loaders
                  .Add(ModelLoader{"model.other", "other", &LoadModel})
                  .ok());
  Write("m", 1);
  Write("m", 2);
  ASSERT_TRUE(
      WriteModelFile(repo_.Join("m/2/model.other"), model_->ToSavedModel()).ok());
  auto repository = Started(std::move(options));
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(Serving(*repository, "m"), 1);
  auto info = repository->ModelInfo("m", 2);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->versions(0).state(), kFailed);
  EXPECT_THAT(info->versions(0).error(), HasSubstr("model.nnm, model.other"));
  // Removing one of them makes it a new candidate.
  ASSERT_EQ(::unlink(repo_.Join("m/2/model.other").c_str()), 0);
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_EQ(Serving(*repository, "m"), 2);
}

TEST_F(ModelRepositoryTest, ThePollThreadRescansOncePerIntervalOfTheClock) {
  Write("m", 1);
  auto repository = Started(Options(absl::Seconds(2)));
  ASSERT_NE(repository, nullptr);
  clock_.BlockUntilWaiters(1);  // the poll thread waits for its interval
  Write("m", 2);
  clock_.Advance(absl::Milliseconds(1999));
  // The interval has not passed: no poll could have seen version 2.
  EXPECT_EQ(Serving(*repository, "m"), 1);
  EXPECT_EQ(observer_.Count(2, kLoading), 0);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(testing::Eventually(
      [&] { return Serving(*repository, "m") == 2; },
      testing::Scaled(absl::Seconds(30))));
}

// --- Publish --------------------------------------------------------------------

TEST_F(ModelRepositoryTest, PublishTakesTheNextNumberWritesAndLoadsIt) {
  auto repository = ServingVersion1();
  ASSERT_NE(repository, nullptr);
  auto published = repository->Publish("m", model_->ToSavedModel());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->version, 2);
  EXPECT_EQ(published->path, repo_.Join("m/2/model.nnm"));
  // Loaded before Publish returned, without a poll.
  EXPECT_EQ(Serving(*repository, "m"), 2);
  EXPECT_EQ(observer_.Count(2, kLoading), 1);
  // The file is whole and alone in its directory (no temporary left).
  auto read = ReadModelFile(published->path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), model_->ToSavedModel().SerializeAsString());
  auto listed = ScanModelDirectory(repo_.Join("m"), {"model.nnm"});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->versions.at(2).files.size(), 1u);
  EXPECT_EQ(::access(repo_.Join("m/2").c_str(), F_OK), 0);
  // A later poll changes nothing.
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_EQ(observer_.Count(2, kLoading), 1);
}

TEST_F(ModelRepositoryTest, PublishCreatesANewModel) {
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  EXPECT_FALSE(repository->HasModel("fresh"));
  auto published = repository->Publish("fresh", model_->ToSavedModel());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->version, 1);
  EXPECT_EQ(Serving(*repository, "fresh"), 1);
}

TEST_F(ModelRepositoryTest, PublishNumbersAboveEveryVersionDirectoryAndHeldVersion) {
  Write("m", 3);
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  // Another writer has taken 6 (not written yet); "07" is not a version.
  testing::MakeDirs(repo_.Join("m/6"));
  testing::MakeDirs(repo_.Join("m/07"));
  auto published = repository->Publish("m", model_->ToSavedModel());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->version, 7);
  // A held version whose directory was removed (not polled yet) keeps its
  // number: the next one is above it.
  std::filesystem::remove_all(repo_.Join("m/7"));
  std::filesystem::remove_all(repo_.Join("m/6"));
  published = repository->Publish("m", model_->ToSavedModel());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->version, 8);
}

TEST_F(ModelRepositoryTest, AFailedWriteLeavesNothingAndTakesNoNumber) {
  auto repository = ServingVersion1();
  ASSERT_NE(repository, nullptr);
  nnserve::v1::SavedModel unwritable = model_->ToSavedModel();
  unwritable.set_format_version(999);
  auto failed = repository->Publish("m", unwritable);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr("publishing version 2 to"));
  EXPECT_NE(::access(repo_.Join("m/2").c_str(), F_OK), 0);
  auto published = repository->Publish("m", model_->ToSavedModel());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->version, 2);
}

TEST_F(ModelRepositoryTest, AnInvalidPublishedModelIsInternalListedFailedAndTheOldOneServes) {
  auto repository = ServingVersion1();
  ASSERT_NE(repository, nullptr);
  nnserve::v1::SavedModel broken = model_->ToSavedModel();
  broken.clear_parameters();
  auto published = repository->Publish("m", broken);
  EXPECT_EQ(published.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(published.status().message()),
              HasSubstr("version 2 was written to"));
  EXPECT_THAT(std::string(published.status().message()),
              HasSubstr("failed to load"));
  EXPECT_EQ(Serving(*repository, "m"), 1);
  EXPECT_THAT(States(*repository, "m"),
              ElementsAre(std::pair(2, kFailed), std::pair(1, kAvailable)));
}

TEST_F(ModelRepositoryTest, APublishedVersionThePolicyDoesNotSelectIsWrittenNotLoaded) {
  Write("m", 1);
  testing::WriteFileOrDie(repo_.Join("m/config.textproto"),
                          "version_policy { specific { versions: [1] } }");
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  auto published = repository->Publish("m", model_->ToSavedModel());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->version, 2);
  EXPECT_EQ(::access(published->path.c_str(), F_OK), 0);
  EXPECT_EQ(Serving(*repository, "m"), 1);
  EXPECT_EQ(observer_.Count(2, kLoading), 0);
}

TEST_F(ModelRepositoryTest, PublishRefusesBadNamesAndWorksNotAfterShutdown) {
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(repository->Publish("../x", model_->ToSavedModel()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repository->Publish("", model_->ToSavedModel()).status().code(),
            absl::StatusCode::kInvalidArgument);
  repository->Shutdown();
  EXPECT_EQ(repository->Publish("m", model_->ToSavedModel()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_NE(::access(repo_.Join("m").c_str(), F_OK), 0);
}

TEST_F(ModelRepositoryTest, ConcurrentPublishesGetDistinctNumbersAndEachLoadsOnce) {
  Write("m", 1);
  testing::WriteFileOrDie(repo_.Join("m/config.textproto"),
                          "version_policy { all {} }");
  auto repository = Started(Options());
  ASSERT_NE(repository, nullptr);
  constexpr int kPublishers = 4;
  std::vector<int64_t> versions(kPublishers);
  std::vector<absl::Status> errors(kPublishers);
  const nnserve::v1::SavedModel saved = model_->ToSavedModel();
  std::vector<std::thread> threads;
  for (int i = 0; i < kPublishers; ++i) {
    threads.emplace_back([&, i] {
      auto published = repository->Publish("m", saved);
      if (published.ok()) {
        versions[i] = published->version;
      } else {
        errors[i] = published.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& e : errors) EXPECT_TRUE(e.ok()) << e;
  EXPECT_EQ(std::set<int64_t>(versions.begin(), versions.end()),
            (std::set<int64_t>{2, 3, 4, 5}));
  for (int64_t v = 1; v <= 5; ++v) {
    EXPECT_EQ(observer_.Count(v, kLoading), 1) << v;
    EXPECT_TRUE(repository->Get("m", v).ok()) << v;
  }
}

TEST_F(ModelRepositoryTest, APublishRacingThePollThreadLoadsOnce) {
  Write("m", 1);
  testing::WriteFileOrDie(repo_.Join("m/config.textproto"),
                          "version_policy { all {} }");
  auto repository = Started(Options(absl::Milliseconds(1)));
  ASSERT_NE(repository, nullptr);
  // Polls back to back while versions are published.
  std::atomic<bool> stop{false};
  std::thread ticker([&] {
    while (!stop.load()) {
      clock_.Advance(absl::Milliseconds(1));
      std::this_thread::yield();
    }
  });
  std::vector<int64_t> published;
  for (int i = 0; i < 5; ++i) {
    auto p = repository->Publish("m", model_->ToSavedModel());
    ASSERT_TRUE(p.ok()) << p.status();
    published.push_back(p->version);
    EXPECT_TRUE(repository->Get("m", p->version).ok());
  }
  stop.store(true);
  ticker.join();
  ASSERT_TRUE(repository->PollOnce().ok());
  EXPECT_THAT(published, ElementsAre(2, 3, 4, 5, 6));
  for (int64_t v : published) EXPECT_EQ(observer_.Count(v, kLoading), 1) << v;
}

}  // namespace
}  // namespace nn
