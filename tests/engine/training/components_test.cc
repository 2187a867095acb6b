// The parts of training below the trainer: the fused loss, the regulariser,
// the optimisers (against Keras' update rules computed by hand in double),
// Dropout's masks, BatchNormalization's moving statistics, the max-pooling
// host kernels against naive loops, the one-channel convolution's weight
// gradient against a double-precision loop, and plans that give the same gradients
// on every run.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/layers/conv_weight_gradient.h"
#include "engine/layers/max_pool_kernels.h"
#include "engine/network.h"
#include "engine/threading.h"
#include "engine/training/loss.h"
#include "engine/training/optimizer.h"
#include "engine/training/regularizer.h"
#include "engine/training/training_plan.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"
#include "tests/support/numerical_contract.h"

namespace nn {
namespace {

using ::nn::testing::ParseSpec;
using ::nn::testing::RandomInput;

std::unique_ptr<Network> MakeNetwork(const Shape& input,
                                     const std::string& layers,
                                     uint64_t seed = 3) {
  absl::StatusOr<std::unique_ptr<Network>> network =
      Network::Create(input, ParseSpec(layers).layers());
  EXPECT_TRUE(network.ok()) << network.status();
  if (!network.ok()) return nullptr;
  (*network)->InitializeParameters(seed);
  return std::move(*network);
}

std::vector<Tensor> GradientsFor(const Network& network) {
  std::vector<Tensor> gradients;
  for (int id = 0; id < network.num_parameter_tensors(); ++id) {
    gradients.emplace_back(network.parameter(id).shape());
  }
  return gradients;
}

// A plan for `network` with a random input and labels 0, 1, 2, ...
std::unique_ptr<TrainingPlan> MakePlan(Network* network,
                                       std::vector<Tensor>& gradients,
                                       int64_t batch, bool input_gradient) {
  absl::StatusOr<std::unique_ptr<TrainingPlan>> plan = TrainingPlan::Create(
      network, absl::MakeSpan(gradients),
      {.batch_size = batch, .input_gradient = input_gradient});
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return nullptr;
  const std::vector<float> input =
      RandomInput(static_cast<int64_t>((*plan)->input().size()), 9);
  std::copy(input.begin(), input.end(), (*plan)->input().begin());
  for (int64_t i = 0; i < batch; ++i) {
    (*plan)->labels()[i] = static_cast<int32_t>(i % (*plan)->num_classes());
  }
  return std::move(*plan);
}

// --- Loss ---

TEST(SoftmaxCrossEntropyTest, MatchesHandComputedValuesAndGradient) {
  // Row 0: logits {0, ln 3} -> p = {1/4, 3/4}, label 1: loss -ln(3/4).
  // Row 1: logits {2, 2} -> p = {1/2, 1/2}, label 0: loss ln 2.
  const float logits[] = {0.0f, std::log(3.0f), 2.0f, 2.0f};
  const int32_t labels[] = {1, 0};
  float gradient[4];
  const SoftmaxCrossEntropyResult result =
      SoftmaxCrossEntropy(logits, labels, 2, gradient);
  EXPECT_NEAR(result.mean_loss, (-std::log(0.75) + std::log(2.0)) / 2, 1e-7);
  EXPECT_EQ(result.correct, 2);  // a tie counts the first class
  // (p - onehot) / n
  EXPECT_NEAR(gradient[0], 0.25 / 2, 1e-7);
  EXPECT_NEAR(gradient[1], -0.25 / 2, 1e-7);
  EXPECT_NEAR(gradient[2], -0.5 / 2, 1e-7);
  EXPECT_NEAR(gradient[3], 0.5 / 2, 1e-7);
}

TEST(SoftmaxCrossEntropyTest, StaysFiniteForHugeLogits) {
  const float logits[] = {1000.0f, -1000.0f, 0.0f};
  const int32_t labels[] = {1};
  float gradient[3];
  const SoftmaxCrossEntropyResult result =
      SoftmaxCrossEntropy(logits, labels, 3, gradient);
  EXPECT_NEAR(result.mean_loss, 2000.0, 1e-3);
  EXPECT_EQ(result.correct, 0);
  EXPECT_FLOAT_EQ(gradient[0], 1.0f);
  EXPECT_FLOAT_EQ(gradient[1], -1.0f);
  EXPECT_FLOAT_EQ(gradient[2], 0.0f);
}

TEST(ProbabilityCrossEntropyTest, ClipsLikeKeras) {
  EXPECT_NEAR(ProbabilityCrossEntropy(0.5f), std::log(2.0), 1e-7);
  EXPECT_NEAR(ProbabilityCrossEntropy(0.0f), -std::log(1e-7), 1e-6);
  EXPECT_NEAR(ProbabilityCrossEntropy(1.0f), -std::log(1 - 1e-7), 1e-9);
}

// --- Regularizer ---

TEST(RegularizerTest, AddsPenaltyGradientAndReturnsPenalty) {
  nnserve::v1::Regularizer regularizer;
  regularizer.set_l1(0.5f);
  regularizer.set_l2(0.25f);
  const std::vector<float> weights = {2.0f, -1.0f, 0.0f};
  std::vector<float> gradient = {1.0f, 1.0f, 1.0f};
  const double penalty =
      ApplyRegularizer(regularizer, weights, absl::MakeSpan(gradient));
  // 0.5 * (2 + 1 + 0) + 0.25 * (4 + 1 + 0)
  EXPECT_DOUBLE_EQ(penalty, 1.5 + 1.25);
  EXPECT_FLOAT_EQ(gradient[0], 1.0f + 0.5f + 2 * 0.25f * 2.0f);
  EXPECT_FLOAT_EQ(gradient[1], 1.0f - 0.5f - 2 * 0.25f * 1.0f);
  EXPECT_FLOAT_EQ(gradient[2], 1.0f);  // sign(0) = 0
  EXPECT_DOUBLE_EQ(RegularizationPenalty(regularizer, weights), penalty);
}

TEST(RegularizerTest, ZeroRegularizerChangesNothing) {
  const std::vector<float> weights = {2.0f};
  std::vector<float> gradient = {1.0f};
  EXPECT_EQ(ApplyRegularizer({}, weights, absl::MakeSpan(gradient)), 0.0);
  EXPECT_EQ(gradient[0], 1.0f);
}

// --- Optimizers ---

// A network with one Dense layer: kernel {2, 2}, bias {2}.
class OptimizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    network_ = MakeNetwork(
        {2}, "layers { dense { units: 2 activation: ACTIVATION_SOFTMAX } }");
    ASSERT_NE(network_, nullptr);
    gradients_ = GradientsFor(*network_);
    for (int id = 0; id < 2; ++id) {
      for (int64_t i = 0; i < gradients_[id].size(); ++i) {
        gradients_[id][i] = 0.1f * static_cast<float>(i + 1) * (id ? -1 : 1);
      }
    }
  }

