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

std::vector<float> Images(int64_t n) {
  std::vector<float> images(static_cast<size_t>(n * kImage), 0.5f);
  absl::StatusOr<Dataset> dataset = LoadDataset("data/mnist");
  if (dataset.ok() && dataset->test.count > 0) {
    for (int64_t i = 0; i < n * kImage; ++i) {
      images[i] = PixelToUnit(dataset->test.pixels[i % dataset->test.pixels.size()]);
    }
  }
  return images;
}

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
  const std::vector<float> images = Images(batch);
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
