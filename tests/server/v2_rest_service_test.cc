// V2RestService (server/v2_rest_service.h) on a fake HttpExchange and an
// empty model repository: what it answers before the models are loaded,
// while draining and when not ready, and that WaitIdle waits for an admitted
// request (the drain's guarantee). The endpoints against real models: the
// end-to-end suite (tests/e2e/v2_rest_e2e_test.cc).
#include "server/v2_rest_service.h"

#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_repository.h"
#include "server/v2_serving.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::HasSubstr;

// One request; ReadBody may be held until `release` is notified.
class FakeExchange final : public metrics::HttpExchange {
 public:
  FakeExchange(std::string method, std::string path)
      : method_(std::move(method)), path_(std::move(path)) {}
  absl::string_view method() const override { return method_; }
  absl::string_view path() const override { return path_; }
  std::optional<absl::string_view> header(const char*) const override {
    return std::nullopt;
  }
  absl::StatusOr<std::string> ReadBody(int64_t) override {
    reading.count_down();
    if (hold) release.wait();
    return std::string("{}");
  }
  void Respond(int s, absl::string_view, absl::string_view b,
               const Headers&) override {
    status = s;
    body = std::string(b);
  }

  bool hold = false;
  std::latch reading{1};
  std::latch release{1};
  int status = 0;
  std::string body;

 private:
  std::string method_;
  std::string path_;
};

class V2RestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelRepository::Options options;
    options.root = dir_.path();
    options.poll_interval = absl::ZeroDuration();
    options.default_batching.set_max_batch_size(8);
    options.default_batching.set_max_queue_size(64);
    options.default_batching.set_workers(1);
    options.default_batching.set_threads_per_worker(1);
    auto repository = ModelRepository::Create(options, Clock::Real());
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    v2_ = std::make_unique<V2Serving>(V2Serving::Options{}, repository_.get(),
                                      nullptr, [this] { return Ready(); });
    rest_ = std::make_unique<V2RestService>(v2_.get(),
                                            [this] { return Ready(); });
  }
  absl::Status Ready() const {
    return ready_.load() ? absl::OkStatus()
                         : absl::UnavailableError("draining");
  }
  struct Answer {
    int status = 0;
    std::string body;
  };
  Answer Call(const std::string& method, const std::string& path) {
    FakeExchange exchange(method, path);
    rest_->Handle(exchange);
    return {exchange.status, exchange.body};
  }

  testing::TempDir dir_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<V2Serving> v2_;
  std::unique_ptr<V2RestService> rest_;
};

TEST_F(V2RestServiceTest, InferBeforeTheModelsAreLoadedIs503Starting) {
  Answer e = Call("POST", "/v2/models/m/infer");
  EXPECT_EQ(e.status, 503);
  EXPECT_THAT(e.body, HasSubstr("starting"));
}

TEST_F(V2RestServiceTest, InferOfAnUnknownModelIs404) {
  v2_->SetReady(true);
  Answer e = Call("POST", "/v2/models/m/infer");
  EXPECT_EQ(e.status, 404);
  EXPECT_THAT(e.body, HasSubstr("'m'"));
}

TEST_F(V2RestServiceTest, AfterStopAcceptingInferIs503DrainingButHealthAnswers) {
  v2_->SetReady(true);
  rest_->StopAccepting();
  Answer e = Call("POST", "/v2/models/m/infer");
  EXPECT_EQ(e.status, 503);
  EXPECT_THAT(e.body, HasSubstr("draining"));
  EXPECT_EQ(Call("GET", "/v2/health/live").status, 200);
  EXPECT_TRUE(rest_->WaitIdle(absl::Now()));
}

TEST_F(V2RestServiceTest, ReadyFollowsTheServersReadiness) {
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);
  ready_.store(false);
  Answer e = Call("GET", "/v2/health/ready");
  EXPECT_EQ(e.status, 503);
  EXPECT_THAT(e.body, HasSubstr("not ready: draining"));
}

TEST_F(V2RestServiceTest, WaitIdleWaitsForAnAdmittedRequest) {
  v2_->SetReady(true);
  FakeExchange held("POST", "/v2/models/m/infer");
  held.hold = true;
  std::thread handler([&] { rest_->Handle(held); });
  held.reading.wait();
  rest_->StopAccepting();
  // Admitted before the drain began: the drain waits for it.
  EXPECT_FALSE(rest_->WaitIdle(absl::Now() + absl::Milliseconds(50)));
  EXPECT_EQ(rest_->infers_admitted(), 1);
  EXPECT_EQ(rest_->infers_answered(), 0);
  held.release.count_down();
  EXPECT_TRUE(rest_->WaitIdle(absl::Now() + absl::Seconds(10)));
  handler.join();
  EXPECT_EQ(held.status, 404);  // it ran to its answer
  EXPECT_EQ(rest_->infers_answered(), 1);
}

}  // namespace
}  // namespace nn
