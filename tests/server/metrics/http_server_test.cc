// The HTTP endpoint over real loopback TCP connections, and promtool's
// verdict on what it serves.
#include "server/metrics/http_server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/metrics/metric_names.h"
#include "server/metrics/process_collector.h"
#include "tests/support/http_client.h"
#include "tests/support/required_tool.h"

namespace nn::metrics {
namespace {

using ::nn::testing::HttpRequest;
using ::nn::testing::HttpResponse;

MetricsHttpServer::Options LoopbackEphemeral() {
  return {.listen_address = "127.0.0.1", .port = 0};
}

std::unique_ptr<MetricsHttpServer> StartOrDie(
    MetricsHttpServer::Sources sources,
    MetricsHttpServer::ReadinessFn readiness = {}) {
  auto server = MetricsHttpServer::Create(LoopbackEphemeral(),
                                          std::move(sources), readiness);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

HttpResponse Get(int port, const std::string& path,
                 const std::string& method = "GET") {
  absl::StatusOr<HttpResponse> response = HttpRequest(port, method, path);
  EXPECT_TRUE(response.ok()) << response.status();
  return response.ok() ? *response : HttpResponse{};
}

TEST(MetricsHttpServerTest, ServesTheRegistryAtMetricsWithTheTextContentType) {
  prometheus::Registry registry;
  prometheus::Counter* ok = &prometheus::BuildCounter()
                                 .Name("requests_total")
                                 .Help("Requests.")
                                 .Register(registry)
                                 .Add({{"code", "OK"}});
  ok->Increment(41);
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry});
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);

  ok->Increment();  // visible in the next scrape
  const HttpResponse response = Get(server->port(), "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.at("content-type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.body,
            "# HELP requests_total Requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total{code=\"OK\"} 42\n");
  EXPECT_EQ(response.headers.at("content-length"),
            std::to_string(response.body.size()));
}

TEST(MetricsHttpServerTest, ServesEverySourceInTheOrderGiven) {
  prometheus::Registry registry;
  prometheus::BuildGauge()
      .Name("nnserve_first")
      .Help("First.")
      .Register(registry)
      .Add({})
      .Set(1);
  const ProcessCollector process;
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry, &process});
  ASSERT_NE(server, nullptr);
  const std::string body = Get(server->port(), "/metrics").body;
  const size_t first = body.find("\nnnserve_first 1\n");
  const size_t cpu = body.find("\nprocess_cpu_seconds_total ");
  ASSERT_NE(first, std::string::npos) << body;
  ASSERT_NE(cpu, std::string::npos) << body;
  EXPECT_LT(first, cpu);
}

TEST(MetricsHttpServerTest, NoSourcesServeAnEmptyExposition) {
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({});
  ASSERT_NE(server, nullptr);
  const HttpResponse response = Get(server->port(), "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "");
}

TEST(MetricsHttpServerTest, HealthzAnswersOkRegardlessOfReadiness) {
  prometheus::Registry registry;
  std::unique_ptr<MetricsHttpServer> server = StartOrDie(
      {&registry}, [] { return absl::UnavailableError("no model loaded"); });
  ASSERT_NE(server, nullptr);
  const HttpResponse response = Get(server->port(), "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
}

TEST(MetricsHttpServerTest, ReadyzFollowsTheReadinessCallbackWithItsReason) {
  prometheus::Registry registry;
  std::atomic<bool> ready{false};
  std::unique_ptr<MetricsHttpServer> server =
      StartOrDie({&registry}, [&ready]() -> absl::Status {
        if (!ready) return absl::UnavailableError("no model loaded");
        return absl::OkStatus();
      });
  ASSERT_NE(server, nullptr);
  HttpResponse response = Get(server->port(), "/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "not ready: no model loaded\n");
  ready = true;
  response = Get(server->port(), "/readyz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
}

TEST(MetricsHttpServerTest, NullReadinessMeansAlwaysReady) {
  prometheus::Registry registry;
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Get(server->port(), "/readyz").status, 200);
}

TEST(MetricsHttpServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  prometheus::Registry registry;
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Get(server->port(), "/").status, 404);
  EXPECT_EQ(Get(server->port(), "/metrics/extra").status, 404);
  EXPECT_EQ(Get(server->port(), "/index.html").status, 404);
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    const HttpResponse response = Get(server->port(), "/metrics", method);
    EXPECT_EQ(response.status, 405) << method;
    EXPECT_EQ(response.headers.at("allow"), "GET, HEAD") << method;
  }
  EXPECT_EQ(Get(server->port(), "/healthz", "POST").status, 405);
}

TEST(MetricsHttpServerTest, HeadAnswersLikeGetWithoutTheBody) {
  prometheus::Registry registry;
  prometheus::BuildGauge().Name("g").Help("G.").Register(registry).Add({}).Set(
      3);
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry});
  ASSERT_NE(server, nullptr);
  const HttpResponse get = Get(server->port(), "/metrics");
  const HttpResponse head = Get(server->port(), "/metrics", "HEAD");
  EXPECT_EQ(head.status, 200);
  ASSERT_NE(get.body, "");
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.headers.at("content-length"), std::to_string(get.body.size()));
  EXPECT_EQ(head.headers.at("content-type"), kTextFormatContentType);
}

