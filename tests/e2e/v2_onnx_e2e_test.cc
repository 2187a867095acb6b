// Imported ONNX models over the Open Inference Protocol (issue 18: "the Open
// Inference Protocol once it exists"), end to end against the real nnserve:
// PyTorch's exports of the tutorial's CNN and RNN (scripts/make-onnx-models.py,
// the CTest fixture onnx_models) dropped into a repository as model.onnx are
// described by ModelMetadata / ModelConfig (platform nnserve_onnx, the same
// signature as a native model, the import's origin) over gRPC and REST, and
// ModelInfer over V2 gRPC (raw FP32, typed UINT8) and REST (JSON, binary)
// answers what Predict answers for the same digits, within the numerical
// contract (the server batches each protocol's requests as it likes), and
// PyTorch's saved probabilities within the reference tolerance.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/v2_grpc_util.h"
#include "tests/e2e/v2_rest_support.h"
#include "tests/onnx/onnx_test_util.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/suite_server.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::HttpResponse;
using testing::InputForm;

constexpr int64_t kImages = 32;
constexpr int kClasses = 10;

struct Case {
  const char* model;        // the repository's model name
  const char* file;         // <onnx-models>/<file>.onnx
  bool softmax_appended;    // the RNN export ends in logits
};
constexpr Case kCases[] = {{"cnn", "mnist_cnn", false},
                           {"rnn", "mnist_rnn", true}};

class V2OnnxE2ETest : public testing::SuiteServerTest<V2OnnxE2ETest> {
 protected:
  static void SetUpTestSuite() {
    const std::string models = testing::OnnxModelsDir();
    ASSERT_FALSE(models.empty())
        << "NNSERVE_ONNX_MODELS_DIR is unset (CTest sets it)";
    for (const Case& c : kCases) {
      const std::string dir = repo().Join(absl::StrCat(c.model, "/1"));
      testing::MakeDirs(dir);
      std::filesystem::copy_file(absl::StrCat(models, "/", c.file, ".onnx"),
                                 dir + "/model.onnx");
    }
    StartServer();
  }
  void SetUp() override {
    ASSERT_NE(server(), nullptr);
    stub_ = testing::NewV2Stub(server()->target());
    auto images = testing::LoadTestDigits(kImages);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }

  // PyTorch's saved probabilities of the first kImages test digits.
  static std::vector<float> PyTorchs(const Case& c) {
    auto all = testing::ReadFloats(
        absl::StrCat(testing::OnnxModelsDir(), "/", c.file, ".probs.f32"));
    EXPECT_TRUE(all.ok()) << all.status();
    if (!all.ok() || all->size() < kImages * kClasses) return {};
    return std::vector<float>(all->begin(), all->begin() + kImages * kClasses);
  }

  HttpResponse Http(const testing::HttpMessage& message) {
    auto response = testing::SendHttp(server()->http_port(), message);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  std::unique_ptr<testing::V2Stub> stub_;
  testing::TestImages images_;
};

TEST_F(V2OnnxE2ETest, MetadataAndConfigDescribeTheImportLikeANativeModel) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.model);
    inference::ModelMetadataRequest request;
    request.set_name(c.model);
    inference::ModelMetadataResponse metadata;
    ASSERT_TRUE(stub_->ModelMetadata(testing::ContextWithin().get(), request,
                                     &metadata).ok());
    EXPECT_EQ(metadata.name(), c.model);
    EXPECT_THAT(metadata.versions(), ElementsAre("1"));
    EXPECT_EQ(metadata.platform(), "nnserve_onnx");
    ASSERT_EQ(metadata.inputs_size(), 1);
    EXPECT_EQ(metadata.inputs(0).name(), "images");
    EXPECT_EQ(metadata.inputs(0).datatype(), "FP32");
    EXPECT_THAT(metadata.inputs(0).shape(), ElementsAre(-1, 28, 28));
    ASSERT_EQ(metadata.outputs_size(), 2);
    EXPECT_EQ(metadata.outputs(0).name(), "probabilities");
    EXPECT_THAT(metadata.outputs(0).shape(), ElementsAre(-1, kClasses));
    EXPECT_EQ(metadata.outputs(1).name(), "class_index");
    EXPECT_EQ(metadata.outputs(1).datatype(), "INT64");
    const auto& properties = metadata.properties();
    ASSERT_EQ(properties.count("origin"), 1u);
    EXPECT_THAT(properties.at("origin"), HasSubstr("ONNX (pytorch "));
    EXPECT_EQ(properties.at("training_runs"), "0");
    EXPECT_EQ(properties.count("softmax_appended"),
              c.softmax_appended ? 1u : 0u);

    inference::ModelConfigRequest config_request;
    config_request.set_name(c.model);
    inference::ModelConfigResponse config;
    ASSERT_TRUE(stub_->ModelConfig(testing::ContextWithin().get(),
                                   config_request, &config).ok());
    EXPECT_EQ(config.config().platform(), "nnserve_onnx");
    EXPECT_GT(config.config().max_batch_size(), 0);
    ASSERT_EQ(config.config().input_size(), 1);
    EXPECT_EQ(config.config().input(0).name(), "images");

    // REST: the same description.
    const HttpResponse rest =
        Http({.path = absl::StrCat("/v2/models/", c.model)});
    ASSERT_EQ(rest.status, 200) << rest.body;
    rapidjson::Document json;
    json.Parse(rest.body.c_str());
    ASSERT_TRUE(json.IsObject()) << rest.body;
    EXPECT_STREQ(json["platform"].GetString(), "nnserve_onnx");
    EXPECT_STREQ(json["inputs"][0]["name"].GetString(), "images");
    EXPECT_THAT(std::string(json["properties"]["origin"].GetString()),
                HasSubstr("ONNX (pytorch "));
  }
}

