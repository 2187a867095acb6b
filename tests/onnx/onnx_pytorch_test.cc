// ONNX import of real exports (issue 18): the tutorial's three networks
// trained briefly by PyTorch 1.13 on the real digits and exported with
// torch.onnx.export, and Keras-style graphs built with onnx.helper from the
// same weights (scripts/make-onnx-models.py, run by the CTest fixture
// onnx_models into <build>/onnx-models). nnserve's probabilities must equal
// PyTorch's within 1e-5 (absolute) on every one of the 10,000 digits, and the
// test-set accuracy must be PyTorch's. The graphs nnserve refuses must give
// their messages.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/model.h"
#include "engine/onnx/onnx_import.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/onnx/onnx_test_util.h"
#include "tests/support/numerical_contract.h"

namespace nn {
namespace {

using ::testing::HasSubstr;

struct Case {
  const char* name;
  OnnxOutputKind output;
  int64_t opset;
};

class OnnxPyTorchTest : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    auto digits = testing::LoadAllDigits();
    ASSERT_TRUE(digits.ok()) << digits.status();
    digits_ = new testing::Digits(*std::move(digits));
  }
  static void TearDownTestSuite() { delete digits_; }
  static testing::Digits* digits_;
};
testing::Digits* OnnxPyTorchTest::digits_ = nullptr;

TEST_P(OnnxPyTorchTest, ProbabilitiesEqualPyTorchsOnEveryDigitAndSoDoesAccuracy) {
  ASSERT_NE(digits_, nullptr);
  const std::string dir = testing::OnnxModelsDir();
  ASSERT_FALSE(dir.empty()) << "NNSERVE_ONNX_MODELS_DIR is unset (CTest sets it)";
  const Case& c = GetParam();
  absl::StatusOr<ImportedModel> imported =
      ImportOnnxFile(absl::StrCat(dir, "/", c.name, ".onnx"));
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->output, c.output);
  EXPECT_EQ(imported->softmax_appended, c.output != OnnxOutputKind::kProbabilities);
  EXPECT_EQ(imported->opset, c.opset);
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(imported->saved);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->num_classes(), 10);
  ASSERT_EQ((*model)->input_height(), 28);
  ASSERT_EQ((*model)->input_width(), 28);

  absl::StatusOr<std::vector<float>> reference =
      testing::ReadFloats(absl::StrCat(dir, "/", c.name, ".probs.f32"));
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_EQ(static_cast<int64_t>(reference->size()), digits_->count * 10);
  absl::StatusOr<std::vector<float>> ours =
      testing::RunModel(**model, digits_->pixels, digits_->count);
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_LE(testing::MaxContractError(*ours, *reference), testing::kReferenceTolerance);

  // Accuracy on the test images: the same count, unless an image's two top
  // classes are within the run-to-run tolerance (then either is right).
  int ours_correct = 0, theirs_correct = 0, near_ties = 0;
  for (int64_t i = 0; i < digits_->test_count; ++i) {
    const int mine = testing::ArgMax(*ours, i, 10);
    const int theirs = testing::ArgMax(*reference, i, 10);
    ours_correct += mine == digits_->labels[i];
    theirs_correct += theirs == digits_->labels[i];
    if (mine != theirs) {
      ++near_ties;
      EXPECT_TRUE(testing::IsArgMaxWithinContract(
          absl::MakeConstSpan(reference->data() + i * 10, 10), mine))
          << "image " << i;
    }
  }
  EXPECT_LE(std::abs(ours_correct - theirs_correct), near_ties);
  // A trained network: far above chance (10 %).
  EXPECT_GT(theirs_correct, digits_->test_count * 6 / 10);
}

