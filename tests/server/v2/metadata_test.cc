// Metadata, configuration and REST paths of the V2 codec
// (server/v2/metadata.h, rest_routes.h): what perf_analyzer, tritonclient
// and KServe read before they infer.
#include "server/v2/metadata.h"

#include <string>

#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/v2/rest_routes.h"
#include "tests/server/v2/codec_test_util.h"

namespace nn::v2 {
namespace {

using ::absl::StatusCode;
using Endpoint = RestRoute::Endpoint;

ModelDescription Mlp() {
  ModelDescription m;
  m.name = "mnist_mlp";
  m.versions = {"1", "3"};
  m.signature = testing::DigitSignature();
  m.properties = {{"dataset", "mnist"}, {"test_accuracy", "0.97"}};
  m.max_batch_size = 64;
  m.max_queue_delay_microseconds = 500;
  return m;
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

TEST(V2MetadataTest, ModelMetadataAdvertisesTheMapping) {
  inference::ModelMetadataResponse m;
  FillModelMetadata(Mlp(), &m);
  EXPECT_EQ(m.name(), "mnist_mlp");
  EXPECT_EQ(m.versions_size(), 2);
  EXPECT_EQ(m.platform(), "nnserve_nnm");
  ASSERT_EQ(m.inputs_size(), 1);
  EXPECT_EQ(m.inputs(0).name(), "images");
  EXPECT_EQ(m.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(m.inputs(0).shape().begin(), m.inputs(0).shape().end()),
            (std::vector<int64_t>{-1, 28, 28}));
  ASSERT_EQ(m.outputs_size(), 2);
  EXPECT_EQ(m.outputs(0).name(), "probabilities");
  EXPECT_EQ(m.outputs(0).shape(1), 10);
  EXPECT_EQ(m.outputs(1).datatype(), "INT64");
  EXPECT_EQ(m.properties().at("dataset"), "mnist");

  // REST: shapes are JSON numbers, not protobuf's strings for int64.
  rapidjson::Document doc = Json(MessageToJson(m));
  EXPECT_STREQ(doc["name"].GetString(), "mnist_mlp");
  EXPECT_STREQ(doc["versions"][1].GetString(), "3");
  ASSERT_TRUE(doc["inputs"][0]["shape"][0].IsInt64());
  EXPECT_EQ(doc["inputs"][0]["shape"][0].GetInt64(), -1);
  EXPECT_STREQ(doc["properties"]["test_accuracy"].GetString(), "0.97");
}

TEST(V2MetadataTest, ModelConfigIsTritonsFormWithoutTheBatchDimension) {
  inference::ModelConfig c;
  FillModelConfig(Mlp(), &c);
  EXPECT_EQ(c.max_batch_size(), 64);
  ASSERT_EQ(c.input_size(), 1);
  EXPECT_EQ(c.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(std::vector<int64_t>(c.input(0).dims().begin(), c.input(0).dims().end()),
            (std::vector<int64_t>{28, 28}));
  ASSERT_EQ(c.output_size(), 2);
  EXPECT_EQ(c.output(0).dims(0), 10);
  EXPECT_EQ(c.output(1).data_type(), inference::TYPE_INT64);
  ASSERT_TRUE(c.has_dynamic_batching());
  EXPECT_EQ(c.dynamic_batching().max_queue_delay_microseconds(), 500u);

  rapidjson::Document doc = Json(MessageToJson(c));
  EXPECT_EQ(doc["max_batch_size"].GetInt(), 64);
  EXPECT_STREQ(doc["input"][0]["data_type"].GetString(), "TYPE_FP32");
  EXPECT_STREQ(doc["input"][0]["format"].GetString(), "FORMAT_NONE");
  EXPECT_EQ(doc["output"][1]["dims"][0].GetInt(), 1);
  EXPECT_EQ(doc["dynamic_batching"]["max_queue_delay_microseconds"].GetUint64(), 500u);
}

TEST(V2MetadataTest, StatisticsJsonWritesEveryDurationAsNumbers) {
  inference::ModelStatisticsResponse r;
  inference::ModelStatistics* s = r.add_model_stats();
  s->set_name("mnist_mlp");
  s->set_version("3");
  s->set_inference_count(uint64_t{1} << 40);
  s->mutable_inference_stats()->mutable_success()->set_count(7);
  s->mutable_inference_stats()->mutable_success()->set_ns(123456789);
  rapidjson::Document doc = Json(MessageToJson(r));
  const auto& stat = doc["model_stats"][0];
  EXPECT_EQ(stat["inference_count"].GetUint64(), uint64_t{1} << 40);
  EXPECT_EQ(stat["inference_stats"]["success"]["ns"].GetUint64(), 123456789u);
  // Unset durations are written too, zero, as Triton answers.
  EXPECT_EQ(stat["inference_stats"]["fail"]["count"].GetUint64(), 0u);
  EXPECT_EQ(stat["inference_stats"]["cache_hit"]["ns"].GetUint64(), 0u);
  EXPECT_TRUE(stat["batch_stats"].IsArray());
}

TEST(V2MetadataTest, OptionalAndOneofFieldsOnlyWhenSet) {
  inference::ModelReadyRequest unset;
  rapidjson::Document doc = Json(MessageToJson(unset));
  EXPECT_FALSE(doc.HasMember("version"));
  inference::ModelConfig config;
  doc = Json(MessageToJson(config));
  EXPECT_FALSE(doc.HasMember("dynamic_batching"));
  EXPECT_EQ(doc["max_batch_size"].GetInt(), 0);
}

TEST(V2MetadataTest, ExtensionsNameStatisticsOnlyWhenItWorks) {
  EXPECT_EQ(V2Extensions(false),
            (std::vector<std::string>{"binary_tensor_data", "classification",
                                      "model_configuration"}));
  EXPECT_EQ(V2Extensions(true).back(), "statistics");
}

TEST(V2RoutesTest, EveryEndpointParses) {
  struct Case {
    const char* path;
    Endpoint endpoint;
    const char* model;
    const char* version;
    const char* method;
  } cases[] = {
      {"/v2", Endpoint::kServerMetadata, "", "", "GET"},
      {"/v2/", Endpoint::kServerMetadata, "", "", "GET"},
      {"/v2/health/live", Endpoint::kServerLive, "", "", "GET"},
      {"/v2/health/ready", Endpoint::kServerReady, "", "", "GET"},
      {"/v2/repository/index", Endpoint::kRepositoryIndex, "", "", "POST"},
      {"/v2/models/stats", Endpoint::kModelStats, "", "", "GET"},
      {"/v2/models/mnist_mlp", Endpoint::kModelMetadata, "mnist_mlp", "", "GET"},
      {"/v2/models/mnist_mlp/versions/3", Endpoint::kModelMetadata, "mnist_mlp", "3", "GET"},
      {"/v2/models/m/ready", Endpoint::kModelReady, "m", "", "GET"},
      {"/v2/models/m/versions/2/ready", Endpoint::kModelReady, "m", "2", "GET"},
      {"/v2/models/m/config", Endpoint::kModelConfig, "m", "", "GET"},
      {"/v2/models/m/versions/1/stats", Endpoint::kModelStats, "m", "1", "GET"},
      {"/v2/models/m/infer", Endpoint::kModelInfer, "m", "", "POST"},
      {"/v2/models/m/versions/7/infer?x=1", Endpoint::kModelInfer, "m", "7", "POST"},
      {"/v2/models/a%20b/infer", Endpoint::kModelInfer, "a b", "", "POST"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    absl::StatusOr<RestRoute> r = ParseRestRoute(c.path);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->endpoint, c.endpoint);
    EXPECT_EQ(r->model, c.model);
    EXPECT_EQ(r->version, c.version);
    EXPECT_EQ(r->method, c.method);
  }
}

TEST(V2RoutesTest, UnknownPathsAreNotFoundAndBadEscapesInvalid) {
  for (const char* path : {"", "/", "/v1", "/v2x", "/v2/health", "/v2/health/dead",
                           "/v2/models", "/v2/models/", "/v2/models/m/versions",
                           "/v2/models/m/versions//infer", "/v2/models/m/explain",
                           "/v2/models/m/infer/more", "v2/models/m"}) {
    SCOPED_TRACE(path);
    EXPECT_STATUS(ParseRestRoute(path).status(), StatusCode::kNotFound,
                  "no endpoint");
  }
  for (const char* path : {"/v2/models/a%2/infer", "/v2/models/a%zz", "/v2/models/m/versions/%"}) {
    SCOPED_TRACE(path);
    EXPECT_STATUS(ParseRestRoute(path).status(), StatusCode::kInvalidArgument,
                  "percent escape");
  }
  absl::StatusOr<RestRoute> infer = ParseRestRoute("/v2/models/m/infer");
  ASSERT_TRUE(infer.ok());
  RestResponse r = MethodNotAllowed("GET", "/v2/models/m/infer", *infer);
  EXPECT_EQ(r.http_status, 405);
  EXPECT_NE(r.body.find("takes POST"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace nn::v2