TEST_F(V2OnnxE2ETest, ModelInferOverGrpcAndRestEqualsPredict) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.model);
    const std::vector<float> predict = testing::PredictProbabilities(
        server()->target(), c.model, images_, kImages);
    ASSERT_EQ(predict.size(), static_cast<size_t>(kImages * kClasses));
    // Predict serves PyTorch's probabilities (onnx_e2e_test), so V2 does too.
    EXPECT_LE(testing::MaxContractError(predict, PyTorchs(c)),
              testing::kReferenceTolerance);

    struct Grpc {
      const char* name;
      inference::ModelInferRequest request;
    };
    const Grpc grpc_forms[] = {
        {"raw FP32 [N,28,28]",
         testing::FloatRequest(c.model, images_, kImages, {kImages, 28, 28},
                               InputForm::kRaw)},
        {"typed UINT8 [N,28,28]",
         testing::PixelV2Request(c.model, images_, kImages, InputForm::kTyped)},
    };
    for (const Grpc& form : grpc_forms) {
      SCOPED_TRACE(form.name);
      inference::ModelInferResponse response;
      const grpc::Status status = testing::Infer(*stub_, form.request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(response.model_name(), c.model);
      EXPECT_EQ(response.model_version(), "1");
      const std::vector<float> probabilities = testing::OutputFloats(response, 0);
      EXPECT_LE(testing::MaxContractError(probabilities, predict),
                testing::kRunToRunTolerance);
      const std::vector<int64_t> chosen = testing::OutputInt64s(response, 1);
      ASSERT_EQ(chosen.size(), static_cast<size_t>(kImages));
      for (int64_t i = 0; i < kImages; ++i) {
        EXPECT_TRUE(testing::IsArgMaxWithinContract(
            absl::MakeConstSpan(predict).subspan(i * kClasses, kClasses),
            static_cast<int>(chosen[i])))
            << "image " << i;
      }
    }

    // REST: JSON [N,784] in, JSON out; binary [N,28,28,1] in and out.
    const std::string path = absl::StrCat("/v2/models/", c.model, "/infer");
    const std::vector<float> floats(images_.floats.begin(),
                                    images_.floats.begin() + kImages * 784);
    const HttpResponse json = Http(testing::V2Post(
        path, testing::InferJson("FP32", {kImages, 784},
                                 testing::JsonNumbers(floats), 0)));
    const std::string head = testing::InferJson(
        "FP32", {kImages, 28, 28, 1}, "", kImages * 784 * 4,
        R"(,"parameters":{"binary_data_output":true})");
    const HttpResponse binary = Http(testing::V2Post(
        path, head + testing::RawFloats(floats),
        static_cast<int64_t>(head.size())));
    for (const HttpResponse* response : {&json, &binary}) {
      SCOPED_TRACE(response == &json ? "REST JSON" : "REST binary");
      ASSERT_EQ(response->status, 200) << response->body;
      testing::V2Answer answer = testing::ParseV2Answer(*response);
      ASSERT_TRUE(answer.ok) << response->body;
      EXPECT_STREQ(answer.json["model_version"].GetString(), "1");
      EXPECT_LE(testing::MaxContractError(
                    testing::V2OutputFloats(answer, "probabilities"), predict),
                testing::kRunToRunTolerance);
    }
  }
}

}  // namespace
}  // namespace nn
