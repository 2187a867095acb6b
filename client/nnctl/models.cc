// nnctl list, info and health: one unary call each, printed as text or
// JSON.
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "client/format.h"
#include "client/nnctl/command.h"

// health
ABSL_FLAG(std::string, service, "",
          "Health of this service name (e.g. nnserve.v1.InferenceService); "
          "empty: the whole server.");

namespace nn::nnctl {
namespace {

namespace v1 = ::nnserve::v1;

// Prints a reply as JSON (--json) or through `format`; an RPC error fails.
template <typename Response>
int PrintReply(const absl::StatusOr<Response>& response,
               std::string (*format)(const Response&)) {
  if (!response.ok()) return Fail(kExitRpcError, response.status());
  std::cout << (absl::GetFlag(FLAGS_json) ? ToJson(*response) + "\n"
                                          : format(*response));
  return kExitOk;
}

int RunList(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("list takes no arguments");
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  return PrintReply((*client)->ListModels(), &FormatModelList);
}

int RunInfo(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("info takes no arguments");
  v1::ModelInfoRequest request;
  request.set_model(absl::GetFlag(FLAGS_model));
  request.set_version(absl::GetFlag(FLAGS_version));
  if (request.model().empty()) return UsageError("info needs --model=NAME");
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  return PrintReply((*client)->ModelInfo(request), &FormatModelInfo);
}

int RunHealth(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("health takes no arguments");
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> status =
      (*client)->Health(absl::GetFlag(FLAGS_service));
  if (!status.ok()) return Fail(kExitRpcError, status.status());
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                   *status)
            << "\n";
  return *status == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitNotGood;
}

}  // namespace

Command ListCommand() {
  return {
      {"list", "[--json]", "list the models and their versions",
       "One line per model version: state, whether it is the default, load\n"
       "time, and the file path (or why it failed to load).\n",
       {"json"}},
      &RunList};
}

Command InfoCommand() {
  return {
      {"info", "--model=NAME [--version=N] [--json]", "describe a model",
       "Versions and states, input, labels, a Keras-style layer summary,\n"
       "batching configuration, training history and training jobs.\n",
       {"model", "version", "json"}},
      &RunInfo};
}

Command HealthCommand() {
  return {
      {"health", "[--service=NAME]", "check the server's health",
       "Prints SERVING, NOT_SERVING or SERVICE_UNKNOWN (grpc.health.v1).\n"
       "Exit code 0 only when SERVING, 4 otherwise.\n",
       {"service"}},
      &RunHealth};
}

}  // namespace nn::nnctl
