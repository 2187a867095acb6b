// The Open Inference Protocol's error answers over real gRPC, the request
// metrics' protocol label, and readiness during a drain: every code
// ModelInfer and the metadata RPCs give (NOT_FOUND, INVALID_ARGUMENT naming
// the tensor, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNAVAILABLE,
// UNIMPLEMENTED), none of them INTERNAL or UNKNOWN.
#include <signal.h>

#include <atomic>
#include <future>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/e2e/v2_grpc_util.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

using ::testing::HasSubstr;
using testing::InputForm;
using testing::ServerProcess;
using testing::TempDir;
using Request = inference::ModelInferRequest;

constexpr int kMaxImages = 16;

std::unique_ptr<ServerProcess> StartServer(const TempDir& repo,
                                           std::vector<std::string> extra) {
  std::vector<std::string> args = {"--model_repository=" + repo.path(),
                                   absl::StrCat("--max_images_per_request=",
                                                kMaxImages)};
  args.insert(args.end(), extra.begin(), extra.end());
  auto server = ServerProcess::Start({.args = args});
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// The sum of a counter's series that carry every label of `match`.
double Counter(int http_port, const std::string& name,
               const testing::SeriesLabels& match) {
  auto response = testing::HttpRequest(http_port, "GET", "/metrics");
  if (!response.ok()) return -1;
  auto exposition = testing::ParseExposition(response->body);
  return exposition.ok() ? exposition->Sum(name, match) : -1;
}

grpc::Status RawV2Call(const std::string& target, const std::string& method,
                       const std::string& bytes) {
  grpc::GenericStub stub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  auto context = testing::ContextWithin();
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(s); });
  return done.get_future().get();
}

class V2GrpcErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TempDir();
    auto cnn = testing::MakeModel("mnist_cnn", 3);
    ASSERT_TRUE(cnn.ok()) << cnn.status();
    ASSERT_TRUE(testing::PublishModel(repo_->path(), "cnn", 1, **cnn).ok());
    server_ = StartServer(*repo_, {"--drain_grace=0s"}).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete repo_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = testing::NewV2Stub(server_->target());
    auto images = testing::LoadTestDigits(kMaxImages + 1);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }
  Request Valid(int n = 2) const {
    return testing::FloatRequest("cnn", images_, n, {n, 28, 28},
                                 InputForm::kRaw);
  }
  grpc::Status Call(const Request& request) {
    inference::ModelInferResponse response;
    return testing::Infer(*stub_, request, &response);
  }

  static TempDir* repo_;
  static ServerProcess* server_;
  std::unique_ptr<testing::V2Stub> stub_;
  testing::TestImages images_;
};
TempDir* V2GrpcErrorsTest::repo_ = nullptr;
ServerProcess* V2GrpcErrorsTest::server_ = nullptr;

