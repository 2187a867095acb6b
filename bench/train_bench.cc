// Training speed (issue 4): seconds per epoch of the tutorial's three models
// on the real digits, run from the repository root:
//
//   build/bin/train_bench [--benchmark_filter=...] [--benchmark_repetitions=3]
//
// Train/<model>/batch:<n>/threads:<k>: TrainNewModel (models/<model>.textproto,
// Adam 1e-3, seed 1) for two epochs on data/mnist's 7,996 training images,
// without validation; the time reported is the *second* epoch's training
// pass (EpochRecord.seconds: every batch's forward, loss, backward and
// optimiser step, the input conversion included), so one-time costs (plan
// building, oneDNN's kernel generation on first execution) stay out, as they
// do in the PyTorch script's steady-state epochs. Counters: s/epoch,
// images/s, and the first epoch's seconds for reference.
// Compare with bench/pytorch/train_pytorch.py (same recipe); see
// bench/README.md. Wall time on a quiet machine only: oneDNN's OpenMP
// threads spin, so a busy neighbour makes epochs 10-100x slower.
#include <benchmark/benchmark.h>

#include <string>

#include "common/text_proto.h"
#include "engine/data/dataset.h"
#include "engine/training/trainer.h"

namespace nn {
namespace {

const char* const kModels[] = {"mnist_mlp", "mnist_cnn", "mnist_rnn"};
constexpr int kBatchSizes[] = {32, 128};
constexpr int kThreadCounts[] = {2, 1};

const Dataset* Digits() {
  static const Dataset* const dataset = [] {
    absl::StatusOr<Dataset> loaded = LoadDataset("data/mnist", "mnist");
    return loaded.ok() ? new Dataset(*std::move(loaded)) : nullptr;
  }();
  return dataset;
}

void TrainEpoch(benchmark::State& state, const std::string& model,
                int batch_size, int threads) {
  const Dataset* digits = Digits();
  if (digits == nullptr) {
    state.SkipWithError("data/mnist is missing (scripts/prepare-data.sh)");
    return;
  }
  nnserve::v1::ModelSpec spec;
  if (!ReadTextProtoFile("models/" + model + ".textproto", &spec).ok()) {
    state.SkipWithError("cannot read the model spec (run from the repo root)");
    return;
  }
  TrainerOptions options;
  options.config.set_epochs(2);
  options.config.set_batch_size(batch_size);
  options.config.set_optimizer(nnserve::v1::OPTIMIZER_ADAM);
  options.config.set_learning_rate(0.001f);
  options.threads = threads;
  double first_epoch = 0;
  for (auto _ : state) {
    absl::StatusOr<nnserve::v1::SavedModel> saved = TrainNewModel(
        spec, {.train = &digits->train, .name = "mnist"}, options);
    if (!saved.ok()) {
      state.SkipWithError(std::string(saved.status().message()).c_str());
      return;
    }
    const auto& epochs = saved->history(0).epochs();
    state.SetIterationTime(epochs[1].seconds());
    first_epoch = epochs[0].seconds();
  }
  state.counters["s/epoch"] = benchmark::Counter(
      static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["images/s"] = benchmark::Counter(
      static_cast<double>(digits->train.count * state.iterations()),
      benchmark::Counter::kIsRate);
  state.counters["first_epoch_s"] = first_epoch;
}

void RegisterAll() {
  for (const char* model : kModels) {
    for (int batch : kBatchSizes) {
      for (int threads : kThreadCounts) {
        benchmark::RegisterBenchmark(
            ("Train/" + std::string(model) + "/batch:" + std::to_string(batch) +
             "/threads:" + std::to_string(threads))
                .c_str(),
            [=](benchmark::State& state) {
              TrainEpoch(state, model, batch, threads);
            })
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->Iterations(1);
      }
    }
  }
}

}  // namespace
}  // namespace nn

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  nn::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
