// Gradient checks: every layer's backward pass (oneDNN backward_data and
// backward_weights, run by a TrainingPlan) against central finite differences
// of the double-precision reference loss (tests/engine/reference.h), for the
// input and every trainable parameter, together with the fused softmax
// cross-entropy and the L1/L2 terms.
//
// Tolerance. The engine computes in float32 and the differences are taken
// in double (step 1e-4 on the double reference, so their own error is
// ~1e-8), so what remains is float32 rounding through a few layers
// (~1e-6 relative) and, rarely, a relu kink or a max-pool tie within 1e-4 of
// a perturbed value. Per tensor we bound the norm-wise relative error
// ||analytic - numeric|| / ||numeric|| by 1e-2, the usual float32 bound,
// and every element by 1e-2 of the tensor's largest gradient plus 1e-6; a
// wrong backward (a transposed kernel, a missing activation derivative, a
// gradient not divided by the batch) is off by O(1).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/initializers.h"
#include "engine/network.h"
#include "engine/training/training_plan.h"
#include "gtest/gtest.h"
#include "tests/engine/reference.h"
#include "tests/engine/test_util.h"

namespace nn {
namespace {

using ::nn::testing::ParseSpec;
using ::nn::testing::ReferenceLoss;
using ::nn::testing::ReferenceParameters;
using ::nn::testing::ToReferenceParameters;

constexpr double kStep = 1e-4;
constexpr double kNormTolerance = 1e-2;
// Elements checked per tensor (spread over it); all when fewer.
constexpr int kMaxChecked = 48;

struct GradientCase {
  std::string name;
  Shape input_shape;
  std::string layers;  // ModelSpec text; must end in a softmax
  int64_t batch = 5;
  // Whether the plan computes (and the test checks) d loss / d input; without
  // it the first layer skips its input gradient (needs_input_diff false).
  bool input_gradient = true;
};

void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

std::unique_ptr<Network> MakeNetwork(const GradientCase& c) {
  absl::StatusOr<std::unique_ptr<Network>> network =
      Network::Create(c.input_shape, ParseSpec(c.layers).layers());
  EXPECT_TRUE(network.ok()) << network.status();
  if (!network.ok()) return nullptr;
  (*network)->InitializeParameters(11);
  // Non-trivial biases and BN parameters (Keras starts them at 0 and 1).
  Random random(5);
  for (int id = 0; id < (*network)->num_parameter_tensors(); ++id) {
    const std::string& name = (*network)->parameter_spec(id).name;
    if (name == "kernel" || name == "recurrent_kernel") continue;
    const double low = name == "gamma" || name == "moving_variance" ? 0.5 : -0.5;
    Tensor* tensor = (*network)->mutable_parameter(id);
    for (int64_t i = 0; i < tensor->size(); ++i) {
      (*tensor)[i] = static_cast<float>(low + random.Uniform());
    }
  }
  return std::move(*network);
}

// Central difference of the reference loss in the direction of one value.
double NumericDerivative(const std::function<double()>& loss, double* value) {
  const double saved = *value;
  *value = saved + kStep;
  const double plus = loss();
  *value = saved - kStep;
  const double minus = loss();
  *value = saved;
  return (plus - minus) / (2 * kStep);
}

// Compares analytic[i] with the numeric derivative for a spread of indices.
void CheckGradient(const std::string& what, absl::Span<const float> analytic,
                   std::vector<double>& values,
                   const std::function<double()>& loss) {
  SCOPED_TRACE(what);
  ASSERT_EQ(analytic.size(), values.size());
  const size_t count = values.size();
  const size_t step = std::max<size_t>(1, count / kMaxChecked);
  std::vector<double> numeric, computed;
  for (size_t i = (count - 1) % step; i < count; i += step) {
    numeric.push_back(NumericDerivative(loss, &values[i]));
    computed.push_back(analytic[i]);
  }
  double error = 0, norm = 0, largest = 0;
  for (size_t k = 0; k < numeric.size(); ++k) {
    error += (computed[k] - numeric[k]) * (computed[k] - numeric[k]);
    norm += numeric[k] * numeric[k];
    largest = std::max(largest, std::abs(numeric[k]));
  }
  if (largest < 1e-9) {
    // A parameter the loss does not depend on, such as a bias just before a
    // BatchNormalization (the batch mean removes it): its gradient must be
    // zero up to float32 rounding.
    for (double g : computed) EXPECT_NEAR(g, 0.0, 1e-5);
    return;
  }
  EXPECT_LE(std::sqrt(error / norm), kNormTolerance);
  for (size_t k = 0; k < numeric.size(); ++k) {
    EXPECT_NEAR(computed[k], numeric[k], kNormTolerance * largest + 1e-6)
        << "checked element " << k;
  }
}

class GradientTest : public ::testing::TestWithParam<GradientCase> {};

TEST_P(GradientTest, MatchesFiniteDifferencesForInputAndParameters) {
  const GradientCase& c = GetParam();
  std::unique_ptr<Network> network = MakeNetwork(c);
  ASSERT_NE(network, nullptr);
  std::vector<Tensor> gradients;
  for (int id = 0; id < network->num_parameter_tensors(); ++id) {
    gradients.emplace_back(network->parameter(id).shape());
  }
  absl::StatusOr<std::unique_ptr<TrainingPlan>> plan = TrainingPlan::Create(
      network.get(), absl::MakeSpan(gradients),
      {.batch_size = c.batch, .input_gradient = c.input_gradient});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::vector<float> input = testing::RandomInput(
      static_cast<int64_t>((*plan)->input().size()), 3);
  std::copy(input.begin(), input.end(), (*plan)->input().begin());
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < c.batch; ++i) {
    labels.push_back(static_cast<int32_t>((i * 7 + 3) % (*plan)->num_classes()));
  }
  std::copy(labels.begin(), labels.end(), (*plan)->labels().begin());
  absl::StatusOr<TrainingPlan::Result> result = (*plan)->Run(/*step_seed=*/1);
  ASSERT_TRUE(result.ok()) << result.status();