TEST_F(V2GrpcErrorsTest, UnknownModelOrVersionIsNotFoundInEveryRpc) {
  for (auto [model, version] :
       std::vector<std::pair<std::string, std::string>>{
           {"nope", ""}, {"cnn", "7"}, {"cnn", "abc"}, {"cnn", "0"}}) {
    SCOPED_TRACE(model + ":" + version);
    Request infer = Valid();
    infer.set_model_name(model);
    infer.set_model_version(version);
    EXPECT_EQ(Call(infer).error_code(), grpc::NOT_FOUND);
    inference::ModelMetadataRequest metadata;
    metadata.set_name(model);
    metadata.set_version(version);
    inference::ModelMetadataResponse metadata_response;
    EXPECT_EQ(stub_->ModelMetadata(testing::ContextWithin().get(), metadata,
                                   &metadata_response).error_code(),
              grpc::NOT_FOUND);
    inference::ModelConfigRequest config;
    config.set_name(model);
    config.set_version(version);
    inference::ModelConfigResponse config_response;
    EXPECT_EQ(stub_->ModelConfig(testing::ContextWithin().get(), config,
                                 &config_response).error_code(),
              grpc::NOT_FOUND);
    inference::ModelReadyRequest ready;
    ready.set_name(model);
    ready.set_version(version);
    inference::ModelReadyResponse ready_response;
    EXPECT_EQ(stub_->ModelReady(testing::ContextWithin().get(), ready,
                                &ready_response).error_code(),
              grpc::NOT_FOUND);
    inference::ModelStatisticsRequest stats;
    stats.set_name(model);
    stats.set_version(version);
    inference::ModelStatisticsResponse stats_response;
    EXPECT_EQ(stub_->ModelStatistics(testing::ContextWithin().get(), stats,
                                     &stats_response).error_code(),
              grpc::NOT_FOUND);
  }
  Request bad_name = Valid();
  bad_name.set_model_name("../etc");
  EXPECT_EQ(Call(bad_name).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(V2GrpcErrorsTest, MalformedRequestsAreInvalidArgumentNamingTheTensor) {
  struct Case {
    const char* what;
    std::function<void(Request*)> mutate;
    const char* message;  // a part of the expected message
  };
  const std::vector<Case> cases = {
      {"input renamed", [](Request* r) { r->mutable_inputs(0)->set_name("x"); },
       "images"},
      {"no input", [](Request* r) { r->clear_inputs(); }, "images"},
      {"datatype", [](Request* r) { r->mutable_inputs(0)->set_datatype("INT32"); },
       "INT32"},
      {"unknown datatype",
       [](Request* r) { r->mutable_inputs(0)->set_datatype("FLOAT"); }, "FLOAT"},
      {"shape", [](Request* r) { r->mutable_inputs(0)->set_shape(1, 27); },
       "images"},
      {"byte count",
       [](Request* r) { r->mutable_raw_input_contents(0)->resize(100); },
       "images"},
      {"raw and typed mixed",
       [](Request* r) {
         r->mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
       },
       "images"},
      {"pixel out of range",
       [](Request* r) {
         float big = 1.5f;
         r->mutable_raw_input_contents(0)->replace(0, 4,
             reinterpret_cast<const char*>(&big), 4);
       },
       "images"},
      {"two raw entries",
       [](Request* r) { r->add_raw_input_contents("x"); }, "raw_input_contents"},
      {"unknown output",
       [](Request* r) { r->add_outputs()->set_name("logits"); }, "logits"},
      {"classification too large",
       [](Request* r) {
         auto* o = r->add_outputs();
         o->set_name("probabilities");
         (*o->mutable_parameters())["classification"].set_int64_param(11);
       },
       "classification"},
      {"typed_output_contents not a bool",
       [](Request* r) {
         (*r->mutable_parameters())["typed_output_contents"].set_string_param(
             "yes");
       },
       "typed_output_contents"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Request request = Valid();
    c.mutate(&request);
    grpc::Status status = Call(request);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  // Bytes that are no ModelInferRequest.
  grpc::Status garbage = RawV2Call(
      server_->target(), "/inference.GRPCInferenceService/ModelInfer",
      std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(garbage.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(garbage.error_message(), HasSubstr("inference.ModelInferRequest"));
}

TEST_F(V2GrpcErrorsTest, TooManyImagesIsResourceExhausted) {
  grpc::Status status = Call(Valid(kMaxImages + 1));
  EXPECT_EQ(status.error_code(), grpc::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_TRUE(Call(Valid(kMaxImages)).ok());
}

TEST_F(V2GrpcErrorsTest, MethodsOutsideTheServiceAreUnimplemented) {
  for (const char* method :
       {"/inference.GRPCInferenceService/RepositoryModelLoad",
        "/inference.GRPCInferenceService/CudaSharedMemoryStatus"}) {
    EXPECT_EQ(RawV2Call(server_->target(), method, "").error_code(),
              grpc::UNIMPLEMENTED)
        << method;
  }
}

// A call whose deadline passes while it waits behind a busy worker is
// dropped by the server (counted there as DEADLINE_EXCEEDED), not computed.
TEST_F(V2GrpcErrorsTest, DeadlinePassedInTheQueueIsDeadlineExceeded) {
  const testing::SeriesLabels late = {{"method", "ModelInfer"},
                                      {"protocol", "v2"},
                                      {"code", "DEADLINE_EXCEEDED"}};
  const double before =
      Counter(server_->http_port(), "nnserve_requests_total", late);
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      auto stub = testing::NewV2Stub(server_->target());
      while (!stop.load()) {
        inference::ModelInferResponse response;
        testing::Infer(*stub, Valid(kMaxImages), &response);
      }
    });
  }
  int client_saw = 0;
  const bool counted = testing::Eventually(
      [&] {
        inference::ModelInferResponse response;
        grpc::Status status = testing::Infer(*stub_, Valid(kMaxImages),
                                             &response, absl::Milliseconds(2));
        if (status.error_code() == grpc::DEADLINE_EXCEEDED) ++client_saw;
        return Counter(server_->http_port(), "nnserve_requests_total", late) >
               before;
      },
      absl::Seconds(30));
  stop.store(true);
  for (std::thread& t : load) t.join();
  EXPECT_TRUE(counted);
  EXPECT_GT(client_saw, 0);
}

TEST_F(V2GrpcErrorsTest, RequestMetricsCarryTheProtocolLabel) {
  const testing::SeriesLabels ok_infer = {{"model", "cnn"},
                                          {"version", "1"},
                                          {"method", "ModelInfer"},
                                          {"protocol", "v2"},
                                          {"code", "OK"}};
  const testing::SeriesLabels metadata = {{"model", "cnn"},
                                          {"method", "ModelMetadata"},
                                          {"protocol", "v2"},
                                          {"code", "OK"}};
  const int port = server_->http_port();
  const double infer_before = Counter(port, "nnserve_requests_total", ok_infer);
  const double metadata_before =
      Counter(port, "nnserve_requests_total", metadata);
  const double v1_before = Counter(port, "nnserve_requests_total",
                                   {{"protocol", "nnserve.v1"}});
  ASSERT_TRUE(Call(Valid()).ok());
  inference::ModelMetadataRequest request;
  request.set_name("cnn");
  inference::ModelMetadataResponse response;
  ASSERT_TRUE(stub_->ModelMetadata(testing::ContextWithin().get(), request,
                                   &response).ok());
  EXPECT_EQ(Counter(port, "nnserve_requests_total", ok_infer),
            infer_before + 1);
  EXPECT_EQ(Counter(port, "nnserve_requests_total", metadata),
            metadata_before + 1);
  EXPECT_EQ(Counter(port, "nnserve_requests_total",
                    {{"protocol", "nnserve.v1"}}),
            v1_before);
  EXPECT_GE(Counter(port, "nnserve_request_duration_seconds_count",
                    {{"method", "ModelInfer"}, {"protocol", "v2"}}),
            1);
}

// Draining: readiness (ServerReady, the V2 health status) goes at once, while
// accepted and new inferences are still answered during the grace period.
TEST(V2GrpcDrainTest, DrainingServerIsNotReadyButStillInfers) {
  TempDir repo;
  auto mlp = testing::MakeModel("mnist_mlp", 1);
  ASSERT_TRUE(mlp.ok());
  ASSERT_TRUE(testing::PublishModel(repo.path(), "mlp", 1, **mlp).ok());
  std::unique_ptr<ServerProcess> server =
      StartServer(repo, {"--drain_grace=4s", "--shutdown_timeout=10s"});
  ASSERT_NE(server, nullptr);
  auto images = testing::LoadTestDigits(1);
  ASSERT_TRUE(images.ok());
  auto stub = testing::NewV2Stub(server->target());
  auto ready = [&] {
    inference::ServerReadyResponse response;
    grpc::Status status =
        stub->ServerReady(testing::ContextWithin(absl::Seconds(2)).get(), {},
                          &response);
    return status.ok() && response.ready();
  };
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      server->target(), grpc::InsecureChannelCredentials()));
  auto v2_health = [&] {
    grpc::health::v1::HealthCheckRequest check;
    check.set_service("inference.GRPCInferenceService");
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(
        testing::ContextWithin(absl::Seconds(2)).get(), check, &response);
    return status.ok() ? static_cast<int>(response.status()) : -1;
  };
  ASSERT_TRUE(ready());
  ASSERT_EQ(v2_health(), grpc::health::v1::HealthCheckResponse::SERVING);
  server->Signal(SIGTERM);
  EXPECT_TRUE(testing::Eventually([&] { return !ready(); },
                                  absl::Milliseconds(1500)));
  EXPECT_EQ(v2_health(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  inference::ModelInferResponse response;
  grpc::Status status = testing::Infer(
      *stub, testing::FloatRequest("mlp", *images, 1, {1, 784}, InputForm::kRaw),
      &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  absl::StatusOr<int> exit_code = server->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 0) << server->Log();
}

}  // namespace
}  // namespace nn
