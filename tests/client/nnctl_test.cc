// End-to-end tests of the nnctl binary against grpc_ceiling_server (both
// found in $NNSERVE_BIN_DIR), started on 127.0.0.1 with an ephemeral port.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/data/idx.h"
#include "engine/data/pgm.h"
#include "engine/data/png.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace nn {
namespace {

using ::nn::testing::BinDir;
using ::nn::testing::ReadFileOrEmpty;
using ::nn::testing::RunResult;
using ::nn::testing::Spawn;
using ::nn::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Scratch(const std::string& name) {
  return ::nn::testing::ScratchPath(name);
}
std::string ReadFile(const std::string& path) { return ReadFileOrEmpty(path); }
RunResult Nnctl(const std::vector<std::string>& args) {
  return ::nn::testing::RunNnctl(args);
}

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok())
      << json;
  return parsed;
}

// A grpc_ceiling_server process for one test.
class CeilingServer {
 public:
  void Start() {
    port_file_ = Scratch("ceiling.port");
    stats_file_ = Scratch("ceiling.stats");
    std::remove(port_file_.c_str());
    std::remove(stats_file_.c_str());
    pid_ = Spawn({BinDir() + "/grpc_ceiling_server", "--port=0",
                  "--port_file=" + port_file_, "--stats_file=" + stats_file_},
                 Scratch("ceiling.out"), Scratch("ceiling.err"));
    ASSERT_GT(pid_, 0);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ReadFile(port_file_).empty()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "grpc_ceiling_server did not write its port: "
          << ReadFile(Scratch("ceiling.err"));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    target_ = absl::StrCat(
        "127.0.0.1:", absl::StripAsciiWhitespace(ReadFile(port_file_)));
  }

  // Stops the server with SIGTERM; returns the requests it counted.
  int64_t StopAndCountRequests() {
    kill(pid_, SIGTERM);
    EXPECT_EQ(WaitFor(pid_, std::chrono::seconds(10)), 0);
    pid_ = -1;
    // "requests N\nimages M\n"
    for (absl::string_view line : absl::StrSplit(ReadFile(stats_file_), '\n')) {
      int64_t count = 0;
      if (absl::ConsumePrefix(&line, "requests ") &&
          absl::SimpleAtoi(line, &count)) {
        return count;
      }
    }
    ADD_FAILURE() << "no request count in " << stats_file_;
    return -1;
  }

  ~CeilingServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitFor(pid_, std::chrono::seconds(10));
    }
  }

  std::string target_flag() const { return "--target=" + target_; }

 private:
  pid_t pid_ = -1;
  std::string port_file_;
  std::string stats_file_;
  std::string target_;
};

class NnctlTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }
  CeilingServer server_;
};

// The ceiling server answers class 0 for every image; the real digits'
// test file starts with 201 zeros, then ones.
TEST_F(NnctlTest, PredictsIdxImagesInEveryEncodingWithAccuracy) {
  for (const std::string encoding : {"uint8", "float", "png"}) {
    RunResult r = Nnctl({server_.target_flag(), "predict", "--model=mnist_mlp",
                         "--encoding=" + encoding, "--limit=5", "--batch=2",
                         "data/mnist/t10k-images-idx3-ubyte"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("t10k-images-idx3-ubyte[4]"));
    EXPECT_THAT(r.out, HasSubstr("model mnist_mlp version 1, 5 images, "
                                 "accuracy 1.0000 (5/5)\n"))
        << encoding;
    EXPECT_EQ(r.err, "");
  }
  RunResult one = Nnctl({server_.target_flag(), "predict", "--model=m",
                         "--index=201", "data/mnist/t10k-images-idx3-ubyte"});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("accuracy 0.0000 (0/1)"));
}

TEST_F(NnctlTest, PredictsPngAndPgmFilesWithTopKAndJson) {
  absl::StatusOr<IdxArray> digits =
      ReadIdxFile("data/mnist/t10k-images-idx3-ubyte");
  ASSERT_TRUE(digits.ok()) << digits.status();
  GrayImage digit{28, 28, {digits->data.begin(), digits->data.begin() + 784}};
  const std::string png = Scratch("digit.png");
  const std::string pgm = Scratch("digit.pgm");
  std::ofstream(png, std::ios::binary) << *EncodePng(digit);
  std::ofstream(pgm, std::ios::binary) << EncodePgm(digit);
  for (const std::string encoding : {"png", "uint8"}) {
    RunResult r = Nnctl({server_.target_flag(), "predict", "--model=m",
                         "--top_k=2", "--encoding=" + encoding, png, pgm});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("TOP_K"));
    EXPECT_THAT(r.out, HasSubstr("0:0.9550 9:0.0090"));
    EXPECT_THAT(r.out, HasSubstr("2 images\n"));
  }
  RunResult json = Nnctl({server_.target_flag(), "predict", "--model=m",
                          "--json", png});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  const google::protobuf::Struct parsed = ParseJson(json.out);
  const auto& prediction =
      parsed.fields().at("predictions").list_value().values(0).struct_value();
  EXPECT_EQ(prediction.fields().at("source").string_value(), png);
  EXPECT_EQ(prediction.fields().at("probabilities").list_value().values_size(),
            10);
}

