// Execution plans: what is fused, what is shared, and what a call costs.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/onednn.h"
#include "engine/plan.h"
#include "engine/threading.h"
#include "gtest/gtest.h"
#include "tests/engine/allocation_counter.h"
#include "tests/engine/test_util.h"
#include "tests/support/numerical_contract.h"

namespace nn {
namespace {

using ::nn::testing::AllocationCount;
using ::nn::testing::MnistTestImages;
using ::nn::testing::RandomNetwork;
using ::nn::testing::TutorialModel;

int Steps(const Network& network, int64_t batch_size) {
  dnnl::stream stream(CpuEngine());
  absl::StatusOr<std::unique_ptr<ExecutionPlan>> plan =
      network.BuildInferencePlan(batch_size, stream);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? (*plan)->num_steps() : -1;
}

TEST(PlanTest, FusesActivationLayersIntoTheDensePrimitive) {
  // inner_product with relu and tanh post-ops: one step.
  EXPECT_EQ(Steps(*RandomNetwork({20},
                                 "layers { dense { units: 9 } }"
                                 "layers { activation { activation: ACTIVATION_RELU } }"
                                 "layers { activation { activation: ACTIVATION_TANH } }",
                                 1),
                  4),
            1);
  // Dense with softmax: inner_product + softmax.
  EXPECT_EQ(Steps(*RandomNetwork({20},
                                 "layers { dense { units: 9 activation: "
                                 "ACTIVATION_SOFTMAX } }",
                                 1),
                  4),
            2);
}

TEST(PlanTest, FusesReluIntoBatchNormalizationButNotASecondActivation) {
  EXPECT_EQ(Steps(*RandomNetwork({12},
                                 "layers { batch_normalization {} }"
                                 "layers { activation { activation: ACTIVATION_RELU } }",
                                 1),
                  2),
            1);
  EXPECT_EQ(Steps(*RandomNetwork({12},
                                 "layers { batch_normalization {} }"
                                 "layers { activation { activation: ACTIVATION_RELU } }"
                                 "layers { activation { activation: ACTIVATION_TANH } }",
                                 1),
                  2),
            2);
}

TEST(PlanTest, MlpIsTwoInnerProductsAndASoftmaxWithNoCopies) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_mlp");
  ASSERT_NE(model, nullptr);
  // Flatten is a view of the input; the softmax writes the caller's output.
  for (int64_t n : {1, 256}) EXPECT_EQ(Steps(*model->network(), n), 3) << n;
}

TEST(PlanTest, CnnHasOneStepPerLayerPlusAtMostOneReorderAtTheFlatten) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  ASSERT_NE(model, nullptr);
  // conv, pool, conv, pool, [reorder to channels-last], dense, dense, softmax.
  // Below AVX2 (ONEDNN_MAX_CPU_ISA=SSE41, scripts/test-isa.sh) oneDNN 2.6
  // has no direct kernel for the 1-channel first convolution: its gemm
  // kernel writes plain NCHW, which the pooling keeps, and one more reorder
  // to the second convolution's blocked layout follows, and the pooling
  // (host loops below AVX-512) reads it reordered to nhwc. On AVX-512 and
  // AVX2 the first convolution and pooling are one host step
  // (engine/layers/conv_one_channel_forward.h): one step fewer.
  const bool below_avx2 = dnnl::get_effective_cpu_isa() < dnnl::cpu_isa::avx2;
  dnnl::stream stream(CpuEngine());
  for (int64_t n : {1, 32}) {
    absl::StatusOr<std::unique_ptr<ExecutionPlan>> plan =
        model->network()->BuildInferencePlan(n, stream);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const std::vector<std::string> lines = (*plan)->Describe();
    const int absorbed =
        lines.front().rfind("host conv2d 1 channel 3x3 filters:32 relu max_pooling 2x2 ", 0) == 0
            ? 1
            : 0;
    const int steps = Steps(*model->network(), n);
    EXPECT_GE(steps, 7 - absorbed) << n;
    EXPECT_LE(steps, (below_avx2 ? 10 : 8) - absorbed) << n;
  }
}

