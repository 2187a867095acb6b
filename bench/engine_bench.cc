// Inference engine throughput (issue 3), run from the repository root:
//
//   build/bin/engine_bench [--benchmark_filter=...] [--benchmark_min_time=2]
//
// Families, each at 1 and 2 oneDNN threads (per benchmark thread):
//   Engine/<model>/batch:<n>/threads:<k>     Model + InferenceContext::Run
//   BareChain/<model>/batch:<n>/threads:<k>  the same oneDNN 2.6 primitives
//       called directly (no plan lookup, no output binding): the baseline
//       whose gap to Engine is the engine's own per-call overhead
//   OneDnnMatmul1024/threads:<k>             oneDNN matmul 1024^3: the peak
// Counters: images/s (items_per_second), GFLOP/s (forward FLOPs of the
// model, a multiply-add counting 2), us/call. Wall time: oneDNN works on
// OpenMP threads, so CPU time of the calling thread would mislead.
// Models: models/mnist_{mlp,cnn,rnn}.textproto with seeded Keras weights;
// inputs: real digits from data/mnist (random pixels if it is absent).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/text_proto.h"
#include "engine/data/dataset.h"
#include "engine/initializers.h"
#include "engine/model.h"
#include "engine/onednn.h"
#include "engine/threading.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nn {
namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

constexpr int64_t kImage = 28 * 28;
constexpr int64_t kBatchSizes[] = {1, 8, 12, 32, 64, 256};
constexpr int kThreadCounts[] = {1, 2};
const char* const kModels[] = {"mnist_mlp", "mnist_cnn", "mnist_rnn"};

std::shared_ptr<const Model> LoadTutorialModel(const std::string& name) {
  nnserve::v1::ModelSpec spec;
  if (!ReadTextProtoFile("models/" + name + ".textproto", &spec).ok()) {
    return nullptr;
  }
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Create(spec, 1);
  return model.ok() ? *model : nullptr;
}

// n images: real digits when data/mnist is there, else random pixels.
std::vector<float> Images(int64_t n) {
  std::vector<float> images(static_cast<size_t>(n * kImage));
  absl::StatusOr<Dataset> dataset = LoadDataset("data/mnist");
  if (dataset.ok() && dataset->test.count > 0) {
    for (int64_t i = 0; i < n * kImage; ++i) {
      images[i] = dataset->test.pixels[i % dataset->test.pixels.size()] / 255.0f;
    }
  } else {
    Random random(1);
    for (float& v : images) v = static_cast<float>(random.Uniform());
  }
  return images;
}

