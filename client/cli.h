// Command-line parsing for a program with subcommands ("nnctl predict ...")
// whose flags are absl flags.
//
// absl::ParseCommandLine knows nothing of subcommands: it accepts every flag
// of the binary everywhere, prints one help for all of them and exits 1 on a
// bad flag. This parser keeps absl's flag definitions, types, defaults and
// help strings (ABSL_FLAG in the program), but checks each flag against the
// command it is given to, returns errors instead of exiting (so the program
// can use its documented exit code) and renders per-command help.
//
// Syntax: PROGRAM [GLOBAL_FLAGS] COMMAND [FLAGS] [ARGS]; global flags may also
// follow the command. A flag is `--name=value`, `--name value` (not for
// booleans), `--name` / `--noname` (booleans); one leading dash works too.
// `--` ends the flags. `PROGRAM help [COMMAND]`, `--help` or `-h` anywhere
// asks for help.
#ifndef NNSERVE_CLIENT_CLI_H_
#define NNSERVE_CLIENT_CLI_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace nn {

struct CommandSpec {
  std::string name;
  // After "PROGRAM NAME": e.g. "--model=NAME [flags] FILE...".
  std::string usage;
  // One line for the command list.
  std::string summary;
  // Free text for the command's help, after the usage line.
  std::string description;
  // Names of the absl flags this command accepts (besides the global ones).
  std::vector<std::string> flags;
};

struct ParsedCommandLine {
  // Empty when no command was given (then `help` is true or the command line
  // was empty).
  std::string command;
  std::vector<std::string> args;
  // Flags set on this command line, by name.
  std::set<std::string> given;
  bool help = false;
};

// Parses `argv` (argv[0] is the program) and sets the given absl flags.
// INVALID_ARGUMENT with a one-line message for an unknown command, a flag the
// command does not take, a flag without a value or with a bad value.
// Every name in `commands` and `global_flags` must be a defined absl flag.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(
    absl::Span<const std::string> argv, absl::Span<const CommandSpec> commands,
    absl::Span<const std::string> global_flags);

// "  --name=DEFAULT  help" lines for `flags`, wrapped to 80 columns.
std::string FlagsHelp(absl::Span<const std::string> flags);

}  // namespace nn

#endif  // NNSERVE_CLIENT_CLI_H_
