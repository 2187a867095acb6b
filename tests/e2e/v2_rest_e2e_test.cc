// The Open Inference Protocol over REST, end to end: the real nnserve binary
// on 127.0.0.1, real HTTP on its --http_port. Every /v2 endpoint; every
// input form in JSON and in the binary tensor data extension; answers in
// JSON and binary; the classification extension; the error statuses with
// their JSON bodies. Probabilities are checked against Predict's for the same
// images (within the numerical contract: the server batches as it likes).
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/data/png.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/v2_rest_support.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/server_process.h"
#include "tests/support/suite_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

using ::testing::HasSubstr;
using testing::HttpResponse;
using testing::ServerProcess;
using testing::TempDir;

constexpr int kImages = 4;
constexpr char kInfer[] = "/v2/models/m/infer";

class V2RestE2ETest : public testing::SuiteServerTest<V2RestE2ETest> {
 protected:
  static void SetUpTestSuite() {
    auto model = testing::MakeModel("mnist_mlp", 7);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(testing::PublishModel(repo().path(), "m", 1, **model).ok());
    StartServer({"--max_http_body_bytes=1000000"});
  }
  void SetUp() override {
    ASSERT_NE(server(), nullptr);
    auto images = testing::LoadTestDigits(kImages);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
    // What Predict answers for the same images.
    auto stub = testing::NewStub(server()->target());
    nnserve::v1::PredictResponse response;
    grpc::Status status = testing::Predict(
        *stub, testing::PixelRequest("m", images_, kImages), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const auto& p : response.predictions()) {
      predict_.insert(predict_.end(), p.probabilities().begin(),
                      p.probabilities().end());
    }
  }

  HttpResponse Send(const testing::HttpMessage& message) {
    auto response = testing::SendHttp(server()->http_port(), message);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }
  HttpResponse Get(const std::string& path) {
    return Send({.method = "GET", .path = path});
  }

  // Checks an answer's probabilities (JSON data or binary) against Predict's.
  void ExpectPredictProbabilities(const HttpResponse& response) {
    ASSERT_EQ(response.status, 200) << response.body;
    testing::V2Answer answer = testing::ParseV2Answer(response);
    ASSERT_TRUE(answer.ok) << response.body;
    EXPECT_STREQ(answer.json["model_name"].GetString(), "m");
    EXPECT_STREQ(answer.json["model_version"].GetString(), "1");
    EXPECT_STREQ(answer.json["id"].GetString(), "req-1");
    const rapidjson::Value* out = testing::V2Output(answer, "probabilities");
    ASSERT_NE(out, nullptr);
    EXPECT_STREQ((*out)["datatype"].GetString(), "FP32");
    const std::vector<float> got =
        testing::V2OutputFloats(answer, "probabilities");
    ASSERT_EQ(got.size(), predict_.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], predict_[i], testing::kRunToRunTolerance) << i;
    }
  }

  void ExpectError(const HttpResponse& response, int status,
                   const std::string& message_part) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(response.headers.count("content-type"), 1u);
    if (response.headers.count("content-type") == 1) {
      EXPECT_EQ(response.headers.at("content-type"), "application/json");
    }
    rapidjson::Document doc;
    doc.Parse(response.body.data(), response.body.size());
    ASSERT_FALSE(doc.HasParseError()) << response.body;
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("error") &&
                doc["error"].IsString())
        << response.body;
    EXPECT_THAT(doc["error"].GetString(), HasSubstr(message_part));
  }

  testing::TestImages images_;
  std::vector<float> predict_;
};

TEST_F(V2RestE2ETest, HealthEndpointsAnswerOkWithAnEmptyBody) {
  for (const char* path : {"/v2/health/live", "/v2/health/ready",
                           "/v2/models/m/ready", "/v2/models/m/versions/1/ready"}) {
    SCOPED_TRACE(path);
    const HttpResponse r = Get(path);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "");
  }
  ExpectError(Get("/v2/models/nope/ready"), 404, "nope");
  ExpectError(Get("/v2/models/m/versions/9/ready"), 404, "9");
}

TEST_F(V2RestE2ETest, ServerMetadataNamesTheServerAndItsExtensions) {
  const HttpResponse r = Get("/v2");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  ASSERT_TRUE(doc.IsObject()) << r.body;
  EXPECT_STREQ(doc["name"].GetString(), "nnserve");
  std::vector<std::string> extensions;
  for (const auto& e : doc["extensions"].GetArray()) {
    extensions.push_back(e.GetString());
  }
  EXPECT_THAT(extensions, ::testing::IsSupersetOf(
                              {"binary_tensor_data", "classification"}));
}

