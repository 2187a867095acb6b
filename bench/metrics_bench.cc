// Hot-path cost of the metrics library: what a request pays to be counted.
// Single-threaded and contended (every thread updating one series, the worst
// case: all RPCs of one model, method and code), plus a scrape for scale.
//   build/bin/metrics_bench --benchmark_min_time=0.5
// Record figures only on a quiet machine.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "server/metrics/metric_names.h"
#include "server/metrics/registry.h"
#include "server/metrics/text_format.h"

namespace nn::metrics {
namespace {

template <typename T>
T* OrDie(absl::StatusOr<T*> value) {
  if (!value.ok()) std::abort();
  return *value;
}

// Shared by all threads of a benchmark: static, so contended runs hit one
// series.
Registry& BenchRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

Counter* SharedCounter() {
  static Counter* counter = OrDie(OrDie(BenchRegistry().AddCounterFamily(
      {.name = "bench_requests_total", .help = "Bench.",
       .label_names = {"model", "code"}}))->Add({{"model", "m"}, {"code", "OK"}}));
  return counter;
}

Histogram* SharedHistogram() {
  static Histogram* histogram = OrDie(
      OrDie(BenchRegistry().AddHistogramFamily(
                {.name = "bench_duration_seconds", .help = "Bench.",
                 .label_names = {"model"}},
                LatencyBucketsSeconds()))
          ->Add({{"model", "m"}}));
  return histogram;
}

void BM_CounterIncrement(benchmark::State& state) {
  Counter* counter = SharedCounter();
  for (auto _ : state) counter->Increment();
  benchmark::DoNotOptimize(counter->Value());
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2)->Threads(4);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram* histogram = SharedHistogram();
  // Values spread over the buckets (100 µs .. 0.8 s), as latencies are.
  double value = 0.0001;
  for (auto _ : state) {
    histogram->Observe(value);
    value = value < 0.8 ? value * 1.7 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->Threads(4);

// The slow path, for comparison: looking a series up by labels per request.
void BM_FamilyAddLookup(benchmark::State& state) {
  static Family<Counter>* family = OrDie(BenchRegistry().AddCounterFamily(
      {.name = "bench_lookup_total", .help = "Bench.",
       .label_names = {"model", "code"}}));
  const Labels labels = {{"model", "m"}, {"code", "OK"}};
  for (auto _ : state) OrDie(family->Add(labels))->Increment();
}
BENCHMARK(BM_FamilyAddLookup);

// One scrape of a registry the size of a server with a few models.
void BM_CollectAndSerialize(benchmark::State& state) {
  Registry registry;
  auto* requests = OrDie(registry.AddCounterFamily(
      {.name = "r_total", .help = "R.", .label_names = {"model", "code"}}));
  auto* latency = OrDie(registry.AddHistogramFamily(
      {.name = "l_seconds", .help = "L.", .label_names = {"model"}},
      LatencyBucketsSeconds()));
  for (int m = 0; m < 8; ++m) {
    const std::string model = "model_" + std::to_string(m);
    for (const char* code : {"OK", "INVALID_ARGUMENT", "UNAVAILABLE"}) {
      OrDie(requests->Add({{"model", model}, {"code", code}}))->Increment(m);
    }
    OrDie(latency->Add({{"model", model}}))->Observe(0.001 * m);
  }
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = SerializeTextFormat(registry.Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_CollectAndSerialize);

}  // namespace
}  // namespace nn::metrics