TEST(MetricsHttpServerTest, QueryStringDoesNotChangeTheRoute) {
  prometheus::Registry registry;
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Get(server->port(), "/healthz?verbose=1").status, 200);
}

TEST(MetricsHttpServerTest, StopsServingWhenDestroyed) {
  prometheus::Registry registry;
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  ASSERT_EQ(Get(port, "/healthz").status, 200);
  server.reset();
  EXPECT_EQ(HttpRequest(port, "GET", "/healthz").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(MetricsHttpServerTest, DestructionDoesNotWaitForCivetwebsPollQuantum) {
  // Debian's civetweb polls its listener in 2 s quanta; the destructor wakes
  // it, so stopping takes milliseconds. A lost wake-up costs the rest of the
  // quantum, uniform in [0, 2 s): five stops would then take about 5 s (under
  // 1.5 s with a chance of 0.2 %), while five woken stops take well under
  // a second even on a loaded 2-core machine.
  prometheus::Registry registry;
  std::chrono::steady_clock::duration stopping{};
  for (int i = 0; i < 5; ++i) {
    std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry});
    ASSERT_NE(server, nullptr);
    ASSERT_EQ(Get(server->port(), "/healthz").status, 200);
    const auto start = std::chrono::steady_clock::now();
    server.reset();
    stopping += std::chrono::steady_clock::now() - start;
  }
  EXPECT_LT(stopping, std::chrono::milliseconds(1500));
}

// Debian's civetweb gives its threads 100 KiB stacks, too small for an ASan
// build (ASan's AsanThread::Destroy faulted at such a thread's exit);
// http_server.cc raises them to 8 MiB there. Release builds keep 100 KiB.
TEST(MetricsHttpServerTest, CivetwebThreadsHaveAnAsanSizedStackUnderAsan) {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NN_TEST_ASAN 1
#endif
  std::atomic<size_t> stack_size{0};
  MetricsHttpServer::Options options = LoopbackEphemeral();
  options.routes.push_back({"/stack", [&stack_size](HttpExchange& exchange) {
                              pthread_attr_t attr;
                              size_t size = 0;
                              if (pthread_getattr_np(pthread_self(), &attr) ==
                                  0) {
                                pthread_attr_getstacksize(&attr, &size);
                                pthread_attr_destroy(&attr);
                              }
                              stack_size = size;
                              exchange.Respond(200, "text/plain", "ok", {});
                            }});
  auto server = MetricsHttpServer::Create(std::move(options), {}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(Get((*server)->port(), "/stack").status, 200);
  ASSERT_GT(stack_size.load(), 0u);
#if defined(NN_TEST_ASAN)
  EXPECT_GE(stack_size.load(), size_t{8} << 20);
#else
  EXPECT_LT(stack_size.load(), size_t{1} << 20);  // civetweb's own size
#endif
}

TEST(MetricsHttpServerTest, PortInUseIsUnavailable) {
  prometheus::Registry registry;
  std::unique_ptr<MetricsHttpServer> first = StartOrDie({&registry});
  ASSERT_NE(first, nullptr);
  auto second = MetricsHttpServer::Create(
      {.listen_address = "127.0.0.1", .port = first->port()}, {&registry}, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << second.status();
}

TEST(MetricsHttpServerTest, RejectsBadOptions) {
  prometheus::Registry registry;
  const auto code = [&](MetricsHttpServer::Options options,
                        const prometheus::Collectable* source) {
    return MetricsHttpServer::Create(options, {source}, {}).status().code();
  };
  EXPECT_EQ(code(LoopbackEphemeral(), nullptr),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.listen_address = "::1", .port = 0}, &registry),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.listen_address = "localhost", .port = 0}, &registry),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.listen_address = "127.0.0.1", .port = 70000}, &registry),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.listen_address = "127.0.0.1", .port = 0, .num_threads = 0},
                 &registry),
            absl::StatusCode::kInvalidArgument);
}

