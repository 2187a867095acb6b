#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "engine/threading.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/reference.h"
#include "tests/engine/test_util.h"
#include "tests/support/numerical_contract.h"

namespace nn {
namespace {

using ::nn::testing::kReferenceTolerance;
using ::nn::testing::kRunToRunTolerance;
using ::nn::testing::MaxContractError;
using ::nn::testing::MnistTestImages;
using ::nn::testing::ParseSpec;
using ::nn::testing::TutorialModel;
using ::nn::testing::ReferenceForward;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kImage = 28 * 28;

// Runs `images` (count * 784 floats) through `context` in batches of
// `batch` (the last one smaller) and returns all probabilities.
std::vector<float> RunInBatches(InferenceContext& context, int classes,
                                const std::vector<float>& images,
                                int64_t batch) {
  const int64_t count = static_cast<int64_t>(images.size()) / kImage;
  std::vector<float> probabilities(static_cast<size_t>(count * classes));
  for (int64_t begin = 0; begin < count; begin += batch) {
    const int64_t n = std::min(batch, count - begin);
    absl::Status status = context.Run(
        absl::MakeConstSpan(images).subspan(begin * kImage, n * kImage), n,
        absl::MakeSpan(probabilities).subspan(begin * classes, n * classes));
    EXPECT_TRUE(status.ok()) << status;
  }
  return probabilities;
}

class TutorialModelTest : public ::testing::TestWithParam<std::string> {};

// The numerical contract (engine/model.h): the same batch size on the same
// thread count and CPU is bit-identical, in the same context and in another;
// other batch sizes are only close (oneDNN 2.6 picks kernels and blockings
// per shape: on AVX2 a CNN image differs in the last bits between batch 5
// and 12).
TEST_P(TutorialModelTest, SameBatchSizeIsBitIdenticalOtherSizesAreClose) {
  std::shared_ptr<const Model> model = TutorialModel(GetParam());
  ASSERT_NE(model, nullptr);
  const std::vector<float> images = MnistTestImages(256);
  std::unique_ptr<InferenceContext> context = model->NewInferenceContext();
  const std::vector<float> at256 = RunInBatches(*context, 10, images, 256);
  EXPECT_EQ(RunInBatches(*context, 10, images, 256), at256);
  std::unique_ptr<InferenceContext> other_context = model->NewInferenceContext();
  EXPECT_EQ(RunInBatches(*other_context, 10, images, 256), at256);
  for (int64_t batch : {1, 7, 32}) {
    SCOPED_TRACE(::testing::Message() << "batch size " << batch);
    const std::vector<float> other = RunInBatches(*context, 10, images, batch);
    EXPECT_EQ(RunInBatches(*other_context, 10, images, batch), other);
    EXPECT_LE(MaxContractError(other, at256), kRunToRunTolerance);
  }
  const std::vector<double> expected =
      ReferenceForward(*model->network(), images, 256);
  EXPECT_LE(MaxContractError(at256, expected), kReferenceTolerance);
  for (int64_t i = 0; i < 256; ++i) {
    const double sum = std::accumulate(at256.begin() + i * 10,
                                       at256.begin() + (i + 1) * 10, 0.0);
    EXPECT_NEAR(sum, 1.0, 1e-5) << "image " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TutorialModelTest,
                         ::testing::Values("mnist_mlp", "mnist_cnn",
                                           "mnist_rnn"));

TEST(ModelTest, SummaryMatchesKerasForTheCnn) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  ASSERT_NE(model, nullptr);
  std::vector<std::string> rows;
  for (const LayerSummary& layer : model->Summary()) {
    rows.push_back(absl::StrCat(layer.name, " ", layer.kind, " ",
                                ShapeToString(layer.output_shape), " ",
                                layer.parameters));
  }
  EXPECT_THAT(rows, ElementsAre("conv2d Conv2D {26,26,32} 320",
                                "max_pooling2d MaxPooling2D {13,13,32} 0",
                                "conv2d_1 Conv2D {11,11,64} 18496",
                                "max_pooling2d_1 MaxPooling2D {5,5,64} 0",
                                "flatten Flatten {1600} 0",
                                "dense Dense {64} 102464",
                                "dense_1 Dense {10} 650"));
  EXPECT_EQ(model->total_parameters(), 121930);
}

TEST(ModelTest, ParameterCountsMatchTheTutorial) {
  EXPECT_EQ(TutorialModel("mnist_mlp")->total_parameters(), 101770);
  EXPECT_EQ(TutorialModel("mnist_rnn")->total_parameters(), 14858);
}

TEST(ModelTest, UnnamedLayersGetKerasDefaultNames) {
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::Create(ParseSpec(R"pb(
                      layers { flatten {} }
                      layers { dense { units: 8 activation: ACTIVATION_RELU } }
                      layers { name: "dense_1" dropout { rate: 0.2 } }
                      layers { dense { units: 8 } }
                      layers { dense { units: 3 activation: ACTIVATION_SOFTMAX } }
                    )pb"),
                    1);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<std::string> names;
  for (const auto& layer : (*model)->spec().layers()) {
    names.push_back(layer.name());
  }
  EXPECT_THAT(names,
              ElementsAre("flatten", "dense", "dense_1", "dense_2", "dense_3"));
  EXPECT_EQ((*model)->network()->parameter_name(0), "dense/kernel");
}

TEST(ModelTest, InputDefaultsTo28By28AndLabelsToClassNumbers) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_mlp");
  EXPECT_EQ(model->input_height(), 28);
  EXPECT_EQ(model->input_width(), 28);
  EXPECT_EQ(model->num_classes(), 10);
  EXPECT_THAT(model->labels(), ElementsAre("0", "1", "2", "3", "4", "5", "6",
                                           "7", "8", "9"));
  absl::StatusOr<std::shared_ptr<const Model>> labelled =
      Model::Create(ParseSpec(R"pb(
                      input { height: 4 width: 6 }
                      labels: [ "yes", "no" ]
                      layers { flatten {} }
                      layers { dense { units: 2 activation: ACTIVATION_SOFTMAX } }
                    )pb"),
                    1);
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ((*labelled)->input_height(), 4);
  EXPECT_EQ((*labelled)->input_width(), 6);
  EXPECT_THAT((*labelled)->labels(), ElementsAre("yes", "no"));
}

TEST(ModelTest, SameSeedGivesSameWeightsAndOtherSeedsDiffer) {
  const auto a = TutorialModel("mnist_rnn", 5)->ToSavedModel();
  const auto b = TutorialModel("mnist_rnn", 5)->ToSavedModel();
  const auto c = TutorialModel("mnist_rnn", 6)->ToSavedModel();
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_NE(a.parameters(0).values(0), c.parameters(0).values(0));
}

TEST(ModelTest, InitialisesAsKeras) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_rnn");
  const Network& network = *model->network();
  for (int id = 0; id < network.num_parameter_tensors(); ++id) {
    const Tensor& tensor = network.parameter(id);
    const std::string& name = network.parameter_name(id);
    if (name == "simple_rnn/kernel") {  // Glorot: l = sqrt(6 / (28 + 64))
      const float limit = std::sqrt(6.0f / (28 + 64));
      EXPECT_LE(*std::max_element(tensor.values().begin(), tensor.values().end()),
                limit);
      EXPECT_GE(*std::min_element(tensor.values().begin(), tensor.values().end()),
                -limit);
      EXPECT_GT(*std::max_element(tensor.values().begin(), tensor.values().end()),
                0.9f * limit);
    } else if (name == "simple_rnn/recurrent_kernel") {  // orthogonal
      for (int i = 0; i < 64; ++i) {
        for (int j = 0; j < 64; ++j) {
          double dot = 0;
          for (int k = 0; k < 64; ++k) {
            dot += double{tensor[i * 64 + k]} * tensor[j * 64 + k];
          }
          ASSERT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5) << i << "," << j;
        }
      }
    } else if (name == "simple_rnn/bias") {
      EXPECT_THAT(tensor.values(), ::testing::Each(0.0f));
    }
  }
}

