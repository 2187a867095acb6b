// ONNX export (issue 18): every layer kind, the tutorial's networks and the
// imported PyTorch exports, written by ExportOnnx, must pass the Python
// onnx.checker (full check: strict shape inference too) and run in ONNX
// Runtime (npm onnxruntime-node, the CTest fixture onnx_node) with nnserve's
// outputs within 1e-5. Under CTest a missing tool fails (NN_REQUIRE_TOOL).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model.h"
#include "engine/onnx/onnx_export.h"
#include "engine/onnx/onnx_import.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"
#include "tests/onnx/onnx_test_util.h"
#include "tests/support/numerical_contract.h"
#include "engine/model_file.h"
#include "tests/support/required_tool.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

constexpr int64_t kImages = 200;

// Python's onnx.checker with full_check on `path`; "" if it passes.
std::string PythonChecker(const std::string& path, const testing::TempDir& dir) {
  const std::string log = dir.Join("checker.log");
  const std::string command = absl::StrCat(
      "/usr/bin/python3 -c 'import onnx, sys; "
      "onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' '",
      path, "' > '", log, "' 2>&1");
  if (std::system(command.c_str()) == 0) return "";
  return absl::StrCat("onnx.checker: ", testing::ReadFileOrDie(log));
}

class OnnxExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    python_ = testing::FindTool("/usr/bin/python3");
    NN_REQUIRE_TOOL(python_, "/usr/bin/python3 with python3-onnx");
    node_ = testing::FindTool("node");
    NN_REQUIRE_TOOL(node_, "node (Debian nodejs)");
    const char* modules = std::getenv("NNSERVE_ONNX_NODE_DIR");
    modules_ = absl::StrCat(modules == nullptr ? "" : modules, "/node_modules");
    ASSERT_EQ(std::system(absl::StrCat("test -d '", modules_, "/onnxruntime-node'").c_str()), 0)
        << "onnxruntime-node is not installed in " << modules_
        << " (CTest's fixture onnx_node runs tests/onnx/node-deps.sh)";
  }

  // ONNX Runtime's first output for the model at `path` on `input` of shape
  // `dims` ("64,28,28").
  std::vector<float> RunOnnxRuntime(const std::string& path, const std::vector<float>& input,
                                    const std::string& dims) {
    EXPECT_TRUE(testing::WriteFloats(dir_.Join("input.f32"), input).ok());
    const std::string command = absl::StrCat(
        "'", node_, "' tests/onnx/run_onnx.cjs '", modules_, "' '", path, "' '",
        dir_.Join("input.f32"), "' ", dims, " '", dir_.Join("output.f32"), "' 2> '",
        dir_.Join("node.log"), "'");
    if (std::system(command.c_str()) != 0) {
      ADD_FAILURE() << testing::ReadFileOrDie(dir_.Join("node.log"));
      return {};
    }
    absl::StatusOr<std::vector<float>> out = testing::ReadFloats(dir_.Join("output.f32"));
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : std::vector<float>();
  }

  // Exports `saved`, checks it with onnx.checker, runs it in ONNX Runtime on
  // `input` and compares with nnserve's own outputs.
  void ExpectOnnxRuntimeAgrees(const nnserve::v1::SavedModel& saved,
                               const std::vector<float>& input) {
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::FromSavedModel(saved);
    ASSERT_TRUE(model.ok()) << model.status();
    const int64_t n = static_cast<int64_t>(input.size()) /
                      ((*model)->input_height() * (*model)->input_width());
    absl::StatusOr<std::string> bytes = ExportOnnx(saved);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    const std::string onnx_path = dir_.Join("model.onnx");
    ASSERT_TRUE(testing::WriteBytes(onnx_path, *bytes).ok());
    EXPECT_EQ(PythonChecker(onnx_path, dir_), "");
    const std::vector<float> theirs = RunOnnxRuntime(
        onnx_path, input,
        absl::StrCat(n, ",", (*model)->input_height(), ",", (*model)->input_width()));
    absl::StatusOr<std::vector<float>> ours = testing::RunModel(**model, input, n);
    ASSERT_TRUE(ours.ok()) << ours.status();
    EXPECT_LE(testing::MaxContractError(theirs, *ours), testing::kReferenceTolerance);
  }

  std::string python_, node_, modules_;
  testing::TempDir dir_;
};

