// ModelStatistics' batch_stats and RepositoryIndex's `ready` over real gRPC
// and REST: build/bin/nnserve with a repository of one model that serves
// ("mlp") and one whose only version fails to load ("broken"). Its own
// server, so the batches counted are this test's alone: with one request in
// flight at a time, every request is computed as one batch of its images.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/e2e/v2_grpc_util.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using testing::HttpResponse;
using testing::InputForm;
using testing::ServerProcess;
using testing::TempDir;

class V2StatsIndexE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TempDir();
    auto model = testing::MakeModel("mnist_mlp", 3);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(testing::PublishModel(repo_->path(), "mlp", 1, **model).ok());
    const std::string broken = repo_->path() + "/broken/1";
    ASSERT_EQ(system(("mkdir -p " + broken).c_str()), 0);
    FILE* f = fopen((broken + "/model.nnm").c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("not a model", f);
    fclose(f);
    auto server = ServerProcess::Start(
        {.args = {"--model_repository=" + repo_->path(),
                  "--max_images_per_request=64", "--drain_grace=0s"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete repo_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = testing::NewV2Stub(server_->target());
  }

  HttpResponse Http(const testing::HttpMessage& message) {
    auto response = testing::SendHttp(server_->http_port(), message);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  // name:version -> state of a gRPC RepositoryIndex.
  std::map<std::string, std::string> GrpcIndex(bool ready) {
    inference::RepositoryIndexRequest request;
    request.set_ready(ready);
    inference::RepositoryIndexResponse response;
    EXPECT_TRUE(stub_->RepositoryIndex(testing::ContextWithin().get(), request,
                                       &response).ok());
    std::map<std::string, std::string> index;
    for (const auto& m : response.models()) {
      index[m.name() + ":" + m.version()] = m.state();
    }
    return index;
  }

  // The same from POST /v2/repository/index with `body`.
  std::map<std::string, std::string> RestIndex(const std::string& body) {
    const HttpResponse r = Http({.method = "POST",
                                 .path = "/v2/repository/index",
                                 .body = body});
    EXPECT_EQ(r.status, 200) << r.body;
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    std::map<std::string, std::string> index;
    if (doc.HasParseError() || !doc.IsArray()) {
      ADD_FAILURE() << r.body;
      return index;
    }
    for (const auto& m : doc.GetArray()) {
      const std::string version =
          m.HasMember("version") ? m["version"].GetString() : "";
      index[std::string(m["name"].GetString()) + ":" + version] =
          m["state"].GetString();
    }
    return index;
  }

  static TempDir* repo_;
  static ServerProcess* server_;
  std::unique_ptr<testing::V2Stub> stub_;
};
TempDir* V2StatsIndexE2ETest::repo_ = nullptr;
ServerProcess* V2StatsIndexE2ETest::server_ = nullptr;

TEST_F(V2StatsIndexE2ETest, RepositoryIndexReadyListsOnlyReadyVersions) {
  EXPECT_THAT(GrpcIndex(false), ElementsAre(Pair("broken:1", "UNAVAILABLE"),
                                            Pair("mlp:1", "READY")));
  EXPECT_THAT(GrpcIndex(true), ElementsAre(Pair("mlp:1", "READY")));
  for (const char* body : {"", "{}", R"({"ready":false})",
                           R"({"repository_name":"","ready":false})"}) {
    SCOPED_TRACE(body);
    EXPECT_THAT(RestIndex(body), ElementsAre(Pair("broken:1", "UNAVAILABLE"),
                                             Pair("mlp:1", "READY")));
  }
  EXPECT_THAT(RestIndex(R"({"ready":true})"),
              ElementsAre(Pair("mlp:1", "READY")));
}

TEST_F(V2StatsIndexE2ETest, RestRepositoryIndexRefusesABadBody) {
  for (const char* body : {"{", "[]", R"({"ready":"yes"})", R"({"ready":1})"}) {
    SCOPED_TRACE(body);
    const HttpResponse r = Http(
        {.method = "POST", .path = "/v2/repository/index", .body = body});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_THAT(r.body, ::testing::HasSubstr("repository index request"));
  }
}

// Requests of 2 and 5 images, one at a time: batches of exactly those sizes.
TEST_F(V2StatsIndexE2ETest, BatchStatsCountBatchesBySize) {
  auto images = testing::LoadTestDigits(5);
  ASSERT_TRUE(images.ok()) << images.status();
  for (int64_t n : {2, 2, 5, 2}) {
    inference::ModelInferResponse response;
    const grpc::Status status = testing::Infer(
        *stub_,
        testing::FloatRequest("mlp", *images, n, {n, 28, 28}, InputForm::kRaw),
        &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  inference::ModelStatisticsRequest request;
  request.set_name("mlp");
  inference::ModelStatisticsResponse response;
  ASSERT_TRUE(stub_->ModelStatistics(testing::ContextWithin().get(), request,
                                     &response).ok());
  ASSERT_EQ(response.model_stats_size(), 1);
  const inference::ModelStatistics& m = response.model_stats(0);
  ASSERT_EQ(m.batch_stats_size(), 2) << m.DebugString();
  const inference::InferBatchStatistics& two = m.batch_stats(0);
  const inference::InferBatchStatistics& five = m.batch_stats(1);
  EXPECT_EQ(two.batch_size(), 2u);
  EXPECT_EQ(two.compute_infer().count(), 3u);
  EXPECT_EQ(five.batch_size(), 5u);
  EXPECT_EQ(five.compute_infer().count(), 1u);
  EXPECT_GT(two.compute_infer().ns(), 0u);
  EXPECT_GT(five.compute_infer().ns(), 0u);
  // No separate input or output stage: present, zero.
  EXPECT_TRUE(two.has_compute_input() && two.has_compute_output());
  EXPECT_EQ(two.compute_input().count(), 0u);
  EXPECT_EQ(two.compute_output().ns(), 0u);
  // The sizes add up to the version's totals.
  EXPECT_EQ(m.execution_count(), 4u);
  EXPECT_EQ(m.inference_count(), 11u);
  EXPECT_EQ(m.inference_stats().compute_infer().count(), 4u);
  EXPECT_EQ(m.inference_stats().compute_infer().ns(),
            two.compute_infer().ns() + five.compute_infer().ns());

  // The same over REST.
  const HttpResponse r = Http({.method = "GET", .path = "/v2/models/mlp/stats"});
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("model_stats")) << r.body;
  const rapidjson::Value& batches = doc["model_stats"][0]["batch_stats"];
  ASSERT_TRUE(batches.IsArray()) << r.body;
  ASSERT_EQ(batches.Size(), 2u) << r.body;
  EXPECT_EQ(batches[0]["batch_size"].GetUint64(), 2u);
  EXPECT_EQ(batches[0]["compute_infer"]["count"].GetUint64(), 3u);
  EXPECT_EQ(batches[0]["compute_infer"]["ns"].GetUint64(),
            two.compute_infer().ns());
  EXPECT_EQ(batches[1]["batch_size"].GetUint64(), 5u);
  EXPECT_EQ(batches[1]["compute_infer"]["count"].GetUint64(), 1u);
  EXPECT_EQ(batches[1]["compute_output"]["count"].GetUint64(), 0u);
}

}  // namespace
}  // namespace nn
