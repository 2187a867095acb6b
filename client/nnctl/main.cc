// nnctl: the command-line client of nnserve.
//
//   nnctl [--target=HOST:PORT] [--tls_ca=FILE] [--timeout=10s] COMMAND ...
//
// Commands: predict, list, info, train, health, bench, export (one file each
// in this directory; see Commands() below or `nnctl help COMMAND`). This file
// parses the command line, prints help and dispatches.
//
// Exit codes (also in `nnctl --help`; ExitCode in command.h):
//   0  success
//   1  an RPC failed, including an unreachable server (the message names the
//      gRPC code)
//   2  usage error: unknown command or flag, bad or missing flag value
//   3  local error: a file could not be read or decoded, bad input
//   4  answered, but not good: `health` is not SERVING; `bench` had failed
//      requests (the report is printed all the same)
// Errors are one line on stderr: "nnctl: CODE: message".
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/nnctl/command.h"
#include "common/process_tuning.h"

namespace nn::nnctl {
namespace {

// Every command, in the order the help lists them.
const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      PredictCommand(), ListCommand(),   InfoCommand(),
      TrainCommand(),   HealthCommand(), BenchCommand(),
      ExportCommand()};
  return *commands;
}

std::vector<CommandSpec> CommandSpecs() {
  std::vector<CommandSpec> specs;
  for (const Command& command : Commands()) specs.push_back(command.spec);
  return specs;
}

std::string MainHelp() {
  std::string out =
      "nnctl: the command-line client of nnserve, the model server.\n\n"
      "usage: nnctl [--target=HOST:PORT] [--tls_ca=FILE] [--timeout=10s] "
      "COMMAND [flags] [args]\n\ncommands:\n";
  for (const Command& command : Commands()) {
    absl::StrAppend(&out, "  ", command.spec.name,
                    std::string(9 - command.spec.name.size(), ' '),
                    command.spec.summary, "\n");
  }
  absl::StrAppend(
      &out,
      "\nRun \"nnctl help COMMAND\" or \"nnctl COMMAND --help\" for its "
      "flags.\n\nglobal flags:\n",
      FlagsHelp(GlobalFlags()),
      "\nexit codes:\n"
      "  0  success\n"
      "  1  an RPC failed, including an unreachable server\n"
      "  2  usage error: unknown command or flag, bad or missing flag value\n"
      "  3  local error: a file could not be read or decoded, bad input\n"
      "  4  answered but not good: health not SERVING; bench had failed "
      "requests\n"
      "Errors are one line on stderr: \"nnctl: CODE: message\".\n");
  return out;
}

std::string CommandHelp(const CommandSpec& command) {
  return absl::StrCat("usage: nnctl ", command.name, " ", command.usage,
                      "\n\n", command.description, "\nflags:\n",
                      FlagsHelp(command.flags), "\nglobal flags:\n",
                      FlagsHelp(GlobalFlags()));
}

int Main(int argc, char** argv) {
  DisableAbslDeadlockDetection();
  const std::vector<std::string> args(argv, argv + argc);
  const std::vector<CommandSpec> specs = CommandSpecs();
  absl::StatusOr<ParsedCommandLine> cl =
      ParseCommandLine(args, specs, GlobalFlags());
  if (!cl.ok()) {
    Fail(kExitUsage, cl.status());
    std::cerr << "Run \"nnctl --help\" for usage." << std::endl;
    return kExitUsage;
  }
  if (cl->command.empty() && !cl->help) {
    std::cerr << MainHelp();
    return kExitUsage;
  }
  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (c.spec.name == cl->command) command = &c;
  }
  if (cl->help) {
    std::cout << (command ? CommandHelp(command->spec) : MainHelp());
    return kExitOk;
  }
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command ", cl->command));
  }
  return command->run(*cl);
}

}  // namespace
}  // namespace nn::nnctl

int main(int argc, char** argv) { return nn::nnctl::Main(argc, argv); }
