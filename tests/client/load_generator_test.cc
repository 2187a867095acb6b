#include "client/load_generator.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/local_server.h"
#include "inference/open_inference.grpc.pb.h"
#include "nnserve/v1/inference.grpc.pb.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::testing::HasSubstr;

// Answers Predict at once with one prediction per request, failing every
// `fail_every`-th call (when > 0) with UNAVAILABLE; counts calls.
class CountingService final : public v1::InferenceService::CallbackService {
 public:
  explicit CountingService(int fail_every) : fail_every_(fail_every) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest*,
                                    v1::PredictResponse* response) override {
    const int64_t n = calls_.fetch_add(1) + 1;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (fail_every_ > 0 && n % fail_every_ == 0) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "queue full"));
    } else {
      response->add_predictions()->set_class_index(1);
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }
  int64_t calls() const { return calls_.load(); }

 private:
  const int fail_every_;
  std::atomic<int64_t> calls_{0};
};

class LoadGeneratorTest : public ::testing::Test {
 protected:
  void StartServer(int fail_every = 0) {
    service_ = std::make_unique<CountingService>(fail_every);
    LocalServer local = StartLocalServer(service_.get());
    server_ = std::move(local.server);
    ASSERT_NE(server_, nullptr);
    target_ = local.target;
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  LoadOptions Options() const {
    LoadOptions options;
    options.channel.target = target_;
    options.requests.resize(3);
    for (auto& request : options.requests) {
      request.set_model("m");
      request.mutable_images()->mutable_pixels()->set_data(std::string(784, 1));
    }
    options.duration = absl::Milliseconds(200);
    options.warmup = absl::Milliseconds(50);
    options.request_timeout = absl::Seconds(5);
    return options;
  }

  std::unique_ptr<CountingService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

TEST_F(LoadGeneratorTest, ServerSeesExactlyTheWarmupAndMeasuredCalls) {
  StartServer();
  LoadOptions options = Options();
  options.concurrency_levels = {1, 5};
  options.calls_per_channel = 2;
  absl::StatusOr<std::vector<LevelResult>> levels = RunLoad(options);
  ASSERT_TRUE(levels.ok()) << levels.status();
  ASSERT_EQ(levels->size(), 2u);
  int64_t sent = 0;
  for (const LevelResult& level : *levels) {
    EXPECT_GT(level.requests, 0);
    EXPECT_EQ(level.ok_requests, level.requests);
    EXPECT_EQ(level.latency_nanos.count(), level.ok_requests);
    EXPECT_TRUE(level.errors_by_code.empty());
    EXPECT_GE(level.elapsed, absl::Milliseconds(200));
    EXPECT_GT(level.requests_per_second(), 0);
    sent += level.requests + level.warmup_requests;
  }
  EXPECT_EQ((*levels)[0].concurrency, 1);
  EXPECT_EQ((*levels)[0].channels, 1);
  EXPECT_EQ((*levels)[1].concurrency, 5);
  EXPECT_EQ((*levels)[1].channels, 3);  // 5 calls, 2 a channel
  EXPECT_EQ(service_->calls(), sent);
}

TEST_F(LoadGeneratorTest, MaxRequestsEndsALevelBeforeItsDuration) {
  StartServer();
  LoadOptions options = Options();
  options.concurrency_levels = {8};
  options.duration = absl::Seconds(30);
  options.warmup = absl::ZeroDuration();
  options.max_requests = 37;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<LevelResult>> levels = RunLoad(options);
  ASSERT_TRUE(levels.ok()) << levels.status();
  // Against the 30 s duration; 37 calls take milliseconds, and well under
  // 10 s on a loaded 2-core machine or under a sanitizer.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ((*levels)[0].requests, 37);
  EXPECT_EQ((*levels)[0].warmup_requests, 0);
  EXPECT_EQ(service_->calls(), 37);
}

TEST_F(LoadGeneratorTest, FailedCallsAreCountedByCodeAndNotInLatency) {
  StartServer(/*fail_every=*/3);
  LoadOptions options = Options();
  options.concurrency_levels = {2};
  // max_requests, not the 200 ms default duration, must end the level (it
  // did not in time under ASan).
  options.duration = absl::Seconds(30);
  options.warmup = absl::ZeroDuration();
  options.max_requests = 300;
  absl::StatusOr<std::vector<LevelResult>> levels = RunLoad(options);
  ASSERT_TRUE(levels.ok()) << levels.status();
  const LevelResult& level = (*levels)[0];
  EXPECT_EQ(level.requests, 300);
  EXPECT_EQ(level.failed_requests(), 100);
  EXPECT_EQ(level.errors_by_code.at("UNAVAILABLE"), 100);
  EXPECT_EQ(level.latency_nanos.count(), 200);
  EXPECT_EQ(level.first_error, "UNAVAILABLE: queue full");
}

TEST_F(LoadGeneratorTest, DeadTargetFailsEveryCallWithinTheDuration) {
  LoadOptions options = Options();
  options.channel.target = "127.0.0.1:1";
  options.concurrency_levels = {4};
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(300);
  options.request_timeout = absl::Milliseconds(500);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<LevelResult>> levels = RunLoad(options);
  ASSERT_TRUE(levels.ok()) << levels.status();
  // The level ends at its duration (0.3 s) plus at most one call's timeout
  // (0.5 s); 5 s leaves room for a loaded machine and still catches a level
  // that does not end (or retries a dead target until an outer bound).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  const LevelResult& level = (*levels)[0];
  EXPECT_GT(level.requests, 0);
  EXPECT_EQ(level.ok_requests, 0);
  EXPECT_EQ(level.errors_by_code.at("UNAVAILABLE"), level.requests);
  EXPECT_EQ(level.requests_per_second(), 0);
}

TEST_F(LoadGeneratorTest, RejectsBadOptions) {
  LoadOptions options = Options();
  options.concurrency_levels = {0};
  EXPECT_THAT(RunLoad(options).status().message(), HasSubstr("concurrency 0"));
  options = Options();
  options.requests.clear();
  EXPECT_EQ(RunLoad(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.duration = absl::ZeroDuration();
  EXPECT_EQ(RunLoad(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.calls_per_channel = 0;
  EXPECT_EQ(RunLoad(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Answers ModelInfer at once and keeps each request's id and raw bytes.
class RecordingV2Service final
    : public inference::GRPCInferenceService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ModelInfer(
      grpc::CallbackServerContext* context,
      const inference::ModelInferRequest* request,
      inference::ModelInferResponse* response) override {
    {
      absl::MutexLock lock(&mu_);
      ids_.push_back(request->id());
      raw_.push_back(request->raw_input_contents_size() == 1
                         ? request->raw_input_contents(0)
                         : "");
    }
    response->set_model_name(request->model_name());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<std::string> ids() const {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  std::vector<std::string> raw() const {
    absl::MutexLock lock(&mu_);
    return raw_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> raw_ ABSL_GUARDED_BY(mu_);
};

// --protocol=v2: the requests, serialized once, arrive whole and in order
// (cycled), on inference.GRPCInferenceService/ModelInfer.
TEST(LoadGeneratorV2Test, SendsEveryModelInferRequestWholeAndInOrder) {
  RecordingV2Service service;
  LocalServer local = StartLocalServer(&service);
  ASSERT_NE(local.server, nullptr);
  LoadOptions options;
  options.channel.target = local.target;
  options.protocol = WireProtocol::kV2Grpc;
  for (int i = 0; i < 3; ++i) {
    inference::ModelInferRequest& request = options.v2_requests.emplace_back();
    request.set_model_name("m");
    request.set_id(absl::StrCat("r", i));
    request.add_raw_input_contents(std::string(3136, static_cast<char>(i + 1)));
  }
  options.concurrency_levels = {1};
  options.duration = absl::Seconds(30);
  options.warmup = absl::ZeroDuration();
  options.max_requests = 7;
  absl::StatusOr<std::vector<LevelResult>> levels = RunLoad(options);
  local.server->Shutdown();
  ASSERT_TRUE(levels.ok()) << levels.status();
  EXPECT_EQ((*levels)[0].ok_requests, 7) << (*levels)[0].first_error;
  const std::vector<std::string> ids = service.ids();
  const std::vector<std::string> raw = service.raw();
  ASSERT_EQ(ids.size(), 7u);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i], absl::StrCat("r", i % 3));
    EXPECT_EQ(raw[i], std::string(3136, static_cast<char>(i % 3 + 1)));
  }
}

TEST(BuildPredictRequestsTest, TakesImagesInOrderAndWrapsAround) {
  std::vector<InputImage> images(5);
  for (int i = 0; i < 5; ++i) {
    images[i].image = GrayImage{1, 1, {static_cast<uint8_t>(i)}};
  }
  absl::StatusOr<std::vector<v1::PredictRequest>> requests =
      BuildPredictRequests(images, "m", 3, 2, ImageEncoding::kUint8, 100);
  ASSERT_TRUE(requests.ok()) << requests.status();
  // 5 images make 2 full requests of 2.
  ASSERT_EQ(requests->size(), 2u);
  EXPECT_EQ((*requests)[0].model(), "m");
  EXPECT_EQ((*requests)[0].version(), 3);
  EXPECT_EQ((*requests)[0].images().pixels().data(), std::string("\x00\x01", 2));
  EXPECT_EQ((*requests)[1].images().pixels().data(), std::string("\x02\x03", 2));
  // More images a request than there are: one request, wrapping around.
  requests = BuildPredictRequests(images, "m", 0, 7, ImageEncoding::kUint8, 4);
  ASSERT_TRUE(requests.ok());
  ASSERT_EQ(requests->size(), 1u);
  EXPECT_EQ((*requests)[0].images().pixels().data(),
            std::string("\x00\x01\x02\x03\x04\x00\x01", 7));
  EXPECT_EQ(BuildPredictRequests({}, "m", 0, 1, ImageEncoding::kUint8, 4)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
