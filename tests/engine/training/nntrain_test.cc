// build/bin/nntrain end to end: a small real-digit data set written as IDX
// files, the text and JSON outputs, the model file, and one-line errors
// with non-zero exits.
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/training/training_test_util.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::nn::testing::Mnist;
using ::nn::testing::ReadFileOrDie;
using ::nn::testing::SpreadSubset;
using ::nn::testing::TempDir;
using ::nn::testing::WriteFileOrDie;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string BigEndian32(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

// Writes `images` as DIR/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte.
void WriteIdx(const std::string& dir, const std::string& prefix,
              const ImageSet& images) {
  const uint32_t count = static_cast<uint32_t>(images.count);
  WriteFileOrDie(
      dir + "/" + prefix + "-images-idx3-ubyte",
      absl::StrCat(BigEndian32(0x803), BigEndian32(count),
                   BigEndian32(images.height), BigEndian32(images.width),
                   std::string(images.pixels.begin(), images.pixels.end())));
  WriteFileOrDie(
      dir + "/" + prefix + "-labels-idx1-ubyte",
      absl::StrCat(BigEndian32(0x801), BigEndian32(count),
                   std::string(images.labels.begin(), images.labels.end())));
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class NntrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("NNSERVE_BIN_DIR");
    binary_ = std::string(bin != nullptr ? bin : "build/bin") + "/nntrain";
    data_ = dir_.Join("mnist");  // the name picks the labels "0".."9"
    WriteIdx(data_, "train", SpreadSubset(Mnist().train, 300));
    WriteIdx(data_, "t10k", SpreadSubset(Mnist().test, 100));
  }

  Result Run(const std::string& args) {
    const std::string out = dir_.Join("stdout"), err = dir_.Join("stderr");
    const int status = std::system(
        absl::StrCat(binary_, " ", args, " >", out, " 2>", err, " </dev/null")
            .c_str());
    Result result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = ReadFileOrDie(out);
    result.err = ReadFileOrDie(err);
    return result;
  }

  std::string TrainArgs(const std::string& out) {
    return absl::StrCat("--spec=models/mnist_mlp.textproto --data=", data_,
                        " --epochs=2 --batch_size=50 --threads=1 --out=", out);
  }

  TempDir dir_;
  std::string binary_;
  std::string data_;
};

TEST_F(NntrainTest, TrainsAndWritesALoadableModelWithPlainLines) {
  const std::string out = dir_.Join("repo/mnist_mlp/1/model.nnm");
  testing::MakeDirs(dir_.Join("repo/mnist_mlp/1"));
  const Result result = Run(TrainArgs(out));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  const std::vector<std::string> lines =
      absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << result.out;
  EXPECT_THAT(lines[0], StartsWith("epoch 1/2: loss "));
  EXPECT_THAT(lines[0], HasSubstr("val_accuracy"));
  EXPECT_THAT(lines[1], StartsWith("epoch 2/2: loss "));
  EXPECT_THAT(lines[2], StartsWith("wrote " + out + ": test_loss "));

  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModel(out);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->labels(),
            std::vector<std::string>({"0", "1", "2", "3", "4", "5", "6", "7",
                                      "8", "9"}));
  ASSERT_EQ((*model)->history().size(), 1);
  EXPECT_EQ((*model)->history()[0].dataset(), "mnist");
  EXPECT_EQ((*model)->history()[0].train_examples(), 300);
  EXPECT_EQ((*model)->history()[0].config().batch_size(), 50);
  EXPECT_EQ((*model)->ToSavedModel().producer(), "nntrain 0.1");
}

TEST_F(NntrainTest, JsonPrintsOneObjectPerEpochAndAFinalOne) {
  const Result result = Run(TrainArgs(dir_.Join("m.nnm")) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines =
      absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << result.out;
  EXPECT_THAT(lines[0], StartsWith("{\"epoch\":1,\"epochs\":2,\"loss\":"));
  EXPECT_THAT(lines[0], HasSubstr("\"val_accuracy\":"));
  EXPECT_THAT(lines[1], StartsWith("{\"epoch\":2,"));
  EXPECT_THAT(lines[2], StartsWith("{\"done\":true,"));
  EXPECT_THAT(lines[2], HasSubstr("\"test_accuracy\":0."));
  EXPECT_THAT(lines[2], HasSubstr("\"test_loss\":"));
  EXPECT_THAT(lines[2], HasSubstr("\"total_seconds\":"));
}

TEST_F(NntrainTest, FineTunesAnExistingModel) {
  const std::string first = dir_.Join("first.nnm");
  ASSERT_EQ(Run(TrainArgs(first)).exit_code, 0);
  const Result result =
      Run(absl::StrCat("--base=", first, " --data=", data_,
                       " --epochs=1 --threads=1 --out=", dir_.Join("second.nnm")));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  absl::StatusOr<std::shared_ptr<const Model>> model =
      LoadModel(dir_.Join("second.nnm"));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->history().size(), 2);
}

