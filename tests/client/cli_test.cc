#include "client/cli.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::string, cli_target, "localhost:1", "Where to connect.");
ABSL_FLAG(int, cli_count, 3, "How many.");
ABSL_FLAG(bool, cli_json, false, "Print JSON.");
ABSL_FLAG(absl::Duration, cli_wait, absl::Seconds(1), "How long.");

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"run", "[flags] FILE...", "runs", "", {"cli_count", "cli_json"}},
      {"wait", "", "waits", "", {"cli_wait"}},
  };
  return *commands;
}
const std::vector<std::string> kGlobal = {"cli_target"};

class CliTest : public ::testing::Test {
 protected:
  absl::StatusOr<ParsedCommandLine> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    return ParseCommandLine(args, Commands(), kGlobal);
  }
  // Restores every flag's value after each test.
  absl::FlagSaver saver_;
};

TEST_F(CliTest, ParsesGlobalAndCommandFlagsInAnyOrder) {
  absl::StatusOr<ParsedCommandLine> cl =
      Parse({"--cli_target=h:2", "run", "a.png", "--cli_count", "7",
             "--cli_json", "b.png"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->command, "run");
  EXPECT_THAT(cl->args, ElementsAre("a.png", "b.png"));
  EXPECT_FALSE(cl->help);
  EXPECT_EQ(cl->given, (std::set<std::string>{"cli_target", "cli_count",
                                              "cli_json"}));
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_target), "h:2");
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_count), 7);
  EXPECT_TRUE(absl::GetFlag(FLAGS_cli_json));
}

TEST_F(CliTest, GlobalFlagsMayFollowTheCommandAndOneDashWorks) {
  absl::StatusOr<ParsedCommandLine> cl =
      Parse({"wait", "-cli_target=x:1", "--cli_wait=250ms"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_target), "x:1");
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_wait), absl::Milliseconds(250));
}

TEST_F(CliTest, BooleansTakeNoPrefixAndExplicitValues) {
  ASSERT_TRUE(Parse({"run", "--cli_json=true", "--nocli_json"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_cli_json));
  ASSERT_TRUE(Parse({"run", "--cli_json=1"}).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_cli_json));
}

TEST_F(CliTest, DoubleDashEndsFlags) {
  absl::StatusOr<ParsedCommandLine> cl = Parse({"run", "--", "--cli_json"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_THAT(cl->args, ElementsAre("--cli_json"));
  EXPECT_FALSE(absl::GetFlag(FLAGS_cli_json));
}

TEST_F(CliTest, RejectsFlagsOfOtherCommandsAndUnknownOnes) {
  absl::StatusOr<ParsedCommandLine> other = Parse({"wait", "--cli_count=2"});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(),
              HasSubstr("unknown flag --cli_count (not accepted by \"wait\")"));
  EXPECT_THAT(Parse({"--cli_count=2", "run"}).status().message(),
              HasSubstr("not accepted before a command"));
  EXPECT_THAT(Parse({"run", "--bogus"}).status().message(),
              HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(Parse({"explode"}).status().message(),
              HasSubstr("unknown command \"explode\""));
}

TEST_F(CliTest, RejectsBadAndMissingValues) {
  EXPECT_THAT(Parse({"run", "--cli_count=many"}).status().message(),
              HasSubstr("bad value for --cli_count"));
  EXPECT_THAT(Parse({"run", "--cli_count"}).status().message(),
              HasSubstr("--cli_count needs a value"));
  EXPECT_THAT(Parse({"wait", "--cli_wait=soon"}).status().message(),
              HasSubstr("bad value for --cli_wait"));
}

TEST_F(CliTest, RecognisesEveryWayToAskForHelp) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"help", "run"}, {"run", "--help"}, {"--help", "run"},
           {"run", "-h"}}) {
    absl::StatusOr<ParsedCommandLine> cl = Parse(args);
    ASSERT_TRUE(cl.ok()) << cl.status();
    EXPECT_TRUE(cl->help);
    EXPECT_EQ(cl->command, "run");
  }
  absl::StatusOr<ParsedCommandLine> general = Parse({"help"});
  ASSERT_TRUE(general.ok());
  EXPECT_TRUE(general->help);
  EXPECT_EQ(general->command, "");
}

TEST_F(CliTest, FlagsHelpShowsDefaultsAndHelpText) {
  const std::string help = FlagsHelp({"cli_target", "cli_json", "cli_count"});
  EXPECT_EQ(help,
            "  --cli_target=localhost:1\n"
            "      Where to connect.\n"
            "  --cli_json\n"
            "      Print JSON.\n"
            "  --cli_count=3\n"
            "      How many.\n");
}

}  // namespace
}  // namespace nn
