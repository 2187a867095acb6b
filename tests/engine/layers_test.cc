// Every layer's inference forward against the naive reference (reference.h),
// on small random shapes, at several batch sizes from one context (so the
// plan cache and the shared arena are exercised too), and what each kind
// reports as its final activation.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/layers/layers.h"
#include "engine/network.h"
#include "gtest/gtest.h"
#include "tests/engine/reference.h"
#include "tests/engine/test_util.h"
#include "tests/support/numerical_contract.h"

namespace nn {
namespace {

using ::nn::testing::MaxContractError;
using ::nn::testing::ParseSpec;
using ::nn::testing::RandomInput;
using ::nn::testing::RandomNetwork;
using ::nn::testing::ReferenceForward;

// float32 oneDNN vs a double loop: the numerical contract's bound.
constexpr double kTolerance = ::nn::testing::kReferenceTolerance;

struct LayerCase {
  std::string name;
  Shape input_shape;
  std::string layers;  // ModelSpec text
};

void PrintTo(const LayerCase& c, std::ostream* os) { *os << c.name; }

class LayerForwardTest : public ::testing::TestWithParam<LayerCase> {};

TEST_P(LayerForwardTest, MatchesNaiveReferenceAtSeveralBatchSizes) {
  const LayerCase& c = GetParam();
  std::shared_ptr<const Network> network =
      RandomNetwork(c.input_shape, c.layers, /*seed=*/42);
  ASSERT_NE(network, nullptr);
  std::unique_ptr<NetworkContext> context = NetworkContext::Create(network);
  const int64_t in_size = NumElements(network->input_shape());
  const int64_t out_size = NumElements(network->output_shape());
  for (int64_t n : {1, 3, 8, 33}) {
    SCOPED_TRACE(::testing::Message() << "batch size " << n);
    const std::vector<float> input = RandomInput(n * in_size, 100 + n);
    const std::vector<float> input_copy = input;
    std::vector<float> output(static_cast<size_t>(n * out_size), -7.0f);
    ASSERT_TRUE(context->Run(input, n, absl::MakeSpan(output)).ok());
    const std::vector<double> expected =
        ReferenceForward(*network, input, n);
    EXPECT_LE(MaxContractError(output, expected), kTolerance);
    EXPECT_EQ(input, input_copy) << "the input must not be written";
  }
  EXPECT_EQ(context->cached_plans(), 4);
}

const LayerCase kCases[] = {
    // Dense, every activation, and element-wise Activation layers fused.
    {"DenseLinear", {37}, "layers { dense { units: 13 } }"},
    {"DenseRelu", {37}, "layers { dense { units: 13 activation: ACTIVATION_RELU } }"},
    {"DenseSigmoid", {37},
     "layers { dense { units: 13 activation: ACTIVATION_SIGMOID } }"},
    {"DenseTanh", {37}, "layers { dense { units: 13 activation: ACTIVATION_TANH } }"},
    {"DenseSoftmax", {37},
     "layers { dense { units: 13 activation: ACTIVATION_SOFTMAX } }"},
    {"DenseWithFollowingActivationsFused", {20},
     "layers { dense { units: 9 } }"
     "layers { activation { activation: ACTIVATION_RELU } }"
     "layers { activation { activation: ACTIVATION_LINEAR } }"
     "layers { activation { activation: ACTIVATION_TANH } }"},
    {"DenseStackWithSoftmaxActivationLayer", {30},
     "layers { dense { units: 17 activation: ACTIVATION_RELU } }"
     "layers { dense { units: 6 } }"
     "layers { activation { activation: ACTIVATION_SOFTMAX } }"},
    // Conv2D: one and several channels, valid and same, strides 1 and 2.
    {"Conv2DValidOneChannel", {9, 11},
     "layers { conv2d { filters: 5 kernel_height: 3 kernel_width: 3 } }"},
    {"Conv2DValidManyChannelsRelu", {9, 11, 3},
     "layers { conv2d { filters: 32 kernel_height: 2 kernel_width: 4 "
     "activation: ACTIVATION_RELU } }"},
    {"Conv2DSameTanh", {9, 11, 3},
     "layers { conv2d { filters: 8 kernel_height: 3 kernel_width: 3 "
     "padding: PADDING_SAME activation: ACTIVATION_TANH } }"},
    {"Conv2DSameStride2", {9, 11, 3},
     "layers { conv2d { filters: 16 kernel_height: 3 kernel_width: 3 "
     "stride_height: 2 stride_width: 2 padding: PADDING_SAME } }"},
    {"Conv2DValidStride2By1Sigmoid", {10, 9, 2},
     "layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 2 "
     "stride_height: 2 stride_width: 1 activation: ACTIVATION_SIGMOID } }"},
    {"Conv2DSameEvenKernelPadsBottomRight", {8, 7},
     "layers { conv2d { filters: 3 kernel_height: 4 kernel_width: 4 "
     "padding: PADDING_SAME } }"},
    {"Conv2DSameStride2OddInputOneChannel", {7, 7},
     "layers { conv2d { filters: 6 kernel_height: 3 kernel_width: 3 "
     "stride_height: 2 stride_width: 2 padding: PADDING_SAME } }"},
    // One channel, 3x3, filters a multiple of 16 (AVX-512) or 8 (AVX2): the
    // host kernel (engine/layers/conv_one_channel_forward.h): padding and
    // strides, a tail of output positions and of filter chunks, a ReLU
    // from the layer or from an Activation layer after it.
    {"Conv2DOneChannelSameStride2SixteenFilters", {9, 11},
     "layers { conv2d { filters: 16 kernel_height: 3 kernel_width: 3 "
     "stride_height: 2 stride_width: 2 padding: PADDING_SAME } }"},
    {"Conv2DOneChannelFortyEightFiltersReluLayer", {9, 11},
     "layers { conv2d { filters: 48 kernel_height: 3 kernel_width: 3 "
     "padding: PADDING_SAME } }"
     "layers { activation { activation: ACTIVATION_RELU } }"},
    // 24 filters: the AVX2 kernel's (blocks of 8), oneDNN's on AVX-512.
    {"Conv2DOneChannelTwentyFourFiltersStride2", {9, 11},
     "layers { conv2d { filters: 24 kernel_height: 3 kernel_width: 3 "
     "stride_height: 2 stride_width: 2 activation: ACTIVATION_RELU } }"},
    {"Conv2DOneChannelTwentyFourFiltersThenPool", {10, 11},
     "layers { conv2d { filters: 24 kernel_height: 3 kernel_width: 3 } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"},
    {"Conv2DOneChannelStride2By1Relu", {10, 9, 1},
     "layers { conv2d { filters: 32 kernel_height: 3 kernel_width: 3 "
     "stride_height: 2 stride_width: 1 activation: ACTIVATION_RELU } }"},
    // A MaxPooling2D 2x2 / 2 after such a convolution is absorbed into the
    // kernel on AVX-512 and AVX2 (Conv2D::AbsorbsAtInference): odd output sizes
    // (the last row and column left out), the ReLU from an Activation
    // layer in between, 48 filters; a pooling of stride 1 is not absorbed.
    {"Conv2DOneChannelThenPoolOddSizes", {11, 12},
     "layers { conv2d { filters: 32 kernel_height: 3 kernel_width: 3 "
     "activation: ACTIVATION_RELU } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"},
    {"Conv2DOneChannelReluLayerThenPoolStride2", {10, 10},
     "layers { conv2d { filters: 48 kernel_height: 3 kernel_width: 3 "
     "padding: PADDING_SAME } }"
     "layers { activation { activation: ACTIVATION_RELU } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 "
     "stride_height: 2 stride_width: 2 } }"},
    {"Conv2DOneChannelLinearThenPool", {9, 9},
     "layers { conv2d { filters: 16 kernel_height: 3 kernel_width: 3 } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"},
    {"Conv2DOneChannelThenOverlappingPool", {9, 9},
     "layers { conv2d { filters: 16 kernel_height: 3 kernel_width: 3 "
     "activation: ACTIVATION_RELU } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 "
     "stride_height: 1 stride_width: 1 } }"},
    {"Conv2DStackedBlockedLayouts", {12, 12},
     "layers { conv2d { filters: 32 kernel_height: 3 kernel_width: 3 "
     "activation: ACTIVATION_RELU } }"
     "layers { conv2d { filters: 48 kernel_height: 3 kernel_width: 3 "
     "stride_height: 2 stride_width: 2 activation: ACTIVATION_RELU } }"},
    // MaxPooling2D.
    {"MaxPooling2DDefaultStride", {10, 9, 4},
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"},
    {"MaxPooling2DOverlappingOneChannel", {7, 7},
     "layers { max_pooling2d { pool_height: 3 pool_width: 3 "
     "stride_height: 1 stride_width: 1 } }"},
    {"MaxPooling2DSamePaddingIgnoresPadding", {7, 9, 3},
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 "
     "padding: PADDING_SAME } }"},
    {"MaxPooling2DAfterConvInBlockedLayout", {12, 12},
     "layers { conv2d { filters: 32 kernel_height: 3 kernel_width: 3 "
     "activation: ACTIVATION_RELU } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"},
    // After a convolution of several channels the pooling is not absorbed;
    // below AVX-512 (the AVX2-capped runs) the host loops' 2x2 / 2 path
    // runs, on even widths and odd ones (SAME padding's last column takes
    // the general loop).
    {"MaxPooling2DAfterStackedConvInBlockedLayout", {12, 12},
     "layers { conv2d { filters: 8 kernel_height: 3 kernel_width: 3 } }"
     "layers { conv2d { filters: 16 kernel_height: 3 kernel_width: 3 "
     "activation: ACTIVATION_RELU } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"},
    {"MaxPooling2DSameAfterStackedConvOddWidth", {13, 11},
     "layers { conv2d { filters: 8 kernel_height: 3 kernel_width: 3 } }"
     "layers { conv2d { filters: 24 kernel_height: 3 kernel_width: 3 } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 "
     "padding: PADDING_SAME } }"},
    // Flatten: Keras' channels-last order feeds the Dense kernel.
    {"FlattenAfterConvUsesKerasChannelsLastOrder", {10, 10},
     "layers { conv2d { filters: 32 kernel_height: 3 kernel_width: 3 "
     "activation: ACTIVATION_RELU } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"
     "layers { flatten {} }"
     "layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }"},
    {"FlattenOfSequence", {5, 4},
     "layers { flatten {} } layers { dense { units: 3 } }"},
    {"FlattenAloneCopiesTheInput", {3, 4, 2}, "layers { flatten {} }"},
    // SimpleRNN.
    {"SimpleRNNLastState", {7, 5}, "layers { simple_rnn { units: 6 } }"},
    {"SimpleRNNReturnSequences", {7, 5},
     "layers { simple_rnn { units: 6 return_sequences: true } }"},
    {"SimpleRNNStackedWithDifferentSizes", {7, 5},
     "layers { simple_rnn { units: 8 return_sequences: true } }"
     "layers { simple_rnn { units: 3 } }"},
    {"SimpleRNNSequencesThenFlattenDense", {6, 4},
     "layers { simple_rnn { units: 5 return_sequences: true } }"
     "layers { flatten {} } layers { dense { units: 4 } }"},
    {"SimpleRNNThenDenseSoftmax", {9, 9},
     "layers { simple_rnn { units: 12 activation: ACTIVATION_TANH } }"
     "layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }"},
    // BatchNormalization on features, sequences and images.
    {"BatchNormalizationOfFeatures", {12}, "layers { batch_normalization {} }"},
    {"BatchNormalizationOfSequence", {6, 5},
     "layers { batch_normalization { epsilon: 0.1 } }"},
    {"BatchNormalizationOfImageWithFusedRelu", {8, 8},
     "layers { conv2d { filters: 16 kernel_height: 3 kernel_width: 3 } }"
     "layers { batch_normalization {} }"
     "layers { activation { activation: ACTIVATION_RELU } }"},
    {"BatchNormalizationAfterDenseThenSigmoid", {10},
     "layers { dense { units: 7 } } layers { batch_normalization {} }"
     "layers { activation { activation: ACTIVATION_SIGMOID } }"},
    // Dropout and stand-alone activations.
    {"DropoutIsTheIdentity", {6},
     "layers { dense { units: 4 } } layers { dropout { rate: 0.5 } }"
     "layers { dense { units: 3 } }"},
    {"ActivationOnTheReadOnlyInput", {4, 5},
     "layers { activation { activation: ACTIVATION_TANH } }"},
    {"ActivationAfterPoolingInBlockedLayout", {8, 8},
     "layers { conv2d { filters: 16 kernel_height: 3 kernel_width: 3 } }"
     "layers { max_pooling2d { pool_height: 2 pool_width: 2 } }"
     "layers { activation { activation: ACTIVATION_SIGMOID } }"},
};

INSTANTIATE_TEST_SUITE_P(
    Layers, LayerForwardTest, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<LayerCase>& info) {
      return info.param.name;
    });

// final_activation() is what the softmax rules (Network, Model, training)
// read: each kind's own activation, tanh for SimpleRNN, linear otherwise.
TEST(LayerTest, FinalActivationIsWhatEachKindAppliesLast) {
  struct Case {
    const char* layer;
    Shape input;
    Activation expected;
  };
  const Case cases[] = {
      {"dense { units: 3 activation: ACTIVATION_SOFTMAX }", {4},
       nnserve::v1::ACTIVATION_SOFTMAX},
      {"dense { units: 3 activation: ACTIVATION_RELU }", {4},
       nnserve::v1::ACTIVATION_RELU},
      {"conv2d { filters: 2 kernel_height: 2 kernel_width: 2 "
       "activation: ACTIVATION_TANH }",
       {5, 5}, nnserve::v1::ACTIVATION_TANH},
      {"simple_rnn { units: 3 }", {3, 4}, nnserve::v1::ACTIVATION_TANH},
      {"activation { activation: ACTIVATION_SIGMOID }", {4},
       nnserve::v1::ACTIVATION_SIGMOID},
      {"activation { activation: ACTIVATION_SOFTMAX }", {4},
       nnserve::v1::ACTIVATION_SOFTMAX},
      {"batch_normalization {}", {4}, nnserve::v1::ACTIVATION_LINEAR},
      {"flatten {}", {2, 2}, nnserve::v1::ACTIVATION_LINEAR},
      {"dropout { rate: 0.5 }", {4}, nnserve::v1::ACTIVATION_LINEAR},
      {"max_pooling2d { pool_height: 2 pool_width: 2 }", {4, 4},
       nnserve::v1::ACTIVATION_LINEAR},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.layer);
    nnserve::v1::LayerSpec spec =
        ParseSpec(absl::StrCat("layers { name: \"x\" ", c.layer, " }"))
            .layers(0);
    absl::StatusOr<std::unique_ptr<Layer>> layer = CreateLayer(spec, 0, c.input);
    ASSERT_TRUE(layer.ok()) << layer.status();
    EXPECT_EQ((*layer)->final_activation(), c.expected);
    EXPECT_EQ((*layer)->ends_in_softmax(),
              c.expected == nnserve::v1::ACTIVATION_SOFTMAX);
  }
}

}  // namespace
}  // namespace nn