TEST(PlanTest, MaxPoolingRunsOnTheHostBelowAvx512) {
  // oneDNN 2.6's AVX2 pooling is ~6x slower than the host loops
  // (engine/layers/max_pool_kernels.h); its AVX-512 pooling is not.
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  ASSERT_NE(model, nullptr);
  const bool avx512 =
      dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
  dnnl::stream stream(CpuEngine());
  for (int64_t n : {1, 32}) {
    absl::StatusOr<std::unique_ptr<ExecutionPlan>> plan =
        model->network()->BuildInferencePlan(n, stream);
    ASSERT_TRUE(plan.ok()) << plan.status();
    // On AVX-512 and AVX2 the first pooling is part of the first
    // convolution's host step (engine/layers/conv_one_channel_forward.h).
    int host = 0, onednn = 0, absorbed = 0;
    for (const std::string& line : (*plan)->Describe()) {
      if (line.rfind("host conv2d", 0) == 0 &&
          line.find(" max_pooling 2x2 ") != std::string::npos) {
        ++absorbed;
      }
      if (line.rfind("host max_pooling", 0) == 0) {
        ++host;
        // The arguments are described like a primitive's.
        EXPECT_NE(line.find(" src=arena@"), std::string::npos) << line;
        EXPECT_NE(line.find(" dst=arena@"), std::string::npos) << line;
      }
      if (line.rfind("pooling", 0) == 0) {
        ++onednn;
        EXPECT_NE(line.find("jit:avx512"), std::string::npos) << line;
      }
    }
    // The host convolution kernel runs on AVX-512 and on AVX2 with FMA
    // (capped or native), each in its own layout; below AVX2 oneDNN's.
    const bool host_conv =
        avx512 ? __builtin_cpu_supports("avx512f") != 0
               : dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx2 &&
                     __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    EXPECT_EQ(absorbed, host_conv ? 1 : 0) << n;
    EXPECT_EQ(host, avx512 ? 0 : 2 - absorbed) << n;
    EXPECT_EQ(onednn, avx512 ? 2 - absorbed : 0) << n;
  }
}

TEST(PlanTest, ContextsShareThePackedWeights) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  ASSERT_NE(model, nullptr);
  const std::vector<float> images = MnistTestImages(4);
  std::vector<float> output(40);
  auto first = model->NewInferenceContext();
  ASSERT_TRUE(first->Run(images, 4, absl::MakeSpan(output)).ok());
  const int packed = model->network()->weight_cache().size();
  auto second = model->NewInferenceContext();
  ASSERT_TRUE(second->Run(images, 4, absl::MakeSpan(output)).ok());
  EXPECT_EQ(model->network()->weight_cache().size(), packed);
}

// Every parameter a plan reads is a kArenaAlignment-aligned copy, even in
// the layout it already has: a kernel's speed must not depend on where
// malloc put a Tensor (issue 18: the MLP read its kernels in place).
TEST(PlanTest, WeightCacheCopiesEvenAnUnchangedLayoutToAnAlignedBuffer) {
  WeightCache cache;
  dnnl::stream stream(CpuEngine());
  // One float past an aligned start: 4-byte aligned at best.
  AlignedBuffer storage(sizeof(float) * 17);
  float* source = static_cast<float*>(storage.data()) + 1;
  for (int i = 0; i < 16; ++i) source[i] = static_cast<float>(i) - 7.5f;
  const dnnl::memory::desc md({4, 4}, dnnl::memory::data_type::f32,
                              dnnl::memory::format_tag::ab);
  absl::StatusOr<const void*> packed = cache.Get(0, source, md, md, stream);
  ASSERT_TRUE(packed.ok()) << packed.status();
  EXPECT_NE(*packed, static_cast<const void*>(source));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*packed) % kArenaAlignment, 0u);
  const float* copy = static_cast<const float*>(*packed);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(copy[i], source[i]) << i;
  // Asked again: the same copy, not a new one.
  absl::StatusOr<const void*> again = cache.Get(0, source, md, md, stream);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *packed);
  EXPECT_EQ(cache.size(), 1);
}

TEST(PlanTest, PlansOfOneContextShareOneArena) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  ASSERT_NE(model, nullptr);
  const std::vector<float> images = MnistTestImages(32);
  std::vector<float> output(320);
  auto context = NetworkContext::Create(model->network());
  ASSERT_TRUE(context->Run(images, 32, absl::MakeSpan(output)).ok());
  const size_t arena = context->arena_bytes();
  EXPECT_GT(arena, 0u);
  for (int64_t n : {1, 8, 16}) {
    ASSERT_TRUE(context
                    ->Run(absl::MakeConstSpan(images).subspan(0, n * 784), n,
                          absl::MakeSpan(output).subspan(0, n * 10))
                    .ok());
  }
  EXPECT_EQ(context->arena_bytes(), arena);
  EXPECT_EQ(context->cached_plans(), 4);
}

