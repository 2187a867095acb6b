// MetricsHttpServer's routes (Options::routes) over real loopback TCP: which
// paths reach a route's handler, what the handler's HttpExchange reads
// (method, path, headers, the body within its size limit) and sends, and
// keep-alive.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/metrics/http_server.h"
#include "tests/support/http_client.h"

namespace nn::metrics {
namespace {

using ::nn::testing::HttpMessage;
using ::nn::testing::HttpResponse;
using ::nn::testing::SendHttp;
using ::nn::testing::SendRawHttp;

constexpr int64_t kLimit = 1000;

// A server whose "/api" route echoes what it read:
// "<method> <path> <header X-Test> <body or error>".
class HttpRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MetricsHttpServer::Options options{.listen_address = "127.0.0.1",
                                       .port = 0};
    options.keep_alive = true;
    options.routes.push_back({"/api", [this](HttpExchange& exchange) {
      calls_.fetch_add(1);
      absl::StatusOr<std::string> body = exchange.ReadBody(kLimit);
      const std::string text = absl::StrCat(
          exchange.method(), " ", exchange.path(), " ",
          exchange.header("X-Test").value_or("-"), " ",
          body.ok() ? *body : std::string(body.status().message()));
      exchange.Respond(body.ok() ? 200 : 413, "text/plain", text,
                       {{"X-Answer", "yes"}});
    }});
    auto server = MetricsHttpServer::Create(options, {&registry_}, {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  HttpResponse Send(const HttpMessage& message) {
    auto response = SendHttp(server_->port(), message);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  prometheus::Registry registry_;
  std::atomic<int> calls_{0};
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(HttpRoutesTest, TheRouteGetsItsPrefixAndPathsBelowItOnly) {
  const HttpResponse below = Send({.method = "POST", .path = "/api/x/y",
                                   .headers = {{"X-Test", "t"}}, .body = "hi"});
  EXPECT_EQ(below.status, 200);
  EXPECT_EQ(below.body, "POST /api/x/y t hi");
  EXPECT_EQ(below.headers.at("x-answer"), "yes");
  EXPECT_EQ(below.headers.at("content-type"), "text/plain");
  EXPECT_EQ(Send({.path = "/api"}).body, "GET /api - ");
  EXPECT_EQ(calls_.load(), 2);
  // Neither a longer name nor the built-in paths reach the handler.
  EXPECT_EQ(Send({.path = "/apix"}).status, 404);
  EXPECT_EQ(Send({.path = "/healthz"}).status, 200);
  EXPECT_EQ(calls_.load(), 2);
}

TEST(HttpRootRouteTest, TheRootRouteServesTheRootAloneAndBadPrefixesAreRefused) {
  prometheus::Registry registry;
  std::atomic<int> calls{0};
  MetricsHttpServer::Options options{.listen_address = "127.0.0.1", .port = 0};
  options.routes.push_back({"/", [&calls](HttpExchange& exchange) {
    calls.fetch_add(1);
    exchange.Respond(200, "text/plain", "root", {});
  }});
  auto server = MetricsHttpServer::Create(options, {&registry}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  auto root = SendHttp((*server)->port(), {.path = "/"});
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->status, 200);
  EXPECT_EQ(root->body, "root");
  // Paths below "/" keep their own answers: the built-ins and 404.
  for (const char* path : {"/x", "//x", "/healthz"}) {
    auto other = SendHttp((*server)->port(), {.path = path});
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_NE(other->body, "root") << path;
  }
  EXPECT_EQ(calls.load(), 1);

  for (const char* prefix : {"", "/v1/", "v1"}) {
    MetricsHttpServer::Options bad{.listen_address = "127.0.0.1", .port = 0};
    bad.routes.push_back({prefix, [](HttpExchange&) {}});
    EXPECT_EQ(MetricsHttpServer::Create(bad, {}, {}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << prefix;
  }
}

TEST_F(HttpRoutesTest, ABodyOverTheLimitIsRefusedBeforeItIsRead) {
  // Content-Length says 10 MB; nothing follows. The handler's ReadBody
  // refuses at once instead of waiting for the bytes.
  absl::StatusOr<HttpResponse> r = SendRawHttp(
      server_->port(),
      "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("10000000 bytes; the limit is 1000"),
            std::string::npos)
      << r->body;
}

TEST_F(HttpRoutesTest, AChunkedBodyOverTheLimitIsRefused) {
  const std::string chunk(900, 'a');
  const std::string request = absl::StrCat(
      "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      "384\r\n", chunk, "\r\n384\r\n", chunk, "\r\n0\r\n\r\n");
  absl::StatusOr<HttpResponse> r = SendRawHttp(server_->port(), request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("more than 1000 bytes"), std::string::npos)
      << r->body;
}

TEST_F(HttpRoutesTest, ABodyShorterThanItsContentLengthIsAnError) {
  // The client sends 3 of 50 bytes and half-closes; the read ends short.
  absl::StatusOr<HttpResponse> r = SendRawHttp(
      server_->port(),
      "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc",
      absl::Seconds(15));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);  // this handler answers every failure 413
  EXPECT_NE(r->body.find("ended after 3 of its 50 bytes"), std::string::npos)
      << r->body;
}

TEST_F(HttpRoutesTest, KeepAliveServesTwoRequestsOnOneConnection) {
  absl::StatusOr<HttpResponse> r = SendRawHttp(
      server_->port(),
      "GET /api/1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // Both answers came back on the one connection (the second after the
  // first's body).
  EXPECT_NE(r->body.find("GET /api/2"), std::string::npos) << r->body;
  EXPECT_EQ(calls_.load(), 2);
}

TEST(HttpRoutesOptionsTest, ABadRouteIsInvalidArgument) {
  prometheus::Registry registry;
  for (const char* prefix : {"", "api", "/api/"}) {
    MetricsHttpServer::Options options{.listen_address = "127.0.0.1",
                                       .port = 0};
    options.routes.push_back({prefix, [](HttpExchange&) {}});
    EXPECT_EQ(MetricsHttpServer::Create(options, {&registry}, {})
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument)
        << prefix;
  }
  MetricsHttpServer::Options no_handler{.listen_address = "127.0.0.1",
                                        .port = 0};
  no_handler.routes.push_back({"/api", nullptr});
  EXPECT_EQ(MetricsHttpServer::Create(no_handler, {&registry}, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpRoutesOptionsTest, AHandlerThatDoesNotAnswerGetsA500) {
  prometheus::Registry registry;
  MetricsHttpServer::Options options{.listen_address = "127.0.0.1", .port = 0};
  options.routes.push_back({"/quiet", [](HttpExchange&) {}});
  options.routes.push_back(
      {"/throws", [](HttpExchange&) { throw std::runtime_error("x"); }});
  auto server = MetricsHttpServer::Create(options, {&registry}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* path : {"/quiet", "/throws"}) {
    absl::StatusOr<HttpResponse> r = SendHttp((*server)->port(), {.path = path});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 500) << path;
  }
}

}  // namespace
}  // namespace nn::metrics
