// The training RPCs over HTTP (server/v1_training_rest.h), end to end: the
// real nnserve on 127.0.0.1, real HTTP on its --http_port. A training job
// started with POST /v1/training/jobs streams the gRPC Train messages as
// server-sent events and publishes; cancel and watch are WatchTraining and
// CancelTraining; every refusal is the gRPC one (same message, the gRPC
// code's HTTP status); event streams are capped and end when the server
// drains.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/v2/rest_codec.h"
#include "tests/support/wait.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::nnserve::v1::TrainProgress;
using ::nnserve::v1::TrainRequest;
using ::testing::HasSubstr;
using testing::HttpResponse;

constexpr char kToken[] = "s3cret";

// A small MLP on 512 digits: 16 batches an epoch.
std::string TrainJson(const std::string& model, int epochs,
                      int examples = 512) {
  return absl::StrCat(
      R"({"model":")", model,
      R"(","spec":{"name":"tiny","input":{"height":28,"width":28},"layers":[)",
      R"({"name":"flatten","flatten":{}},)",
      R"({"name":"dense","dense":{"units":32,"activation":"ACTIVATION_RELU"}},)",
      R"({"name":"out","dense":{"units":10,"activation":"ACTIVATION_SOFTMAX"}}]},)",
      R"("dataset":"mnist","config":{"epochs":)", epochs,
      R"(,"batchSize":32,"maxTrainExamples":)", examples,
      R"(},"progressIntervalMillis":20})");
}

struct Event {
  std::string name;
  std::string data;
};

// The events of a text/event-stream body (comments dropped).
std::vector<Event> EventsOf(const std::string& body) {
  std::vector<Event> events;
  for (absl::string_view block : absl::StrSplit(body, "\n\n")) {
    Event event;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::ConsumePrefix(&line, "event: ")) event.name = std::string(line);
      if (absl::ConsumePrefix(&line, "data: ")) event.data = std::string(line);
    }
    if (!event.name.empty()) events.push_back(std::move(event));
  }
  return events;
}

TrainProgress ProgressOf(const Event& event) {
  TrainProgress progress;
  const auto status =
      google::protobuf::util::JsonStringToMessage(event.data, &progress);
  EXPECT_TRUE(status.ok()) << status.ToString() << ": " << event.data;
  return progress;
}

// An event stream read from a raw socket as it comes, so a test can hold
// it open while it sends other requests.
class OpenStream {
 public:
  OpenStream(int port, const std::string& request) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(write(fd_, request.data(), request.size()),
              static_cast<ssize_t>(request.size()));
  }
  ~OpenStream() { close(fd_); }
  // Reads until `text` has arrived or the server closed (or 60 s passed);
  // whether it arrived.
  bool ReadUntil(const std::string& text) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!absl::StrContains(received_, text) && absl::Now() < deadline) {
      pollfd p = {.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t n = read(fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      received_.append(buffer, static_cast<size_t>(n));
    }
    return absl::StrContains(received_, text);
  }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  std::string received_;
};

class TrainingRestE2ETest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--model_repository=" + repo_.path(), "--enable_training",
        std::string("--training_token=") + kToken, "--data_dir=data",
        "--repository_poll_interval=200ms", "--drain_grace=0s"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = testing::ServerProcess::Start({.args = args});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  HttpResponse Send(testing::HttpMessage message,
                    const std::string& token = kToken) {
    if (!token.empty()) {
      message.headers.push_back({"Authorization", "Bearer " + token});
    }
    auto response = testing::SendHttp(server_->http_port(), message);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  // A request sent as it is, read until the server closes (an event stream
  // ends so).
  HttpResponse Stream(const std::string& method, const std::string& path,
                      const std::string& body = "",
                      const std::string& token = kToken) {
    std::string request = absl::StrCat(
        method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        "Accept: text/event-stream\r\nConnection: close\r\n",
        token.empty() ? "" : absl::StrCat("Authorization: Bearer ", token, "\r\n"),
        "Content-Length: ", body.size(), "\r\n\r\n", body);
    auto response = testing::SendRawHttp(server_->http_port(), request,
                                         absl::Seconds(60),
                                         /*close_write_side=*/false);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  // Starts a job without streaming; its id.
  std::string StartJob(const std::string& json) {
    const HttpResponse r =
        Send({.method = "POST", .path = "/v1/training/jobs", .body = json});
    EXPECT_EQ(r.status, 200) << r.body;
    TrainProgress started;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &started).ok())
        << r.body;
    EXPECT_TRUE(started.started()) << r.body;
    return started.job().job_id();
  }

  testing::TempDir repo_;
  std::unique_ptr<testing::ServerProcess> server_;
};