TEST(PlanTest, PlanBatchSizesArePowersOfTwoAndThreeTimesThem) {
  EXPECT_EQ(PlanBatchSizes(64), (std::vector<int64_t>{1, 2, 3, 4, 6, 8, 12,
                                                       16, 24, 32, 48, 64}));
  EXPECT_EQ(PlanBatchSizes(5), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(LargestPlanBatchSize(1), 1);
  EXPECT_EQ(LargestPlanBatchSize(5), 4);
  EXPECT_EQ(LargestPlanBatchSize(47), 32);
  EXPECT_EQ(LargestPlanBatchSize(63), 48);
  EXPECT_EQ(LargestPlanBatchSize(4096), 4096);
  EXPECT_EQ(LargestPlanBatchSize(6143), 4096);
  for (int64_t n = 1; n <= 300; ++n) {
    const int64_t size = LargestPlanBatchSize(n);
    EXPECT_LE(size, n);
    EXPECT_GT(size * 4, n * 2) << n;  // more than half of n: few chunks
  }
}

// Any batch size runs as chunks of plan batch sizes, each image's result
// close to its result alone (the numerical contract: other batch sizes are
// close, not bit-identical); a context never holds more plans than the plan
// sizes.
TEST(PlanTest, ChunkedBatchesMatchSingleImagesAndPlansStayFew) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  ASSERT_NE(model, nullptr);
  constexpr int64_t kMax = 40;
  const std::vector<float> images = MnistTestImages(kMax);
  auto single = NetworkContext::Create(model->network());
  std::vector<float> expected(kMax * 10);
  for (int64_t i = 0; i < kMax; ++i) {
    ASSERT_TRUE(single
                    ->Run(absl::MakeConstSpan(images).subspan(i * 784, 784), 1,
                          absl::MakeSpan(expected).subspan(i * 10, 10))
                    .ok());
  }
  auto context = NetworkContext::Create(model->network());
  for (int64_t n : {5, 7, 13, 37, 40, 23, 1}) {
    SCOPED_TRACE(::testing::Message() << "batch size " << n);
    std::vector<float> output(n * 10, -1.0f);
    ASSERT_TRUE(context
                    ->Run(absl::MakeConstSpan(images).subspan(0, n * 784), n,
                          absl::MakeSpan(output))
                    .ok());
    for (int64_t i = 0; i < n * 10; ++i) {
      ASSERT_NEAR(output[i], expected[i], ::nn::testing::kRunToRunTolerance)
          << "element " << i;
    }
  }
  EXPECT_LE(context->cached_plans(),
            static_cast<int>(PlanBatchSizes(kMax).size()));
  NetworkContext::Options whole;
  whole.chunk_activation_bytes = 0;
  auto prepared = NetworkContext::Create(model->network(), whole);
  ASSERT_TRUE(prepared->Prepare(37).ok());
  EXPECT_EQ(prepared->cached_plans(), 3);  // 32 + 4 + 1
}