  // Applies `steps` updates and checks every weight against `expected`
  // (a function of the initial value w0, the gradient g and the step count).
  void Check(const nnserve::v1::TrainingConfig& config, int steps,
             const std::function<double(double w0, double g, int t)>& expected) {
    std::vector<std::vector<float>> initial;
    for (int id = 0; id < 2; ++id) {
      initial.push_back(network_->parameter(id).values());
    }
    absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
        Optimizer::Create(config, network_.get());
    ASSERT_TRUE(optimizer.ok()) << optimizer.status();
    for (int t = 0; t < steps; ++t) (*optimizer)->Apply(gradients_);
    EXPECT_EQ((*optimizer)->steps(), steps);
    for (int id = 0; id < 2; ++id) {
      for (int64_t i = 0; i < gradients_[id].size(); ++i) {
        EXPECT_NEAR(network_->parameter(id)[i],
                    expected(initial[id][i], gradients_[id][i], steps), 1e-6)
            << network_->parameter_name(id) << "[" << i << "]";
      }
    }
  }

  std::unique_ptr<Network> network_;
  std::vector<Tensor> gradients_;
};

TEST_F(OptimizerTest, SgdStepsAgainstTheGradient) {
  nnserve::v1::TrainingConfig config;
  config.set_optimizer(nnserve::v1::OPTIMIZER_SGD);
  config.set_learning_rate(0.5f);
  Check(config, 3, [](double w0, double g, int t) { return w0 - t * 0.5 * g; });
}

