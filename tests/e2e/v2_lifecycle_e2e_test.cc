// The Open Inference Protocol while nnserve starts and while it drains, end
// to end.
//
// Starting: nnserve binds its gRPC and HTTP ports *before* it loads the
// repository (server/server.cc: a probe then gets an answer, not a refused
// connection), and stays not ready until every initial version is loaded and
// warmed up. In that window a client sees, over the real wire:
//   ServerLive true, /v2/health/live 200;
//   ServerReady false, /v2/health/ready 503 "not ready: loading models",
//   health status of inference.GRPCInferenceService NOT_SERVING;
//   ModelInfer UNAVAILABLE, POST /v2/models/{m}/infer 503 (retry later).
// Made observable without any hook in the server: a repository of many CNN
// models takes seconds to load and warm up, and the test finds the ports in
// the log lines nnserve writes as it binds them (the port files are written
// only once it serves).
//
// Draining (SIGTERM): not ready at once, inferences still served through
// --drain_grace (v2_grpc_errors_e2e_test.cc, v2_rest_e2e_test.cc); after the
// grace, while the accepted calls finish, a new REST infer is 503 "draining"
// and a new gRPC ModelInfer refused by gRPC (UNAVAILABLE or CANCELLED), and
// every accepted call is answered.
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/v2_grpc_util.h"
#include "tests/e2e/v2_rest_support.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

using ::testing::HasSubstr;
using testing::HttpResponse;
using testing::InputForm;
using testing::ServerProcess;
using testing::TempDir;

// Models in the slow repository: enough that loading them all (file, plans,
// warm-up at batch 1 and max_batch_size, each) outlasts the probes by far.
constexpr int kModels = 40;

// The number after `marker` in `log` (0 if absent).
int NumberAfter(const std::string& log, const std::string& marker) {
  const size_t at = log.find(marker);
  if (at == std::string::npos) return 0;
  size_t end = at + marker.size();
  while (end < log.size() && log[end] >= '0' && log[end] <= '9') ++end;
  int value = 0;
  return absl::SimpleAtoi(
             log.substr(at + marker.size(), end - at - marker.size()), &value)
             ? value
             : 0;
}

// Whether nnserve logged that it serves (server.cc: after the last load).
bool LoggedServing(const std::string& log) {
  return log.find("] serving\n") != std::string::npos;
}

