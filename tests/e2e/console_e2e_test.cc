// The web console's HTTP side, end to end: the real nnserve binary on
// 127.0.0.1, real HTTP on its --http_port. The JSON view of nnserve.v1
// (/v1/models, /v1/models/{m}[/versions/{v}]) must be the gRPC answer itself
// in protobuf's JSON mapping; its errors are JSON with the right status;
// the page's files are the ones in server/console/, byte for byte, with a
// strict Content-Security-Policy; --enable_console=false turns the page
// (not the JSON view) off. The page in a browser: tests/console.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/server_process.h"
#include "tests/support/suite_server.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::HttpResponse;

class ConsoleE2ETest : public testing::SuiteServerTest<ConsoleE2ETest> {
 protected:
  static void SetUpTestSuite() {
    auto mlp = testing::MakeModel("mnist_mlp", 7);
    ASSERT_TRUE(mlp.ok()) << mlp.status();
    ASSERT_TRUE(testing::PublishModel(repo().path(), "m", 1, **mlp).ok());
    ASSERT_TRUE(testing::PublishModel(repo().path(), "m", 2, **mlp).ok());
    auto cnn = testing::MakeModel("mnist_cnn", 3);
    ASSERT_TRUE(cnn.ok()) << cnn.status();
    ASSERT_TRUE(testing::PublishModel(repo().path(), "c", 1, **cnn).ok());
    StartServer();
  }
  void SetUp() override { ASSERT_NE(server(), nullptr); }

  HttpResponse Send(const testing::HttpMessage& message) {
    auto response = testing::SendHttp(server()->http_port(), message);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }
  HttpResponse Get(const std::string& path) {
    return Send({.method = "GET", .path = path});
  }

  // Parses a /v1 answer back into its message (failing on unknown fields).
  template <typename Message>
  Message FromJson(const HttpResponse& response) {
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.headers.at("content-type"), "application/json");
    Message message;
    const auto status =
        google::protobuf::util::JsonStringToMessage(response.body, &message);
    EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << response.body;
    return message;
  }

  // The "error" of a JSON error answer; fails unless the body is one.
  static std::string ErrorOf(const HttpResponse& response) {
    EXPECT_EQ(response.headers.count("content-type") ?
                  response.headers.at("content-type") : "",
              "application/json");
    rapidjson::Document json;
    json.Parse(response.body.c_str());
    if (json.HasParseError() || !json.IsObject() || !json.HasMember("error") ||
        !json["error"].IsString()) {
      ADD_FAILURE() << "not a JSON error: " << response.body;
      return "";
    }
    return json["error"].GetString();
  }
};

TEST_F(ConsoleE2ETest, ListModelsJsonIsTheGrpcAnswerInProtobufsJsonMapping) {
  auto stub = testing::NewStub(server()->target());
  grpc::ClientContext context;
  nnserve::v1::ListModelsResponse grpc_answer;
  ASSERT_TRUE(stub->ListModels(&context, {}, &grpc_answer).ok());
  ASSERT_EQ(grpc_answer.models_size(), 2);

  const HttpResponse response = Get("/v1/models");
  const auto json_answer = FromJson<nnserve::v1::ListModelsResponse>(response);
  EXPECT_TRUE(MessageDifferencer::Equals(json_answer, grpc_answer))
      << response.body;
  // The JSON mapping: lowerCamelCase names, enums by name, int64 as strings,
  // zeros printed.
  EXPECT_THAT(response.body, HasSubstr(R"("defaultVersion":"2")"));
  EXPECT_THAT(response.body, HasSubstr(R"("state":"VERSION_STATE_AVAILABLE")"));
  EXPECT_THAT(response.body, HasSubstr(R"("layers":[])"));  // a summary
  EXPECT_THAT(response.body, HasSubstr(R"("softmaxAppended":false)"));
}

