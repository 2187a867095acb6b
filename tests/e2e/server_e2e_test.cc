// End to end over real gRPC: starts build/bin/nnserve on 127.0.0.1 with an
// ephemeral port and a temporary repository of engine-made models, and talks
// to it like a client would.
#include <signal.h>

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/data/png.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/wait.h"
#include "tests/support/server_process.h"
#include "tests/support/suite_server.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::nnserve::v1::InferenceService;
using ::nnserve::v1::PredictRequest;
using ::nnserve::v1::PredictResponse;
using ::testing::HasSubstr;
using testing::EngineProbabilities;
using testing::PixelRequest;
using testing::Predict;
using testing::ServerProcess;
using testing::TempDir;

constexpr int kImages = 6;
constexpr char kModels[][10] = {"mnist_mlp", "mnist_cnn", "mnist_rnn"};

class ServerE2ETest : public testing::SuiteServerTest<ServerE2ETest> {
 protected:
  static void SetUpTestSuite() {
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<std::shared_ptr<const Model>> model =
          testing::MakeModel(kModels[i], /*seed=*/11 + i);
      ASSERT_TRUE(model.ok()) << model.status();
      absl::StatusOr<std::string> path =
          testing::PublishModel(repo().path(), kModels[i], 1, **model);
      ASSERT_TRUE(path.ok()) << path.status();
      (*paths_)[kModels[i]] = *path;
    }
    StartServer();
  }
  void SetUp() override {
    ASSERT_NE(server(), nullptr);
    stub_ = testing::NewStub(server()->target());
    absl::StatusOr<testing::TestImages> images = testing::LoadTestDigits(kImages);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }

  static std::map<std::string, std::string>* paths_;
  std::unique_ptr<InferenceService::Stub> stub_;
  testing::TestImages images_;
};
std::map<std::string, std::string>* ServerE2ETest::paths_ =
    new std::map<std::string, std::string>();