TEST_F(NnctlTest, BenchRequestCountAgreesWithTheServer) {
  RunResult r = Nnctl({server_.target_flag(), "bench", "--model=m",
                       "--concurrency=1,4", "--duration=300ms",
                       "--warmup=100ms", "--encoding=float", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const google::protobuf::Struct parsed = ParseJson(r.out);
  int64_t sent = 1;  // the probe before the first level
  const auto& levels = parsed.fields().at("levels").list_value();
  ASSERT_EQ(levels.values_size(), 2);
  for (const auto& level : levels.values()) {
    const auto& fields = level.struct_value().fields();
    EXPECT_GT(fields.at("requests").number_value(), 0);
    EXPECT_EQ(fields.at("failed_requests").number_value(), 0);
    EXPECT_GT(fields.at("latency_us").struct_value().fields().at("p50")
                  .number_value(),
              0);
    sent += static_cast<int64_t>(fields.at("requests").number_value() +
                                 fields.at("warmup_requests").number_value());
  }
  EXPECT_EQ(server_.StopAndCountRequests(), sent);
}

TEST_F(NnctlTest, BenchPrintsTableAndCsvAndStopsAtMaxRequests) {
  RunResult table = Nnctl({server_.target_flag(), "bench", "--model=m",
                           "--concurrency=2", "--duration=60s", "--warmup=0s",
                           "--max_requests=50", "--images_per_request=3"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_LT(table.seconds, 30);
  EXPECT_THAT(table.out, HasSubstr("images/request 3"));
  EXPECT_THAT(table.out, HasSubstr("p99_us"));
  EXPECT_THAT(table.out, HasSubstr("\n          2        50       0 "));
  RunResult csv = Nnctl({server_.target_flag(), "bench", "--model=m",
                         "--concurrency=1", "--duration=60s", "--warmup=0s",
                         "--max_requests=20", "--csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.out, StartsWith("model,encoding,images_per_request,"));
  EXPECT_THAT(csv.out, HasSubstr("\nm,uint8,1,1,1,20,20,0,0,"));
  EXPECT_EQ(server_.StopAndCountRequests(), 1 + 50 + 1 + 20);
}

TEST_F(NnctlTest, MethodTheServerLacksIsAnRpcError) {
  RunResult r = Nnctl({server_.target_flag(), "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("nnctl: UNIMPLEMENTED: "));
  EXPECT_EQ(r.out, "");
}

TEST(NnctlDeadTargetTest, EveryCommandFailsFastWithOneLine) {
  const std::vector<std::vector<std::string>> commands = {
      {"list"},
      {"info", "--model=m"},
      {"health"},
      {"predict", "--model=m", "--index=0", "data/mnist/t10k-images-idx3-ubyte"},
      {"bench", "--model=m", "--duration=60s"},
      {"train", "--jobs"},
      {"train", "--model=m", "--epochs=1"},
  };
  // "Fast" is against the alternatives: waiting out the RPC timeout or the
  // bench duration (60 s each here). 10 s also holds for a process start on
  // a loaded 2-core machine (well under a second even there).
  for (std::vector<std::string> command : commands) {
    command.insert(command.begin(), "--timeout=60s");
    command.insert(command.begin(), "--target=127.0.0.1:1");
    RunResult r = Nnctl(command);
    EXPECT_EQ(r.exit_code, 1) << command[2] << ": " << r.err;
    EXPECT_LT(r.seconds, 10.0) << command[2];
    EXPECT_THAT(r.err, StartsWith("nnctl: UNAVAILABLE: ")) << command[2];
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(NnctlUsageTest, UsageAndLocalErrorsHaveTheirExitCodes) {
  RunResult unknown_flag = Nnctl({"list", "--top_k=3"});
  EXPECT_EQ(unknown_flag.exit_code, 2);
  EXPECT_THAT(unknown_flag.err,
              StartsWith("nnctl: INVALID_ARGUMENT: unknown flag --top_k"));
  EXPECT_EQ(Nnctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Nnctl({}).exit_code, 2);
  EXPECT_EQ(Nnctl({"predict", "x.png"}).exit_code, 2);  // no --model
  EXPECT_EQ(Nnctl({"bench", "--model=m", "--concurrency=1,x"}).exit_code, 2);
  EXPECT_EQ(Nnctl({"predict", "--model=m", "--encoding=jpeg", "x"}).exit_code,
            2);
  EXPECT_EQ(Nnctl({"train", "--jobs", "--epochs=3"}).exit_code, 2);
  EXPECT_EQ(Nnctl({"train", "--model=m", "--l2=0.01"}).exit_code, 2);

  RunResult missing = Nnctl({"predict", "--model=m", "no/such/file.png"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_EQ(missing.err,
            "nnctl: NOT_FOUND: no/such/file.png: no such file\n");
  RunResult bad_spec =
      Nnctl({"train", "--model=m", "--spec=data/mnist/t10k-labels-idx1-ubyte"});
  EXPECT_EQ(bad_spec.exit_code, 3);
  EXPECT_THAT(bad_spec.err, HasSubstr("not a nnserve.v1.ModelSpec"));
  RunResult bad_ca = Nnctl({"--tls_ca=no/such/ca.pem", "list"});
  EXPECT_EQ(bad_ca.exit_code, 3);
  EXPECT_THAT(bad_ca.err, HasSubstr("no/such/ca.pem"));
}

TEST(NnctlUsageTest, EveryCommandHasHelp) {
  RunResult main_help = Nnctl({"--help"});
  EXPECT_EQ(main_help.exit_code, 0);
  EXPECT_THAT(main_help.out, HasSubstr("exit codes:"));
  for (const std::string command :
       {"predict", "list", "info", "train", "health", "bench", "export"}) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"help", command},
                                               {command, "--help"}}) {
      RunResult r = Nnctl(args);
      EXPECT_EQ(r.exit_code, 0) << command;
      EXPECT_THAT(r.out, StartsWith("usage: nnctl " + command)) << command;
      EXPECT_THAT(r.out, HasSubstr("--target=localhost:50051"));
    }
  }
}

}  // namespace
}  // namespace nn
