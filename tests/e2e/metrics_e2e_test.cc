// Metrics end to end: nnserve's /metrics moves by exactly what a known
// workload does, passes promtool, and a real Prometheus (Debian's, on
// loopback) scrapes it and answers PromQL over it.
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "tests/support/exposition.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/required_tool.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

using ::nnserve::v1::InferenceService;
using ::nnserve::v1::PredictRequest;
using ::nnserve::v1::PredictResponse;
using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::ServerProcess;
using testing::TempDir;

// series text ("name{a=\"b\"}") -> value, from an exposition.
std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> values;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      continue;
    }
    values[std::string(line.substr(0, space))] = value;
  }
  return values;
}

std::string Scrape(int http_port) {
  absl::StatusOr<testing::HttpResponse> response =
      HttpRequest(http_port, "GET", "/metrics");
  EXPECT_TRUE(response.ok()) << response.status();
  if (!response.ok()) return "";
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->headers["content-type"],
              HasSubstr("text/plain; version=0.0.4"));
  return response->body;
}

class MetricsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = testing::MakeModel("mnist_mlp", 5);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(testing::PublishModel(repo_.path(), "m", 1, **model).ok());
    auto server = ServerProcess::Start(
        {.args = {"--model_repository=" + repo_.path(), "--drain_grace=2s",
                  "--repository_poll_interval=100ms"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->http_port(), 0);
    stub_ = testing::NewStub(server_->target());
    auto images = testing::LoadTestDigits(3);
    ASSERT_TRUE(images.ok());
    request_ = testing::PixelRequest("m", *images, 3);
  }

  grpc::Status Predict(const PredictRequest& request) {
    grpc::ClientContext context;
    PredictResponse response;
    return stub_->Predict(&context, request, &response);
  }

  TempDir repo_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<InferenceService::Stub> stub_;
  PredictRequest request_;
};

TEST_F(MetricsE2ETest, CountersAndHistogramsMoveByExactlyTheWorkload) {
  const auto before = ParseExposition(Scrape(server_->http_port()));
  constexpr int kOk = 25, kNotFound = 4;
  for (int i = 0; i < kOk; ++i) ASSERT_TRUE(Predict(request_).ok());
  PredictRequest missing = request_;
  missing.set_version(7);
  for (int i = 0; i < kNotFound; ++i) {
    ASSERT_EQ(Predict(missing).error_code(), grpc::NOT_FOUND);
  }
  const auto after = ParseExposition(Scrape(server_->http_port()));
  auto delta = [&](const std::string& series) {
    auto a = after.find(series);
    EXPECT_NE(a, after.end()) << series;
    auto b = before.find(series);
    return (a == after.end() ? 0 : a->second) -
           (b == before.end() ? 0 : b->second);
  };
  EXPECT_EQ(delta(R"(nnserve_requests_total{code="OK",method="Predict",model="m",protocol="nnserve.v1",version="1"})"),
            kOk);
  EXPECT_EQ(delta(R"(nnserve_requests_total{code="NOT_FOUND",method="Predict",model="m",protocol="nnserve.v1",version=""})"),
            kNotFound);
  EXPECT_EQ(delta(R"(nnserve_request_duration_seconds_count{method="Predict",model="m",protocol="nnserve.v1"})"),
            kOk + kNotFound);
  EXPECT_EQ(delta(R"(nnserve_images_total{model="m",version="1"})"), 3 * kOk);
  EXPECT_EQ(delta(R"(nnserve_batch_size_sum{model="m"})"), 3 * kOk);
  EXPECT_EQ(delta(R"(nnserve_queue_duration_seconds_count{model="m"})"), kOk);
  EXPECT_GE(delta(R"(nnserve_compute_duration_seconds_count{model="m"})"), 1);
  EXPECT_EQ(after.at(R"(nnserve_queue_depth{model="m"})"), 0);
  EXPECT_EQ(after.at(R"(nnserve_model_info{model="m",state="available",version="1"})"),
            1);
  EXPECT_EQ(after.at(R"(nnserve_model_load_duration_seconds_count{model="m"})"),
            1);
  EXPECT_GT(after.at("process_resident_memory_bytes"), 1e6);
  EXPECT_GT(after.at("process_start_time_seconds"), 1.7e9);
  // A histogram's +Inf bucket equals its count.
  EXPECT_EQ(after.at(R"(nnserve_request_duration_seconds_bucket{method="Predict",model="m",protocol="nnserve.v1",le="+Inf"})"),
            after.at(R"(nnserve_request_duration_seconds_count{method="Predict",model="m",protocol="nnserve.v1"})"));
}

