// The Open Inference Protocol (KServe V2) over real gRPC: build/bin/nnserve
// on 127.0.0.1 with an ephemeral port and a repository of engine-made
// models; every RPC of inference.GRPCInferenceService, every input form, both
// content forms, the classification extension, and ModelInfer's answers
// against Predict's for the same images (bit-identical for the same floats
// in a batch of the same size; other encodings within the numerical
// contract). Errors: v2_grpc_errors_e2e_test.cc.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/v2_grpc_util.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/suite_server.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::Contains;
using testing::InputForm;
using testing::OutputFloats;
using testing::OutputInt64s;

constexpr int kImages = 5;

class V2GrpcE2ETest : public testing::SuiteServerTest<V2GrpcE2ETest> {
 protected:
  static void SetUpTestSuite() {
    // "mlp" serves versions 1 and 2 (policy all), "cnn" version 1.
    for (int version : {1, 2}) {
      auto model = testing::MakeModel("mnist_mlp", 10 + version);
      ASSERT_TRUE(model.ok()) << model.status();
      ASSERT_TRUE(
          testing::PublishModel(repo().path(), "mlp", version, **model).ok());
    }
    auto cnn = testing::MakeModel("mnist_cnn", 5);
    ASSERT_TRUE(cnn.ok()) << cnn.status();
    ASSERT_TRUE(testing::PublishModel(repo().path(), "cnn", 1, **cnn).ok());
    FILE* config = fopen((repo().path() + "/mlp/config.textproto").c_str(), "w");
    ASSERT_NE(config, nullptr);
    fputs("version_policy { all {} }\n", config);
    fclose(config);
    StartServer();
  }
  void SetUp() override {
    ASSERT_NE(server(), nullptr);
    stub_ = testing::NewV2Stub(server()->target());
    auto images = testing::LoadTestDigits(kImages);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }

  std::unique_ptr<testing::V2Stub> stub_;
  testing::TestImages images_;
};