TEST_F(OptimizerTest, MomentumAccumulatesVelocityAsKeras) {
  nnserve::v1::TrainingConfig config;
  config.set_optimizer(nnserve::v1::OPTIMIZER_MOMENTUM);
  config.set_learning_rate(0.1f);
  config.set_momentum(0.9f);
  Check(config, 3, [](double w0, double g, int t) {
    double v = 0, w = w0;
    for (int k = 0; k < t; ++k) {
      v = 0.9 * v - 0.1 * g;
      w += v;
    }
    return w;
  });
}

TEST_F(OptimizerTest, NesterovLooksAhead) {
  nnserve::v1::TrainingConfig config;
  config.set_optimizer(nnserve::v1::OPTIMIZER_MOMENTUM);
  config.set_learning_rate(0.1f);
  config.set_momentum(0.9f);
  config.set_nesterov(true);
  Check(config, 3, [](double w0, double g, int t) {
    double v = 0, w = w0;
    for (int k = 0; k < t; ++k) {
      v = 0.9 * v - 0.1 * g;
      w += 0.9 * v - 0.1 * g;
    }
    return w;
  });
}

TEST_F(OptimizerTest, AdamUsesKerasConstantsAndBiasCorrection) {
  nnserve::v1::TrainingConfig config;
  config.set_optimizer(nnserve::v1::OPTIMIZER_ADAM);
  config.set_learning_rate(0.01f);
  Check(config, 4, [](double w0, double g, int t) {
    double m = 0, v = 0, w = w0;
    for (int k = 1; k <= t; ++k) {
      m = m + (g - m) * (1 - 0.9);
      v = v + (g * g - v) * (1 - 0.999);
      const double step =
          0.01 * std::sqrt(1 - std::pow(0.999, k)) / (1 - std::pow(0.9, k));
      w -= step * m / (std::sqrt(v) + 1e-7);
    }
    return w;
  });
}

TEST_F(OptimizerTest, LeavesNonTrainableParametersAlone) {
  std::unique_ptr<Network> network =
      MakeNetwork({3}, "layers { batch_normalization {} }"
                       "layers { flatten {} }"
                       "layers { dense { units: 2 activation: ACTIVATION_SOFTMAX } }");
  ASSERT_NE(network, nullptr);
  std::vector<Tensor> gradients = GradientsFor(*network);
  for (Tensor& g : gradients) {
    for (int64_t i = 0; i < g.size(); ++i) g[i] = 1.0f;
  }
  nnserve::v1::TrainingConfig config;
  config.set_optimizer(nnserve::v1::OPTIMIZER_SGD);
  config.set_learning_rate(0.5f);
  absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
      Optimizer::Create(config, network.get());
  ASSERT_TRUE(optimizer.ok());
  (*optimizer)->Apply(gradients);
  EXPECT_FLOAT_EQ(network->parameter(0)[0], 0.5f);  // gamma 1 - 0.5
  EXPECT_FLOAT_EQ(network->parameter(2)[0], 0.0f);  // moving_mean
  EXPECT_FLOAT_EQ(network->parameter(3)[0], 1.0f);  // moving_variance
}

// --- Plans ---

TEST(TrainingPlanTest, RepeatedRunsGiveTheSameGradients) {
  // Every gradient is written afresh on every run, never added to what the
  // run before left (the SimpleRNN's backward steps add into G in place).
  std::unique_ptr<Network> network = MakeNetwork(
      {5, 4},
      "layers { simple_rnn { units: 6 return_sequences: true } }"
      "layers { simple_rnn { units: 5 } }"
      "layers { batch_normalization {} }"
      "layers { dense { units: 3 activation: ACTIVATION_SOFTMAX } }");
  ASSERT_NE(network, nullptr);
  std::vector<Tensor> gradients = GradientsFor(*network);
  std::unique_ptr<TrainingPlan> plan =
      MakePlan(network.get(), gradients, 7, false);
  ASSERT_NE(plan, nullptr);
  ASSERT_TRUE(plan->Run(1).ok());
  const std::vector<Tensor> first = gradients;
  ASSERT_TRUE(plan->Run(1).ok());
  for (int id = 0; id < network->num_parameter_tensors(); ++id) {
    EXPECT_EQ(gradients[id].values(), first[id].values())
        << network->parameter_name(id);
  }
}