TEST_F(TrainingRestE2ETest, TrainStreamsTheGrpcMessagesAsEventsAndPublishes) {
  StartServer();
  const HttpResponse r =
      Stream("POST", "/v1/training/jobs", TrainJson("tiny", 2));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("content-type"), "text/event-stream");
  EXPECT_EQ(r.headers.count("content-length"), 0u);
  const std::vector<Event> events = EventsOf(r.body);
  ASSERT_GE(events.size(), 4u) << r.body;
  EXPECT_EQ(events.back().name, "end");
  EXPECT_EQ(events.back().data, R"({"code":"OK","httpStatus":200,"error":""})");
  std::vector<TrainProgress> messages;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].name, "progress");
    messages.push_back(ProgressOf(events[i]));
  }
  EXPECT_TRUE(messages.front().started());
  int epochs = 0, batches = 0;
  for (const TrainProgress& m : messages) {
    epochs += m.has_epoch_end() ? 1 : 0;
    batches += m.batch() ? 1 : 0;
  }
  EXPECT_EQ(epochs, 2);
  EXPECT_GE(batches, 1);
  ASSERT_TRUE(messages.back().has_result()) << events[events.size() - 2].data;
  EXPECT_EQ(messages.back().result().version(), 1);
  // Published and served: the /v1 view shows it, with the job.
  EXPECT_TRUE(testing::Eventually([&]() -> bool {
    auto info = testing::HttpRequest(server_->http_port(), "GET", "/v1/models/tiny");
    return info.ok() && info->status == 200 &&
           absl::StrContains(info->body, "VERSION_STATE_AVAILABLE");
  }, absl::Seconds(30)));
  const HttpResponse list =
      Send({.method = "GET", .path = "/v1/training/jobs"});
  ASSERT_EQ(list.status, 200);
  EXPECT_THAT(list.body, HasSubstr(messages.front().job().job_id()));
  EXPECT_THAT(list.body, HasSubstr("JOB_STATE_SUCCEEDED"));
  // Watching the ended job: its state, the result again, the end.
  const HttpResponse watch = Stream(
      "GET", "/v1/training/jobs/" + messages.front().job().job_id() + "/events");
  const std::vector<Event> again = EventsOf(watch.body);
  ASSERT_EQ(again.size(), 3u) << watch.body;
  EXPECT_TRUE(ProgressOf(again[0]).started());
  EXPECT_TRUE(ProgressOf(again[1]).has_result());
  EXPECT_EQ(again[2].name, "end");
}

TEST_F(TrainingRestE2ETest, RefusalsAreTheGrpcOnesWithTheirHttpStatus) {
  StartServer({"--max_http_body_bytes=100000"});
  auto stub = testing::NewStub(server_->target());
  // Each case over gRPC (parsed from the same JSON) and over HTTP.
  struct Case {
    std::string what, json, token;
  };
  const std::vector<Case> cases = {
      {"no token", TrainJson("a", 1), ""},
      {"wrong token", TrainJson("a", 1), "wrong"},
      {"unknown base", R"({"model":"nope","baseVersion":"3","dataset":"mnist"})", kToken},
      {"bad data set", R"({"model":"a","baseVersion":"1","dataset":"cifar"})", kToken},
      {"too many epochs", TrainJson("a", 1000), kToken},
  };
  for (const Case& c : cases) {
    TrainRequest request;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(c.json, &request).ok());
    grpc::ClientContext context;
    if (!c.token.empty()) context.AddMetadata("authorization", "Bearer " + c.token);
    auto reader = stub->Train(&context, request);
    TrainProgress ignored;
    while (reader->Read(&ignored)) {
    }
    const grpc::Status grpc_status = reader->Finish();
    ASSERT_FALSE(grpc_status.ok()) << c.what;
    const HttpResponse r = Send(
        {.method = "POST", .path = "/v1/training/jobs", .body = c.json}, c.token);
    EXPECT_EQ(r.status, v2::HttpStatusFor(static_cast<absl::StatusCode>(
                            grpc_status.error_code())))
        << c.what << ": " << r.body;
    EXPECT_EQ(r.body, v2::JsonErrorBody(grpc_status.error_message())) << c.what;
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
  }
  // The token is checked on every training endpoint.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/training/jobs"},
           {"POST", "/v1/training/jobs/job-1/cancel"},
           {"GET", "/v1/training/jobs/job-1/events"}}) {
    EXPECT_EQ(Send({.method = method, .path = path}, "wrong").status, 401) << path;
  }
  EXPECT_EQ(Send({.method = "POST", .path = "/v1/training/jobs/job-9/cancel"}).status,
            404);
  // Bodies: not JSON, unknown field, wrong type, nesting deeper than any
  // message (civetweb's workers have 100 KiB stacks in Release builds): 400
  // naming the message; over the limit: 413; a bad method: 405.
  std::string deep_objects;
  for (int i = 0; i < 15000; ++i) deep_objects += R"({"a":)";
  for (const std::string& body : {std::string("{\"model\": 3"),
                                 std::string(R"({"modle":"a"})"),
                                 std::string(R"({"config":{"epochs":"many"}})"),
                                 std::string("\xff\xfe<script>"),
                                 std::string(45000, '['), deep_objects}) {
    const HttpResponse r =
        Send({.method = "POST", .path = "/v1/training/jobs", .body = body});
    EXPECT_EQ(r.status, 400) << body.substr(0, 40);
    EXPECT_THAT(r.body, HasSubstr("nnserve.v1.TrainRequest")) << body.substr(0, 40);
    EXPECT_LT(r.body.size(), 400u) << body.substr(0, 40);
  }
  const HttpResponse big = Send({.method = "POST", .path = "/v1/training/jobs",
                                 .body = std::string(200000, ' ')});
  EXPECT_EQ(big.status, 413);
  const HttpResponse put = Send({.method = "PUT", .path = "/v1/training/jobs/j/cancel"});
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.headers.at("allow"), "POST");
  EXPECT_EQ(Send({.method = "GET", .path = "/v1/training/other"}).status, 404);
}