TEST_F(OnnxExportTest, EveryLayerKindRunsInOnnxRuntimeWithNnservesOutputs) {
  absl::StatusOr<std::vector<testing::ExportCase>> cases = testing::ExportCases();
  ASSERT_TRUE(cases.ok()) << cases.status();
  for (const testing::ExportCase& c : *cases) {
    SCOPED_TRACE(c.name);
    const auto& input = c.saved.spec().input();
    const int64_t pixels = int64_t{input.height() ? input.height() : 28} *
                           (input.width() ? input.width() : 28);
    ExpectOnnxRuntimeAgrees(c.saved, pixels == 784
                                         ? testing::MnistTestImages(kImages)
                                         : testing::RandomInput(kImages * pixels, 5));
  }
}

TEST_F(OnnxExportTest, ImportedPyTorchModelsExportAgain) {
  const std::string dir = testing::OnnxModelsDir();
  ASSERT_FALSE(dir.empty()) << "NNSERVE_ONNX_MODELS_DIR is unset (CTest sets it)";
  for (const char* name : {"mnist_mlp", "mnist_cnn", "mnist_rnn", "keras_bn_mlp"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<ImportedModel> imported =
        ImportOnnxFile(absl::StrCat(dir, "/", name, ".onnx"));
    ASSERT_TRUE(imported.ok()) << imported.status();
    ExpectOnnxRuntimeAgrees(imported->saved, testing::MnistTestImages(kImages));
  }
}

// The Keras-style graphs and PyTorch's logits RNN as ONNX Runtime runs them
// (before any nnserve export): their softmax equals nnserve's import.
TEST_F(OnnxExportTest, OnnxRuntimeRunsTheOriginalGraphsAsTheirImportsDo) {
  const std::string dir = testing::OnnxModelsDir();
  ASSERT_FALSE(dir.empty()) << "NNSERVE_ONNX_MODELS_DIR is unset (CTest sets it)";
  struct Graph {
    const char* name;
    const char* per_image_dims;
  };
  for (const Graph& g : {Graph{"keras_mlp_flat", "784"}, Graph{"keras_cnn_nhwc", "28,28,1"},
                         Graph{"keras_bn_mlp", "1,28,28"}, Graph{"mnist_rnn", "28,28"}}) {
    SCOPED_TRACE(g.name);
    const std::string path = absl::StrCat(dir, "/", g.name, ".onnx");
    absl::StatusOr<ImportedModel> imported = ImportOnnxFile(path);
    ASSERT_TRUE(imported.ok()) << imported.status();
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::FromSavedModel(imported->saved);
    ASSERT_TRUE(model.ok()) << model.status();
    const std::vector<float> input = testing::MnistTestImages(kImages);
    std::vector<float> theirs =
        RunOnnxRuntime(path, input, absl::StrCat(kImages, ",", g.per_image_dims));
    ASSERT_EQ(theirs.size(), static_cast<size_t>(kImages * 10));
    if (imported->output != OnnxOutputKind::kProbabilities) {  // softmax, in double
      for (int64_t i = 0; i < kImages; ++i) {
        float* row = theirs.data() + i * 10;
        const double top = *std::max_element(row, row + 10);
        double sum = 0;
        for (int k = 0; k < 10; ++k) sum += std::exp(double{row[k]} - top);
        for (int k = 0; k < 10; ++k) row[k] = static_cast<float>(std::exp(double{row[k]} - top) / sum);
      }
    }
    absl::StatusOr<std::vector<float>> ours = testing::RunModel(**model, input, kImages);
    ASSERT_TRUE(ours.ok()) << ours.status();
    EXPECT_LE(testing::MaxContractError(*ours, theirs), testing::kReferenceTolerance);
  }
}

TEST(NntrainExportTest, ExportOnnxFlagWritesTheTrainedModelsExport) {
  testing::TempDir dir;
  const std::string command = absl::StrCat(
      "'", testing::BinDir(), "/nntrain' --spec=models/mnist_cnn.textproto "
      "--data=data/mnist --epochs=1 --max_train_examples=200 --threads=1 --out='",
      dir.Join("model.nnm"), "' --export_onnx='", dir.Join("model.onnx"), "' > '",
      dir.Join("log"), "' 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << testing::ReadFileOrDie(dir.Join("log"));
  absl::StatusOr<nnserve::v1::SavedModel> saved = ReadModelFile(dir.Join("model.nnm"));
  ASSERT_TRUE(saved.ok()) << saved.status();
  absl::StatusOr<std::string> expected = ExportOnnx(*saved);
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_TRUE(testing::ReadFileOrDie(dir.Join("model.onnx")) == *expected);
}

}  // namespace
}  // namespace nn
