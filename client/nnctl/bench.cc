// nnctl bench: the closed-loop load generator (client/load_generator.h)
// with its table, CSV and JSON reports.
#include <chrono>
#include <future>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/format.h"
#include "client/http_load.h"
#include "client/image_input.h"
#include "client/load_generator.h"
#include "client/nnctl/command.h"

ABSL_FLAG(std::vector<std::string>, concurrency, {"1"},
          "Calls in flight, one level or a comma-separated sweep (1,8,64).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "Measured time of each level.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2),
          "Uncounted time before each level's measurement.");
ABSL_FLAG(int32_t, images_per_request, 1, "Images in each request.");
ABSL_FLAG(int64_t, max_requests, 0,
          "Most measured requests of a level; 0 = no limit (duration only).");
ABSL_FLAG(std::string, data, "data/mnist/t10k-images-idx3-ubyte",
          "IDX image file the requests' images come from.");
ABSL_FLAG(bool, csv, false, "Print CSV instead of a table.");
ABSL_FLAG(int32_t, calls_per_channel, 16,
          "In-flight calls per gRPC channel (one TCP connection each).");
ABSL_FLAG(std::string, http_target, "localhost:8080",
          "--protocol=v2-http: the server's HTTP address (host:port of its "
          "--http_port).");
ABSL_FLAG(bool, v2_http_json, false,
          "--protocol=v2-http: send the pixels and read the answer as JSON "
          "instead of the binary tensor data extension.");

namespace nn::nnctl {
namespace {

namespace v1 = ::nnserve::v1;

// One v2-http request on a connection of its own, as the probe.
absl::Status ProbeHttp(const LoadOptions& options) {
  std::promise<grpc::Status> outcome;
  {
    HttpLoadCall call(options.http_target, &options.http_requests,
                      [&](const grpc::Status& s) { outcome.set_value(s); });
    call.Start(0, std::chrono::system_clock::now() +
                      absl::ToChronoNanoseconds(options.request_timeout));
    const grpc::Status status = outcome.get_future().get();
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
  }
  return absl::OkStatus();
}

int RunBench(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("bench takes no arguments");
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) return UsageError("bench needs --model=NAME");
  if (absl::GetFlag(FLAGS_json) && absl::GetFlag(FLAGS_csv)) {
    return UsageError("--json and --csv exclude each other");
  }
  absl::StatusOr<ImageEncoding> encoding =
      ParseImageEncoding(absl::GetFlag(FLAGS_encoding));
  if (!encoding.ok()) return Fail(kExitUsage, encoding.status());
  absl::StatusOr<WireProtocol> protocol = GetWireProtocol();
  if (!protocol.ok()) return Fail(kExitUsage, protocol.status());

  LoadOptions options;
  options.protocol = *protocol;
  const ClientOptions client_options = GetClientOptions();
  options.channel = client_options.channel;
  options.request_timeout = client_options.timeout;
  options.concurrency_levels.clear();
  for (const std::string& level : absl::GetFlag(FLAGS_concurrency)) {
    int value = 0;
    if (!absl::SimpleAtoi(level, &value) || value < 1) {
      return UsageError(absl::StrCat(
          "--concurrency takes positive integers separated by commas, got \"",
          level, "\""));
    }
    options.concurrency_levels.push_back(value);
  }
  options.duration = absl::GetFlag(FLAGS_duration);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.max_requests = absl::GetFlag(FLAGS_max_requests);
  options.images_per_request = absl::GetFlag(FLAGS_images_per_request);
  options.calls_per_channel = absl::GetFlag(FLAGS_calls_per_channel);
  if (options.images_per_request < 1) {
    return UsageError("--images_per_request must be at least 1");
  }
  if (options.duration <= absl::ZeroDuration() ||
      options.warmup < absl::ZeroDuration() || options.max_requests < 0 ||
      options.calls_per_channel < 1) {
    return UsageError(
        "--duration must be positive, --warmup and --max_requests not "
        "negative, --calls_per_channel at least 1");
  }