  ReferenceParameters parameters = ToReferenceParameters(*network);
  std::vector<double> x(input.begin(), input.end());
  auto loss = [&] { return ReferenceLoss(*network, parameters, x, labels); };
  EXPECT_NEAR(result->loss, loss(), 1e-5 * std::max(1.0, loss()))
      << "the reported loss (cross-entropy + regularisation)";

  if (c.input_gradient) {
    CheckGradient("input", (*plan)->input_gradient(), x, loss);
  } else {
    EXPECT_TRUE((*plan)->input_gradient().empty());
  }
  for (int id = 0; id < network->num_parameter_tensors(); ++id) {
    if (!network->parameter_spec(id).trainable) continue;
    CheckGradient(network->parameter_name(id), gradients[id].span(),
                  parameters[id], loss);
  }
}

constexpr char kSoftmax4[] =
    "layers { dense { units: 4 activation: ACTIVATION_SOFTMAX } }";

std::string WithHead(const std::string& layers, bool flatten = true) {
  return layers + (flatten ? "layers { flatten {} }" : "") + kSoftmax4;
}

const GradientCase kCases[] = {
    // The loss alone on a Dense softmax layer (logits = x . W + b).
    {"SoftmaxCrossEntropyOnDense", {7}, kSoftmax4},
    {"DenseLinear", {9},
     WithHead("layers { dense { units: 6 } }", false)},
    {"DenseRelu", {9},
     WithHead("layers { dense { units: 6 activation: ACTIVATION_RELU } }",
              false)},
    {"DenseSigmoid", {9},
     WithHead("layers { dense { units: 6 activation: ACTIVATION_SIGMOID } }",
              false)},
    {"DenseTanh", {9},
     WithHead("layers { dense { units: 6 activation: ACTIVATION_TANH } }",
              false)},
    {"ActivationLayers", {8},
     "layers { dense { units: 6 } }"
     "layers { activation { activation: ACTIVATION_RELU } }"
     "layers { dense { units: 6 } }"
     "layers { activation { activation: ACTIVATION_SIGMOID } }"
     "layers { dense { units: 6 } }"
     "layers { activation { activation: ACTIVATION_TANH } }"
     "layers { dense { units: 4 } }"
     "layers { activation { activation: ACTIVATION_SOFTMAX } }"},
    {"Conv2DValidOneChannel", {7, 8},
     WithHead("layers { conv2d { filters: 3 kernel_height: 3 kernel_width: 3 "
              "activation: ACTIVATION_RELU } }")},
    // One input channel trains as inner products over image patches
    // (Conv2D::AppendPatchTraining): as the network's first layer (no input
    // gradient, the tutorial CNN's case), on a {H, W, 1} input, kernels
    // wider than tall with "same" padding, and after a layer that needs the
    // input gradient (the convolution's backward_data).
    {"Conv2DOneChannelFirstLayer", {9, 8},
     WithHead("layers { conv2d { filters: 5 kernel_height: 3 kernel_width: 3 "
              "activation: ACTIVATION_RELU } }"),
     6, false},
    {"Conv2DOneChannelHwcInputSamePadding", {6, 7, 1},
     WithHead("layers { conv2d { filters: 3 kernel_height: 2 kernel_width: 4 "
              "padding: PADDING_SAME activation: ACTIVATION_TANH } }")},
    {"Conv2DOneChannelAfterBatchNormalization", {6, 6, 1},
     WithHead("layers { batch_normalization {} }"
              "layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3 "
              "activation: ACTIVATION_RELU } }"
              "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"),
     4, false},
    {"Conv2DValidManyChannels", {6, 7, 3},
     WithHead("layers { conv2d { filters: 5 kernel_height: 2 kernel_width: 3 "
              "activation: ACTIVATION_TANH } }")},
    {"Conv2DSamePadding", {6, 5, 2},
     WithHead("layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3 "
              "padding: PADDING_SAME } }")},
    {"Conv2DStride2", {9, 8, 2},
     WithHead("layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3 "
              "stride_height: 2 stride_width: 2 activation: ACTIVATION_RELU } }")},
    {"Conv2DStride2SamePadding", {7, 8},
     WithHead("layers { conv2d { filters: 3 kernel_height: 3 kernel_width: 2 "
              "stride_height: 2 stride_width: 2 padding: PADDING_SAME } }")},
    {"Conv2DStack", {8, 8},
     WithHead("layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3 "
              "activation: ACTIVATION_RELU } }"
              "layers { conv2d { filters: 6 kernel_height: 2 kernel_width: 2 "
              "activation: ACTIVATION_SIGMOID } }")},
    {"MaxPooling2DValid", {8, 8, 3},
     WithHead("layers { max_pooling2d { pool_height: 2 pool_width: 2 } }")},
    {"MaxPooling2DOneChannelInput", {7, 9},
     WithHead("layers { max_pooling2d { pool_height: 2 pool_width: 3 } }")},
    {"MaxPooling2DSamePaddingClipsTheLastWindow", {7, 7, 2},
     WithHead("layers { max_pooling2d { pool_height: 2 pool_width: 2 "
              "padding: PADDING_SAME } }")},
    {"MaxPooling2DStrideAbovePoolLeavesGaps", {9, 9, 2},
     WithHead("layers { max_pooling2d { pool_height: 2 pool_width: 2 "
              "stride_height: 3 stride_width: 3 } }")},
    {"MaxPooling2DSameStride1", {5, 6, 2},
     WithHead("layers { max_pooling2d { pool_height: 3 pool_width: 3 "
              "stride_height: 1 stride_width: 1 padding: PADDING_SAME } }")},
    {"ConvPoolConvPool", {12, 12},
     WithHead("layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3 "
              "activation: ACTIVATION_RELU } }"
              "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"
              "layers { conv2d { filters: 5 kernel_height: 3 kernel_width: 3 "
              "activation: ACTIVATION_RELU } }"
              "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }")},
    {"ConvReluOverlappingPool", {9, 9, 2},
     WithHead("layers { conv2d { filters: 3 kernel_height: 2 kernel_width: 2 "
              "activation: ACTIVATION_RELU } }"
              "layers { max_pooling2d { pool_height: 3 pool_width: 3 "
              "stride_height: 1 stride_width: 1 padding: PADDING_SAME } }")},
    {"SimpleRnnLastState", {5, 4},
     WithHead("layers { simple_rnn { units: 6 } }", false)},
    {"SimpleRnnReturnSequences", {5, 4},
     WithHead("layers { simple_rnn { units: 6 return_sequences: true } }")},
    {"SimpleRnnTwoStacked", {6, 3},
     WithHead("layers { simple_rnn { units: 5 return_sequences: true } }"
              "layers { simple_rnn { units: 4 } }",
              false)},
    // Training runs the SimpleRNN as inner products and per-step matmuls
    // (engine/layers/simple_rnn.cc): batch 1 and odd batches, one step,
    // units below and above the features, without the input gradient.
    {"SimpleRnnLastStateBatch1", {5, 4},
     WithHead("layers { simple_rnn { units: 6 } }", false), 1},
    {"SimpleRnnReturnSequencesBatch1", {4, 3},
     WithHead("layers { simple_rnn { units: 5 return_sequences: true } }"), 1},
    {"SimpleRnnReturnSequencesOddBatch", {6, 5},
     WithHead("layers { simple_rnn { units: 3 return_sequences: true } }"), 7},
    {"SimpleRnnFewerUnitsThanFeatures", {5, 9},
     WithHead("layers { simple_rnn { units: 3 } }", false), 3},
    {"SimpleRnnOneStep", {1, 4},
     WithHead("layers { simple_rnn { units: 5 } }", false)},
    {"SimpleRnnOneStepReturnSequences", {1, 4},
     WithHead("layers { simple_rnn { units: 5 return_sequences: true } }")},
    {"SimpleRnnWithoutInputGradient", {5, 4},
     WithHead("layers { simple_rnn { units: 6 } }", false), 5, false},
    {"SimpleRnnTwoStackedWithoutInputGradient", {6, 3},
     WithHead("layers { simple_rnn { units: 5 return_sequences: true } }"
              "layers { simple_rnn { units: 7 } }",
              false),
     3, false},
    {"SimpleRnnTwoStackedSequencesBatch1", {5, 3},
     WithHead("layers { simple_rnn { units: 4 return_sequences: true } }"
              "layers { simple_rnn { units: 6 return_sequences: true } }"),
     1},
    {"SimpleRnnAfterBatchNormalization", {5, 4},
     WithHead("layers { batch_normalization {} }"
              "layers { simple_rnn { units: 6 return_sequences: true } }"
              "layers { simple_rnn { units: 4 } }",
              false),
     4, false},
    {"BatchNormalizationOnFeatures", {6},
     WithHead("layers { dense { units: 5 } }"
              "layers { batch_normalization {} }"
              "layers { activation { activation: ACTIVATION_RELU } }",
              false)},
    {"BatchNormalizationOnSequence", {4, 3},
     WithHead("layers { batch_normalization { epsilon: 0.01 } }")},
    {"BatchNormalizationOnImage", {5, 5, 3},
     WithHead("layers { batch_normalization {} }")},
    {"BatchNormalizationAfterConv", {6, 6},
     WithHead("layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3 } }"
              "layers { batch_normalization { momentum: 0.9 } }")},
    {"L1AndL2OnDenseKernel", {9},
     "layers { dense { units: 6 activation: ACTIVATION_RELU "
     "kernel_regularizer { l1: 0.01 l2: 0.02 } } }"
     "layers { dense { units: 4 activation: ACTIVATION_SOFTMAX "
     "kernel_regularizer { l2: 0.05 } } }"},
    {"L2OnConvKernel", {6, 6},
     WithHead("layers { conv2d { filters: 3 kernel_height: 3 kernel_width: 3 "
              "kernel_regularizer { l2: 0.01 } } }")},
    {"L1OnRnnKernels", {4, 3},
     WithHead("layers { simple_rnn { units: 5 "
              "kernel_regularizer { l1: 0.01 } "
              "recurrent_regularizer { l1: 0.02 l2: 0.01 } } }",
              false)},
    {"DropoutWithRateZeroIsTheIdentity", {6},
     WithHead("layers { dense { units: 5 } }"
              "layers { dropout { rate: 0 } }",
              false)},
    {"LargerBatch", {10},
     WithHead("layers { dense { units: 8 activation: ACTIVATION_RELU } }",
              false),
     33},
};

INSTANTIATE_TEST_SUITE_P(Layers, GradientTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace nn