INSTANTIATE_TEST_SUITE_P(
    Exports, OnnxPyTorchTest,
    ::testing::Values(Case{"mnist_mlp", OnnxOutputKind::kProbabilities, 13},
                      Case{"mnist_mlp_opset11", OnnxOutputKind::kProbabilities, 11},
                      Case{"mnist_mlp_opset17", OnnxOutputKind::kProbabilities, 17},
                      Case{"mnist_cnn", OnnxOutputKind::kProbabilities, 13},
                      Case{"mnist_rnn", OnnxOutputKind::kLogits, 13},
                      Case{"keras_mlp_flat", OnnxOutputKind::kProbabilities, 11},
                      Case{"keras_cnn_nhwc", OnnxOutputKind::kProbabilities, 17},
                      Case{"keras_bn_mlp", OnnxOutputKind::kLogProbabilities, 13}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(OnnxPyTorchLayersTest, ImportsOntoTheTutorialsLayers) {
  const std::string dir = testing::OnnxModelsDir();
  ASSERT_FALSE(dir.empty());
  const auto kinds = [&](const char* name) {
    absl::StatusOr<ImportedModel> imported =
        ImportOnnxFile(absl::StrCat(dir, "/", name, ".onnx"));
    std::string out;
    if (!imported.ok()) return absl::StrCat("error: ", imported.status().message());
    for (const auto& layer : imported->saved.spec().layers()) {
      absl::StrAppend(&out, out.empty() ? "" : " ", layer.name());
    }
    return out;
  };
  EXPECT_EQ(kinds("mnist_mlp"), "flatten dense dense_1");
  EXPECT_EQ(kinds("mnist_cnn"),
            "conv2d max_pooling2d conv2d_1 max_pooling2d_1 flatten dense dense_1");
  EXPECT_EQ(kinds("mnist_rnn"), "simple_rnn simple_rnn_1 dense");
  EXPECT_EQ(kinds("keras_bn_mlp"),
            "flatten dense batch_normalization activation dropout dense_1 dense_2");
  absl::StatusOr<ImportedModel> rnn = ImportOnnxFile(absl::StrCat(dir, "/mnist_rnn.onnx"));
  ASSERT_TRUE(rnn.ok()) << rnn.status();
  EXPECT_TRUE(rnn->saved.spec().layers(0).simple_rnn().return_sequences());
  EXPECT_FALSE(rnn->saved.spec().layers(1).simple_rnn().return_sequences());
  EXPECT_EQ(rnn->origin, "ONNX (pytorch 1.13.0, opset 13)");
  EXPECT_EQ(rnn->input_description, "\"input\" [N,28,28]");
}

struct Refusal {
  const char* name;
  const char* message;
};

class OnnxRefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(OnnxRefusalTest, IsRefusedWithItsMessage) {
  const std::string dir = testing::OnnxModelsDir();
  ASSERT_FALSE(dir.empty());
  absl::StatusOr<ImportedModel> imported = ImportOnnxFile(
      absl::StrCat(dir, "/refused_", GetParam().name, ".onnx"));
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument)
      << imported.status();
  EXPECT_THAT(std::string(imported.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Graphs, OnnxRefusalTest,
    ::testing::Values(
        Refusal{"einsum", "unsupported ONNX operator Einsum (node \"/attn/Einsum\", opset 13)"},
        Refusal{"two_inputs", "the graph has 2 inputs (\"input\", \"input2\")"},
        Refusal{"rgb_input", "has shape [N,3,28,28], which does not fit"},
        Refusal{"gemm_shape_mismatch", "Gemm (node \"/fc/Gemm\"), opset 13: the weight has 700 rows, the input has 784 features"},
        Refusal{"sigmoid_output", "comes from Sigmoid"},
        Refusal{"opset9", "ONNX opset 9 is not supported"},
        Refusal{"external_data", "keeps its data in an external file \"weights.bin\""},
        Refusal{"huge_tensor", "claims 268435328 elements (1073741312 bytes, shape "
                               "[784,342392]) but holds 16 bytes"},
        Refusal{"truncated", "not an ONNX model"}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return info.param.name; });

}  // namespace
}  // namespace nn