TEST_F(TrainingRestE2ETest, CancelEndsTheJobAndItsWatchersStream) {
  StartServer();
  const std::string id = StartJob(TrainJson("long", 100, 6000));
  ASSERT_FALSE(id.empty());
  HttpResponse watch;
  std::thread watcher([&] {
    watch = Stream("GET", "/v1/training/jobs/" + id + "/events");
  });
  // Cancel once the watcher's stream is open and the job runs.
  EXPECT_TRUE(testing::Eventually([&]() -> bool {
    const HttpResponse list = Send({.method = "GET", .path = "/v1/training/jobs"});
    return absl::StrContains(list.body, "JOB_STATE_RUNNING");
  }, absl::Seconds(30)));
  absl::SleepFor(absl::Milliseconds(300));
  const HttpResponse cancel =
      Send({.method = "POST", .path = "/v1/training/jobs/" + id + "/cancel"});
  EXPECT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_THAT(cancel.body, HasSubstr("JOB_STATE_CANCELLED"));
  watcher.join();
  const std::vector<Event> events = EventsOf(watch.body);
  ASSERT_GE(events.size(), 2u) << watch.body;
  EXPECT_TRUE(ProgressOf(events.front()).started());
  EXPECT_EQ(events.back().name, "end");
  EXPECT_THAT(events.back().data, HasSubstr(R"("code":"CANCELLED","httpStatus":499)"));
}

TEST_F(TrainingRestE2ETest, StreamsAreCappedAndEndWhenTheServerDrains) {
  // 4 HTTP threads: one event stream at most.
  StartServer({"--http_threads=4"});
  const std::string id = StartJob(TrainJson("long", 100, 6000));
  OpenStream first(server_->http_port(),
                   absl::StrCat("GET /v1/training/jobs/", id,
                                "/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Authorization: Bearer ", kToken, "\r\n\r\n"));
  ASSERT_TRUE(first.ReadUntil("event: progress")) << first.received();
  const HttpResponse second =
      Send({.method = "GET", .path = "/v1/training/jobs/" + id + "/events"});
  EXPECT_EQ(second.status, 503) << second.body;
  EXPECT_THAT(second.body, HasSubstr("at most 1"));
  // The other workers serve on.
  EXPECT_EQ(Send({.method = "GET", .path = "/v1/training/jobs"}).status, 200);
  server_->Signal(SIGTERM);
  ASSERT_TRUE(first.ReadUntil("event: end")) << first.received();
  first.ReadUntil("\n\n(never)");  // to the close
  const std::vector<Event> events = EventsOf(first.received());
  ASSERT_GE(events.size(), 2u) << first.received();
  EXPECT_EQ(events.back().name, "end");
  EXPECT_THAT(events.back().data, HasSubstr(R"("code":"UNAVAILABLE")"));
  auto code = server_->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
}

TEST(TrainingRestDisabledE2ETest, WithoutTrainingEveryWriteIsRefusedAsOverGrpc) {
  testing::TempDir repo;
  auto server = testing::ServerProcess::Start(
      {.args = {"--model_repository=" + repo.path(), "--drain_grace=0s"}});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/v1/training/jobs"},
           {"GET", "/v1/training/jobs"},
           {"POST", "/v1/training/jobs/job-1/cancel"},
           {"GET", "/v1/training/jobs/job-1/events"}}) {
    auto r = testing::SendHttp((*server)->http_port(),
                               {.method = method, .path = path,
                                .body = method == "POST" ? TrainJson("a", 1) : ""});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 400) << path;  // FAILED_PRECONDITION
    EXPECT_THAT(r->body, HasSubstr("training is disabled")) << path;
  }
}

}  // namespace
}  // namespace nn
