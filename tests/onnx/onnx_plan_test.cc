// Issue 18: an imported ONNX model runs the native model's plan. For each of
// PyTorch's exports of the tutorial's networks (the CTest fixture
// onnx_models) and the native spec of the same architecture
// (models/<name>.textproto), the execution plans at batch 1, 8, 32 and 256
// must be step for step the same: primitive kinds, oneDNN implementations,
// post-ops, argument layouts and the arena's buffer plan
// (ExecutionPlan::Describe). The weights differ (trained vs seeded), the
// plans must not: so the import costs what the native model costs, with no
// extra reorder, copy or per-batch permutation (PyTorch's channels-first
// flatten is a one-time permutation of the Dense kernel's rows).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/onednn.h"
#include "engine/onnx/onnx_import.h"
#include "engine/threading.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"
#include "tests/onnx/onnx_test_util.h"

namespace nn {
namespace {

std::vector<std::string> PlanOf(const Model& model, int64_t batch) {
  dnnl::stream stream(CpuEngine());
  absl::StatusOr<std::unique_ptr<ExecutionPlan>> plan =
      model.network()->BuildInferencePlan(batch, stream);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? (*plan)->Describe() : std::vector<std::string>{};
}

std::string Lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "  " + line + "\n";
  return text;
}

class OnnxPlanTest : public ::testing::TestWithParam<const char*> {};

TEST_P(OnnxPlanTest, ImportedModelRunsTheNativePlanAtEveryBatchSize) {
  const std::string name = GetParam();
  const std::string dir = testing::OnnxModelsDir();
  ASSERT_FALSE(dir.empty()) << "NNSERVE_ONNX_MODELS_DIR is unset (CTest sets it)";
  SetThreadOneDnnThreads(1);
  absl::StatusOr<ImportedModel> imported = ImportOnnxFile(dir + "/" + name + ".onnx");
  ASSERT_TRUE(imported.ok()) << imported.status();
  absl::StatusOr<std::shared_ptr<const Model>> onnx = Model::FromSavedModel(imported->saved);
  ASSERT_TRUE(onnx.ok()) << onnx.status();
  std::shared_ptr<const Model> native = testing::TutorialModel(name);
  ASSERT_NE(native, nullptr);
  for (int64_t batch : {1, 8, 32, 256}) {
    const std::vector<std::string> want = PlanOf(*native, batch);
    const std::vector<std::string> got = PlanOf(**onnx, batch);
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(got, want) << name << " batch " << batch << "\nnative plan:\n"
                         << Lines(want) << "imported plan:\n"
                         << Lines(got);
  }
}

INSTANTIATE_TEST_SUITE_P(Tutorial, OnnxPlanTest,
                         ::testing::Values("mnist_mlp", "mnist_cnn", "mnist_rnn"));

TEST(PlanDescriptionTest, NamesThePrimitivesLayoutsAndPostOps) {
  std::shared_ptr<const Model> cnn = testing::TutorialModel("mnist_cnn");
  ASSERT_NE(cnn, nullptr);
  const std::vector<std::string> plan = PlanOf(*cnn, 8);
  ASSERT_GE(plan.size(), 6u);  // 6: the first pooling in the first step
  // The first convolution (one input channel) is oneDNN's with its ReLU as
  // a post-op, or on AVX-512 the host kernel with the ReLU and the pooling
  // after it in (engine/layers/conv_one_channel_forward.h); the second is
  // oneDNN's.
  if (plan.front().rfind("host ", 0) == 0) {
    EXPECT_EQ(plan.front().rfind(
                  "host conv2d 1 channel 3x3 filters:32 relu max_pooling 2x2 ", 0),
              0u)
        << plan.front();
    EXPECT_NE(plan.front().find(":f32{8,32,13,13}"), std::string::npos)
        << plan.front();
  } else {
    EXPECT_EQ(plan.front().rfind("convolution ", 0), 0u) << plan.front();
    EXPECT_NE(plan.front().find("eltwise_relu"), std::string::npos) << plan.front();
  }
  EXPECT_NE(plan.front().find("src=in:f32{8,1,28,28}"), std::string::npos) << plan.front();
  const auto conv2 = std::find_if(plan.begin() + 1, plan.end(), [](const std::string& s) {
    return s.rfind("convolution ", 0) == 0;
  });
  ASSERT_NE(conv2, plan.end()) << Lines(plan);
  EXPECT_NE(conv2->find("eltwise_relu"), std::string::npos) << *conv2;
  EXPECT_EQ(plan.back().rfind("softmax ", 0), 0u) << plan.back();
  EXPECT_NE(plan.back().find("dst=out:f32{8,10}"), std::string::npos) << plan.back();
  // Another spec, another plan.
  EXPECT_NE(PlanOf(*testing::TutorialModel("mnist_mlp"), 8), plan);
}

}  // namespace
}  // namespace nn