void SetCounters(benchmark::State& state, int64_t batch, int64_t flops) {
  const double images =
      static_cast<double>(state.iterations()) * static_cast<double>(batch);
  state.SetItemsProcessed(static_cast<int64_t>(images));
  state.counters["GFLOP/s"] = benchmark::Counter(
      images * static_cast<double>(flops) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["us/call"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 1e-6,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// chunk_activation_bytes: the context's chunk cap (NetworkContext::Options;
// the default, or 0 for a whole batch at once: the EngineWholeBatch rows).
void BM_Engine(benchmark::State& state, const std::string& name, int64_t batch,
               int threads, size_t chunk_activation_bytes) {
  SetThreadOneDnnThreads(threads);
  std::shared_ptr<const Model> model = LoadTutorialModel(name);
  if (model == nullptr) {
    state.SkipWithError("cannot load the model spec (run from the repo root)");
    return;
  }
  Model::ContextOptions options;
  options.chunk_activation_bytes = chunk_activation_bytes;
  std::unique_ptr<InferenceContext> context =
      model->NewInferenceContext(options);
  const std::vector<float> images = Images(batch);
  std::vector<float> probabilities(static_cast<size_t>(batch * 10));
  if (!context->Prepare(batch).ok()) {
    state.SkipWithError("cannot build the plan");
    return;
  }
  for (auto _ : state) {
    absl::Status status =
        context->Run(images, batch, absl::MakeSpan(probabilities));
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(probabilities.data());
  }
  SetCounters(state, batch, model->flops_per_image());
}

// A chain of primitives written directly against oneDNN, the way its
// examples do: the reference the engine's overhead is measured against.
// Weights are filled in whatever layout the primitive picks (values do not
// matter for speed) and never reordered at run time.
class BareChain {
 public:
  explicit BareChain(int64_t batch) : batch_(batch), stream_(CpuEngine()) {}

  // The caller's input buffer, {N, 28, 28} floats, as `md`.
  dnnl::memory Input(const dnnl::memory::desc& md, float* images) {
    return dnnl::memory(md, CpuEngine(), images);
  }

  // {N,F} (x) weights -> {N,units}, optional relu post-op.
  dnnl::memory Dense(const dnnl::memory& src, int64_t units, bool relu) {
    const int64_t features = src.get_desc().dims()[1];
    dnnl::post_ops ops;
    if (relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0, 0);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const dnnl::inner_product_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, src.get_desc(),
         dnnl::memory::desc({units, features}, dt::f32, tag::any),
         dnnl::memory::desc({units}, dt::f32, tag::x),
         dnnl::memory::desc({batch_, units}, dt::f32, tag::nc)},
        attr, CpuEngine());
    const dnnl::memory dst = Memory(pd.dst_desc());
    Add(dnnl::inner_product_forward(pd),
        {{DNNL_ARG_SRC, src},
         {DNNL_ARG_WEIGHTS, Weights(pd.weights_desc())},
         {DNNL_ARG_BIAS, Weights(pd.bias_desc())},
         {DNNL_ARG_DST, dst}});
    return dst;
  }

  // 3x3 valid convolution with relu, any layouts.
  dnnl::memory Conv(dnnl::memory src, int64_t filters) {
    const dnnl::memory::dims in = src.get_desc().dims();  // {N,C,H,W}
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0, 0);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const dnnl::convolution_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference,
         dnnl::algorithm::convolution_direct,
         dnnl::memory::desc(in, dt::f32, tag::any),
         dnnl::memory::desc({filters, in[1], 3, 3}, dt::f32, tag::any),
         dnnl::memory::desc({filters}, dt::f32, tag::x),
         dnnl::memory::desc({batch_, filters, in[2] - 2, in[3] - 2}, dt::f32,
                            tag::any),
         {1, 1}, {0, 0}, {0, 0}},
        attr, CpuEngine());
    src = ReorderTo(src, pd.src_desc());
    const dnnl::memory dst = Memory(pd.dst_desc());
    Add(dnnl::convolution_forward(pd),
        {{DNNL_ARG_SRC, src},
         {DNNL_ARG_WEIGHTS, Weights(pd.weights_desc())},
         {DNNL_ARG_BIAS, Weights(pd.bias_desc())},
         {DNNL_ARG_DST, dst}});
    return dst;
  }

  // 2x2 max pooling, stride 2.
  dnnl::memory Pool(const dnnl::memory& src) {
    const dnnl::memory::dims in = src.get_desc().dims();
    const dnnl::pooling_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
         src.get_desc(),
         dnnl::memory::desc({in[0], in[1], in[2] / 2, in[3] / 2}, dt::f32,
                            tag::any),
         {2, 2}, {2, 2}, {0, 0}, {0, 0}},
        CpuEngine());
    const dnnl::memory dst = Memory(pd.dst_desc());
    Add(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    return dst;
  }

  // {N,C,H,W} in channels-last order viewed as {N, H*W*C}.
  dnnl::memory FlattenNhwc(const dnnl::memory& src) {
    const dnnl::memory::dims in = src.get_desc().dims();
    const dnnl::memory nhwc =
        ReorderTo(src, dnnl::memory::desc(in, dt::f32, tag::nhwc));
    return dnnl::memory(
        dnnl::memory::desc({in[0], in[1] * in[2] * in[3]}, dt::f32, tag::nc),
        CpuEngine(), nhwc.get_data_handle());
  }

  // Vanilla tanh RNN over src_layer {T,N,F} (ntc); returns dst_layer (ntc)
  // for `sequences`, else the last state {N,units}.
  dnnl::memory Rnn(const dnnl::memory& src, int64_t units, bool sequences) {
    const dnnl::memory::dims in = src.get_desc().dims();
    const dnnl::memory::desc iter_md =
        sequences ? dnnl::memory::desc()
                  : dnnl::memory::desc({1, 1, batch_, units}, dt::f32,
                                       tag::ldnc);
    const dnnl::vanilla_rnn_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_tanh,
         dnnl::rnn_direction::unidirectional_left2right, src.get_desc(),
         dnnl::memory::desc(),
         dnnl::memory::desc({1, 1, in[2], 1, units}, dt::f32, tag::any),
         dnnl::memory::desc({1, 1, units, 1, units}, dt::f32, tag::any),
         dnnl::memory::desc({1, 1, 1, units}, dt::f32, tag::ldgo),
         dnnl::memory::desc({in[0], batch_, units}, dt::f32, tag::ntc),
         iter_md},
        CpuEngine());
    const dnnl::memory layer = Memory(pd.dst_layer_desc());
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC_LAYER, src},
        {DNNL_ARG_WEIGHTS_LAYER, Weights(pd.weights_layer_desc())},
        {DNNL_ARG_WEIGHTS_ITER, Weights(pd.weights_iter_desc())},
        {DNNL_ARG_BIAS, Weights(pd.bias_desc())},
        {DNNL_ARG_DST_LAYER, layer}};
    if (sequences) {
      Add(dnnl::vanilla_rnn_forward(pd), args);
      return layer;
    }
    const dnnl::memory last = Memory(pd.dst_iter_desc());
    args[DNNL_ARG_DST_ITER] = last;
    Add(dnnl::vanilla_rnn_forward(pd), args);
    return dnnl::memory(
        dnnl::memory::desc({batch_, units}, dt::f32, tag::nc), CpuEngine(),
        last.get_data_handle());
  }

  // Softmax over dimension 1, in place.
  void Softmax(const dnnl::memory& data) {
    const dnnl::softmax_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, data.get_desc(), 1}, CpuEngine());
    Add(dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}});
  }

  void Run() {
    for (size_t i = 0; i < net_.size(); ++i) net_[i].execute(stream_, args_[i]);
    stream_.wait();
  }

 private:
  dnnl::memory Memory(const dnnl::memory::desc& md) {
    return dnnl::memory(md, CpuEngine());
  }
  dnnl::memory Weights(const dnnl::memory::desc& md) {
    dnnl::memory memory(md, CpuEngine());
    float* data = static_cast<float*>(memory.get_data_handle());
    for (size_t i = 0; i < md.get_size() / sizeof(float); ++i) {
      data[i] = 0.01f * static_cast<float>(static_cast<int>(i % 13) - 6);
    }
    return memory;
  }
  dnnl::memory ReorderTo(const dnnl::memory& src,
                         const dnnl::memory::desc& md) {
    if (src.get_desc() == md) return src;
    const dnnl::memory dst = Memory(md);
    Add(dnnl::reorder(src, dst), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
    return dst;
  }
  void Add(const dnnl::primitive& primitive,
           std::unordered_map<int, dnnl::memory> args) {
    net_.push_back(primitive);
    args_.push_back(std::move(args));
  }

  int64_t batch_;
  dnnl::stream stream_;
  std::vector<dnnl::primitive> net_;
  std::vector<std::unordered_map<int, dnnl::memory>> args_;
};

