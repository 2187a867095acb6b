// Helpers shared by the robustness suites (tests/robustness/*_test.cc): a
// served repository of engine-made models, gRPC calls with deadlines, health
// checks, /metrics scraping, and bounded polling.
//
// Every suite starts build/bin/nnserve as a child process on 127.0.0.1 with
// an ephemeral port (tests/support/server_process.h) and talks to it over
// real gRPC, like a client would. Cases that need training (the Train RPC)
// plug into the same helpers: ServeRepository takes extra server flags
// (e.g. --enable_training once it exists) and a Stub reaches every RPC.
#ifndef NNSERVE_TESTS_ROBUSTNESS_ROBUSTNESS_UTIL_H_
#define NNSERVE_TESTS_ROBUSTNESS_ROBUSTNESS_UTIL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn::robustness {

// Stubs, Predict with a deadline, pixel requests and the engine's own
// answer: tests/support/grpc_calls.h.
using testing::EngineProbabilities;
using testing::NewStub;
using testing::PixelRequest;
using testing::Predict;
using testing::Stub;

// ModelInfo with a 20 s deadline.
grpc::Status ModelInfo(Stub& stub, const std::string& model, int64_t version,
                       nnserve::v1::ModelInfoResponse* response);

// A call's outcome on a server-streaming method (Train, WatchTraining): the
// messages received before the final status.
struct StreamOutcome {
  grpc::Status status;
  std::vector<nnserve::v1::TrainProgress> messages;
};

// Train / WatchTraining read to the end (60 s deadline), with metadata
// `authorization` unless it is empty.
StreamOutcome Train(Stub& stub, const nnserve::v1::TrainRequest& request,
                    const std::string& authorization = "");
StreamOutcome WatchTraining(Stub& stub, const std::string& job_id,
                            const std::string& authorization = "");

// `bytes` sent as the request of `method` ("/nnserve.v1.InferenceService/
// Predict") on a fresh channel to `target`, whatever they hold (raw, through
// grpc::GenericStub), with a 20 s deadline; the call's status. A
// server-streaming method answers the same way when it fails at once.
grpc::Status RawCall(const std::string& target, const std::string& method,
                     const std::string& bytes);

// grpc.health.v1 Check of `service` ("" = the whole server) with a 5 s
// deadline: the HealthCheckResponse status (1 = SERVING, 2 = NOT_SERVING),
// or -1 if the call failed.
int CheckHealth(const std::string& target, const std::string& service = "",
                std::shared_ptr<grpc::ChannelCredentials> credentials =
                    grpc::InsecureChannelCredentials());

// The sum of the samples of `name` in a Prometheus text exposition whose
// labels include every pair of `labels` (other labels may differ). Histogram
// series are matched by their full name ("x_count"). 0 if none matches.
double SumSamples(const std::string& exposition, const std::string& name,
                  const std::map<std::string, std::string>& labels = {});

// GET /metrics from 127.0.0.1:`http_port`, then SumSamples.
absl::StatusOr<double> ScrapeMetric(
    int http_port, const std::string& name,
    const std::map<std::string, std::string>& labels = {});

using testing::Eventually;  // tests/support/wait.h
using testing::Scaled;

// A temporary model repository served by a child nnserve.
struct ServedRepository {
  std::unique_ptr<testing::TempDir> repo;
  // Model name -> path of version 1's file.
  std::map<std::string, std::string> paths;
  std::unique_ptr<testing::ServerProcess> server;
};

struct ServeOptions {
  // Model name -> tutorial architecture (models/<arch>.textproto), each
  // published as version 1 with weights from seed 1, 2, ...
  std::map<std::string, std::string> models = {{"mnist_mlp", "mnist_mlp"}};
  // Model name -> contents of its config.textproto.
  std::map<std::string, std::string> configs = {};
  // Extra nnserve flags (--model_repository is set).
  std::vector<std::string> flags = {};
  // Another binary in place of nnserve (a wrapper script, say).
  std::string binary = "nnserve";
};

absl::StatusOr<ServedRepository> ServeRepository(const ServeOptions& options);

}  // namespace nn::robustness

#endif  // NNSERVE_TESTS_ROBUSTNESS_ROBUSTNESS_UTIL_H_