// A batch runs in chunks whose activations fit chunk_activation_bytes: the
// largest plan batch size that fits, at least 1; 0 is no cap. The chunks
// compute what the whole batch does, within the numerical contract.
TEST(PlanTest, ChunksAreCappedByTheirActivationBytes) {
  std::shared_ptr<const Model> model = TutorialModel("mnist_cnn");
  ASSERT_NE(model, nullptr);
  const Network& network = *model->network();
  // The input and each layer's output as floats.
  int64_t floats = 28 * 28;
  for (int i = 0; i < network.num_layers(); ++i) {
    floats += NumElements(network.layer(i).output_shape());
  }
  const int64_t per_image = network.activation_bytes_per_sample();
  EXPECT_EQ(per_image, floats * 4);
  EXPECT_GT(per_image, 100 << 10);  // conv1's 26x26x32 alone is 86.5 KB

  const int threads_before = ThreadOneDnnThreads();
  SetThreadOneDnnThreads(1);
  NetworkContext::Options options;
  options.chunk_activation_bytes = static_cast<size_t>(per_image * 7);
  auto capped = NetworkContext::Create(model->network(), options);
  EXPECT_EQ(capped->max_chunk(), 6);  // 7 is not a plan batch size
  options.chunk_activation_bytes = static_cast<size_t>(per_image / 2);
  EXPECT_EQ(NetworkContext::Create(model->network(), options)->max_chunk(), 1);
  options.chunk_activation_bytes = 0;
  options.max_batch_size = 100;
  auto whole = NetworkContext::Create(model->network(), options);
  EXPECT_EQ(whole->max_chunk(), 96);
  const auto budget = static_cast<int64_t>(
      NetworkContext::Options().chunk_activation_bytes);
  EXPECT_EQ(NetworkContext::Create(model->network())->max_chunk(),
            LargestPlanBatchSize(budget / per_image));
  SetThreadOneDnnThreads(2);  // the budget is per oneDNN thread
  EXPECT_EQ(NetworkContext::Create(model->network())->max_chunk(),
            LargestPlanBatchSize(2 * budget / per_image));
  SetThreadOneDnnThreads(1);  // capped and whole below: 1 thread each

  constexpr int64_t kBatch = 29;  // 6 + 6 + 6 + 6 + 4 + 1 capped
  const std::vector<float> images = MnistTestImages(kBatch);
  std::vector<float> expected(kBatch * 10), output(kBatch * 10, -1.0f);
  ASSERT_TRUE(whole->Run(images, kBatch, absl::MakeSpan(expected)).ok());
  ASSERT_TRUE(capped->Run(images, kBatch, absl::MakeSpan(output)).ok());
  EXPECT_EQ(capped->cached_plans(), 3);  // 6, 4 and 1
  for (int64_t i = 0; i < kBatch * 10; ++i) {
    ASSERT_NEAR(output[i], expected[i], ::nn::testing::kRunToRunTolerance)
        << "element " << i;
  }
  SetThreadOneDnnThreads(threads_before);
}

// oneDNN 2.6 allocates inside every primitive execution (its argument
// maps), so a call cannot be allocation-free; what the engine adds around the
// primitives (plan lookup, buffer binding, the step loop) must be nothing.
// A Flatten-only network runs exactly one reorder (input -> output): compare
// a Run with executing the same reorder directly.
TEST(PlanTest, RunAllocatesNothingBeyondOneDnnsOwnExecution) {
  constexpr int64_t kBatch = 8;
  std::shared_ptr<const Network> network =
      RandomNetwork({3, 4, 2}, "layers { flatten {} }", 1);
  ASSERT_EQ(Steps(*network, kBatch), 1);
  const std::vector<float> input = ::nn::testing::RandomInput(kBatch * 24, 2);
  std::vector<float> output(kBatch * 24);
  auto context = NetworkContext::Create(network);
  ASSERT_TRUE(context->Run(input, kBatch, absl::MakeSpan(output)).ok());
  int64_t before = AllocationCount();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(context->Run(input, kBatch, absl::MakeSpan(output)).ok());
  }
  const int64_t engine = AllocationCount() - before;

  dnnl::stream stream(CpuEngine());
  const dnnl::memory::desc md({kBatch, 24}, dnnl::memory::data_type::f32,
                              dnnl::memory::format_tag::nc);
  dnnl::memory from(md, CpuEngine(), const_cast<float*>(input.data()));
  dnnl::memory to(md, CpuEngine(), output.data());
  dnnl::reorder reorder(from, to);
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from.get()},
                                  {DNNL_ARG_TO, to.get()}};
  ASSERT_EQ(dnnl_primitive_execute(reorder.get(), stream.get(), 2, args),
            dnnl_success);
  before = AllocationCount();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(dnnl_primitive_execute(reorder.get(), stream.get(), 2, args),
              dnnl_success);
    ASSERT_EQ(dnnl_stream_wait(stream.get()), dnnl_success);
  }
  const int64_t bare = AllocationCount() - before;
  EXPECT_EQ(engine, bare);
}

TEST(PlanTest, SteadyStateAllocationsStayConstantPerCall) {
  for (const char* name : {"mnist_mlp", "mnist_cnn", "mnist_rnn"}) {
    std::shared_ptr<const Model> model = TutorialModel(name);
    ASSERT_NE(model, nullptr);
    const std::vector<float> images = MnistTestImages(8);
    std::vector<float> output(80);
    auto context = model->NewInferenceContext();
    ASSERT_TRUE(context->Run(images, 8, absl::MakeSpan(output)).ok());
    int64_t per_call[2];
    for (int64_t& count : per_call) {
      const int64_t before = AllocationCount();
      for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(context->Run(images, 8, absl::MakeSpan(output)).ok());
      }
      count = AllocationCount() - before;
    }
    EXPECT_EQ(per_call[0], per_call[1]) << name;
  }
}

}  // namespace
}  // namespace nn