// Single-image Predicts for `model` from `callers` threads, `calls_each`
// each, caller t on stubs[t % size]: caller t's k-th call sends image
// (t * 7 + k) % kImages of `images`. Counts the calls that failed and those
// whose probabilities are not `expected` (kImages x 10) within the
// run-to-run tolerance.
struct ConcurrentCalls {
  int failed = 0;
  int wrong = 0;
};
ConcurrentCalls CallConcurrently(
    const std::vector<std::unique_ptr<InferenceService::Stub>>& stubs,
    const std::string& model, const testing::TestImages& images,
    const std::vector<float>& expected, int callers, int calls_each) {
  std::vector<PredictRequest> requests(kImages);
  for (int i = 0; i < kImages; ++i) {
    requests[i].set_model(model);
    requests[i].mutable_images()->mutable_pixels()->set_data(std::string(
        images.pixels.begin() + i * 784, images.pixels.begin() + (i + 1) * 784));
  }
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      InferenceService::Stub& stub = *stubs[t % stubs.size()];
      for (int k = 0; k < calls_each; ++k) {
        const int i = (t * 7 + k) % kImages;
        PredictResponse response;
        if (!Predict(stub, requests[i], &response).ok() ||
            response.predictions_size() != 1 ||
            response.predictions(0).probabilities_size() != 10) {
          failed.fetch_add(1);
          continue;
        }
        for (int c = 0; c < 10; ++c) {
          if (std::abs(response.predictions(0).probabilities(c) -
                       expected[i * 10 + c]) > testing::kRunToRunTolerance) {
            wrong.fetch_add(1);
            break;
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  return {failed.load(), wrong.load()};
}

TEST_F(ServerE2ETest, PredictEqualsTheEngineInEveryEncoding) {
  for (const char* name : kModels) {
    SCOPED_TRACE(name);
    const std::vector<float> expected =
        EngineProbabilities(paths_->at(name), images_.floats, kImages);

    std::vector<PredictRequest> requests(3);
    requests[0] = PixelRequest(name, images_, kImages);
    requests[1].set_model(name);
    auto* tensor = requests[1].mutable_images()->mutable_tensor();
    tensor->add_shape(kImages);
    tensor->add_shape(28);
    tensor->add_shape(28);
    tensor->mutable_values()->Add(images_.floats.begin(), images_.floats.end());
    requests[2].set_model(name);
    for (int i = 0; i < kImages; ++i) {
      GrayImage image{28, 28,
                      std::vector<uint8_t>(images_.pixels.begin() + i * 784,
                                           images_.pixels.begin() + (i + 1) * 784)};
      absl::StatusOr<std::string> png = EncodePng(image);
      ASSERT_TRUE(png.ok());
      requests[2].mutable_images()->mutable_encoded()->add_png(*png);
    }
    for (const PredictRequest& request : requests) {
      SCOPED_TRACE(request.images().encoding_case());
      PredictResponse response;
      grpc::Status status = Predict(*stub_, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(response.model(), name);
      EXPECT_EQ(response.version(), 1);
      ASSERT_EQ(response.predictions_size(), kImages);
      for (int i = 0; i < kImages; ++i) {
        const auto& p = response.predictions(i);
        ASSERT_EQ(p.probabilities_size(), 10);
        // The server batched these its own way: close, not bit-identical
        // (the numerical contract, engine/model.h).
        const absl::Span<const float> row =
            absl::MakeConstSpan(expected).subspan(i * 10, 10);
        for (int c = 0; c < 10; ++c) {
          EXPECT_NEAR(p.probabilities(c), row[c], testing::kRunToRunTolerance);
        }
        EXPECT_TRUE(testing::IsArgMaxWithinContract(row, p.class_index()))
            << p.class_index();
        EXPECT_EQ(p.label(), absl::StrCat(p.class_index()));
        EXPECT_EQ(p.confidence(), p.probabilities(p.class_index()));
      }
    }
  }
}

// Many small requests at once: the batcher's fast path computes some on the
// thread that received them and gathers others (followers, worker batches)
// into shared batches. Every reply must be its own image's answer.
TEST_F(ServerE2ETest, ConcurrentSingleImageRequestsGetTheirOwnAnswers) {
  for (const char* name : {"mnist_mlp", "mnist_cnn"}) {
    SCOPED_TRACE(name);
    const std::vector<float> expected =
        EngineProbabilities(paths_->at(name), images_.floats, kImages);
    // 8 callers, a channel each, 40 calls each.
    std::vector<std::unique_ptr<InferenceService::Stub>> stubs;
    for (int c = 0; c < 8; ++c) stubs.push_back(testing::NewStub(server()->target()));
    const ConcurrentCalls calls =
        CallConcurrently(stubs, name, images_, expected, 8, 40);
    EXPECT_EQ(calls.failed, 0);
    EXPECT_EQ(calls.wrong, 0);
  }
}

TEST_F(ServerE2ETest, TopKIsSortedByProbability) {
  PredictRequest request = PixelRequest("mnist_cnn", images_, 2);
  request.set_top_k(3);
  PredictResponse response;
  ASSERT_TRUE(Predict(*stub_, request, &response).ok());
  for (const auto& p : response.predictions()) {
    ASSERT_EQ(p.top_k_size(), 3);
    EXPECT_EQ(p.top_k(0).class_index(), p.class_index());
    EXPECT_GE(p.top_k(0).probability(), p.top_k(1).probability());
    EXPECT_GE(p.top_k(1).probability(), p.top_k(2).probability());
    EXPECT_EQ(p.top_k(1).label(), absl::StrCat(p.top_k(1).class_index()));
  }
}

struct BadRequest {
  std::string what;
  PredictRequest request;
  grpc::StatusCode code;
  std::string message;
};

TEST_F(ServerE2ETest, BadRequestsGetTheirDocumentedCodes) {
  std::vector<BadRequest> cases;
  auto add = [&](std::string what, grpc::StatusCode code, std::string message,
                 auto edit) {
    PredictRequest request = PixelRequest("mnist_mlp", images_, 1);
    edit(request);
    cases.push_back({std::move(what), std::move(request), code,
                     std::move(message)});
  };
  add("unknown model", grpc::NOT_FOUND, "not found",
      [](PredictRequest& r) { r.set_model("no_such_model"); });
  add("unknown version", grpc::NOT_FOUND, "no version 9",
      [](PredictRequest& r) { r.set_version(9); });
  add("negative version", grpc::INVALID_ARGUMENT, "version",
      [](PredictRequest& r) { r.set_version(-1); });
  add("empty model name", grpc::INVALID_ARGUMENT, "model",
      [](PredictRequest& r) { r.clear_model(); });
  add("path-like model name", grpc::INVALID_ARGUMENT, "not a valid model name",
      [](PredictRequest& r) { r.set_model("../etc"); });
  add("no images", grpc::INVALID_ARGUMENT, "no images",
      [](PredictRequest& r) { r.clear_images(); });
  add("zero pixel bytes", grpc::INVALID_ARGUMENT, "no images",
      [](PredictRequest& r) { r.mutable_images()->mutable_pixels()->clear_data(); });
  add("pixel bytes not a multiple of 784", grpc::INVALID_ARGUMENT,
      "not a multiple of 784", [](PredictRequest& r) {
        r.mutable_images()->mutable_pixels()->mutable_data()->push_back('x');
      });
  add("wrong tensor shape", grpc::INVALID_ARGUMENT, "expected [N,28,28]",
      [](PredictRequest& r) {
        auto* t = r.mutable_images()->mutable_tensor();
        t->add_shape(1);
        t->add_shape(27);
        t->add_shape(29);
        t->mutable_values()->Resize(27 * 29, 0.5f);
      });
  add("value count mismatch", grpc::INVALID_ARGUMENT, "needs 784",
      [](PredictRequest& r) {
        auto* t = r.mutable_images()->mutable_tensor();
        t->add_shape(1);
        t->add_shape(784);
        t->mutable_values()->Resize(783, 0.5f);
      });
  add("NaN pixel", grpc::INVALID_ARGUMENT, "finite and in [0, 1]",
      [](PredictRequest& r) {
        auto* t = r.mutable_images()->mutable_tensor();
        t->add_shape(1);
        t->add_shape(784);
        t->mutable_values()->Resize(784, 0.5f);
        t->set_values(17, std::numeric_limits<float>::quiet_NaN());
      });
  add("infinite pixel", grpc::INVALID_ARGUMENT, "finite and in [0, 1]",
      [](PredictRequest& r) {
        auto* t = r.mutable_images()->mutable_tensor();
        t->add_shape(1);
        t->add_shape(784);
        t->mutable_values()->Resize(784, 0.5f);
        t->set_values(0, std::numeric_limits<float>::infinity());
      });
  add("corrupt PNG", grpc::INVALID_ARGUMENT, "images.encoded.png[0]",
      [](PredictRequest& r) {
        r.mutable_images()->mutable_encoded()->add_png("\x89PNG garbage");
      });
  add("PNG of the wrong size", grpc::INVALID_ARGUMENT, "not resized",
      [](PredictRequest& r) {
        GrayImage image{14, 14, std::vector<uint8_t>(196, 7)};
        r.mutable_images()->mutable_encoded()->add_png(*EncodePng(image));
      });
  add("top_k above the class count", grpc::INVALID_ARGUMENT, "top_k",
      [](PredictRequest& r) { r.set_top_k(11); });
  add("more images than the limit", grpc::RESOURCE_EXHAUSTED, "limit is 64",
      [](PredictRequest& r) {
        r.mutable_images()->mutable_pixels()->set_data(std::string(65 * 784, 0));
      });

  for (const BadRequest& c : cases) {
    SCOPED_TRACE(c.what);
    PredictResponse response;
    grpc::Status status = Predict(*stub_, c.request, &response);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  // The server is still healthy and answers a good request.
  PredictResponse response;
  EXPECT_TRUE(Predict(*stub_, PixelRequest("mnist_mlp", images_, 1), &response).ok());
}

TEST_F(ServerE2ETest, OversizedMessageIsResourceExhausted) {
  PredictRequest request;
  request.set_model("mnist_mlp");
  request.mutable_images()->mutable_pixels()->set_data(std::string(20 << 20, 0));
  PredictResponse response;
  EXPECT_EQ(Predict(*stub_, request, &response).error_code(),
            grpc::RESOURCE_EXHAUSTED);
}

TEST_F(ServerE2ETest, ListModelsAndModelInfoDescribeTheModels) {
  grpc::ClientContext list_context;
  nnserve::v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&list_context, {}, &list).ok());
  ASSERT_EQ(list.models_size(), 3);
  EXPECT_EQ(list.models(0).name(), "mnist_cnn");  // sorted by name
  EXPECT_EQ(list.models(0).default_version(), 1);
  EXPECT_EQ(list.models(0).versions(0).state(),
            nnserve::v1::VERSION_STATE_AVAILABLE);

  const std::map<std::string, int64_t> parameters = {
      {"mnist_mlp", 101770}, {"mnist_cnn", 121930}, {"mnist_rnn", 14858}};
  for (const auto& [name, count] : parameters) {
    grpc::ClientContext context;
    nnserve::v1::ModelInfoRequest request;
    request.set_model(name);
    nnserve::v1::ModelInfoResponse info;
    ASSERT_TRUE(stub_->ModelInfo(&context, request, &info).ok());
    ASSERT_EQ(info.model().versions_size(), 1);
    const auto& version = info.model().versions(0);
    EXPECT_EQ(version.total_parameters(), count) << name;
    EXPECT_EQ(version.input().height(), 28);
    EXPECT_EQ(version.labels_size(), 10);
    EXPECT_EQ(version.architecture(), name);
    EXPECT_GT(info.model().batching().max_batch_size(), 0);
    int64_t sum = 0;
    for (const auto& layer : version.layers()) sum += layer.parameters();
    EXPECT_EQ(sum, count);
  }
  grpc::ClientContext context;
  nnserve::v1::ModelInfoRequest request;
  request.set_model("nope");
  nnserve::v1::ModelInfoResponse info;
  EXPECT_EQ(stub_->ModelInfo(&context, request, &info).error_code(),
            grpc::NOT_FOUND);
}

TEST_F(ServerE2ETest, TrainingIsDisabledByDefault) {
  grpc::ClientContext context;
  nnserve::v1::TrainRequest request;
  request.set_model("x");
  auto reader = stub_->Train(&context, request);
  nnserve::v1::TrainProgress progress;
  EXPECT_FALSE(reader->Read(&progress));
  EXPECT_EQ(reader->Finish().error_code(), grpc::FAILED_PRECONDITION);
}

TEST_F(ServerE2ETest, HealthReportsServing) {
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      server()->target(), grpc::InsecureChannelCredentials()));
  for (const char* service : {"", "nnserve.v1.InferenceService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(health->Check(&context, request, &response).error_code(),
            grpc::NOT_FOUND);
}

// The binary runs on the heap allocator its build links (tcmalloc unless
// NNSERVE_TCMALLOC=OFF or a sanitizer build: NN_SERVER_ALLOCATOR in the
// top-level CMakeLists.txt), and says so when it starts.
TEST_F(ServerE2ETest, LogsTheHeapAllocatorItsBuildLinks) {
  EXPECT_THAT(server()->Log(),
              HasSubstr(absl::StrCat("; heap allocator: ",
                                     NN_EXPECTED_SERVER_ALLOCATOR, "\n")));
}

TEST_F(ServerE2ETest, ReflectionListsAndDescribesTheServices) {
  using grpc::reflection::v1alpha::ServerReflection;
  using grpc::reflection::v1alpha::ServerReflectionRequest;
  using grpc::reflection::v1alpha::ServerReflectionResponse;
  auto stub = ServerReflection::NewStub(grpc::CreateChannel(
      server()->target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);

  ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> services;
  for (const auto& s : response.list_services_response().service()) {
    services.push_back(s.name());
  }
  EXPECT_THAT(services, ::testing::IsSupersetOf(
                            {"nnserve.v1.InferenceService",
                             "grpc.health.v1.Health",
                             "grpc.reflection.v1alpha.ServerReflection"}));

  for (const char* symbol :
       {"nnserve.v1.InferenceService", "grpc.health.v1.Health",
        "nnserve.v1.PredictRequest"}) {
    SCOPED_TRACE(symbol);
    ServerReflectionRequest describe;
    describe.set_file_containing_symbol(symbol);
    ASSERT_TRUE(stream->Write(describe));
    ServerReflectionResponse described;
    ASSERT_TRUE(stream->Read(&described));
    EXPECT_TRUE(described.has_file_descriptor_response())
        << described.error_response().error_message();
    EXPECT_GT(described.file_descriptor_response().file_descriptor_proto_size(),
              0);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// --- Tests with a server of their own ----------------------------------------

// Sends Predicts from `threads` threads until `stop`, counting outcomes.
class PredictLoad {
 public:
  PredictLoad(const std::string& target, const std::string& model,
              PredictRequest request, int threads) {
    request.set_model(model);
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, target, request] {
        auto stub = testing::NewStub(target);
        // Bounded: at most 200k calls or until stopped.
        for (int i = 0; i < 200000 && !stop_.load(); ++i) {
          PredictResponse response;
          grpc::Status status = Predict(*stub, request, &response);
          absl::MutexLock lock(&mu_);
          ++codes_[status.error_code()];
          if (status.ok()) {
            ++versions_[response.version()];
          } else if (first_error_.empty()) {
            first_error_ = status.error_message();
          }
        }
      });
    }
  }
  ~PredictLoad() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int64_t Count(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    return codes_[code];
  }
  int64_t Failures() {
    absl::MutexLock lock(&mu_);
    int64_t n = 0;
    for (const auto& [code, count] : codes_) n += code == grpc::OK ? 0 : count;
    return n;
  }
  int64_t ServedBy(int64_t version) {
    absl::MutexLock lock(&mu_);
    return versions_[version];
  }
  std::string FirstError() {
    absl::MutexLock lock(&mu_);
    return first_error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::map<int, int64_t> codes_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int64_t> versions_ ABSL_GUARDED_BY(mu_);
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

using testing::Eventually;

TEST(ServerLifecycleTest, NewVersionIsServedWithoutAFailedRequest) {
  TempDir repo;
  auto v1 = testing::MakeModel("mnist_mlp", 1);
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(testing::PublishModel(repo.path(), "digits", 1, **v1).ok());
  auto server = ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path(),
                "--repository_poll_interval=100ms"}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto images = testing::LoadTestDigits(1);
  ASSERT_TRUE(images.ok());

  PredictLoad load((*server)->target(), "digits",
                   PixelRequest("digits", *images, 1), /*threads=*/4);
  ASSERT_TRUE(Eventually([&] { return load.ServedBy(1) > 50; },
                         absl::Seconds(20)));
  auto v2 = testing::MakeModel("mnist_mlp", 2);
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE(testing::PublishModel(repo.path(), "digits", 2, **v2).ok());
  EXPECT_TRUE(Eventually([&] { return load.ServedBy(2) > 50; },
                         absl::Seconds(20)));
  load.Stop();
  EXPECT_EQ(load.Failures(), 0) << load.FirstError();
  std::cout << "[ metric ] hot swap under load: " << load.ServedBy(1)
            << " requests on v1, " << load.ServedBy(2)
            << " on v2, 0 failures\n";

  // A broken file as version 3 is reported and version 2 keeps serving.
  testing::WriteFileOrDie(repo.Join("digits/3/model.nnm"), "not a model");
  auto stub = testing::NewStub((*server)->target());
  ASSERT_TRUE(Eventually(
      [&] {
        grpc::ClientContext context;
        nnserve::v1::ModelInfoRequest request;
        request.set_model("digits");
        nnserve::v1::ModelInfoResponse info;
        if (!stub->ModelInfo(&context, request, &info).ok()) return false;
        return info.model().versions_size() > 0 &&
               info.model().versions(0).version() == 3 &&
               info.model().versions(0).state() ==
                   nnserve::v1::VERSION_STATE_FAILED &&
               !info.model().versions(0).error().empty();
      },
      absl::Seconds(20)));
  PredictResponse response;
  ASSERT_TRUE(Predict(*stub, PixelRequest("digits", *images, 1), &response).ok());
  EXPECT_EQ(response.version(), 2);
}

// The batching ModelInfo reports for `model` (empty if the call fails).
nnserve::v1::BatchingConfig ModelBatching(InferenceService::Stub& stub,
                                          const std::string& model) {
  grpc::ClientContext context;
  nnserve::v1::ModelInfoRequest request;
  request.set_model(model);
  nnserve::v1::ModelInfoResponse info;
  grpc::Status status = stub.ModelInfo(&context, request, &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return info.model().batching();
}

TEST(ServerLifecycleTest, FullQueueAnswersUnavailable) {
  TempDir repo;
  auto model = testing::MakeModel("mnist_cnn", 1);
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(testing::PublishModel(repo.path(), "cnn", 1, **model).ok());
  // One worker computing one image at a time, room for 8 queued images.
  testing::WriteFileOrDie(
      repo.Join("cnn/config.textproto"),
      "batching { max_batch_size: 1 max_queue_size: 8 workers: 1 }");
  auto server = ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path()}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto images = testing::LoadTestDigits(8);
  ASSERT_TRUE(images.ok());

  auto stub = testing::NewStub((*server)->target());
  // The fast path computes at most a batch: its limit follows
  // max_batch_size down (--max_inline_images is 12 by default).
  EXPECT_EQ(ModelBatching(*stub, "cnn").max_inline_images(), 1);

  // 64 requests of 8 images at once: one fills the queue, most others find
  // it full. Retried a few times in case the scheduler serialised them.
  int64_t unavailable = 0, ok = 0, other = 0;
  std::string message;
  for (int attempt = 0; attempt < 5 && unavailable == 0; ++attempt) {
    std::vector<std::thread> threads;
    absl::Mutex mu;
    for (int i = 0; i < 64; ++i) {
      threads.emplace_back([&] {
        PredictResponse response;
        grpc::Status status =
            Predict(*stub, PixelRequest("cnn", *images, 8), &response);
        absl::MutexLock lock(&mu);
        if (status.ok()) {
          ++ok;
        } else if (status.error_code() == grpc::UNAVAILABLE) {
          ++unavailable;
          message = status.error_message();
        } else {
          ++other;
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  EXPECT_GT(unavailable, 0);
  EXPECT_GT(ok, 0);
  EXPECT_EQ(other, 0);
  EXPECT_THAT(message, HasSubstr("queue full"));
}

// Gathering (--gather_images): under many calls in flight, requests that
// find the model idle may wait for others and be computed together; every
// call still gets its own image's answer, and ModelInfo reports the setting.
TEST(ServerLifecycleTest, GatheringAnswersEveryConcurrentRequestRight) {
  TempDir repo;
  auto model = testing::MakeModel("mnist_mlp", 5);
  ASSERT_TRUE(model.ok());
  absl::StatusOr<std::string> path =
      testing::PublishModel(repo.path(), "mlp", 1, **model);
  ASSERT_TRUE(path.ok()) << path.status();
  auto server = ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path(), "--gather_images=8",
                "--max_gather_delay=2ms"}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::NewStub((*server)->target());
  const nnserve::v1::BatchingConfig batching = ModelBatching(*stub, "mlp");
  EXPECT_EQ(batching.gather_images(), 8);
  EXPECT_EQ(batching.max_gather_delay_micros(), 2000);
  auto images = testing::LoadTestDigits(kImages);
  ASSERT_TRUE(images.ok()) << images.status();
  const std::vector<float> expected =
      EngineProbabilities(*path, images->floats, kImages);
  // 32 callers on 4 channels, 50 calls each.
  std::vector<std::unique_ptr<InferenceService::Stub>> stubs;
  for (int c = 0; c < 4; ++c) stubs.push_back(testing::NewStub((*server)->target()));
  const ConcurrentCalls calls =
      CallConcurrently(stubs, "mlp", *images, expected, 32, 50);
  EXPECT_EQ(calls.failed, 0);
  EXPECT_EQ(calls.wrong, 0);
}

TEST(ServerLifecycleTest, SigtermDrainsAcceptedRequestsAndExitsZero) {
  TempDir repo;
  auto model = testing::MakeModel("mnist_rnn", 1);
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(testing::PublishModel(repo.path(), "rnn", 1, **model).ok());
  auto server = ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path(), "--drain_grace=4s",
                "--shutdown_timeout=10s"}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto images = testing::LoadTestDigits(4);
  ASSERT_TRUE(images.ok());
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      (*server)->target(), grpc::InsecureChannelCredentials()));
  auto check = [&] {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(&context, {}, &response);
    return status.ok() ? static_cast<int>(response.status()) : -1;
  };
  ASSERT_EQ(check(), grpc::health::v1::HealthCheckResponse::SERVING);

  PredictLoad load((*server)->target(), "rnn", PixelRequest("rnn", *images, 4),
                   /*threads=*/8);
  ASSERT_TRUE(Eventually([&] { return load.Count(grpc::OK) > 20; },
                         absl::Seconds(20)));
  (*server)->Signal(SIGTERM);
  // During the grace period health says NOT_SERVING while Predict still
  // works. The two waits (1.5 s each, for what takes milliseconds on a quiet
  // machine) fit in the 4 s grace period even on a loaded one.
  EXPECT_TRUE(Eventually(
      [&] {
        return check() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
      },
      absl::Milliseconds(1500)));
  const int64_t ok_before = load.Count(grpc::OK);
  EXPECT_TRUE(Eventually([&] { return load.Count(grpc::OK) > ok_before + 5; },
                         absl::Milliseconds(1500)));
  absl::StatusOr<int> exit_code = (*server)->Wait(absl::Seconds(20));
  load.Stop();
  ASSERT_TRUE(exit_code.ok()) << "server did not exit";
  EXPECT_EQ(*exit_code, 0) << (*server)->Log();
  // Every call the server accepted was answered OK; the client saw the rest
  // refused (UNAVAILABLE, or CANCELLED by gRPC for calls that arrived while
  // the server was closing: they never reached the handler).
  const std::string log = (*server)->Log();
  EXPECT_THAT(log, HasSubstr(absl::StrCat("drained: all ", load.Count(grpc::OK),
                                          " accepted Predict calls finished")))
      << log;
  EXPECT_EQ(load.Failures(),
            load.Count(grpc::UNAVAILABLE) + load.Count(grpc::CANCELLED))
      << load.FirstError();
  std::cout << "[ metric ] drain: " << load.Count(grpc::OK) << " ok, "
            << load.Count(grpc::UNAVAILABLE) << " refused after shutdown\n";
}

}  // namespace
}  // namespace nn
