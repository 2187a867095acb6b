// Replays fuzzing inputs through the fuzz targets' bodies (the same functions
// the libFuzzer binaries call, tests/fuzz/fuzz_targets.h), in every build:
// - the seed corpora are real, valid inputs, each accepted by its target (so
//   the fuzzers start from meaningful files and the targets are wired up);
// - every input in tests/robustness/fuzz_regressions/<target>/ (inputs that
//   once crashed) is handled without a crash;
// - mutations of every seed (truncations and bit flips) never crash, a short
//   deterministic stand-in for the fuzzers where libFuzzer is unavailable.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

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

TEST_F(FuzzReplayTest, RecordedCrashInputsAreHandled) {
  namespace fs = std::filesystem;
  int replayed = 0;
  for (const FuzzTarget& target : AllFuzzTargets()) {
    const fs::path dir = fs::path("tests/robustness/fuzz_regressions") /
                         target.name;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      SCOPED_TRACE(entry.path().string());
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream bytes;
      bytes << in.rdbuf();
      Feed(target, bytes.str());  // must return (not crash or abort)
      ++replayed;
    }
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
