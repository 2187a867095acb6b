// The model.onnx loader (server/onnx_loader.h): an ONNX file (here nnserve's
// own export of a tutorial network, so no generated fixture is needed) with
// or without a labels.txt beside it, and the repository serving it. The
// PyTorch exports are served end to end in tests/e2e/onnx_e2e_test.cc.
#include "server/onnx_loader.h"

#include <memory>
#include <string>

#include "common/clock.h"
#include "engine/onnx/onnx_export.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_repository.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class OnnxLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = testing::MakeModel("mnist_mlp", 2);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    auto bytes = ExportOnnx(model_->ToSavedModel());
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    testing::MakeDirs(dir_.Join("m/1"));
    testing::WriteFileOrDie(path(), *bytes);
  }
  std::string path() const { return dir_.Join("m/1/model.onnx"); }

  testing::TempDir dir_;
  std::shared_ptr<const Model> model_;
};

std::string Lines(const std::string& prefix, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += prefix + std::to_string(i) + "\r\n";
  return out + "\n\n";  // trailing empty lines are ignored
}

TEST_F(OnnxLoaderTest, LoadsTheFileAndSaysWhereItCameFrom) {
  absl::StatusOr<LoadedModel> loaded = LoadOnnxModel(path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(loaded->origin, StartsWith("ONNX (nnserve"));
  EXPECT_THAT(loaded->origin, HasSubstr("opset 13)"));
  EXPECT_FALSE(loaded->softmax_appended);
  EXPECT_EQ(loaded->model->total_parameters(), model_->total_parameters());
  EXPECT_EQ(loaded->model->labels(), model_->labels());
}

TEST_F(OnnxLoaderTest, LabelsTxtBesideTheFileNamesTheClasses) {
  testing::WriteFileOrDie(dir_.Join("m/1/labels.txt"), Lines("digit ", 10));
  absl::StatusOr<LoadedModel> loaded = LoadOnnxModel(path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->model->labels().size(), 10u);
  EXPECT_EQ(loaded->model->labels()[3], "digit 3");
}

TEST_F(OnnxLoaderTest, ALabelsTxtOfTheWrongLengthIsRefusedNamingIt) {
  testing::WriteFileOrDie(dir_.Join("m/1/labels.txt"), Lines("x", 9));
  absl::StatusOr<LoadedModel> loaded = LoadOnnxModel(path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("labels.txt: 9 labels for 10 classes"));
}

TEST_F(OnnxLoaderTest, ACorruptFileIsRefusedWithThePath) {
  testing::WriteFileOrDie(path(), "not a model");
  absl::StatusOr<LoadedModel> loaded = LoadOnnxModel(path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path()));
}

TEST_F(OnnxLoaderTest, TheRepositoryServesItAndConfigLabelsWinOverLabelsTxt) {
  testing::WriteFileOrDie(dir_.Join("m/1/labels.txt"), Lines("file", 10));
  std::string config;
  for (int i = 0; i < 10; ++i) config += "labels: \"config" + std::to_string(i) + "\"\n";
  testing::WriteFileOrDie(dir_.Join("m/config.textproto"), config);
  ModelRepository::Options options;
  options.root = dir_.path();
  options.poll_interval = absl::ZeroDuration();
  options.default_batching.set_max_batch_size(8);
  options.default_batching.set_max_queue_size(64);
  options.default_batching.set_workers(1);
  options.default_batching.set_threads_per_worker(1);
  auto repository = ModelRepository::Create(options, Clock::Real());
  ASSERT_TRUE(repository.ok()) << repository.status();
  ASSERT_TRUE((*repository)->Start().ok());
  auto info = (*repository)->ModelInfo("m", 1);
  ASSERT_TRUE(info.ok()) << info.status();
  const nnserve::v1::VersionInfo& v = info->versions(0);
  EXPECT_EQ(v.state(), nnserve::v1::VERSION_STATE_AVAILABLE) << v.error();
  EXPECT_EQ(v.format(), "onnx");
  EXPECT_THAT(v.origin(), StartsWith("ONNX (nnserve"));
  ASSERT_EQ(v.labels_size(), 10);
  EXPECT_EQ(v.labels(4), "config4");
  EXPECT_GT(v.layers_size(), 0);
}

}  // namespace
}  // namespace nn
