// Faults around the model repository: a writer killed (SIGKILL) mid-write, a
// model directory or the whole repository deleted or made unreadable while
// serving, and a full disk (a file-size limit, and a real full tmpfs) while
// writing a model file. What must hold: no partial file is ever loaded, a
// restart serves the newest whole version, loaded versions keep serving,
// errors are reported, and a failed write leaves the old file intact.
//
// The writer is tests/robustness/model_writer.cc, a child process, so that
// SIGKILL and resource limits hit it and not the test.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/robustness/robustness_util.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/temp_dir.h"

namespace nn::robustness {
namespace {

namespace fs = std::filesystem;
using ::nnserve::v1::PredictResponse;
using ::testing::HasSubstr;

std::string Helper() { return testing::BinDir() + "/model_writer"; }

struct RunResult {
  int exit_code = -1;
  std::string out;
};

// Runs `argv` to completion (at most 120 s).
RunResult RunToEnd(const std::vector<std::string>& argv, const testing::TempDir& scratch) {
  const std::string out = scratch.Join("run.out");
  const pid_t pid = testing::Spawn(argv, out, out);
  EXPECT_GT(pid, 0) << argv[0];
  RunResult run;
  if (pid <= 0) return run;
  run.exit_code = testing::WaitFor(pid, std::chrono::seconds(120));
  run.out = testing::ReadFileOrEmpty(out);
  return run;
}

// Spawns `argv`, lets it run `delay`, then SIGKILLs it; its output so far.
std::string RunAndKill(const std::vector<std::string>& argv,
                       std::chrono::microseconds delay,
                       const testing::TempDir& scratch) {
  const std::string out = scratch.Join("killed.out");
  const pid_t pid = testing::Spawn(argv, out, out);
  EXPECT_GT(pid, 0) << argv[0];
  if (pid <= 0) return "";
  std::this_thread::sleep_for(delay);
  ::kill(pid, SIGKILL);
  testing::WaitFor(pid, std::chrono::seconds(30));
  return testing::ReadFileOrEmpty(out);
}

// Spec and parameters of the tutorial MLP with weights from `seed`, the way
// model_writer makes them.
std::string ExpectedContents(int64_t seed) {
  absl::StatusOr<std::shared_ptr<const Model>> model =
      testing::MakeModel("mnist_mlp", static_cast<uint64_t>(seed));
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return "";
  const nnserve::v1::SavedModel saved = (*model)->ToSavedModel();
  nnserve::v1::SavedModel contents;
  *contents.mutable_spec() = saved.spec();
  *contents.mutable_parameters() = saved.parameters();
  return contents.SerializeAsString();
}

// Entries of `dir`, sorted.
std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Kill points for a writer: uniform over the time one model_writer takes to
// start and write six files (measured here, so that sanitizer builds and
// loaded machines get the same spread over start-up, serialisation, write,
// fsync and rename), from a fixed seed. Six, not three: under TSan on a
// loaded CI machine the killed runs started slower than the calibration run
// and all 16 kills of a three-file span landed before the first file.
class KillPoints {
 public:
  KillPoints(uint32_t seed, const testing::TempDir& scratch) : rng_(seed) {
    testing::TempDir dir;
    const auto start = std::chrono::steady_clock::now();
    const RunResult run = RunToEnd(
        {Helper(), "write-versions", dir.path(), "m", "1", "6"}, scratch);
    EXPECT_EQ(run.exit_code, 0) << run.out;
    span_ = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
  }
  std::chrono::microseconds Next() {
    return std::chrono::microseconds(
        std::uniform_int_distribution<int64_t>(0, span_.count())(rng_));
  }