TEST_F(MetricsE2ETest, EveryRpcIsCounted) {
  const auto before = ParseExposition(Scrape(server_->http_port()));
  grpc::ClientContext list_context;
  nnserve::v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&list_context, {}, &list).ok());
  grpc::ClientContext info_context;
  nnserve::v1::ModelInfoRequest info_request;
  info_request.set_model("m");
  nnserve::v1::ModelInfoResponse info;
  ASSERT_TRUE(stub_->ModelInfo(&info_context, info_request, &info).ok());
  // Training is off on this server: FAILED_PRECONDITION, still counted.
  grpc::ClientContext jobs_context;
  nnserve::v1::ListTrainingJobsResponse jobs;
  EXPECT_EQ(stub_->ListTrainingJobs(&jobs_context, {}, &jobs).error_code(),
            grpc::FAILED_PRECONDITION);
  grpc::ClientContext cancel_context;
  nnserve::v1::CancelTrainingRequest cancel_request;
  cancel_request.set_job_id("nope");
  nnserve::v1::CancelTrainingResponse cancel;
  EXPECT_EQ(
      stub_->CancelTraining(&cancel_context, cancel_request, &cancel).error_code(),
      grpc::FAILED_PRECONDITION);
  grpc::ClientContext watch_context;
  nnserve::v1::WatchTrainingRequest watch_request;
  watch_request.set_job_id("nope");
  auto watch = stub_->WatchTraining(&watch_context, watch_request);
  nnserve::v1::TrainProgress progress;
  while (watch->Read(&progress)) {
  }
  EXPECT_EQ(watch->Finish().error_code(), grpc::FAILED_PRECONDITION);

  const auto after = ParseExposition(Scrape(server_->http_port()));
  auto delta = [&](const std::string& series) {
    auto a = after.find(series);
    auto b = before.find(series);
    return (a == after.end() ? 0 : a->second) -
           (b == before.end() ? 0 : b->second);
  };
  EXPECT_EQ(delta(R"(nnserve_requests_total{code="OK",method="ListModels",model="",protocol="nnserve.v1",version=""})"), 1);
  EXPECT_EQ(delta(R"(nnserve_requests_total{code="OK",method="ModelInfo",model="m",protocol="nnserve.v1",version=""})"), 1);
  for (const char* method :
       {"ListTrainingJobs", "CancelTraining", "WatchTraining"}) {
    EXPECT_EQ(delta(absl::StrCat(
                  R"(nnserve_requests_total{code="FAILED_PRECONDITION",method=")",
                  method, R"(",model="",protocol="nnserve.v1",version=""})")),
              1)
        << method;
    EXPECT_EQ(delta(absl::StrCat(
                  R"(nnserve_request_duration_seconds_count{method=")", method,
                  R"(",model="",protocol="nnserve.v1"})")),
              1)
        << method;
  }
}

TEST_F(MetricsE2ETest, RetiredVersionsTakeTheirSeriesWithThem) {
  // Each new version replaces the last (latest-1 policy); the server polls
  // every 100 ms. Every scrape must parse, and at most two versions (the
  // serving one and the one loading beside it) have series at any time.
  auto model = testing::MakeModel("mnist_mlp", 6);
  ASSERT_TRUE(model.ok()) << model.status();
  size_t most_versions = 0;
  int scrapes = 0;
  auto versions_with_series = [&](const std::string& text) {
    absl::StatusOr<testing::Exposition> e = testing::ParseExposition(text);
    EXPECT_TRUE(e.ok()) << e.status() << "\n" << text;
    std::set<std::string> versions;
    if (!e.ok()) return versions;
    for (const char* name :
         {"nnserve_requests_total", "nnserve_images_total", "nnserve_model_info"}) {
      for (const std::string& v : e->LabelValues(name, "version")) {
        versions.insert(v);
      }
    }
    ++scrapes;
    most_versions = std::max(most_versions, versions.size());
    return versions;
  };
  constexpr int kLast = 12;
  for (int v = 1; v <= kLast; ++v) {
    if (v > 1) {
      ASSERT_TRUE(testing::PublishModel(repo_.path(), "m", v, **model).ok());
    }
    // Scrape until version v serves (the poll picked it up).
    const std::string available = absl::StrCat(
        R"(nnserve_model_info{model="m",state="available",version=")", v,
        R"("} 1)");
    ASSERT_TRUE(testing::Eventually(
        [&] {
          const std::string text = Scrape(server_->http_port());
          versions_with_series(text);
          return text.find(available) != std::string::npos;
        },
        absl::Seconds(60)))
        << "version " << v << " never served";
    PredictRequest pinned = request_;
    pinned.set_version(v);
    ASSERT_TRUE(Predict(pinned).ok());
    versions_with_series(Scrape(server_->http_port()));
  }
  // Once the last replaced version is reaped only version kLast remains.
  std::set<std::string> left;
  testing::Eventually(
      [&] {
        left = versions_with_series(Scrape(server_->http_port()));
        return left.size() <= 1;
      },
      absl::Seconds(30));
  EXPECT_EQ(left, std::set<std::string>{absl::StrCat(kLast)});
  EXPECT_LE(most_versions, 2u);
  EXPECT_GT(scrapes, kLast);
}