TEST_F(V2RestE2ETest, ModelMetadataAndConfigDescribeTheModel) {
  for (const char* path : {"/v2/models/m", "/v2/models/m/versions/1"}) {
    SCOPED_TRACE(path);
    const HttpResponse r = Get(path);
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    ASSERT_TRUE(doc.IsObject()) << r.body;
    EXPECT_STREQ(doc["name"].GetString(), "m");
    ASSERT_EQ(doc["versions"].Size(), 1u);
    EXPECT_STREQ(doc["versions"][0].GetString(), "1");
    EXPECT_STREQ(doc["platform"].GetString(), "nnserve_nnm");
    EXPECT_STREQ(doc["inputs"][0]["name"].GetString(), "images");
    EXPECT_EQ(doc["inputs"][0]["shape"][0].GetInt(), -1);
    EXPECT_STREQ(doc["outputs"][0]["name"].GetString(), "probabilities");
    EXPECT_EQ(doc["outputs"][0]["shape"][1].GetInt(), 10);
  }
  const HttpResponse config = Get("/v2/models/m/config");
  ASSERT_EQ(config.status, 200) << config.body;
  rapidjson::Document doc;
  doc.Parse(config.body.c_str());
  ASSERT_TRUE(doc.IsObject()) << config.body;
  EXPECT_STREQ(doc["name"].GetString(), "m");
  EXPECT_GT(doc["max_batch_size"].GetInt(), 0);
  EXPECT_EQ(doc["input"][0]["dims"].Size(), 2u);
  EXPECT_TRUE(doc.HasMember("dynamic_batching"));
  ExpectError(Get("/v2/models/nope"), 404, "nope");
  ExpectError(Get("/v2/models/m/versions/x"), 404, "x");
  ExpectError(Get("/v2/models/m/nothing"), 404, "no endpoint");
}

TEST_F(V2RestE2ETest, StatisticsCountRestInferencesAndMetricsLabelThem) {
  const std::string body = testing::InferJson(
      "FP32", {kImages, 784}, testing::JsonNumbers(images_.floats), 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Send(testing::V2Post(kInfer, body)).status, 200);
  }
  for (const char* path : {"/v2/models/m/stats", "/v2/models/m/versions/1/stats",
                           "/v2/models/stats"}) {
    SCOPED_TRACE(path);
    const HttpResponse r = Get(path);
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("model_stats")) << r.body;
    ASSERT_EQ(doc["model_stats"].Size(), 1u) << r.body;
    const rapidjson::Value& m = doc["model_stats"][0];
    EXPECT_STREQ(m["name"].GetString(), "m");
    EXPECT_STREQ(m["version"].GetString(), "1");
    // This test's 3 requests and Predict's at least (others ran before).
    EXPECT_GE(m["inference_stats"]["success"]["count"].GetUint64(), 3u);
    EXPECT_GE(m["inference_count"].GetUint64(), 3u * kImages);
  }
  ExpectError(Get("/v2/models/nope/stats"), 404, "nope");
  // Request metrics carry protocol "v2-http" and the RPC's name.
  const HttpResponse metrics = Get("/metrics");
  bool found = false;
  for (absl::string_view line : absl::StrSplit(metrics.body, '\n')) {
    if (absl::StartsWith(line, "nnserve_requests_total{") &&
        absl::StrContains(line, R"(method="ModelInfer")") &&
        absl::StrContains(line, R"(protocol="v2-http")") &&
        absl::StrContains(line, R"(code="OK")")) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << metrics.body;
}