TEST(ModelTest, BatchNormalizationStartsAsKeras) {
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::Create(ParseSpec(R"pb(
                      layers { flatten {} }
                      layers { batch_normalization {} }
                      layers { dense { units: 2 activation: ACTIVATION_SOFTMAX } }
                    )pb"),
                    1);
  ASSERT_TRUE(model.ok()) << model.status();
  const Network& network = *(*model)->network();
  ASSERT_EQ(network.parameter_name(3), "batch_normalization/moving_variance");
  EXPECT_THAT(network.parameter(0).values(), ::testing::Each(1.0f));  // gamma
  EXPECT_THAT(network.parameter(1).values(), ::testing::Each(0.0f));  // beta
  EXPECT_THAT(network.parameter(2).values(), ::testing::Each(0.0f));  // mean
  EXPECT_THAT(network.parameter(3).values(), ::testing::Each(1.0f));  // var
}

// Invalid specs: each gives INVALID_ARGUMENT with a message naming the layer.
struct InvalidSpec {
  std::string name;
  std::string spec;
  std::vector<std::string> message_parts;
};

void PrintTo(const InvalidSpec& c, std::ostream* os) { *os << c.name; }

class InvalidSpecTest : public ::testing::TestWithParam<InvalidSpec> {};

TEST_P(InvalidSpecTest, IsRejectedWithAMessageNamingTheLayer) {
  const InvalidSpec& c = GetParam();
  const nnserve::v1::ModelSpec spec = ParseSpec(c.spec);
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Create(spec, 1);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& part : c.message_parts) {
    EXPECT_THAT(model.status().message(), HasSubstr(part));
  }
  // ValidateModelSpec agrees without building the weights.
  EXPECT_EQ(ValidateModelSpec(spec), model.status());
}

