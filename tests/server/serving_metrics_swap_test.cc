// The series of model versions follow the versions' life in the real model
// repository: 50 versions are published and retired one after another while
// another thread scrapes; every scrape parses strictly, and the number of
// versions with series never exceeds what the version policy keeps loaded
// plus the one being swapped in.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/metrics/metric_names.h"
#include "server/model_repository.h"
#include "server/serving_metrics.h"
#include "tests/support/exposition.h"
#include "tests/support/required_tool.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/temp_dir.h"
#include "common/mutex.h"

namespace nn {
namespace {

// Versions (values of the `version` label) that have any series.
size_t VersionsWithSeries(const testing::Exposition& e) {
  std::set<std::string> all;
  for (const char* name : {metrics::kRequestsTotal, metrics::kImagesTotal,
                           metrics::kModelInfo}) {
    for (const std::string& v : e.LabelValues(name, "version")) all.insert(v);
  }
  return all.size();
}

// Runs one real task of `images` images through `servable`'s batcher and
// waits (on a condition, not a sleep) for its reply; records it as a
// finished Predict, as the gRPC service does.
absl::Status Predict(ServableVersion* servable, int64_t images) {
  std::vector<float> input(images * 784, 0.5f);
  std::vector<float> output(images * 10);
  Mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status result;
  BatchTask task;
  task.num_images = images;
  task.input = absl::MakeConstSpan(input);
  task.output = absl::MakeSpan(output);
  task.done = [&](absl::Status status) {
    MutexLock lock(mu);
    result = status;
    done = true;
    cv.notify_one();
  };
  if (absl::Status s = servable->batcher().Schedule(std::move(task)); !s.ok()) {
    return s;
  }
  MutexLock lock(mu);
  lock.Wait(cv, [&] { return done; });
  servable->recorder()->RecordPredict(result.code(), absl::Milliseconds(1));
  return result;
}

TEST(ServingMetricsSwapTest, FiftyVersionsComeAndGoWithBoundedWellFormedSeries) {
  testing::TempDir repo;
  auto model = testing::MakeModel("mnist_mlp", 7);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE(testing::PublishModel(repo.path(), "m", 1, **model).ok());

  prometheus::Registry registry(prometheus::Registry::InsertBehavior::Throw);
  auto metrics = ServingMetrics::Create(&registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ModelRepository::Options options;
  options.root = repo.path();
  options.poll_interval = absl::ZeroDuration();  // polled by the test
  options.default_batching.set_max_batch_size(8);
  options.default_batching.set_max_queue_size(64);
  options.default_batching.set_workers(1);
  options.default_batching.set_threads_per_worker(1);
  options.observer = metrics->get();
  auto repository = ModelRepository::Create(options, Clock::Real());
  ASSERT_TRUE(repository.ok()) << repository.status();
  ASSERT_TRUE((*repository)->Start().ok());

  // The scraper: every scrape must parse; keeps the largest one.
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0};
  std::string first_error, largest;
  size_t most_versions = 0;
  std::thread scraper([&] {
    const prometheus::TextSerializer serializer;
    while (!stop.load()) {
      const std::string text = serializer.Serialize(registry.Collect());
      absl::StatusOr<testing::Exposition> e = testing::ParseExposition(text);
      scrapes.fetch_add(1);
      if (!e.ok()) {
        if (first_error.empty()) first_error = e.status().ToString() + "\n" + text;
        continue;
      }
      if (VersionsWithSeries(*e) >= most_versions) {
        most_versions = VersionsWithSeries(*e);
        largest = text;
      }
    }
  });

  constexpr int kVersions = 50;
  for (int v = 1; v <= kVersions; ++v) {
    if (v > 1) {
      ASSERT_TRUE(testing::PublishModel(repo.path(), "m", v, **model).ok());
      ASSERT_TRUE((*repository)->PollOnce().ok());
    }
    {
      auto servable = (*repository)->Get("m", 0);
      ASSERT_TRUE(servable.ok()) << servable.status();
      ASSERT_EQ((*servable)->version(), v);
      ASSERT_TRUE(Predict(servable->get(), 3).ok());
    }
    // The handle is released, so the poll just made has reaped the previous
    // version: only version v has series now.
    const std::string text =
        prometheus::TextSerializer().Serialize(registry.Collect());
    absl::StatusOr<testing::Exposition> e = testing::ParseExposition(text);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->LabelValues(metrics::kRequestsTotal, "version"),
              std::set<std::string>{absl::StrCat(v)})
        << text;
    EXPECT_EQ(e->LabelValues(metrics::kImagesTotal, "version"),
              std::set<std::string>{absl::StrCat(v)});
    EXPECT_EQ(e->Sum(metrics::kImagesTotal), 3);
    EXPECT_EQ(e->Sum(metrics::kModelInfo, {{"version", absl::StrCat(v)},
                                           {"state", "available"}}),
              1);
    EXPECT_EQ(e->CountSeries(metrics::kModelInfo), 1);
  }
  // Let the scraper see the last state at least once more, then stop it.
  const int seen = scrapes.load();
  while (scrapes.load() < seen + 2) std::this_thread::yield();
  stop.store(true);
  scraper.join();

  EXPECT_EQ(first_error, "") << "a scrape was malformed";
  EXPECT_GT(scrapes.load(), kVersions) << "the scraper hardly ran";
  // Latest-1 policy: one loaded version, plus one loading beside it.
  EXPECT_LE(most_versions, 2u) << largest;
  EXPECT_GE(most_versions, 1u);
  // Per-model series count every version's work.
  const auto final_scrape = testing::ParseExposition(
      prometheus::TextSerializer().Serialize(registry.Collect()));
  ASSERT_TRUE(final_scrape.ok());
  EXPECT_EQ(final_scrape->Sum("nnserve_queue_duration_seconds_count",
                              {{"model", "m"}}),
            kVersions);
  EXPECT_EQ(final_scrape->Sum("nnserve_model_load_duration_seconds_count",
                              {{"model", "m"}}),
            kVersions);

  (*repository)->Shutdown();
  NN_REQUIRE_TOOL(testing::FindTool("promtool"),
                  "promtool (Debian package prometheus)");
  absl::StatusOr<std::string> lint = testing::PromtoolCheckMetrics(largest);
  ASSERT_TRUE(lint.ok()) << lint.status() << "\non:\n" << largest;
  EXPECT_EQ(*lint, "") << largest;
}

}  // namespace
}  // namespace nn