TEST_F(MetricsE2ETest, LiveExpositionPassesPromtool) {
  const std::string promtool = nn::testing::FindTool("promtool");
  NN_REQUIRE_TOOL(promtool, "promtool (Debian package prometheus)");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Predict(request_).ok());
  PredictRequest bad = request_;
  bad.set_model("nope");
  ASSERT_FALSE(Predict(bad).ok());
  const std::string text = Scrape(server_->http_port());
  const std::string file = repo_.Join("metrics.txt");
  testing::WriteFileOrDie(file, text);
  const std::string command =
      absl::StrCat(promtool, " check metrics < ", file, " 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) {
    output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "promtool lint findings";
}

TEST_F(MetricsE2ETest, ProbesFollowReadinessAndDrain) {
  auto healthz = HttpRequest(server_->http_port(), "GET", "/healthz");
  ASSERT_TRUE(healthz.ok());
  EXPECT_EQ(healthz->status, 200);
  auto readyz = HttpRequest(server_->http_port(), "GET", "/readyz");
  ASSERT_TRUE(readyz.ok());
  EXPECT_EQ(readyz->status, 200);
  server_->Signal(SIGTERM);
  // Readiness flips as the signal is handled; during the 2 s grace period
  // that follows the server is not ready and still live. (Polled: the
  // signal's handling has no other observable event.)
  ASSERT_TRUE(testing::Eventually(
      [&] {
        readyz = HttpRequest(server_->http_port(), "GET", "/readyz");
        return readyz.ok() && readyz->status == 503;
      },
      absl::Seconds(2)))
      << (readyz.ok() ? readyz->body : readyz.status().ToString());
  EXPECT_THAT(readyz->body, HasSubstr("draining"));
  healthz = HttpRequest(server_->http_port(), "GET", "/healthz");
  ASSERT_TRUE(healthz.ok());
  EXPECT_EQ(healthz->status, 200);
  auto exit_code = server_->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 0);
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

TEST_F(MetricsE2ETest, RealPrometheusScrapesAndAnswersQueries) {
  const std::string prometheus_binary = nn::testing::FindTool("prometheus");
  NN_REQUIRE_TOOL(prometheus_binary, "prometheus (Debian package prometheus)");
  TempDir prometheus_dir;
  const std::string config = prometheus_dir.Join("prometheus.yml");
  testing::WriteFileOrDie(
      config, absl::StrCat("global:\n  scrape_interval: 1s\n"
                           "scrape_configs:\n  - job_name: nnserve\n"
                           "    static_configs:\n      - targets: ['127.0.0.1:",
                           server_->http_port(), "']\n"));
  const int port = FreePort();
  auto prometheus = ServerProcess::Start(
      {.binary = prometheus_binary,
       .args = {"--config.file=" + config,
                "--storage.tsdb.path=" + prometheus_dir.Join("data"),
                absl::StrCat("--web.listen-address=127.0.0.1:", port)},
       .add_port_flags = false});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  // Keep traffic flowing (bounded) while Prometheus scrapes.
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    for (int i = 0; i < 20000 && !stop.load(); ++i) {
      (void)Predict(request_);
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  auto query = [&](const std::string& promql) -> std::string {
    auto response = HttpRequest(
        port, "GET", "/api/v1/query?query=" + UrlEncode(promql));
    return response.ok() && response->status == 200 ? response->body : "";
  };
  auto has_number = [](const std::string& body) {
    return body.find("\"result\":[{") != std::string::npos &&
           body.find("NaN") == std::string::npos;
  };
  const std::string requests =
      R"(nnserve_requests_total{method="Predict",code="OK",model="m"})";
  const std::string p99 =
      R"(histogram_quantile(0.99, sum by (le) (rate(nnserve_request_duration_seconds_bucket{method="Predict"}[10s]))))";
  std::string requests_body, p99_body;
  const absl::Time deadline = absl::Now() + absl::Seconds(40);
  while (absl::Now() < deadline) {
    requests_body = query(requests);
    p99_body = query(p99);
    if (has_number(requests_body) && has_number(p99_body)) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  stop.store(true);
  traffic.join();
  EXPECT_TRUE(has_number(requests_body)) << requests_body;
  EXPECT_TRUE(has_number(p99_body)) << p99_body;
  std::cout << "[ metric ] Prometheus answered p99: " << p99_body << "\n";
}

}  // namespace
}  // namespace nn
