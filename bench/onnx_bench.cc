// Imported ONNX model vs the native model of the same architecture (issue 18:
// they must run within 5 % of each other), run from the repository root after
// the ONNX test models exist (scripts/test.sh or the CTest fixture
// onnx_models makes them):
//
//   build/bin/onnx_bench [--benchmark_filter=...] [--benchmark_min_time=2]
//       (NNSERVE_ONNX_MODELS_DIR, default build/onnx-models)
//
// Families, at batch 1, 8, 32 and 256 and 1 and 2 oneDNN threads:
//   Native/<model>/batch:<n>/threads:<k>  models/<model>.textproto, seeded
//                                         Keras weights (as engine_bench)
//   Onnx/<model>/batch:<n>/threads:<k>    <models dir>/<model>.onnx (PyTorch
//                                         1.13's export) through ImportOnnxFile
//   Interleaved/<model>/batch:<n>/threads:<k>  both in one loop, a call of
//                                         each per iteration (BM_Interleaved):
//                                         the ratio that resolves a few %
// Registered in pairs so that drift on a shared machine hits both alike:
// native first, or ONNX first with NNSERVE_ONNX_BENCH_ONNX_FIRST=1
// (onnx_ab.sh alternates, so that what the first of a pair pays, e.g. memory
// the previous case left, does not always fall on the same side). Each case
// runs one untimed call before its timed loop.
//
// NNSERVE_ONNX_BENCH_ITERATIONS=K runs each case exactly K iterations (after
// the untimed Prepare), for profiling rather than timing: ONEDNN_VERBOSE=1
// lists the primitives each case executes, and valgrind --tool=callgrind
// --toggle-collect='nn::NetworkContext::Run*' counts the instructions of the
// calls (bench/README.md, "ONNX import vs native").
// The import maps onto the same layers, so the pair should differ only by
// what differs in the specs (the RNN import's logits get a Dense softmax, as
// the native spec has). Counters: images/s, us/call. Wall time (OpenMP).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/data/dataset.h"
#include "engine/model.h"
#include "engine/onnx/onnx_import.h"
#include "engine/plan.h"
#include "engine/threading.h"
#include "google/protobuf/text_format.h"

namespace nn {
namespace {

constexpr int64_t kImage = 28 * 28;
constexpr int64_t kBatchSizes[] = {1, 8, 32, 256};
constexpr int kThreadCounts[] = {1, 2};
const char* const kModels[] = {"mnist_mlp", "mnist_cnn", "mnist_rnn"};

absl::StatusOr<std::shared_ptr<const Model>> NativeModel(const std::string& name) {
  std::ifstream file("models/" + name + ".textproto");
  std::stringstream text;
  text << file.rdbuf();
  nnserve::v1::ModelSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &spec)) {
    return absl::NotFoundError("cannot read models/" + name + ".textproto");
  }
  return Model::Create(spec, 1);
}

absl::StatusOr<std::shared_ptr<const Model>> OnnxModel(const std::string& name) {
  const char* dir = std::getenv("NNSERVE_ONNX_MODELS_DIR");
  absl::StatusOr<ImportedModel> imported = ImportOnnxFile(
      std::string(dir != nullptr ? dir : "build/onnx-models") + "/" + name + ".onnx");
  if (!imported.ok()) return imported.status();
  return Model::FromSavedModel(imported->saved);
}

// `n` test digits (pixels / 255), {n, 28, 28}, in a kArenaAlignment-aligned
// buffer: the Native/ and Onnx/ runs each make their own batch, and a
// std::vector is only as aligned as malloc made it (16 bytes), which a
// kernel reading the input with 32-byte loads can feel; an aligned batch
// leaves the two runs nothing to differ in but the model.
class ImageBatch {
 public:
  explicit ImageBatch(int64_t n)
      : buffer_(static_cast<size_t>(n * kImage) * sizeof(float)),
        count_(static_cast<size_t>(n * kImage)) {
    float* images = static_cast<float*>(buffer_.data());
    std::fill(images, images + count_, 0.5f);
    absl::StatusOr<Dataset> dataset = LoadDataset("data/mnist");
    if (dataset.ok() && dataset->test.count > 0) {
      for (size_t i = 0; i < count_; ++i) {
        images[i] = PixelToUnit(dataset->test.pixels[i % dataset->test.pixels.size()]);
      }
    }
  }
  absl::Span<const float> span() const {
    return absl::MakeConstSpan(static_cast<const float*>(buffer_.data()), count_);
  }

 private:
  AlignedBuffer buffer_;
  size_t count_;
};