const InvalidSpec kInvalidSpecs[] = {
    {"DenseAfterConvWithoutFlatten",
     R"pb(layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3 } }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"dense\" (Dense)", "1-D input", "{26,26,4}", "Flatten"}},
    {"KernelLargerThanInput",
     R"pb(input { height: 5 width: 5 }
          layers { conv2d { filters: 4 kernel_height: 6 kernel_width: 3 } }
          layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 0 \"conv2d\" (Conv2D)", "larger than the input height 5"}},
    {"PoolLargerThanInput",
     R"pb(input { height: 5 width: 5 }
          layers { name: "pool" max_pooling2d { pool_height: 2 pool_width: 7 } }
          layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 0 \"pool\" (MaxPooling2D)", "width 7", "input width 5"}},
    {"SoftmaxNotLast",
     R"pb(layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"dense\" (Dense)", "softmax is only allowed in the last layer"}},
    {"NoSoftmaxAtTheEnd",
     R"pb(layers { flatten {} } layers { dense { units: 10 } })pb",
     {"layer 1 \"dense\" (Dense)", "must end in a softmax"}},
    {"SoftmaxOnAnImage",
     R"pb(layers { conv2d { filters: 2 kernel_height: 3 kernel_width: 3
                            activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 0 \"conv2d\" (Conv2D)", "softmax needs a 1-D output"}},
    {"EmptyLayerKind",
     R"pb(layers { flatten {} } layers { name: "mystery" }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"mystery\"", "no layer kind set"}},
    {"DuplicateNames",
     R"pb(layers { name: "x" flatten {} }
          layers { name: "x" dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"x\" (Dense)", "duplicate layer name"}},
    {"SlashInName",
     R"pb(layers { name: "a/b" flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 0 \"a/b\" (Flatten)", "'/'"}},
    {"ZeroUnits",
     R"pb(layers { flatten {} } layers { dense { units: 0 } }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"dense\" (Dense)", "units must be in [1,"}},
    {"ZeroFilters",
     R"pb(layers { conv2d { kernel_height: 3 kernel_width: 3 } }
          layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 0 \"conv2d\" (Conv2D)", "filters"}},
    {"NegativeStride",
     R"pb(layers { conv2d { filters: 2 kernel_height: 3 kernel_width: 3
                            stride_height: -1 } }
          layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 0 \"conv2d\" (Conv2D)", "stride_height"}},
    {"UnknownActivation",
     R"pb(layers { flatten {} }
          layers { dense { units: 10 activation: 42 } })pb",
     {"layer 1 \"dense\" (Dense)", "unknown activation 42"}},
    {"RnnWithoutSequenceInput",
     R"pb(layers { simple_rnn { units: 8 } } layers { simple_rnn { units: 8 } }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"simple_rnn_1\" (SimpleRNN)", "return_sequences"}},
    {"RnnWithReluActivation",
     R"pb(layers { simple_rnn { units: 8 activation: ACTIVATION_RELU } }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 0 \"simple_rnn\" (SimpleRNN)", "only the tanh"}},
    {"DropoutRateOne",
     R"pb(layers { flatten {} } layers { dropout { rate: 1 } }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"dropout\" (Dropout)", "rate must be in [0, 1)"}},
    {"NegativeRegularizer",
     R"pb(layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX
                           kernel_regularizer { l2: -1 } } })pb",
     {"layer 1 \"dense\" (Dense)", "kernel_regularizer"}},
    {"WrongLabelCount",
     R"pb(labels: [ "a", "b" ] layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"2 labels for 10 classes"}},
    {"NoLayers", R"pb(name: "empty")pb", {"no layers"}},
    {"NegativeInputSize",
     R"pb(input { height: -3 } layers { flatten {} }
          layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb",
     {"input height and width must be positive"}},
    {"HugeDenseExceedsTheParameterLimit",
     R"pb(input { height: 4096 width: 4096 } layers { flatten {} }
          layers { dense { units: 1000000 activation: ACTIVATION_SOFTMAX } })pb",
     {"layer 1 \"dense\" (Dense)", "exceeds"}},
};

INSTANTIATE_TEST_SUITE_P(
    Specs, InvalidSpecTest, ::testing::ValuesIn(kInvalidSpecs),
    [](const ::testing::TestParamInfo<InvalidSpec>& info) {
      return info.param.name;
    });

