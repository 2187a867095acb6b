// Replays fuzzing inputs through the fuzz targets' bodies (the same functions
// the libFuzzer binaries call, tests/fuzz/fuzz_targets.h), in every build:
// - the seed corpora are real, valid inputs, each accepted by its target (so
//   the fuzzers start from meaningful files and the targets are wired up);
// - every input in tests/robustness/fuzz_regressions/<target>/ (inputs that
//   once crashed a target, and hand-made hostile inputs) is handled without a
//   crash and gives the result its file name records;
// - mutations of every seed (truncations and bit flips) never crash, a short
//   deterministic stand-in for the fuzzers where libFuzzer is unavailable.
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/file.h"
#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/seed_corpus.h"

namespace nn::fuzz {
namespace {

bool Feed(const FuzzTarget& target, const std::string& input) {
  return target.function(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
}

class FuzzReplayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto corpora = MakeSeedCorpora();
    ASSERT_TRUE(corpora.ok()) << corpora.status();
    corpora_ = new std::map<std::string, std::vector<std::string>>(
        *std::move(corpora));
  }
  static void TearDownTestSuite() { delete corpora_; }
  void SetUp() override { ASSERT_NE(corpora_, nullptr); }

  static std::map<std::string, std::vector<std::string>>* corpora_;
};
std::map<std::string, std::vector<std::string>>* FuzzReplayTest::corpora_ =
    nullptr;

TEST_F(FuzzReplayTest, EveryTargetHasSeedsAndAcceptsEachOfThem) {
  for (const FuzzTarget& target : AllFuzzTargets()) {
    SCOPED_TRACE(target.name);
    const std::vector<std::string>& seeds = (*corpora_)[target.name];
    EXPECT_GE(seeds.size(), 2u);
    for (size_t i = 0; i < seeds.size(); ++i) {
      EXPECT_TRUE(Feed(target, seeds[i])) << "seed " << i;
    }
  }
}

TEST_F(FuzzReplayTest, EmptyInputIsRejectedByEveryTarget) {
  for (const FuzzTarget& target : AllFuzzTargets()) {
    EXPECT_FALSE(Feed(target, "")) << target.name;
  }
}

// Every file in fuzz_regressions/<target>/ is named <expected>-<what>, with
// <expected> "accepted" or "rejected" (README.md there): each is replayed
// and must give that result. Every target has at least one recorded input,
// so the replay cannot pass on an empty or misplaced folder.
TEST_F(FuzzReplayTest, RecordedRegressionInputsGiveTheirRecordedResult) {
  namespace fs = std::filesystem;
  const fs::path root = "tests/robustness/fuzz_regressions";
  ASSERT_TRUE(fs::is_directory(root))
      << "run from the repository root (CTest does)";
  int replayed = 0;
  for (const FuzzTarget& target : AllFuzzTargets()) {
    SCOPED_TRACE(target.name);
    int replayed_here = 0;
    const fs::path dir = root / target.name;
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      SCOPED_TRACE(name);
      const bool expect_accepted = name.rfind("accepted-", 0) == 0;
      if (!expect_accepted && name.rfind("rejected-", 0) != 0) {
        ADD_FAILURE() << "name does not start with accepted- or rejected-";
        continue;
      }
      absl::StatusOr<std::string> bytes = ReadFile(entry.path().string());
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      ASSERT_FALSE(bytes->empty());
      // A crash or an abort on a broken invariant ends the test binary.
      EXPECT_EQ(Feed(target, *bytes), expect_accepted);
      ++replayed_here;
    }
    EXPECT_GT(replayed_here, 0) << "no recorded input for this target";
    replayed += replayed_here;
  }
  std::cout << "[ metric ] replayed " << replayed << " regression inputs\n";
}

TEST_F(FuzzReplayTest, TruncatedAndBitFlippedSeedsNeverCrash) {
  std::mt19937 rng(10);
  int accepted = 0, total = 0;
  for (const FuzzTarget& target : AllFuzzTargets()) {
    SCOPED_TRACE(target.name);
    for (const std::string& seed : (*corpora_)[target.name]) {
      // Every truncation of small seeds; a sample of larger ones.
      const size_t step = std::max<size_t>(1, seed.size() / 64);
      for (size_t n = 0; n < seed.size(); n += step) {
        accepted += Feed(target, seed.substr(0, n));
        ++total;
      }
      for (int flip = 0; flip < 64 && !seed.empty(); ++flip) {
        std::string mutated = seed;
        const size_t at = rng() % mutated.size();
        mutated[at] = static_cast<char>(mutated[at] ^ (1 << (rng() % 8)));
        accepted += Feed(target, mutated);
        ++total;
      }
    }
  }
  std::cout << "[ metric ] " << total << " mutated inputs, " << accepted
            << " still accepted\n";
  EXPECT_GT(total, 500);
}

}  // namespace
}  // namespace nn::fuzz