TEST(V2StartupTest, NotReadyAndUnavailableWhileTheModelsLoad) {
  TempDir repo;
  auto cnn = testing::MakeModel("mnist_cnn", 9);
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  for (int i = 0; i < kModels; ++i) {
    ASSERT_TRUE(
        testing::PublishModel(repo.path(), absl::StrCat("m", i), 1, **cnn)
            .ok());
  }
  // Our own port flags: ServerProcess would wait for the port file, which
  // appears only once the server is ready.
  auto started = ServerProcess::Start(
      {.args = {"--listen_address=127.0.0.1", "--port=0",
                "--http_listen_address=127.0.0.1", "--http_port=0",
                "--model_repository=" + repo.path(), "--drain_grace=0s"},
       .add_port_flags = false});
  ASSERT_TRUE(started.ok()) << started.status();
  ServerProcess& server = **started;
  int port = 0;
  int http_port = 0;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        const std::string log = server.Log();
        port = NumberAfter(log, "(port ");
        http_port = NumberAfter(log, "/v2 REST on http://127.0.0.1:");
        return port > 0 && http_port > 0;
      },
      testing::Scaled(absl::Seconds(30))))
      << server.Log();
  const std::string target = absl::StrCat("127.0.0.1:", port);

  auto images = testing::LoadTestDigits(1);
  ASSERT_TRUE(images.ok()) << images.status();
  auto stub = testing::NewV2Stub(target);
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto get = [&](const std::string& path) {
    return testing::SendHttp(http_port, {.path = path})
        .value_or(HttpResponse{});
  };
  const std::string infer_json = testing::InferJson(
      "FP32", {1, 784},
      testing::JsonNumbers(std::vector<float>(images->floats.begin(),
                                              images->floats.begin() + 784)),
      0);

  // --- While loading ---
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub->ServerLive(testing::ContextWithin().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(
      stub->ServerReady(testing::ContextWithin().get(), {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
  grpc::health::v1::HealthCheckRequest check;
  check.set_service("inference.GRPCInferenceService");
  grpc::health::v1::HealthCheckResponse status;
  ASSERT_TRUE(
      health->Check(testing::ContextWithin().get(), check, &status).ok());
  EXPECT_EQ(status.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  inference::ModelInferResponse reply;
  const grpc::Status infer = testing::Infer(
      *stub, testing::FloatRequest("m0", *images, 1, {1, 784}, InputForm::kRaw),
      &reply);
  EXPECT_EQ(infer.error_code(), grpc::StatusCode::UNAVAILABLE)
      << infer.error_message();
  EXPECT_THAT(infer.error_message(), HasSubstr("loading"));

  EXPECT_EQ(get("/v2/health/live").status, 200);
  const HttpResponse rest_ready = get("/v2/health/ready");
  EXPECT_EQ(rest_ready.status, 503);
  EXPECT_THAT(rest_ready.body, HasSubstr("not ready: loading models"));
  const HttpResponse rest_infer =
      testing::SendHttp(http_port,
                        testing::V2Post("/v2/models/m0/infer", infer_json))
          .value_or(HttpResponse{});
  EXPECT_EQ(rest_infer.status, 503) << rest_infer.body;
  EXPECT_THAT(rest_infer.body, HasSubstr("\"error\""));
  EXPECT_THAT(rest_infer.body, HasSubstr("loading"));

  // Every answer above came before the server was ready: had the repository
  // loaded faster than the probes, this says so (make kModels larger).
  ASSERT_FALSE(LoggedServing(server.Log()))
      << "the repository loaded before the probes finished";

  // --- Once loaded: ready, and the same requests are answered ---
  ASSERT_TRUE(testing::Eventually(
      [&] {
        inference::ServerReadyResponse r;
        return stub->ServerReady(testing::ContextWithin().get(), {}, &r)
                   .ok() &&
               r.ready();
      },
      testing::Scaled(absl::Seconds(120))))
      << server.Log();
  EXPECT_TRUE(LoggedServing(server.Log()));
  ASSERT_TRUE(
      health->Check(testing::ContextWithin().get(), check, &status).ok());
  EXPECT_EQ(status.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(get("/v2/health/ready").status, 200);
  const grpc::Status served = testing::Infer(
      *stub,
      testing::FloatRequest(absl::StrCat("m", kModels - 1), *images, 1,
                            {1, 784}, InputForm::kRaw),
      &reply);
  EXPECT_TRUE(served.ok()) << served.error_message();
  const HttpResponse rest_served =
      testing::SendHttp(http_port,
                        testing::V2Post("/v2/models/m0/infer", infer_json))
          .value_or(HttpResponse{});
  EXPECT_EQ(rest_served.status, 200) << rest_served.body;
}

// After the grace: new requests are refused over both protocols while the
// calls already accepted (seconds of queued CNN work on one worker) finish.
TEST(V2DrainTest, AfterTheGraceNewInferencesAreRefusedWhileAcceptedOnesFinish) {
  TempDir repo;
  auto cnn = testing::MakeModel("mnist_cnn", 4);
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  ASSERT_TRUE(testing::PublishModel(repo.path(), "cnn", 1, **cnn).ok());
  auto mlp = testing::MakeModel("mnist_mlp", 4);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  ASSERT_TRUE(testing::PublishModel(repo.path(), "mlp", 1, **mlp).ok());
  testing::WriteFileOrDie(
      repo.Join("cnn/config.textproto"),
      "batching { max_batch_size: 1 max_queue_size: 100000 workers: 1 "
      "threads_per_worker: 1 max_inline_images: 0 }\n");
  auto started = ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path(),
                "--max_images_per_request=64", "--drain_grace=0s",
                "--shutdown_timeout=60s"}});
  ASSERT_TRUE(started.ok()) << started.status();
  ServerProcess& server = **started;
  auto images = testing::LoadTestDigits(64);
  ASSERT_TRUE(images.ok()) << images.status();
  auto stub = testing::NewV2Stub(server.target());

  // kCalls calls of 64 images, sent at once, computed one image a batch on
  // one single-threaded worker; the signal comes once kQueuedImages of them
  // wait in the batcher's queue (accepted: about a second of work or more).
  constexpr int kCalls = 400;
  constexpr int kQueuedImages = 8000;
  const inference::ModelInferRequest request =
      testing::FloatRequest("cnn", *images, 64, {64, 28, 28}, InputForm::kRaw);
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    inference::ModelInferResponse response;
    grpc::Status status;
  };
  std::vector<Call> calls(kCalls);
  std::atomic<int> done{0};
  for (Call& call : calls) {
    call.context = testing::ContextWithin(absl::Seconds(120));
    stub->async()->ModelInfer(call.context.get(), &request, &call.response,
                              [&call, &done](grpc::Status status) {
                                call.status = std::move(status);
                                done.fetch_add(1);
                              });
  }
  // On an early return (a failed ASSERT) the pending calls are cancelled and
  // end before `calls` goes.
  struct Settle {
    std::vector<Call>& calls;
    std::atomic<int>& done;
    ~Settle() {
      for (Call& call : calls) call.context->TryCancel();
      while (done.load() < static_cast<int>(calls.size())) {
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
  } settle{calls, done};
  auto queued = [&] {
    auto response = testing::HttpRequest(server.http_port(), "GET", "/metrics");
    if (!response.ok()) return -1.0;
    auto exposition = testing::ParseExposition(response->body);
    return exposition.ok()
               ? exposition->Sum("nnserve_queue_depth", {{"model", "cnn"}})
               : -1.0;
  };
  ASSERT_TRUE(testing::Eventually([&] { return queued() >= kQueuedImages; },
                                  testing::Scaled(absl::Seconds(30))))
      << "queue depth " << queued() << ", " << done.load() << " answered";

  server.Signal(SIGTERM);
  // The HTTP port serves until the accepted calls are done: a new infer is
  // refused with 503 and the JSON error (not a dropped connection). The
  // probes go to another model, "mlp": one admitted just before the drain
  // began is answered at once, not queued behind the CNN's work.
  const std::string infer_json = testing::InferJson(
      "FP32", {1, 784},
      testing::JsonNumbers(std::vector<float>(images->floats.begin(),
                                              images->floats.begin() + 784)),
      0);
  HttpResponse refused;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        refused = testing::SendHttp(server.http_port(),
                                    testing::V2Post("/v2/models/mlp/infer",
                                                    infer_json))
                      .value_or(HttpResponse{});
        return refused.status == 503;
      },
      testing::Scaled(absl::Seconds(5))))
      << refused.status << " " << refused.body;
  EXPECT_THAT(refused.body, HasSubstr("draining"));
  const HttpResponse ready =
      testing::SendHttp(server.http_port(), {.path = "/v2/health/ready"})
          .value_or(HttpResponse{});
  EXPECT_EQ(ready.status, 503) << ready.body;
  // gRPC takes no new call once it shuts down (right after REST stops):
  // gRPC itself refuses it before any handler (UNAVAILABLE, or CANCELLED for
  // a call that reached a closing connection, as for Predict:
  // server_e2e_test.cc).
  grpc::Status late;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        inference::ModelInferResponse reply;
        late = testing::Infer(*stub,
                              testing::FloatRequest("mlp", *images, 1, {1, 784},
                                                    InputForm::kRaw),
                              &reply, absl::Seconds(10));
        return !late.ok();
      },
      testing::Scaled(absl::Seconds(5))));
  EXPECT_THAT(late.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                               grpc::StatusCode::CANCELLED))
      << late.error_code() << " " << late.error_message();
  EXPECT_LT(done.load(), kCalls)
      << "the refusals above came after the accepted work had finished";

  // Every call the server accepted is answered; calls that had not reached
  // it were refused by gRPC (as above).
  ASSERT_TRUE(testing::Eventually([&] { return done.load() == kCalls; },
                                  testing::Scaled(absl::Seconds(90))));
  int answered = 0;
  for (const Call& call : calls) {
    if (call.status.ok()) {
      ++answered;
      continue;
    }
    EXPECT_THAT(call.status.error_code(),
                ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                                 grpc::StatusCode::CANCELLED))
        << call.status.error_message();
  }
  EXPECT_GE(answered, kQueuedImages / 64);
  absl::StatusOr<int> exit_code = server.Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0) << server.Log();
}

}  // namespace
}  // namespace nn