TEST(InferenceContextTest, RejectsSizeMismatchesWithInvalidArgument) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_mlp");
  std::unique_ptr<InferenceContext> context = model->NewInferenceContext();
  std::vector<float> input(2 * kImage), output(20);
  EXPECT_EQ(context->Run(input, 3, absl::MakeSpan(output)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(context->Run(absl::MakeConstSpan(input).subspan(1), 2,
                         absl::MakeSpan(output))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(context->Run(input, 2, absl::MakeSpan(output).subspan(1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(context->Run({}, 0, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(context->Run(input, 2, absl::MakeSpan(output)).ok());
}

TEST(InferenceContextTest, RejectsBatchesAboveTheLimit) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_mlp");
  Model::ContextOptions options;
  options.max_batch_size = 4;
  std::unique_ptr<InferenceContext> context =
      model->NewInferenceContext(options);
  std::vector<float> input(5 * kImage), output(50);
  absl::Status status = context->Run(input, 5, absl::MakeSpan(output));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("batch size 5"));
}

TEST(InferenceContextTest, RefusesToRunOnAnotherThread) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_mlp");
  std::unique_ptr<InferenceContext> context = model->NewInferenceContext();
  std::vector<float> input(kImage), output(10);
  absl::Status status;
  std::thread([&] { status = context->Run(input, 1, absl::MakeSpan(output)); })
      .join();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InferenceContextTest, EvictsPlansBeyondTheCacheSizeAndStaysCorrect) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  const std::vector<float> images = MnistTestImages(12);
  // Per batch size, what a context that never evicts computes.
  std::unique_ptr<InferenceContext> reference = model->NewInferenceContext();
  std::map<int64_t, std::vector<float>> expected;
  for (int64_t batch : {12, 5, 3}) {
    expected[batch] = RunInBatches(*reference, 10, images, batch);
  }
  Model::ContextOptions options;
  options.max_cached_plans = 2;
  std::unique_ptr<InferenceContext> context =
      model->NewInferenceContext(options);
  // 3 evicts 12's plan, 12 then evicts 5's: rebuilt plans give the same
  // bits (same batch size, thread count and CPU), and every size is close
  // to every other.
  for (int64_t batch : {12, 5, 3, 12, 5}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    const std::vector<float> result = RunInBatches(*context, 10, images, batch);
    EXPECT_EQ(result, expected[batch]);
    EXPECT_LE(MaxContractError(result, expected[12]), kRunToRunTolerance);
  }
}

TEST(InferenceContextTest, ContextOutlivesTheModelObject) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_mlp");
  std::unique_ptr<InferenceContext> context = model->NewInferenceContext();
  const std::vector<float> images = MnistTestImages(3);
  const std::vector<float> before = RunInBatches(*context, 10, images, 3);
  model.reset();
  EXPECT_EQ(RunInBatches(*context, 10, images, 3), before);
}

TEST(InferenceContextTest, ThreadsWithTheirOwnContextsGetCorrectResults) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  const std::vector<float> images = MnistTestImages(40);
  constexpr int kThreads = 4;
  const int64_t batches[kThreads] = {1, 5, 8, 40};
  // Expected results per batch size, computed alone on a thread with the
  // same oneDNN thread count (1) as the concurrent ones: the contract makes
  // these bit-identical.
  std::vector<std::vector<float>> expected;
  std::thread([&] {
    SetThreadOneDnnThreads(1);
    for (int64_t batch : batches) {
      std::unique_ptr<InferenceContext> context = model->NewInferenceContext();
      expected.push_back(RunInBatches(*context, 10, images, batch));
    }
  }).join();
  std::vector<std::vector<float>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SetThreadOneDnnThreads(1);
      std::unique_ptr<InferenceContext> context = model->NewInferenceContext();
      for (int round = 0; round < 3; ++round) {
        results[t] = RunInBatches(*context, 10, images, batches[t]);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<double> reference =
      ReferenceForward(*model->network(), images, 40);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t], expected[t]) << "thread " << t;
    EXPECT_LE(MaxContractError(results[t], reference), kReferenceTolerance)
        << "thread " << t;
  }
}

TEST(ThreadingTest, SetsTheCallingThreadsOneDnnThreadCountOnly) {
  SetThreadOneDnnThreads(1);
  int other = 0;
  std::thread([&] {
    SetThreadOneDnnThreads(2);
    other = ThreadOneDnnThreads();
  }).join();
  EXPECT_EQ(other, 2);
  EXPECT_EQ(ThreadOneDnnThreads(), 1);
  SetThreadOneDnnThreads(0);
  EXPECT_EQ(ThreadOneDnnThreads(), 1);
}

}  // namespace
}  // namespace nn