 private:
  std::mt19937 rng_;
  std::chrono::microseconds span_;
};

TEST(FaultTest, SigkillDuringModelWritesLeavesOnlyWholeFilesAndRestartServesTheNewest) {
  testing::TempDir repo, scratch;
  KillPoints kill_points(20240607, scratch);
  int64_t next_version = 1;
  constexpr int kRounds = 16;
  for (int round = 0; round < kRounds; ++round) {
    RunAndKill({Helper(), "write-versions", repo.path(), "digits",
                absl::StrCat(next_version), "1000"},
               kill_points.Next(), scratch);
    // The next round starts after every version directory that exists.
    for (const std::string& name : List(repo.Join("digits"))) {
      int64_t v = 0;
      if (absl::SimpleAtoi(name, &v)) next_version = std::max(next_version, v + 1);
    }
  }

  // Every model.nnm is whole and holds the model of its version; anything
  // else is a temporary file that WriteModelFile names as such.
  int64_t whole = 0, newest = 0, leftovers = 0;
  for (const std::string& version : List(repo.Join("digits"))) {
    int64_t v = 0;
    ASSERT_TRUE(absl::SimpleAtoi(version, &v)) << version;
    for (const std::string& name : List(repo.Join("digits/" + version))) {
      if (name == "model.nnm") {
        const std::string path = repo.Join("digits/" + version + "/model.nnm");
        absl::StatusOr<nnserve::v1::SavedModel> saved = ReadModelFile(path);
        ASSERT_TRUE(saved.ok()) << saved.status();
        nnserve::v1::SavedModel contents;
        *contents.mutable_spec() = saved->spec();
        *contents.mutable_parameters() = saved->parameters();
        EXPECT_EQ(contents.SerializeAsString(), ExpectedContents(v)) << path;
        ++whole;
        newest = std::max(newest, v);
      } else {
        EXPECT_TRUE(IsTemporaryModelFileName(name)) << version << "/" << name;
        ++leftovers;
      }
    }
  }
  std::cout << "[ metric ] " << kRounds << " writers killed: " << whole
            << " whole files, " << leftovers
            << " temporary files left behind (ignored by the server)\n";
  ASSERT_GT(whole, 0) << "no writer lived long enough to write a file";

  // A server started on what is left serves the newest whole version and
  // lists no failed version.
  testing::WriteFileOrDie(repo.Join("digits/config.textproto"),
                          "version_policy { latest { num_versions: 3 } }");
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
      testing::ServerProcess::Start({.args = {"--model_repository=" + repo.path()}});
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Stub> stub = NewStub((*server)->target());
  nnserve::v1::ModelInfoResponse info;
  ASSERT_TRUE(ModelInfo(*stub, "digits", 0, &info).ok());
  EXPECT_EQ(info.model().default_version(), newest);
  for (const auto& version : info.model().versions()) {
    EXPECT_EQ(version.state(), nnserve::v1::VERSION_STATE_AVAILABLE)
        << version.version() << ": " << version.error();
    EXPECT_FALSE(absl::StrContains(version.path(), ".tmp")) << version.path();
  }
  absl::StatusOr<testing::TestImages> images = testing::LoadTestDigits(1);
  ASSERT_TRUE(images.ok());
  PredictResponse response;
  ASSERT_TRUE(Predict(*stub, PixelRequest("digits", *images, 1), &response).ok());
  EXPECT_EQ(response.version(), newest);
}

TEST(FaultTest, SigkillWhileReplacingAFileLeavesTheOldOrTheNewOneWhole) {
  testing::TempDir dir, scratch;
  const std::string path = dir.Join("m/1/model.nnm");
  ASSERT_EQ(RunToEnd({Helper(), "write-one", path, "1"}, scratch).exit_code, 0);
  KillPoints kill_points(7, scratch);
  std::set<std::string> seen;
  for (int round = 0; round < 12; ++round) {
    RunAndKill({Helper(), "rewrite", path, "1000"}, kill_points.Next(),
               scratch);
    const RunResult check = RunToEnd({Helper(), "check", path, "1", "2"}, scratch);
    ASSERT_EQ(check.exit_code, 0) << "round " << round << ": " << check.out;
    seen.insert(check.out);
  }
  std::cout << "[ metric ] replaced file after kills held " << seen.size()
            << " distinct whole models\n";
}

TEST(FaultTest, FileSizeLimitFailsTheWriteClearlyAndKeepsTheOldFile) {
  testing::TempDir dir, scratch;
  const std::string path = dir.Join("m/1/model.nnm");
  ASSERT_EQ(RunToEnd({Helper(), "write-one", path, "1"}, scratch).exit_code, 0);
  // 64 KB: the ~400 KB model cannot be written (EFBIG, as on a full disk).
  const RunResult write =
      RunToEnd({Helper(), "write-one", path, "2", "65536"}, scratch);
  EXPECT_EQ(write.exit_code, 3) << write.out;
  EXPECT_THAT(write.out, HasSubstr("File too large"));
  EXPECT_THAT(write.out, HasSubstr(dir.Join("m/1/")));  // names the file
  const RunResult check = RunToEnd({Helper(), "check", path, "1", "2"}, scratch);
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_THAT(check.out, HasSubstr("seed 1"));
  // The temporary file was removed: a full disk is not made fuller.
  EXPECT_THAT(List(dir.Join("m/1")), ::testing::ElementsAre("model.nnm"));
}

TEST(FaultTest, FullFileSystemFailsTheWriteClearlyAndKeepsTheOldFile) {
  // A 600 KB tmpfs in a private mount namespace (gone with the shell): room
  // for one ~400 KB model file but not for a second one beside it.
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no unshare";
  testing::TempDir dir, scratch;
  const std::string script = absl::StrCat(
      "mount -t tmpfs -o size=600k tmpfs \"$1\" || exit 100\n"
      "\"$2\" write-one \"$1/m/1/model.nnm\" 1 || exit 101\n"
      "\"$2\" write-one \"$1/m/1/model.nnm\" 2; echo \"write exit $?\"\n"
      "\"$2\" check \"$1/m/1/model.nnm\" 1 2; echo \"check exit $?\"\n"
      "ls -A \"$1/m/1\"\n");
  const RunResult run = RunToEnd({"/usr/bin/unshare", "--mount", "--propagation",
                            "private", "/bin/sh", "-c", script, "sh",
                            dir.path(), Helper()},
                           scratch);
  if (run.exit_code == 100 || run.exit_code == -1 ||
      absl::StrContains(run.out, "unshare failed")) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << run.out;
  }
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_THAT(run.out, HasSubstr("No space left on device"));
  EXPECT_THAT(run.out, HasSubstr("write exit 3"));
  EXPECT_THAT(run.out, HasSubstr("seed 1\ncheck exit 0"));
  // Only the old file: the partial temporary file was removed.
  EXPECT_THAT(run.out, ::testing::EndsWith("check exit 0\nmodel.nnm\n"));
}

// --- The repository changing under a running server ---------------------

class RepositoryFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestImages> images = testing::LoadTestDigits(1);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }

  void Serve(const std::string& binary = "nnserve") {
    ServeOptions options;
    options.models = {{"a", "mnist_mlp"}, {"b", "mnist_mlp"}};
    options.flags = {"--repository_poll_interval=100ms"};
    options.binary = binary;
    absl::StatusOr<ServedRepository> served = ServeRepository(options);
    ASSERT_TRUE(served.ok()) << served.status();
    served_ = *std::move(served);
    stub_ = NewStub(served_.server->target());
  }

  // The version that answers a Predict of `model`, or -code on failure.
  int64_t ServedVersion(const std::string& model) {
    PredictResponse response;
    const grpc::Status status =
        Predict(*stub_, PixelRequest(model, images_, 1), &response);
    return status.ok() ? response.version() : -status.error_code();
  }

  // Whether the server's log comes to contain every one of `parts` (within
  // 10 s, scaled); the log is printed if not.
  bool LogShows(const std::vector<std::string>& parts) {
    const bool shown = Eventually(
        [&] {
          const std::string log = served_.server->Log();
          return std::all_of(parts.begin(), parts.end(), [&](const auto& part) {
            return absl::StrContains(log, part);
          });
        },
        Scaled(absl::Seconds(10)));
    if (!shown) ADD_FAILURE() << "log:\n" << served_.server->Log();
    return shown;
  }

  // Waits until a poll has seen that model `name`'s directory is gone (the
  // repository logs it once), so that what the test checks next happened
  // after that poll.
  bool PollSawDirectoryGone(const std::string& name) {
    return LogShows(
        {absl::StrCat("model directory ", served_.repo->Join(name), " is gone")});
  }

  // Publishes a new version of `model` and waits until it is served: the
  // poller still works.
  void ExpectNewVersionIsPickedUp(const std::string& model, int64_t version) {
    absl::StatusOr<std::shared_ptr<const Model>> m =
        testing::MakeModel("mnist_mlp", static_cast<uint64_t>(40 + version));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(
        testing::PublishModel(served_.repo->path(), model, version, **m).ok());
    EXPECT_TRUE(Eventually([&] { return ServedVersion(model) == version; },
                           Scaled(absl::Seconds(20))))
        << served_.server->Log();
  }

  ServedRepository served_;
  std::unique_ptr<Stub> stub_;
  testing::TestImages images_;
};

