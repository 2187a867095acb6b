#include "client/cli.h"

#include <algorithm>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace nn {
namespace {

const CommandSpec* FindCommand(absl::Span<const CommandSpec> commands,
                               absl::string_view name) {
  for (const CommandSpec& command : commands) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

bool Contains(absl::Span<const std::string> names, absl::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool IsHelpFlag(absl::string_view arg) {
  return arg == "--help" || arg == "-help" || arg == "-h" ||
         arg == "--helpfull" || arg == "--helpshort";
}

}  // namespace

absl::StatusOr<ParsedCommandLine> ParseCommandLine(
    absl::Span<const std::string> argv, absl::Span<const CommandSpec> commands,
    absl::Span<const std::string> global_flags) {
  ParsedCommandLine parsed;
  const CommandSpec* command = nullptr;
  bool flags_ended = false;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    const bool is_flag = !flags_ended && arg.size() > 1 && arg[0] == '-';
    if (!is_flag) {
      if (command != nullptr) {
        parsed.args.push_back(arg);
      } else if (arg == "help" && !parsed.help) {
        parsed.help = true;  // "help [COMMAND]"
      } else {
        command = FindCommand(commands, arg);
        if (command == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown command \"", arg, "\""));
        }
        parsed.command = arg;
      }
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    if (IsHelpFlag(arg)) {
      parsed.help = true;
      continue;
    }
    absl::string_view body = absl::StripPrefix(absl::StripPrefix(arg, "-"), "-");
    std::pair<absl::string_view, absl::string_view> name_value =
        absl::StrSplit(body, absl::MaxSplits('=', 1));
    std::string name(name_value.first);
    const bool has_value = absl::StrContains(body, '=');
    std::string value(name_value.second);

    auto accepts = [&](absl::string_view flag) {
      return Contains(global_flags, flag) ||
             (command != nullptr && Contains(command->flags, flag));
    };
    absl::CommandLineFlag* flag = nullptr;
    if (accepts(name)) {
      flag = absl::FindCommandLineFlag(name);
    } else if (absl::StartsWith(name, "no") && !has_value &&
               accepts(name.substr(2))) {
      // --noname for a boolean.
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && flag->IsOfType<bool>()) {
        name = name.substr(2);
        value = "false";
      } else {
        flag = nullptr;
      }
    }
    if (flag == nullptr) {
      const std::string where =
          command == nullptr ? "before a command"
                             : absl::StrCat("by \"", command->name, "\"");
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (not accepted ", where, ")"));
    }
    if (!has_value && value.empty()) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argv.size()) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value for --", name, ": ", error));
    }
    parsed.given.insert(name);
  }
  return parsed;
}

std::string FlagsHelp(absl::Span<const std::string> flags) {
  std::string out;
  for (const std::string& name : flags) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::string head = absl::StrCat("  --", name);
    const std::string default_value = flag->DefaultValue();
    if (flag->IsOfType<bool>()) {
      if (default_value == "true") absl::StrAppend(&head, " (default true)");
    } else if (!default_value.empty()) {
      absl::StrAppend(&head, "=", default_value);
    } else {
      absl::StrAppend(&head, "=...");
    }
    absl::StrAppend(&out, head, "\n");
    // The help text, wrapped at 80 columns, indented by 6.
    std::string line = "      ";
    for (absl::string_view word :
         absl::StrSplit(flag->Help(), ' ', absl::SkipEmpty())) {
      if (line.size() + word.size() + 1 > 80 && line.size() > 6) {
        absl::StrAppend(&out, line, "\n");
        line = "      ";
      }
      if (line.size() > 6) line += ' ';
      absl::StrAppend(&line, word);
    }
    if (line.size() > 6) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace nn