void BM_Run(benchmark::State& state, const std::string& name, bool onnx,
            int64_t batch, int threads) {
  SetThreadOneDnnThreads(threads);
  absl::StatusOr<std::shared_ptr<const Model>> model =
      onnx ? OnnxModel(name) : NativeModel(name);
  if (!model.ok()) {
    state.SkipWithError(std::string(model.status().message()).c_str());
    return;
  }
  std::unique_ptr<InferenceContext> context = (*model)->NewInferenceContext();
  const ImageBatch batch_images(batch);
  const absl::Span<const float> images = batch_images.span();
  std::vector<float> probabilities(static_cast<size_t>(batch * (*model)->num_classes()));
  // Untimed: the plan, then one call, whose first executions of oneDNN's
  // primitives (lazily made kernels and buffers) cost several times a later
  // one's: 17-25 ms for the CNN's first Dense at batch 256 against 0.6 ms,
  // 5-8 % of a 0.3 s run of a dozen calls.
  if (!context->Prepare(batch).ok() ||
      !context->Run(images, batch, absl::MakeSpan(probabilities)).ok()) {
    state.SkipWithError("cannot build or run the plan");
    return;
  }
  for (auto _ : state) {
    absl::Status status = context->Run(images, batch, absl::MakeSpan(probabilities));
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(probabilities.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["us/call"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 1e-6,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// One side of Interleaved: a model with its context, ready to run `batch`.
struct RunnableModel {
  std::shared_ptr<const Model> model;
  std::unique_ptr<InferenceContext> context;
  std::vector<float> probabilities;
};

absl::StatusOr<RunnableModel> Runnable(const std::string& name, bool onnx, int64_t batch,
                                       absl::Span<const float> images) {
  absl::StatusOr<std::shared_ptr<const Model>> model = onnx ? OnnxModel(name) : NativeModel(name);
  if (!model.ok()) return model.status();
  RunnableModel runnable{*model, (*model)->NewInferenceContext(),
                         std::vector<float>(static_cast<size_t>(batch * (*model)->num_classes()))};
  if (!runnable.context->Prepare(batch).ok() ||
      !runnable.context->Run(images, batch, absl::MakeSpan(runnable.probabilities)).ok()) {
    return absl::InternalError("cannot build or run the plan");
  }
  return runnable;
}

// Interleaved/<model>/batch:<n>/threads:<k>: the native and the imported
// model in one process, one call of each per iteration (the order swapped
// every iteration), each call timed on its own (steady_clock). Counter
// onnx/native = the median of the per-iteration ratios ONNX call time ÷
// native call time (1.00 = equal; below 1: ONNX faster), and each side's
// median µs a call. Two calls microseconds apart share the machine's state,
// so drift over seconds (other tenants, frequency) cancels, which rounds of
// seconds each (Native/ then Onnx/) cannot do.
void BM_Interleaved(benchmark::State& state, const std::string& name, int64_t batch,
                    int threads) {
  SetThreadOneDnnThreads(threads);
  const ImageBatch batch_images(batch);
  const absl::Span<const float> images = batch_images.span();
  absl::StatusOr<RunnableModel> native = Runnable(name, false, batch, images);
  absl::StatusOr<RunnableModel> onnx = Runnable(name, true, batch, images);
  if (!native.ok() || !onnx.ok()) {
    state.SkipWithError(std::string((native.ok() ? onnx : native).status().message()).c_str());
    return;
  }
  // Seconds of one call on `side`.
  auto time_call = [&](RunnableModel& side) {
    const auto start = std::chrono::steady_clock::now();
    const absl::Status status =
        side.context->Run(images, batch, absl::MakeSpan(side.probabilities));
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    benchmark::DoNotOptimize(side.probabilities.data());
    return status.ok() ? took.count() : -1.0;
  };
  std::vector<double> ratios, native_s, onnx_s;
  bool onnx_first = false;
  for (auto _ : state) {
    double n = 0, o = 0;
    if (onnx_first) {
      o = time_call(*onnx);
      n = time_call(*native);
    } else {
      n = time_call(*native);
      o = time_call(*onnx);
    }
    onnx_first = !onnx_first;
    if (n <= 0 || o <= 0) {
      state.SkipWithError("a call failed");
      return;
    }
    ratios.push_back(o / n);
    native_s.push_back(n);
    onnx_s.push_back(o);
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  state.SetItemsProcessed(state.iterations() * batch * 2);
  state.counters["onnx/native"] = median(ratios);
  state.counters["native_us"] = median(native_s) * 1e6;
  state.counters["onnx_us"] = median(onnx_s) * 1e6;
}

void RegisterAll() {
  const char* fixed = std::getenv("NNSERVE_ONNX_BENCH_ITERATIONS");
  const int64_t iterations = fixed != nullptr ? std::atoll(fixed) : 0;
  const char* order = std::getenv("NNSERVE_ONNX_BENCH_ONNX_FIRST");
  const bool onnx_first = order != nullptr && std::string(order) == "1";
  for (const char* model : kModels) {
    for (int64_t batch : kBatchSizes) {
      for (int threads : kThreadCounts) {
        const std::string suffix = std::string(model) + "/batch:" + std::to_string(batch) +
                                   "/threads:" + std::to_string(threads);
        benchmark::internal::Benchmark* interleaved =
            benchmark::RegisterBenchmark(("Interleaved/" + suffix).c_str(), BM_Interleaved,
                                         std::string(model), batch, threads)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        if (iterations > 0) interleaved->Iterations(iterations);
        for (bool onnx : {onnx_first, !onnx_first}) {
          benchmark::internal::Benchmark* b =
              benchmark::RegisterBenchmark(((onnx ? "Onnx/" : "Native/") + suffix).c_str(),
                                           BM_Run, std::string(model), onnx, batch, threads)
                  ->UseRealTime()
                  ->Unit(benchmark::kMicrosecond);
          if (iterations > 0) b->Iterations(iterations);
        }
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