TEST_F(ConsoleE2ETest, ModelInfoJsonIsTheGrpcAnswerForTheModelAndForAVersion) {
  auto stub = testing::NewStub(server()->target());
  // Version 2 is the one served (the latest); 0 asks for the default.
  for (const int64_t version : {0, 2}) {
    nnserve::v1::ModelInfoRequest request;
    request.set_model("m");
    request.set_version(version);
    grpc::ClientContext context;
    nnserve::v1::ModelInfoResponse grpc_answer;
    const grpc::Status status = stub->ModelInfo(&context, request, &grpc_answer);
    ASSERT_TRUE(status.ok()) << version << ": " << status.error_message();
    const std::string path =
        version == 0 ? "/v1/models/m"
                     : "/v1/models/m/versions/" + std::to_string(version);
    const HttpResponse response = Get(path);
    const auto json_answer = FromJson<nnserve::v1::ModelInfoResponse>(response);
    EXPECT_TRUE(MessageDifferencer::Equals(json_answer, grpc_answer))
        << path << ": " << response.body;
    EXPECT_EQ(json_answer.model().name(), "m");
    EXPECT_GT(json_answer.model().versions(0).layers_size(), 0);
    EXPECT_THAT(response.body, HasSubstr(R"("outputShape":)"));
  }
  // HEAD: the headers of GET, no body.
  const HttpResponse head = Send({.method = "HEAD", .path = "/v1/models/m"});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST_F(ConsoleE2ETest, JsonViewErrorsAreJsonWithTheRightStatus) {
  HttpResponse r = Get("/v1/models/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(ErrorOf(r), HasSubstr("nope"));
  r = Get("/v1/models/m/versions/9");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(ErrorOf(r), HasSubstr("9"));
  r = Get("/v1/models/m/versions/x");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(ErrorOf(r), HasSubstr("version"));
  r = Get("/v1/models/m/versions/0");
  EXPECT_EQ(r.status, 400);
  // A name that is not a model name (civetweb has percent-decoded it),
  // echoed escaped inside valid JSON.
  r = Get("/v1/models/a%22b%3Cscript%3E");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(ErrorOf(r), HasSubstr("b<script>"));
  for (const char* path : {"/v1", "/v1/other", "/v1/models/m/x",
                           "/v1/models/m/versions/1/y"}) {
    r = Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_THAT(ErrorOf(r), HasSubstr("/v1/models")) << path;
  }
  r = Send({.method = "POST", .path = "/v1/models", .body = "{}"});
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
  EXPECT_THAT(ErrorOf(r), HasSubstr("read-only"));
}

std::string SourceFile(const std::string& name) {
  std::ifstream in(std::string(NNSERVE_CONSOLE_DIR) + "/" + name,
                   std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_TRUE(in.good() || in.eof()) << name;
  return contents.str();
}

TEST_F(ConsoleE2ETest, ThePageIsTheEmbeddedFilesUnderAStrictPolicy) {
  struct Asset {
    const char* path;
    const char* file;
    const char* type;
  };
  for (const Asset& a :
       {Asset{"/", "index.html", "text/html; charset=utf-8"},
        Asset{"/console/app.js", "app.js", "text/javascript; charset=utf-8"},
        Asset{"/console/preprocess.js", "preprocess.js",
              "text/javascript; charset=utf-8"},
        Asset{"/console/app.css", "app.css", "text/css; charset=utf-8"},
        Asset{"/console/charts.js", "charts.js", "text/javascript; charset=utf-8"},
        Asset{"/console/metrics.js", "metrics.js", "text/javascript; charset=utf-8"},
        Asset{"/console/training.js", "training.js", "text/javascript; charset=utf-8"},
        Asset{"/console/serving.js", "serving.js", "text/javascript; charset=utf-8"}}) {
    const HttpResponse r = Get(a.path);
    ASSERT_EQ(r.status, 200) << a.path;
    EXPECT_EQ(r.headers.at("content-type"), a.type) << a.path;
    EXPECT_EQ(r.body, SourceFile(a.file)) << a.path;
    EXPECT_EQ(r.headers.at("x-content-type-options"), "nosniff");
    const std::string csp = r.headers.at("content-security-policy");
    EXPECT_THAT(csp, HasSubstr("default-src 'none'"));
    EXPECT_THAT(csp, HasSubstr("script-src 'self';"));
    EXPECT_THAT(csp, HasSubstr("style-src 'self';"));
    EXPECT_THAT(csp, HasSubstr("connect-src 'self';"));
    EXPECT_THAT(csp, Not(HasSubstr("unsafe")));
  }
  // The page has no inline script or style for the policy to refuse.
  const std::string html = Get("/").body;
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, Not(HasSubstr("<style")));
  EXPECT_THAT(html, Not(HasSubstr(" style=")));
  EXPECT_THAT(html, Not(ContainsRegex(" on[a-z]+=")));  // no onclick= etc.
  EXPECT_THAT(html, Not(HasSubstr("http")));  // nothing from another host

  EXPECT_EQ(Get("/console/nope.js").status, 404);
  EXPECT_EQ(Get("/console").status, 404);
  const HttpResponse post = Send({.method = "POST", .path = "/", .body = "x"});
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers.at("allow"), "GET, HEAD");
  // The built-in paths are still there.
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST(ConsoleDisabledE2ETest, WithoutTheConsoleThePageIs404AndTheJsonViewStays) {
  testing::TempDir repo;
  auto mlp = testing::MakeModel("mnist_mlp", 7);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  ASSERT_TRUE(testing::PublishModel(repo.path(), "m", 1, **mlp).ok());
  auto server = testing::ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path(), "--drain_grace=0s",
                "--enable_console=false"}});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* path : {"/", "/console/app.js"}) {
    auto r = testing::HttpRequest((*server)->http_port(), "GET", path);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 404) << path;
  }
  auto list = testing::HttpRequest((*server)->http_port(), "GET", "/v1/models");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->status, 200);
  EXPECT_THAT(list->body, HasSubstr(R"("name":"m")"));
}

}  // namespace
}  // namespace nn