TEST_F(V2GrpcE2ETest, HealthRpcsAnswerLiveAndReady) {
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(testing::ContextWithin().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(
      stub_->ServerReady(testing::ContextWithin().get(), {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  for (const char* version : {"", "1", "2"}) {
    inference::ModelReadyRequest request;
    request.set_name("mlp");
    request.set_version(version);
    inference::ModelReadyResponse response;
    ASSERT_TRUE(stub_->ModelReady(testing::ContextWithin().get(), request,
                                  &response).ok());
    EXPECT_TRUE(response.ready()) << version;
  }
  // The service has its own health status name.
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      server()->target(), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest check;
  check.set_service("inference.GRPCInferenceService");
  grpc::health::v1::HealthCheckResponse status;
  ASSERT_TRUE(
      health->Check(testing::ContextWithin().get(), check, &status).ok());
  EXPECT_EQ(status.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(V2GrpcE2ETest, ServerMetadataAdvertisesTheExtensions) {
  inference::ServerMetadataResponse response;
  ASSERT_TRUE(stub_->ServerMetadata(testing::ContextWithin().get(), {},
                                    &response).ok());
  EXPECT_EQ(response.name(), "nnserve");
  EXPECT_FALSE(response.version().empty());
  EXPECT_THAT(response.extensions(), Contains("statistics"));
  EXPECT_THAT(response.extensions(), Contains("classification"));
  EXPECT_THAT(response.extensions(), Contains("model_configuration"));
}

TEST_F(V2GrpcE2ETest, ModelMetadataDescribesTheMapping) {
  inference::ModelMetadataRequest request;
  request.set_name("mlp");
  inference::ModelMetadataResponse response;
  ASSERT_TRUE(stub_->ModelMetadata(testing::ContextWithin().get(), request,
                                   &response).ok());
  EXPECT_EQ(response.name(), "mlp");
  EXPECT_THAT(response.versions(), ElementsAre("1", "2"));
  EXPECT_EQ(response.platform(), "nnserve_nnm");
  ASSERT_EQ(response.inputs_size(), 1);
  EXPECT_EQ(response.inputs(0).name(), "images");
  EXPECT_EQ(response.inputs(0).datatype(), "FP32");
  EXPECT_THAT(response.inputs(0).shape(), ElementsAre(-1, 28, 28));
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "probabilities");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(-1, 10));
  EXPECT_EQ(response.outputs(1).name(), "class_index");
  EXPECT_EQ(response.outputs(1).datatype(), "INT64");
  EXPECT_THAT(response.outputs(1).shape(), ElementsAre(-1, 1));
  // Provenance of the newest version.
  EXPECT_EQ(response.properties().at("version"), "2");
  int64_t parameters = 0;
  ASSERT_TRUE(absl::SimpleAtoi(response.properties().at("parameters"),
                               &parameters));
  EXPECT_GT(parameters, 1000);
  EXPECT_TRUE(response.properties().contains("architecture"));
}

TEST_F(V2GrpcE2ETest, ModelConfigCarriesWhatPerfAnalyzerReads) {
  inference::ModelConfigRequest request;
  request.set_name("cnn");
  inference::ModelConfigResponse response;
  ASSERT_TRUE(stub_->ModelConfig(testing::ContextWithin().get(), request,
                                 &response).ok());
  const inference::ModelConfig& config = response.config();
  EXPECT_EQ(config.name(), "cnn");
  EXPECT_EQ(config.platform(), "nnserve_nnm");
  EXPECT_GT(config.max_batch_size(), 0);
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_THAT(config.input(0).dims(), ElementsAre(28, 28));
  ASSERT_EQ(config.output_size(), 2);
  EXPECT_THAT(config.output(0).dims(), ElementsAre(10));
  EXPECT_TRUE(config.has_dynamic_batching());
}

TEST_F(V2GrpcE2ETest, RepositoryIndexListsEveryVersion) {
  inference::RepositoryIndexRequest request;
  request.set_ready(true);
  inference::RepositoryIndexResponse response;
  ASSERT_TRUE(stub_->RepositoryIndex(testing::ContextWithin().get(), request,
                                     &response).ok());
  std::vector<std::string> listed;
  for (const auto& m : response.models()) {
    EXPECT_EQ(m.state(), "READY");
    listed.push_back(m.name() + ":" + m.version());
  }
  EXPECT_THAT(listed, ElementsAre("cnn:1", "mlp:1", "mlp:2"));
}

// Every FP32 shape, raw and typed: the same floats as Predict's tensor in a
// batch of the same size, so bit-identical.
TEST_F(V2GrpcE2ETest, Fp32InEveryShapeAndFormEqualsPredictBitForBit) {
  for (const char* model : {"mlp", "cnn"}) {
    SCOPED_TRACE(model);
    const std::vector<float> expected = testing::PredictProbabilities(
        server()->target(), model, images_, kImages);
    ASSERT_EQ(expected.size(), kImages * 10u);
    const std::vector<std::vector<int64_t>> shapes = {
        {kImages, 28, 28}, {kImages, 784}, {kImages, 28, 28, 1},
        {kImages, 1, 28, 28}};
    for (const auto& shape : shapes) {
      for (InputForm form : {InputForm::kRaw, InputForm::kTyped}) {
        SCOPED_TRACE(::testing::Message() << "rank " << shape.size()
                                          << (form == InputForm::kRaw ? " raw"
                                                                      : " typed"));
        inference::ModelInferResponse response;
        grpc::Status status = testing::Infer(
            *stub_, testing::FloatRequest(model, images_, kImages, shape, form),
            &response);
        ASSERT_TRUE(status.ok()) << status.error_message();
        ASSERT_EQ(response.outputs_size(), 2);
        EXPECT_EQ(response.outputs(0).name(), "probabilities");
        EXPECT_THAT(response.outputs(0).shape(), ElementsAre(kImages, 10));
        EXPECT_EQ(OutputFloats(response, 0), expected);
        const std::vector<int64_t> classes = OutputInt64s(response, 1);
        ASSERT_EQ(classes.size(), static_cast<size_t>(kImages));
        for (int i = 0; i < kImages; ++i) {
          const float* row = expected.data() + i * 10;
          EXPECT_EQ(classes[i], std::max_element(row, row + 10) - row);
        }
      }
    }
  }
}

// UINT8 pixels and PNG files, raw and typed: the model's answer for those
// pixels (within the numerical contract of Predict's float answer).
TEST_F(V2GrpcE2ETest, PixelsAndPngsEqualPredictWithinTheContract) {
  const std::vector<float> expected = testing::PredictProbabilities(
      server()->target(), "cnn", images_, kImages);
  for (InputForm form : {InputForm::kRaw, InputForm::kTyped}) {
    for (bool png : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << (png ? "BYTES png" : "UINT8")
                   << (form == InputForm::kRaw ? " raw" : " typed"));
      inference::ModelInferResponse response;
      grpc::Status status = testing::Infer(
          *stub_,
          png ? testing::PngRequest("cnn", images_, kImages, form)
              : testing::PixelV2Request("cnn", images_, kImages, form),
          &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_LE(testing::MaxContractError(OutputFloats(response, 0), expected),
                testing::kRunToRunTolerance);
    }
  }
}

TEST_F(V2GrpcE2ETest, ReplyEchoesIdAndNamesTheVersionThatRan) {
  for (const char* version : {"", "1", "2"}) {
    auto request = testing::FloatRequest("mlp", images_, 1, {1, 784},
                                         InputForm::kRaw);
    request.set_id(std::string("req-") + version);
    request.set_model_version(version);
    inference::ModelInferResponse response;
    ASSERT_TRUE(testing::Infer(*stub_, request, &response).ok());
    EXPECT_EQ(response.id(), std::string("req-") + version);
    EXPECT_EQ(response.model_name(), "mlp");
    EXPECT_EQ(response.model_version(), *version ? version : "2");
  }
}

TEST_F(V2GrpcE2ETest, TypedOutputContentsParameterAnswersInContents) {
  auto request = testing::FloatRequest("cnn", images_, kImages,
                                       {kImages, 28, 28}, InputForm::kRaw);
  inference::ModelInferResponse raw;
  ASSERT_TRUE(testing::Infer(*stub_, request, &raw).ok());
  ASSERT_EQ(raw.raw_output_contents_size(), 2);  // raw by default
  (*request.mutable_parameters())["typed_output_contents"].set_bool_param(true);
  inference::ModelInferResponse typed;
  ASSERT_TRUE(testing::Infer(*stub_, request, &typed).ok());
  EXPECT_EQ(typed.raw_output_contents_size(), 0);
  ASSERT_EQ(typed.outputs_size(), 2);
  EXPECT_EQ(typed.outputs(0).contents().fp32_contents_size(), kImages * 10);
  EXPECT_EQ(OutputFloats(typed, 0), OutputFloats(raw, 0));
  EXPECT_EQ(OutputInt64s(typed, 1), OutputInt64s(raw, 1));
}

TEST_F(V2GrpcE2ETest, RequestedOutputsAndClassificationExtension) {
  auto request = testing::FloatRequest("cnn", images_, kImages,
                                       {kImages, 28, 28}, InputForm::kRaw);
  inference::ModelInferResponse all;
  ASSERT_TRUE(testing::Infer(*stub_, request, &all).ok());
  const std::vector<float> probabilities = OutputFloats(all, 0);

  request.add_outputs()->set_name("class_index");
  auto* classification = request.add_outputs();
  classification->set_name("probabilities");
  (*classification->mutable_parameters())["classification"].set_int64_param(3);
  (*request.mutable_parameters())["typed_output_contents"].set_bool_param(true);
  inference::ModelInferResponse response;
  grpc::Status status = testing::Infer(*stub_, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "class_index");
  EXPECT_EQ(response.outputs(1).name(), "probabilities");
  EXPECT_EQ(response.outputs(1).datatype(), "BYTES");
  EXPECT_THAT(response.outputs(1).shape(), ElementsAre(kImages, 3));
  const auto& strings = response.outputs(1).contents().bytes_contents();
  ASSERT_EQ(strings.size(), kImages * 3);
  const std::vector<int64_t> classes = OutputInt64s(response, 0);
  for (int i = 0; i < kImages; ++i) {
    // "<probability>:<index>:<label>", most probable first.
    std::vector<std::string> parts = absl::StrSplit(strings[i * 3], ':');
    ASSERT_EQ(parts.size(), 3u) << strings[i * 3];
    int index = -1;
    float p = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &index));
    ASSERT_TRUE(absl::SimpleAtof(parts[0], &p));
    EXPECT_EQ(index, classes[i]);
    EXPECT_EQ(parts[2], parts[1]);  // the fixtures' labels are "0".."9"
    EXPECT_EQ(p, probabilities[i * 10 + index]);
  }
}

TEST_F(V2GrpcE2ETest, ModelStatisticsCountInferences) {
  auto stats = [&] {
    inference::ModelStatisticsRequest request;
    request.set_name("cnn");
    request.set_version("1");
    inference::ModelStatisticsResponse response;
    EXPECT_TRUE(stub_->ModelStatistics(testing::ContextWithin().get(), request,
                                       &response).ok());
    EXPECT_EQ(response.model_stats_size(), 1);
    return response.model_stats_size() == 1 ? response.model_stats(0)
                                            : inference::ModelStatistics();
  };
  const inference::ModelStatistics before = stats();
  inference::ModelInferResponse response;
  ASSERT_TRUE(testing::Infer(*stub_,
                             testing::FloatRequest("cnn", images_, kImages,
                                                   {kImages, 784},
                                                   InputForm::kRaw),
                             &response).ok());
  const inference::ModelStatistics after = stats();
  EXPECT_EQ(after.name(), "cnn");
  EXPECT_EQ(after.version(), "1");
  EXPECT_EQ(after.inference_stats().success().count(),
            before.inference_stats().success().count() + 1);
  EXPECT_GT(after.inference_stats().success().ns(),
            before.inference_stats().success().ns());
  EXPECT_EQ(after.inference_count(), before.inference_count() + kImages);
  EXPECT_GE(after.execution_count(), before.execution_count() + 1);
  EXPECT_EQ(after.inference_stats().queue().count(),
            before.inference_stats().queue().count() + 1);
  EXPECT_GT(after.inference_stats().compute_infer().ns(),
            before.inference_stats().compute_infer().ns());
  EXPECT_GT(after.last_inference(), 1'700'000'000'000u);  // ms since epoch

  // Every model and version when none is named.
  inference::ModelStatisticsResponse every;
  ASSERT_TRUE(stub_->ModelStatistics(testing::ContextWithin().get(), {},
                                     &every).ok());
  EXPECT_EQ(every.model_stats_size(), 3);
}

}  // namespace
}  // namespace nn