TEST_F(NntrainTest, TrainDefaultModelsTrainsOnlyWhatIsMissing) {
  // mnist_cnn and mnist_rnn are there (any bytes: the script only checks
  // that the files exist), so only the MLP trains (a second on the digits).
  const std::string repo = dir_.Join("repo");
  WriteFileOrDie(repo + "/mnist_cnn/1/model.nnm", "cnn");
  WriteFileOrDie(repo + "/mnist_rnn/1/model.nnm", "rnn");
  const std::string script = absl::StrCat(
      "NNTRAIN=", binary_, " scripts/train-default-models.sh ", repo, " >",
      dir_.Join("script.out"), " 2>&1");
  ASSERT_EQ(std::system(script.c_str()), 0)
      << ReadFileOrDie(dir_.Join("script.out"));
  absl::StatusOr<std::shared_ptr<const Model>> model =
      LoadModel(repo + "/mnist_mlp/1/model.nnm");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->labels()[9], "9");
  EXPECT_EQ((*model)->history()[0].dataset(), "mnist");
  EXPECT_EQ((*model)->history()[0].epochs_size(), 3);
  EXPECT_EQ(ReadFileOrDie(repo + "/mnist_cnn/1/model.nnm"), "cnn");
  // All three there: nothing to do, nothing printed (and no nntrain needed).
  ASSERT_EQ(std::system(absl::StrCat("NNTRAIN=/nonexistent "
                                     "scripts/train-default-models.sh ",
                                     repo, " >", dir_.Join("script.out"),
                                     " 2>&1")
                            .c_str()),
            0);
  EXPECT_EQ(ReadFileOrDie(dir_.Join("script.out")), "");
}

TEST_F(NntrainTest, ErrorsAreOneLineWithANonZeroExit) {
  struct Case {
    std::string args;
    std::string message;
  };
  const std::string spec = "--spec=models/mnist_mlp.textproto";
  const std::string out = " --out=" + dir_.Join("x.nnm");
  WriteFileOrDie(dir_.Join("bad.textproto"), "layers { dense { units: -3 } }");
  WriteFileOrDie(dir_.Join("garbage.textproto"), "layers { what");
  const Case cases[] = {
      {spec + " --data=" + data_, "--out is required"},
      {spec + out, "--data is required"},
      {"--data=" + data_ + out, "give either --spec"},
      {spec + " --data=" + dir_.Join("nowhere") + out, "nowhere"},
      {spec + " --data=" + data_ + out + " --optimizer=adagrad",
       "--optimizer: unknown optimizer"},
      {spec + " --data=" + data_ + out + " --learning_rate=-1",
       "config.learning_rate: must be > 0"},
      {spec + " --data=" + data_ + out + " --epochs=0", "--epochs"},
      {"--spec=" + dir_.Join("bad.textproto") + " --data=" + data_ + out,
       "units"},
      {"--spec=" + dir_.Join("garbage.textproto") + " --data=" + data_ + out,
       "not a ModelSpec in text format: line 1"},
      {"--spec=models/none.textproto --data=" + data_ + out, "cannot open"},
      {spec + " --data=" + data_ + " --out=" + dir_.Join("no/such/dir/m.nnm"),
       "no/such/dir"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const Result result = Run(c.args);
    EXPECT_EQ(result.exit_code, 1);
    const std::vector<std::string> lines =
        absl::StrSplit(result.err, '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), 1u) << result.err;
    EXPECT_THAT(lines[0], StartsWith("nntrain: "));
    EXPECT_THAT(lines[0], HasSubstr(c.message));
  }
  EXPECT_NE(Run("--no_such_flag=1").exit_code, 0);
  EXPECT_EQ(Run(spec + " stray").exit_code, 2);
}

}  // namespace
}  // namespace nn