TEST(TrainingPlanTest, TrainingForwardOfSimpleRnnsMatchesInference) {
  // Training runs SimpleRNN as inner products and per-step matmuls,
  // inference as oneDNN's vanilla_rnn: both within the numerical contract.
  std::shared_ptr<Network> network = MakeNetwork(
      {7, 5},
      "layers { simple_rnn { units: 6 return_sequences: true } }"
      "layers { simple_rnn { units: 4 return_sequences: true } }"
      "layers { simple_rnn { units: 8 } }"
      "layers { dense { units: 3 activation: ACTIVATION_SOFTMAX } }");
  ASSERT_NE(network, nullptr);
  std::vector<Tensor> gradients = GradientsFor(*network);
  for (int64_t batch : {1, 5, 33}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    std::unique_ptr<TrainingPlan> plan =
        MakePlan(network.get(), gradients, batch, false);
    ASSERT_NE(plan, nullptr);
    ASSERT_TRUE(plan->Run(1).ok());
    // Softmax of the training logits, in double.
    std::vector<float> trained;
    const int classes = plan->num_classes();
    for (int64_t i = 0; i < batch; ++i) {
      const absl::Span<const float> z =
          plan->logits().subspan(i * classes, classes);
      const double top = *std::max_element(z.begin(), z.end());
      double sum = 0;
      for (float v : z) sum += std::exp(v - top);
      for (float v : z) {
        trained.push_back(static_cast<float>(std::exp(v - top) / sum));
      }
    }
    const std::vector<float> input(plan->input().begin(), plan->input().end());
    const std::vector<float> inferred =
        ::nn::testing::RunNetwork(network, input, batch);
    EXPECT_LE(::nn::testing::MaxContractError(trained, inferred),
              ::nn::testing::kRunToRunTolerance);
  }
}

