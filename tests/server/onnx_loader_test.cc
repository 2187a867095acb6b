// The model.onnx loader (server/onnx_loader.h): an ONNX file (here nnserve's
// own export of a tutorial network, so no generated fixture is needed) with
// or without a labels.txt beside it, and the repository serving it. The
// PyTorch exports are served end to end in tests/e2e/onnx_e2e_test.cc.
#include "server/onnx_loader.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "engine/onnx/onnx_export.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "server/model_repository.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> Names(const std::string& prefix) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back(prefix + std::to_string(i));
  return names;
}

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

  // model_ with `labels` in its spec, exported: metadata_props label_<i>.
  std::string ExportWithLabels(const std::vector<std::string>& labels) {
    nnserve::v1::SavedModel saved = model_->ToSavedModel();
    for (const std::string& label : labels) saved.mutable_spec()->add_labels(label);
    absl::StatusOr<std::string> bytes = ExportOnnx(saved);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : std::string();
  }

  absl::StatusOr<std::unique_ptr<ModelRepository>> StartRepository() {
    ModelRepository::Options options;
    options.root = dir_.path();
    options.poll_interval = absl::ZeroDuration();
    options.default_batching.set_max_batch_size(8);
    options.default_batching.set_max_queue_size(64);
    options.default_batching.set_workers(1);
    options.default_batching.set_threads_per_worker(1);
    auto repository = ModelRepository::Create(options, Clock::Real());
    if (repository.ok()) {
      absl::Status started = (*repository)->Start();
      if (!started.ok()) return started;
    }
    return repository;
  }

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
  auto repository = StartRepository();
  ASSERT_TRUE(repository.ok()) << repository.status();
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

TEST_F(OnnxLoaderTest, AnExportsOwnLabelsServeWhenTheDirectoryNamesNone) {
  testing::WriteFileOrDie(path(), ExportWithLabels(Names("own ")));
  absl::StatusOr<LoadedModel> loaded = LoadOnnxModel(path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model->labels(), Names("own "));
}

TEST_F(OnnxLoaderTest, LabelsTxtWinsOverTheModelsOwnLabels) {
  testing::WriteFileOrDie(path(), ExportWithLabels(Names("own ")));
  testing::WriteFileOrDie(dir_.Join("m/1/labels.txt"), Lines("file ", 10));
  absl::StatusOr<LoadedModel> loaded = LoadOnnxModel(path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model->labels(), Names("file "));
}

TEST_F(OnnxLoaderTest, MalformedLabelMetadataIsIgnoredAndTheClassIndicesServe) {
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(ExportWithLabels(Names("own "))));
  auto* entries = proto.mutable_metadata_props();
  for (int i = 0; i < entries->size(); ++i) {
    if (entries->Get(i).key() == "label_3") entries->DeleteSubrange(i, 1);
  }
  ASSERT_EQ(entries->size(), 9);
  testing::WriteFileOrDie(path(), proto.SerializeAsString());
  absl::StatusOr<LoadedModel> loaded = LoadOnnxModel(path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model->labels(), Names(""));
  // labels.txt still names the classes of such a model.
  testing::WriteFileOrDie(dir_.Join("m/1/labels.txt"), Lines("file ", 10));
  loaded = LoadOnnxModel(path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model->labels(), Names("file "));
}

TEST_F(OnnxLoaderTest, TheRepositoryServesTheModelsOwnLabelsUnlessConfigNamesOthers) {
  // m: the export alone; n: the same file with config.textproto labels.
  const std::string bytes = ExportWithLabels(Names("own "));
  testing::WriteFileOrDie(path(), bytes);
  testing::MakeDirs(dir_.Join("n/1"));
  testing::WriteFileOrDie(dir_.Join("n/1/model.onnx"), bytes);
  std::string config;
  for (const std::string& label : Names("config ")) config += "labels: \"" + label + "\"\n";
  testing::WriteFileOrDie(dir_.Join("n/config.textproto"), config);
  auto repository = StartRepository();
  ASSERT_TRUE(repository.ok()) << repository.status();
  for (const auto& [model, want] : {std::pair{"m", Names("own ")},
                                    std::pair{"n", Names("config ")}}) {
    SCOPED_TRACE(model);
    auto info = (*repository)->ModelInfo(model, 1);
    ASSERT_TRUE(info.ok()) << info.status();
    const nnserve::v1::VersionInfo& v = info->versions(0);
    EXPECT_EQ(v.state(), nnserve::v1::VERSION_STATE_AVAILABLE) << v.error();
    EXPECT_EQ(std::vector<std::string>(v.labels().begin(), v.labels().end()), want);
  }
}

}  // namespace
}  // namespace nn
