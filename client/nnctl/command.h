// What every nnctl command shares: the exit codes, the global flags and the
// flags several commands take, error printing, and the client made from the
// global flags. Each command lives in a file of its own (predict.cc,
// models.cc, train.cc, bench.cc, export.cc) and exports one Command; main.cc holds the
// table and dispatches.
#ifndef NNSERVE_CLIENT_NNCTL_COMMAND_H_
#define NNSERVE_CLIENT_NNCTL_COMMAND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "client/client.h"
#include "client/v2_requests.h"
#include "google/protobuf/message.h"

// Global flags (command.cc).
ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
// Taken by several commands (command.cc).
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(int64_t, version);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, encoding);
ABSL_DECLARE_FLAG(std::string, protocol);
// train's, read by GetClientOptions (train.cc).
ABSL_DECLARE_FLAG(std::string, token);

namespace nn::nnctl {

// nnctl's documented exit codes (`nnctl --help`).
enum ExitCode {
  kExitOk = 0,
  kExitRpcError = 1,    // an RPC failed, including an unreachable server
  kExitUsage = 2,       // unknown command or flag, bad or missing value
  kExitLocalError = 3,  // a file could not be read or decoded, bad input
  kExitNotGood = 4,     // answered, but not good (health, bench failures)
};

// The flags every command takes, before or after its name.
const std::vector<std::string>& GlobalFlags();

// A command: its help and flags (for ParseCommandLine) and what runs it.
// `run` returns the process's exit code.
struct Command {
  CommandSpec spec;
  int (*run)(const ParsedCommandLine& command_line);
};

// One per command file, in the order `nnctl --help` lists them.
Command PredictCommand();  // predict.cc
Command ListCommand();     // models.cc
Command InfoCommand();     // models.cc
Command TrainCommand();    // train.cc
Command HealthCommand();   // models.cc
Command BenchCommand();    // bench.cc
Command ExportCommand();   // export.cc

// Prints "nnctl: CODE: message" (one line, whatever the message holds) on
// stderr and returns `exit_code`.
int Fail(int exit_code, const absl::Status& status);

// Fail(kExitUsage, INVALID_ARGUMENT `message`).
int UsageError(const std::string& message);

// The client options of the global flags (and --token, else $NNCTL_TOKEN).
ClientOptions GetClientOptions();

// Client::Create(GetClientOptions()): an error when TLS files are unusable.
absl::StatusOr<std::unique_ptr<Client>> MakeClient();

// --protocol, parsed.
absl::StatusOr<WireProtocol> GetWireProtocol();
// --version as the Open Inference Protocol's version string ("" = newest).
std::string V2Version();

// `message` as JSON with the proto field names; "{}" if printing fails
// (it cannot for a linked-in type).
std::string ToJson(const google::protobuf::Message& message);

}  // namespace nn::nnctl

#endif  // NNSERVE_CLIENT_NNCTL_COMMAND_H_