// Fills `registry` with the kinds of families nnserve exports, named as in
// metric_names.h, with awkward label values. (serving_metrics_test checks
// the server's own families with promtool.)
void PopulateLikeTheServer(prometheus::Registry* registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name(kRequestsTotal)
                       .Help("RPCs finished, by model, version, method and "
                             "status code.")
                       .Register(*registry);
  auto& latency = prometheus::BuildHistogram()
                      .Name(kRequestDurationSeconds)
                      .Help("Server-side RPC latency in seconds.")
                      .Register(*registry);
  auto& batch = prometheus::BuildHistogram()
                    .Name(kBatchSize)
                    .Help("Images per executed batch.")
                    .Register(*registry);
  auto& info = prometheus::BuildGauge()
                   .Name(kModelInfo)
                   .Help("1 for each known model version, by state.")
                   .Register(*registry);
  for (const char* model : {"mnist_cnn", "odd \"model\" \\ name\nhere"}) {
    requests
        .Add({{"model", model},
              {"version", "3"},
              {"method", "Predict"},
              {"code", "OK"}})
        .Increment(17);
    requests
        .Add({{"model", model},
              {"version", ""},
              {"method", "Predict"},
              {"code", "NOT_FOUND"}})
        .Increment();
    prometheus::Histogram& h =
        latency.Add({{"model", model}, {"method", "Predict"}},
                    LatencyBucketsSeconds());
    for (double seconds : {0.00004, 0.0003, 0.0021, 0.05, 7.0}) {
      h.Observe(seconds);
    }
    batch.Add({{"model", model}}, BatchSizeBuckets()).Observe(8);
    info.Add({{"model", model}, {"version", "3"}, {"state", "available"}})
        .Set(1);
  }
}

TEST(MetricsHttpServerTest, PromtoolAcceptsTheServedMetrics) {
  const std::string promtool = nn::testing::FindTool("promtool");
  NN_REQUIRE_TOOL(promtool, "promtool (Debian package prometheus)");
  prometheus::Registry registry;
  PopulateLikeTheServer(&registry);
  const ProcessCollector process;
  std::unique_ptr<MetricsHttpServer> server = StartOrDie({&registry, &process});
  ASSERT_NE(server, nullptr);
  const HttpResponse response = Get(server->port(), "/metrics");
  ASSERT_EQ(response.status, 200);
  // The test is only meaningful if the awkward parts were served.
  ASSERT_NE(response.body.find("# TYPE nnserve_request_duration_seconds "
                               "histogram\n"),
            std::string::npos);
  ASSERT_NE(response.body.find("model=\"odd \\\"model\\\" \\\\ name\\nhere\""),
            std::string::npos);
  ASSERT_NE(response.body.find("process_cpu_seconds_total "), std::string::npos);

  char path[] = "/tmp/nnserve_metrics_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, response.body.data(), response.body.size()),
            static_cast<ssize_t>(response.body.size()));
  close(fd);
  const std::string command =
      absl::StrCat(promtool, " check metrics < ", path, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  unlink(path);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "promtool said:\n" << output << "\non:\n" << response.body;
  EXPECT_EQ(output, "") << "promtool lint findings on:\n" << response.body;
}

TEST(MetricsHttpServerTest, PromtoolRejectsBrokenExposition) {
  // Proves the check above can fail: the same command on a broken text.
  const std::string promtool = nn::testing::FindTool("promtool");
  NN_REQUIRE_TOOL(promtool, "promtool (Debian package prometheus)");
  const std::string command = absl::StrCat(
      "printf '# TYPE x counter\\nx{a=\"unterminated} 1\\n' | ", promtool,
      " check metrics >/dev/null 2>&1");
  const int status = system(command.c_str());
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace nn::metrics