TEST(TrainingPlanTest, RejectsLabelsOutsideTheClasses) {
  std::unique_ptr<Network> network = MakeNetwork(
      {4}, "layers { dense { units: 3 activation: ACTIVATION_SOFTMAX } }");
  ASSERT_NE(network, nullptr);
  std::vector<Tensor> gradients = GradientsFor(*network);
  std::unique_ptr<TrainingPlan> plan =
      MakePlan(network.get(), gradients, 2, false);
  ASSERT_NE(plan, nullptr);
  plan->labels()[1] = 3;
  EXPECT_EQ(plan->Run(1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TrainingPlanTest, NeedsASoftmaxClassifier) {
  std::unique_ptr<Network> network =
      MakeNetwork({4}, "layers { dense { units: 3 } }");
  ASSERT_NE(network, nullptr);
  std::vector<Tensor> gradients = GradientsFor(*network);
  EXPECT_EQ(TrainingPlan::Create(network.get(), absl::MakeSpan(gradients),
                                 {.batch_size = 2})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TrainingPlanTest, BatchNormalizationUpdatesMovingStatisticsAsKeras) {
  std::unique_ptr<Network> network = MakeNetwork(
      {3}, "layers { batch_normalization { momentum: 0.9 } }"
           "layers { dense { units: 2 activation: ACTIVATION_SOFTMAX } }");
  ASSERT_NE(network, nullptr);
  std::vector<Tensor> gradients = GradientsFor(*network);
  const int64_t n = 6;
  std::unique_ptr<TrainingPlan> plan =
      MakePlan(network.get(), gradients, n, false);
  ASSERT_NE(plan, nullptr);
  ASSERT_TRUE(plan->Run(1).ok());
  for (int f = 0; f < 3; ++f) {
    double mean = 0, square = 0;
    for (int64_t i = 0; i < n; ++i) mean += plan->input()[i * 3 + f];
    mean /= n;
    for (int64_t i = 0; i < n; ++i) {
      const double d = plan->input()[i * 3 + f] - mean;
      square += d * d;
    }
    // moving = moving * 0.9 + batch * 0.1; the variance unbiased (n - 1).
    EXPECT_NEAR(network->parameter(2)[f], 0.1 * mean, 1e-6);
    EXPECT_NEAR(network->parameter(3)[f], 0.9 + 0.1 * square / (n - 1), 1e-6);
  }
}

// Dropout(rate) on {200} then a Dense softmax over 3 classes, one sample
// with label 0. Returns the mask the plan used, recovered from the input
// gradient d loss / d x_i = mask_i * (W g)_i (zero exactly where dropped),
// after checking that gradient against one computed by hand from the same
// mask: that checks the 1 / (1 - rate) scale and that forward and backward
// used one mask.
std::vector<float> DropoutMask(float rate, uint64_t step_seed) {
  std::unique_ptr<Network> network = MakeNetwork(
      {200}, absl::StrCat("layers { dropout { rate: ", rate, " } }",
                          "layers { dense { units: 3 activation: "
                          "ACTIVATION_SOFTMAX } }"));
  std::vector<Tensor> gradients = GradientsFor(*network);
  std::unique_ptr<TrainingPlan> plan =
      MakePlan(network.get(), gradients, 1, true);
  EXPECT_TRUE(plan->Run(step_seed).ok());
  const Tensor& kernel = network->parameter(0);  // {200, 3}
  const Tensor& bias = network->parameter(1);
  std::vector<float> mask(200);
  for (int i = 0; i < 200; ++i) {
    mask[i] = plan->input_gradient()[i] == 0.0f ? 0.0f : 1.0f / (1.0f - rate);
  }
  double z[3], p[3], sum = 0;
  for (int u = 0; u < 3; ++u) {
    z[u] = bias[u];
    for (int i = 0; i < 200; ++i) {
      z[u] += plan->input()[i] * mask[i] * kernel[i * 3 + u];
    }
  }
  for (int u = 0; u < 3; ++u) sum += (p[u] = std::exp(z[u]));
  for (int u = 0; u < 3; ++u) p[u] /= sum;
  p[0] -= 1;  // label 0: g = p - onehot
  for (int i = 0; i < 200; ++i) {
    double expected = 0;
    for (int u = 0; u < 3; ++u) expected += kernel[i * 3 + u] * p[u];
    EXPECT_NEAR(plan->input_gradient()[i], mask[i] * expected, 1e-5) << i;
  }
  return mask;
}

// The max-pooling host kernels (engine/layers/max_pool_kernels.h) against
// naive loops, bit for bit: forward (with and without winners), and the
// backward, scattered into zeros in output order, with and without the
// ReLU fold; tiled, remainder, padded, gapped and overlapping windows, in
// channel blocks of 8 and 16 and nhwc with a tail (3 and 20 channels).
TEST(MaxPoolKernelsTest, MatchNaiveLoopsBitForBit) {
  using layers_internal::MaxPoolBackward;
  using layers_internal::MaxPoolForward;
  using layers_internal::MaxPoolGeometry;
  struct Window {
    int64_t height, width, pool, stride, pad;
  };
  const Window windows[] = {{8, 8, 2, 2, 0},  {7, 9, 2, 2, 0}, {7, 7, 2, 2, 1},
                            {9, 9, 2, 3, 0},  {6, 6, 3, 1, 1}, {26, 26, 2, 2, 0}};
  for (const Window& w : windows) {
    for (const int64_t inner : {8, 16, 3, 20}) {
      SCOPED_TRACE(absl::StrCat(w.height, "x", w.width, " pool ", w.pool,
                                " stride ", w.stride, " pad ", w.pad,
                                " inner ", inner));
      MaxPoolGeometry g;
      g.outer = 3;
      g.inner = inner;
      g.height = w.height;
      g.width = w.width;
      g.pool_height = g.pool_width = w.pool;
      g.stride_height = g.stride_width = w.stride;
      g.pad_top = g.pad_left = w.pad;
      g.out_height = (w.height + 2 * w.pad - w.pool) / w.stride + 1;
      g.out_width = (w.width + 2 * w.pad - w.pool) / w.stride + 1;
      const int64_t in_size = g.outer * g.height * g.width * inner;
      const int64_t out_size = g.outer * g.out_height * g.out_width * inner;
      // Signed values with ties (steps of 0.25), so ties and non-positive
      // maxima occur.
      std::vector<float> x = RandomInput(in_size, 17);
      for (float& v : x) v = std::round(v * 8.0f) / 4.0f;
      std::vector<float> y(out_size), y_plain(out_size);
      std::vector<int32_t> argmax(out_size);
      MaxPoolForward(g, x.data(), y.data(), argmax.data());
      MaxPoolForward(g, x.data(), y_plain.data(), nullptr);
      std::vector<float> want_y(out_size);
      std::vector<int32_t> want_argmax(out_size);
      for (int64_t o = 0; o < g.outer; ++o) {
        for (int64_t oh = 0; oh < g.out_height; ++oh) {
          for (int64_t ow = 0; ow < g.out_width; ++ow) {
            for (int64_t c = 0; c < inner; ++c) {
              float best = -INFINITY;
              int32_t arg = -1;
              for (int64_t kh = 0; kh < w.pool; ++kh) {
                for (int64_t kw = 0; kw < w.pool; ++kw) {
                  const int64_t ih = oh * w.stride - w.pad + kh;
                  const int64_t iw = ow * w.stride - w.pad + kw;
                  if (ih < 0 || ih >= w.height || iw < 0 || iw >= w.width) {
                    continue;
                  }
                  const float v =
                      x[((o * w.height + ih) * w.width + iw) * inner + c];
                  if (v > best) {
                    best = v;
                    arg = static_cast<int32_t>(ih * w.width + iw);
                  }
                }
              }
              const int64_t at =
                  ((o * g.out_height + oh) * g.out_width + ow) * inner + c;
              want_y[at] = arg < 0 ? 0.0f : best;
              want_argmax[at] = arg;
            }
          }
        }
      }
      ASSERT_EQ(y, want_y);
      ASSERT_EQ(y_plain, want_y);
      ASSERT_EQ(argmax, want_argmax);
      const std::vector<float> dy = RandomInput(out_size, 23);
      for (const bool relu : {false, true}) {
        std::vector<float> dx(in_size, 7.0f);  // overwritten everywhere
        MaxPoolBackward(g, dy.data(), argmax.data(), relu ? y.data() : nullptr,
                        dx.data());
        std::vector<float> want_dx(in_size, 0.0f);
        for (int64_t o = 0; o < g.outer; ++o) {
          for (int64_t k = 0; k < g.out_height * g.out_width; ++k) {
            for (int64_t c = 0; c < inner; ++c) {
              const int64_t at = (o * g.out_height * g.out_width + k) * inner + c;
              if (argmax[at] < 0 || (relu && !(y[at] > 0.0f))) continue;
              want_dx[(o * w.height * w.width + argmax[at]) * inner + c] +=
                  dy[at];
            }
          }
        }
        for (int64_t i = 0; i < in_size; ++i) {
          ASSERT_EQ(std::signbit(dx[i]), std::signbit(want_dx[i])) << i;
          ASSERT_EQ(dx[i], want_dx[i]) << "relu " << relu << " at " << i;
        }
      }
    }
  }
}

// The one-channel convolution's weight gradient host kernel
// (engine/layers/conv_weight_gradient.h) against the sums in double: the
// tutorial's 3x3 on 28x28 with 32 filters, filter counts that leave tails
// (5, 20, 40), kernels of 1 to 4 columns, strides and padding on every
// side. Float sums of up to a few thousand products: within 1e-5 of the
// largest sum. The same bits with 1 and 2 OpenMP threads (each image sums
// on its own, then in image order).
TEST(OneChannelConvWeightGradientTest, MatchesDoubleSumsAndIgnoresThreads) {
  using layers_internal::OneChannelConvGeometry;
  struct Case {
    int64_t images, height, width, filters, kh, kw, sh, sw, pt, pl, oh, ow;
  };
  const Case cases[] = {
      {4, 28, 28, 32, 3, 3, 1, 1, 0, 0, 26, 26},
      {3, 9, 8, 5, 3, 3, 1, 1, 0, 0, 7, 6},
      {2, 7, 8, 20, 2, 4, 2, 2, 0, 1, 4, 4},   // "same": padding after too
      {2, 6, 7, 40, 3, 2, 1, 1, 1, 0, 6, 7},
      {1, 5, 5, 16, 1, 1, 2, 3, 0, 0, 3, 2},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(absl::StrCat(k.height, "x", k.width, " kernel ", k.kh, "x",
                              k.kw, " filters ", k.filters, " stride ", k.sh,
                              "x", k.sw, " pad ", k.pt, ",", k.pl));
    OneChannelConvGeometry g;
    g.images = k.images;
    g.height = k.height;
    g.width = k.width;
    g.out_height = k.oh;
    g.out_width = k.ow;
    g.filters = k.filters;
    g.kernel_height = k.kh;
    g.kernel_width = k.kw;
    g.stride_height = k.sh;
    g.stride_width = k.sw;
    g.pad_top = k.pt;
    g.pad_left = k.pl;
    const std::vector<float> src =
        RandomInput(k.images * k.height * k.width, 7);
    std::vector<float> dy = RandomInput(k.images * k.oh * k.ow * k.filters, 8);
    for (float& v : dy) v -= 0.5f;
    std::vector<double> kernel(k.kh * k.kw * k.filters, 0.0);
    std::vector<double> bias(k.filters, 0.0);
    for (int64_t n = 0; n < k.images; ++n) {
      for (int64_t y = 0; y < k.oh; ++y) {
        for (int64_t x = 0; x < k.ow; ++x) {
          const float* d = &dy[((n * k.oh + y) * k.ow + x) * k.filters];
          for (int64_t f = 0; f < k.filters; ++f) bias[f] += d[f];
          for (int64_t i = 0; i < k.kh; ++i) {
            for (int64_t j = 0; j < k.kw; ++j) {
              const int64_t h = y * k.sh - k.pt + i, w = x * k.sw - k.pl + j;
              if (h < 0 || h >= k.height || w < 0 || w >= k.width) continue;
              const double v = src[(n * k.height + h) * k.width + w];
              for (int64_t f = 0; f < k.filters; ++f) {
                kernel[(i * k.kw + j) * k.filters + f] += v * d[f];
              }
            }
          }
        }
      }
    }
    std::vector<float> work(layers_internal::OneChannelConvWorkFloats(g));
    std::vector<float> dw(kernel.size(), -1.0f), db(bias.size(), -1.0f);
    std::vector<float> dw1(kernel.size()), db1(bias.size());
    const int threads = ThreadOneDnnThreads();
    SetThreadOneDnnThreads(1);
    layers_internal::OneChannelConvWeightGradient(g, src.data(), dy.data(),
                                                  work.data(), dw1.data(),
                                                  db1.data());
    SetThreadOneDnnThreads(2);
    layers_internal::OneChannelConvWeightGradient(g, src.data(), dy.data(),
                                                  work.data(), dw.data(),
                                                  db.data());
    SetThreadOneDnnThreads(threads);
    EXPECT_EQ(dw, dw1);
    EXPECT_EQ(db, db1);
    double largest = 0;
    for (double v : kernel) largest = std::max(largest, std::abs(v));
    for (double v : bias) largest = std::max(largest, std::abs(v));
    for (size_t i = 0; i < kernel.size(); ++i) {
      EXPECT_NEAR(dw[i], kernel[i], 1e-5 * largest) << "kernel " << i;
    }
    for (size_t i = 0; i < bias.size(); ++i) {
      EXPECT_NEAR(db[i], bias[i], 1e-5 * largest) << "bias " << i;
    }
  }
}

TEST(DropoutTest, DropsAboutRateAndScalesTheRestByOneOverKeep) {
  const std::vector<float> mask = DropoutMask(0.5f, 7);
  const int dropped = static_cast<int>(std::count(mask.begin(), mask.end(), 0.0f));
  // 200 Bernoulli(0.5) draws: 100 +- 5 sigma (sigma ~7).
  EXPECT_GT(dropped, 65);
  EXPECT_LT(dropped, 135);
}

TEST(DropoutTest, SameSeedSameMaskOtherSeedOtherMask) {
  const std::vector<float> a = DropoutMask(0.3f, 11);
  const std::vector<float> b = DropoutMask(0.3f, 11);
  const std::vector<float> c = DropoutMask(0.3f, 12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace nn
