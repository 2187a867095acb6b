// Hot-path cost of the metrics library (prometheus-cpp 1.0.1): what a request
// pays to be counted. Single-threaded and contended (every thread updating
// one series, the worst case: all RPCs of one model, method and code), plus
// a scrape for scale.
//   build/bin/metrics_bench --benchmark_min_time=0.5
// Record figures only on a quiet machine.
#include <benchmark/benchmark.h>

#include <string>

#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/metrics/metric_names.h"

namespace nn::metrics {
namespace {

// Shared by all threads of a benchmark: static, so contended runs hit one
// series.
prometheus::Registry& BenchRegistry() {
  static prometheus::Registry* registry = new prometheus::Registry;
  return *registry;
}

prometheus::Counter& SharedCounter() {
  static prometheus::Counter& counter =
      prometheus::BuildCounter()
          .Name("bench_requests_total")
          .Help("Bench.")
          .Register(BenchRegistry())
          .Add({{"model", "m"}, {"code", "OK"}});
  return counter;
}

prometheus::Histogram& SharedHistogram() {
  static prometheus::Histogram& histogram =
      prometheus::BuildHistogram()
          .Name("bench_duration_seconds")
          .Help("Bench.")
          .Register(BenchRegistry())
          .Add({{"model", "m"}}, LatencyBucketsSeconds());
  return histogram;
}

void BM_CounterIncrement(benchmark::State& state) {
  prometheus::Counter& counter = SharedCounter();
  for (auto _ : state) counter.Increment();
  benchmark::DoNotOptimize(counter.Value());
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2)->Threads(4);

// prometheus-cpp's Observe takes the histogram's mutex: the contended runs
// show what that costs when every thread observes one series.
void BM_HistogramObserve(benchmark::State& state) {
  prometheus::Histogram& histogram = SharedHistogram();
  // Values spread over the buckets (100 µs .. 0.8 s), as latencies are.
  double value = 0.0001;
  for (auto _ : state) {
    histogram.Observe(value);
    value = value < 0.8 ? value * 1.7 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->Threads(4);

// The slow path, for comparison: looking a series up by labels per request
// (what ServingMetrics avoids by caching the child).
void BM_FamilyAddLookup(benchmark::State& state) {
  static prometheus::Family<prometheus::Counter>& family =
      prometheus::BuildCounter()
          .Name("bench_lookup_total")
          .Help("Bench.")
          .Register(BenchRegistry());
  const prometheus::Labels labels = {{"model", "m"}, {"code", "OK"}};
  for (auto _ : state) family.Add(labels).Increment();
}
BENCHMARK(BM_FamilyAddLookup);

// One scrape of a registry the size of a server with a few models.
void BM_CollectAndSerialize(benchmark::State& state) {
  prometheus::Registry registry;
  auto& requests =
      prometheus::BuildCounter().Name("r_total").Help("R.").Register(registry);
  auto& latency = prometheus::BuildHistogram()
                      .Name("l_seconds")
                      .Help("L.")
                      .Register(registry);
  for (int m = 0; m < 8; ++m) {
    const std::string model = "model_" + std::to_string(m);
    for (const char* code : {"OK", "INVALID_ARGUMENT", "UNAVAILABLE"}) {
      requests.Add({{"model", model}, {"code", code}}).Increment(m);
    }
    latency.Add({{"model", model}}, LatencyBucketsSeconds()).Observe(0.001 * m);
  }
  const prometheus::TextSerializer serializer;
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = serializer.Serialize(registry.Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_CollectAndSerialize);

}  // namespace
}  // namespace nn::metrics