TEST_F(V2RestE2ETest, RepositoryIndexListsTheModel) {
  const HttpResponse r = Send({.method = "POST", .path = "/v2/repository/index"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("name":"m")"));
  EXPECT_THAT(r.body, HasSubstr(R"("state":"READY")"));
}

TEST_F(V2RestE2ETest, JsonFp32InEveryShapeEqualsPredict) {
  const std::vector<std::vector<int64_t>> shapes = {
      {kImages, 28, 28}, {kImages, 784}, {kImages, 28, 28, 1},
      {kImages, 1, 28, 28}};
  for (const auto& shape : shapes) {
    SCOPED_TRACE(shape.size());
    ExpectPredictProbabilities(Send(testing::V2Post(
        kInfer, testing::InferJson("FP32", shape,
                                   testing::JsonNumbers(images_.floats), 0))));
  }
}

TEST_F(V2RestE2ETest, NestedJsonDataIsReadRowMajor) {
  std::string nested = "[";
  for (int i = 0; i < kImages; ++i) {
    if (i > 0) nested += ",";
    nested += "[";
    for (int r = 0; r < 28; ++r) {
      if (r > 0) nested += ",";
      nested += testing::JsonNumbers(std::vector<float>(
          images_.floats.begin() + i * 784 + r * 28,
          images_.floats.begin() + i * 784 + (r + 1) * 28));
    }
    nested += "]";
  }
  nested += "]";
  ExpectPredictProbabilities(Send(testing::V2Post(
      kInfer, testing::InferJson("FP32", {kImages, 28, 28}, nested, 0))));
}

TEST_F(V2RestE2ETest, Uint8InJsonAndBinaryEqualsPredict) {
  std::vector<float> as_numbers(images_.pixels.begin(), images_.pixels.end());
  std::string json_data = "[";
  for (size_t i = 0; i < images_.pixels.size(); ++i) {
    absl::StrAppend(&json_data, i ? "," : "", images_.pixels[i]);
  }
  json_data += "]";
  ExpectPredictProbabilities(Send(testing::V2Post(
      kInfer, testing::InferJson("UINT8", {kImages, 784}, json_data, 0))));
  const std::string raw(images_.pixels.begin(), images_.pixels.end());
  const std::string head =
      testing::InferJson("UINT8", {kImages, 28, 28}, "", raw.size());
  ExpectPredictProbabilities(
      Send(testing::V2Post(kInfer, head + raw, head.size())));
}

TEST_F(V2RestE2ETest, BinaryFp32InAndOutEqualsPredict) {
  const std::string raw = testing::RawFloats(images_.floats);
  const std::string head = testing::InferJson(
      "FP32", {kImages, 784}, "", raw.size(),
      R"(,"parameters":{"binary_data_output":true})");
  const HttpResponse r = Send(testing::V2Post(kInfer, head + raw, head.size()));
  EXPECT_EQ(r.headers.at("content-type"), "application/octet-stream");
  ASSERT_EQ(r.headers.count("inference-header-content-length"), 1u);
  ExpectPredictProbabilities(r);
  // class_index follows probabilities as 8-byte little-endian integers.
  testing::V2Answer answer = testing::ParseV2Answer(r);
  const rapidjson::Value* index = testing::V2Output(answer, "class_index");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ((*index)["parameters"]["binary_data_size"].GetUint64(),
            8u * kImages);
  EXPECT_EQ(answer.binary.size(), 4u * 10 * kImages + 8u * kImages);
}

TEST_F(V2RestE2ETest, BinaryOutputPerOutputOverridesTheRequestDefault) {
  const std::string body = testing::InferJson(
      "FP32", {kImages, 784}, testing::JsonNumbers(images_.floats), 0,
      R"(,"outputs":[{"name":"probabilities","parameters":{"binary_data":true}},)"
      R"({"name":"class_index"}])");
  const HttpResponse r = Send(testing::V2Post(kInfer, body));
  ExpectPredictProbabilities(r);
  testing::V2Answer answer = testing::ParseV2Answer(r);
  const rapidjson::Value* index = testing::V2Output(answer, "class_index");
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->HasMember("data"));
  EXPECT_EQ((*index)["data"].Size(), static_cast<unsigned>(kImages));
}

TEST_F(V2RestE2ETest, PngBytesThroughBinaryDataEqualPredict) {
  std::string raw;
  for (int i = 0; i < kImages; ++i) {
    GrayImage image{28, 28,
                    std::vector<uint8_t>(images_.pixels.begin() + i * 784,
                                         images_.pixels.begin() + (i + 1) * 784)};
    absl::StatusOr<std::string> png = EncodePng(image);
    ASSERT_TRUE(png.ok());
    const uint32_t n = static_cast<uint32_t>(png->size());
    raw.append(reinterpret_cast<const char*>(&n), 4);  // little-endian host
    raw += *png;
  }
  const std::string head = testing::InferJson("BYTES", {kImages}, "", raw.size());
  ExpectPredictProbabilities(
      Send(testing::V2Post(kInfer, head + raw, head.size())));
}

TEST_F(V2RestE2ETest, ClassificationAnswersTheTopClassesAsStrings) {
  const std::string body = testing::InferJson(
      "FP32", {kImages, 784}, testing::JsonNumbers(images_.floats), 0,
      R"(,"outputs":[{"name":"probabilities","parameters":{"classification":3}}])");
  const HttpResponse r = Send(testing::V2Post(kInfer, body));
  ASSERT_EQ(r.status, 200) << r.body;
  testing::V2Answer answer = testing::ParseV2Answer(r);
  const rapidjson::Value* out = testing::V2Output(answer, "probabilities");
  ASSERT_NE(out, nullptr);
  EXPECT_STREQ((*out)["datatype"].GetString(), "BYTES");
  EXPECT_EQ((*out)["shape"][1].GetInt(), 3);
  ASSERT_EQ((*out)["data"].Size(), 3u * kImages);
  for (int i = 0; i < kImages; ++i) {
    // "probability:index:label", most probable first.
    const std::vector<std::string> top =
        absl::StrSplit((*out)["data"][3 * i].GetString(), ':');
    ASSERT_EQ(top.size(), 3u);
    int index = 0;
    ASSERT_TRUE(absl::SimpleAtoi(top[1], &index));
    EXPECT_TRUE(testing::IsArgMaxWithinContract(
        absl::MakeConstSpan(predict_).subspan(i * 10, 10), index));
    EXPECT_EQ(top[2], top[1]);  // the default labels are "0".."9"
  }
}

TEST_F(V2RestE2ETest, ErrorsCarryTheirStatusAndAJsonMessage) {
  ExpectError(Send(testing::V2Post(kInfer, "{not json")), 400, "not valid JSON");
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson("FP32", {1, 27},
                                             testing::JsonNumbers({0.5f}), 0))),
              400, "shape");
  ExpectError(Send(testing::V2Post("/v2/models/nope/infer",
                                   testing::InferJson("FP32", {1, 784}, "[]", 0))),
              404, "nope");
  const HttpResponse get_infer = Get(kInfer);
  ExpectError(get_infer, 405, "POST");
  EXPECT_EQ(get_infer.headers.at("allow"), "POST");
  // Over --max_images_per_request (64): 413, from the shape alone.
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson("FP32", {65, 784}, "[]", 0))),
              413, "65 images");
  // Over --max_http_body_bytes: 413 before the body is read.
  ExpectError(testing::SendRawHttp(
                  server()->http_port(),
                  "POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\n"
                  "Content-Length: 5000000\r\n\r\n")
                  .value_or(HttpResponse{}),
              413, "limit");
  // A deadline that passed before compute: 504.
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson(
                              "FP32", {kImages, 784},
                              testing::JsonNumbers(images_.floats), 0,
                              R"(,"parameters":{"timeout":0})"))),
              504, "deadline");
}