// A deleted model directory is reported in the log (and LastPollError) and
// keeps its loaded versions serving.
TEST_F(RepositoryFaultTest, DeletedModelDirectoryIsReportedAndKeepsServing) {
  Serve();
  ASSERT_EQ(ServedVersion("b"), 1);
  fs::remove_all(served_.repo->Join("b"));
  ASSERT_TRUE(PollSawDirectoryGone("b"));
  EXPECT_EQ(ServedVersion("b"), 1) << served_.server->Log();
  EXPECT_EQ(ServedVersion("a"), 1);
  EXPECT_EQ(CheckHealth(served_.server->target()), 1);
  ExpectNewVersionIsPickedUp("a", 2);
}

TEST_F(RepositoryFaultTest, DeletedRepositoryKeepsServingIsReportedAndRecovers) {
  Serve();
  testing::TempDir scratch;
  const std::string moved = scratch.Join("moved");
  fs::rename(served_.repo->path(), moved);
  EXPECT_TRUE(
      LogShows({"model repository scan failed", served_.repo->path()}));
  EXPECT_EQ(ServedVersion("a"), 1);
  EXPECT_EQ(ServedVersion("b"), 1);
  EXPECT_EQ(CheckHealth(served_.server->target()), 1);
  // The directory comes back: polling resumes.
  fs::rename(moved, served_.repo->path());
  ExpectNewVersionIsPickedUp("b", 2);
}