// The tutorial's three networks as bare chains on `images`.
void BuildBareChain(const std::string& name, int64_t n, float* images,
                    BareChain& chain) {
  if (name == "mnist_mlp") {
    const dnnl::memory x =
        chain.Input(dnnl::memory::desc({n, kImage}, dt::f32, tag::nc), images);
    chain.Softmax(chain.Dense(chain.Dense(x, 128, true), 10, false));
  } else if (name == "mnist_cnn") {
    const dnnl::memory x = chain.Input(
        dnnl::memory::desc({n, 1, 28, 28}, dt::f32, tag::nhwc), images);
    const dnnl::memory features =
        chain.Pool(chain.Conv(chain.Pool(chain.Conv(x, 32)), 64));
    chain.Softmax(
        chain.Dense(chain.Dense(chain.FlattenNhwc(features), 64, true), 10,
                    false));
  } else {
    const dnnl::memory x = chain.Input(
        dnnl::memory::desc({28, n, 28}, dt::f32, tag::ntc), images);
    chain.Softmax(chain.Dense(chain.Rnn(chain.Rnn(x, 64, true), 64, false), 10,
                              false));
  }
}

void BM_BareChain(benchmark::State& state, const std::string& name,
                  int64_t batch, int threads) {
  SetThreadOneDnnThreads(threads);
  std::shared_ptr<const Model> model = LoadTutorialModel(name);
  if (model == nullptr) {
    state.SkipWithError("cannot load the model spec (run from the repo root)");
    return;
  }
  std::vector<float> images = Images(batch);
  try {
    BareChain chain(batch);
    BuildBareChain(name, batch, images.data(), chain);
    for (auto _ : state) chain.Run();
  } catch (const dnnl::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  SetCounters(state, batch, model->flops_per_image());
}

void BM_OneDnnMatmul1024(benchmark::State& state, int threads) {
  SetThreadOneDnnThreads(threads);
  constexpr int64_t kSize = 1024;
  try {
    const dnnl::memory::desc plain({kSize, kSize}, dt::f32, tag::ab);
    const dnnl::matmul::primitive_desc pd(
        {plain, dnnl::memory::desc({kSize, kSize}, dt::f32, tag::any), plain},
        CpuEngine());
    dnnl::memory a(pd.src_desc(), CpuEngine());
    dnnl::memory b(pd.weights_desc(), CpuEngine());
    dnnl::memory c(pd.dst_desc(), CpuEngine());
    for (dnnl::memory* m : {&a, &b}) {
      float* data = static_cast<float*>(m->get_data_handle());
      for (int64_t i = 0; i < kSize * kSize; ++i) data[i] = 0.001f * (i % 7);
    }
    dnnl::stream stream(CpuEngine());
    const dnnl::matmul matmul(pd);
    const std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
    for (auto _ : state) {
      matmul.execute(stream, args);
      stream.wait();
    }
  } catch (const dnnl::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * kSize * kSize * kSize *
          1e-9,
      benchmark::Counter::kIsRate);
}

void RegisterAll() {
  for (int threads : kThreadCounts) {
    benchmark::RegisterBenchmark(
        ("OneDnnMatmul1024/threads:" + std::to_string(threads)).c_str(),
        BM_OneDnnMatmul1024, threads)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (const char* model : kModels) {
    for (int64_t batch : kBatchSizes) {
      for (int threads : kThreadCounts) {
        const std::string suffix = std::string(model) + "/batch:" +
                                   std::to_string(batch) +
                                   "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(
            ("Engine/" + suffix).c_str(), BM_Engine, std::string(model), batch,
            threads, Model::ContextOptions().chunk_activation_bytes)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("EngineWholeBatch/" + suffix).c_str(),
                                     BM_Engine, std::string(model), batch,
                                     threads, size_t{0})
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("BareChain/" + suffix).c_str(),
                                     BM_BareChain, std::string(model), batch,
                                     threads)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace
}  // namespace nn

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  nn::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