  absl::StatusOr<std::vector<InputImage>> images =
      ReadImageFile(absl::GetFlag(FLAGS_data));
  if (!images.ok()) return Fail(kExitLocalError, images.status());
  // 256 distinct requests: enough variety, bounded memory.
  constexpr int kDistinctRequests = 256;
  if (options.protocol == WireProtocol::kV2Http) {
    options.http_target = absl::GetFlag(FLAGS_http_target);
    absl::StatusOr<std::vector<std::string>> requests = BuildV2HttpRequests(
        *images, options.http_target, model, V2Version(),
        options.images_per_request, kDistinctRequests,
        absl::GetFlag(FLAGS_v2_http_json));
    if (!requests.ok()) return Fail(kExitLocalError, requests.status());
    options.http_requests = *std::move(requests);
  } else if (options.protocol == WireProtocol::kV2Grpc) {
    absl::StatusOr<std::vector<inference::ModelInferRequest>> requests =
        BuildModelInferRequests(*images, model, V2Version(),
                                options.images_per_request, kDistinctRequests);
    if (!requests.ok()) return Fail(kExitLocalError, requests.status());
    options.v2_requests = *std::move(requests);
  } else {
    absl::StatusOr<std::vector<v1::PredictRequest>> requests =
        BuildPredictRequests(*images, model, absl::GetFlag(FLAGS_version),
                             options.images_per_request, *encoding,
                             kDistinctRequests);
    if (!requests.ok()) return Fail(kExitLocalError, requests.status());
    options.requests = *std::move(requests);
  }

  // One call first: a dead server or unknown model is one clear error, not a
  // table of failures.
  absl::Status probe;
  if (options.protocol == WireProtocol::kV2Http) {
    probe = ProbeHttp(options);
  } else {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(client_options);
    if (!client.ok()) return Fail(kExitLocalError, client.status());
    probe = options.protocol == WireProtocol::kV2Grpc
                ? (*client)->ModelInfer(options.v2_requests.front()).status()
                : (*client)->Predict(options.requests.front()).status();
  }
  if (!probe.ok()) return Fail(kExitRpcError, probe);

  absl::StatusOr<std::vector<LevelResult>> levels = RunLoad(options);
  if (!levels.ok()) return Fail(kExitUsage, levels.status());
  BenchReport report;
  report.target = options.channel.target;
  report.model = model;
  report.encoding = *encoding;
  report.images_per_request = options.images_per_request;
  report.duration = options.duration;
  report.warmup = options.warmup;
  report.calls_per_channel = options.calls_per_channel;
  report.levels = *std::move(levels);
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << FormatBenchJson(report) << "\n";
  } else if (absl::GetFlag(FLAGS_csv)) {
    std::cout << FormatBenchCsv(report);
  } else {
    std::cout << FormatBenchTable(report);
  }
  for (const LevelResult& level : report.levels) {
    if (level.failed_requests() > 0) return kExitNotGood;
  }
  return kExitOk;
}

}  // namespace

Command BenchCommand() {
  return {
      {"bench", "--model=NAME [flags]", "measure Predict throughput and latency",
       "A closed-loop load generator: at each --concurrency level it holds\n"
       "exactly that many Predict calls in flight (gRPC callback API, one\n"
       "channel per --calls_per_channel calls) for --warmup, then --duration\n"
       "(or --max_requests), and reports requests/s, images/s, errors by code\n"
       "and latency percentiles (microseconds, from a log-linear histogram,\n"
       "within 0.4 %). Before the first level one Predict checks that the\n"
       "model answers; it is not counted. Exit code 4 if any measured request\n"
       "failed. --protocol=v2 sends ModelInfer (Open Inference Protocol,\n"
       "raw FP32 [N,28,28]) instead of Predict; --protocol=v2-http its REST\n"
       "infer to --http_target over HTTP/1.1 keep-alive (one connection per\n"
       "call in flight), binary tensor data unless --v2_http_json.\n",
       {"model", "version", "concurrency", "duration", "warmup",
        "images_per_request", "encoding", "max_requests", "data", "json",
        "csv", "calls_per_channel", "protocol", "http_target",
        "v2_http_json"}},
      &RunBench};
}

}  // namespace nn::nnctl