TEST_F(RepositoryFaultTest, ModelDirectoryReplacedByAFileKeepsServing) {
  Serve();
  fs::remove_all(served_.repo->Join("b"));
  testing::WriteFileOrDie(served_.repo->Join("b"), "not a directory");
  ASSERT_TRUE(PollSawDirectoryGone("b"));
  EXPECT_EQ(ServedVersion("b"), 1) << served_.server->Log();
  ExpectNewVersionIsPickedUp("a", 2);
}

// Tests run as root here, and root reads through chmod 000. nnserve is run
// through tests/robustness/without_dac_override.sh instead, which drops the
// capabilities that let root ignore file permissions.
class UnreadableRepositoryTest : public RepositoryFaultTest {
 protected:
  void SetUp() override {
    RepositoryFaultTest::SetUp();
    if (::geteuid() != 0) return;  // permissions already apply
    const RunResult probe = RunToEnd(
        {"/usr/bin/setpriv", "--bounding-set=-dac_override,-dac_read_search",
         "/bin/true"},
        scratch_);
    if (probe.exit_code != 0) {
      GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here: " << probe.out;
    }
  }
  static std::string Binary() {
    return ::geteuid() == 0
               // Relative to the repository root, the tests' working directory.
               ? "tests/robustness/without_dac_override.sh"
               : "nnserve";
  }
  testing::TempDir scratch_;
};

TEST_F(UnreadableRepositoryTest, UnreadableModelDirectoryKeepsServingAndIsReported) {
  Serve(Binary());
  ASSERT_EQ(ServedVersion("b"), 1) << served_.server->Log();
  ASSERT_EQ(::chmod(served_.repo->Join("b").c_str(), 0), 0);
  EXPECT_TRUE(LogShows({"cannot scan model b", "Permission denied"}));
  EXPECT_EQ(ServedVersion("b"), 1);
  ExpectNewVersionIsPickedUp("a", 2);
  ASSERT_EQ(::chmod(served_.repo->Join("b").c_str(), 0755), 0);
  ExpectNewVersionIsPickedUp("b", 2);
}

TEST_F(UnreadableRepositoryTest, UnreadableRepositoryKeepsServingAndIsReported) {
  Serve(Binary());
  ASSERT_EQ(ServedVersion("a"), 1) << served_.server->Log();
  ASSERT_EQ(::chmod(served_.repo->path().c_str(), 0), 0);
  EXPECT_TRUE(
      LogShows({"model repository scan failed", "Permission denied"}));
  EXPECT_EQ(ServedVersion("a"), 1);
  EXPECT_EQ(ServedVersion("b"), 1);
  ASSERT_EQ(::chmod(served_.repo->path().c_str(), 0700), 0);
  ExpectNewVersionIsPickedUp("a", 2);
}

}  // namespace
}  // namespace nn::robustness