TEST(V2RestDrainTest, ReadyTurns503WhileDrainingAndInferServesThroughTheGrace) {
  TempDir repo;
  auto model = testing::MakeModel("mnist_mlp", 7);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE(testing::PublishModel(repo.path(), "m", 1, **model).ok());
  auto server = ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path(), "--drain_grace=3s"}});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->http_port();
  auto get = [port](const std::string& path) {
    return testing::SendHttp(port, {.path = path}).value_or(HttpResponse{});
  };
  ASSERT_EQ(get("/v2/health/ready").status, 200);
  (*server)->Signal(SIGTERM);
  ASSERT_TRUE(testing::Eventually(
      [&] { return get("/v2/health/ready").status == 503; },
      testing::Scaled(absl::Seconds(2))));
  const HttpResponse ready = get("/v2/health/ready");
  EXPECT_THAT(ready.body, HasSubstr("not ready: draining"));
  EXPECT_EQ(get("/v2/health/live").status, 200);
  // Within the pre-drain window requests are still served, as Predict's.
  const std::vector<float> image(784, 0.5f);
  const HttpResponse infer = testing::SendHttp(
      port, testing::V2Post(kInfer, testing::InferJson(
                                        "FP32", {1, 784},
                                        testing::JsonNumbers(image), 0)))
                                 .value_or(HttpResponse{});
  EXPECT_EQ(infer.status, 200) << infer.body;
  absl::StatusOr<int> exit_code = (*server)->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0) << (*server)->Log();
}

}  // namespace
}  // namespace nn
