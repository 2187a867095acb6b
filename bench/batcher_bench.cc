// The batcher's batch-closing rule under load: closed-loop clients send
// one-image requests to a Batcher whose processor simulates a CPU model by
// busy-waiting kFixedCost + kPerImageCost * n (the shape of a small MLP's
// batch cost: a fixed per-call overhead plus a per-image part).
//
//   build/bin/batcher_bench --benchmark_counters_tabular=true
//
// Arguments: max_queue_delay in microseconds (-1: infinite, the default) and
// the number of clients. Counters: request latency p50/p99 (us), mean images
// per batch, requests per second. Compare the rows of one client count: a
// delay that closes batches early should show smaller batches; the question is
// whether its p99 ever beats the infinite delay's. Measure on a quiet machine:
// the simulated compute spins on a core.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "server/batching/batcher.h"
#include "common/mutex.h"

namespace nn {
namespace {

constexpr absl::Duration kFixedCost = absl::Microseconds(20);
constexpr absl::Duration kPerImageCost = absl::Microseconds(1);
constexpr int kRequestsPerClient = 200;
constexpr int64_t kInputSize = 784;
constexpr int64_t kOutputSize = 10;

class SpinProcessor : public BatchProcessor {
 public:
  absl::Status Process(absl::Span<const float> /*input*/, int64_t n,
                       absl::Span<float> output) override {
    const absl::Time until = absl::Now() + kFixedCost + kPerImageCost * n;
    while (absl::Now() < until) {
    }
    std::fill(output.begin(), output.end(), 0.0f);
    return absl::OkStatus();
  }
};

class BatchSizeObserver : public BatchObserver {
 public:
  void OnBatchComputed(int64_t images, absl::Duration /*compute*/) override {
    batches_.fetch_add(1, std::memory_order_relaxed);
    images_.fetch_add(images, std::memory_order_relaxed);
  }
  double mean_batch() const {
    const int64_t batches = batches_.load();
    return batches == 0 ? 0.0 : static_cast<double>(images_.load()) / batches;
  }

 private:
  std::atomic<int64_t> batches_{0};
  std::atomic<int64_t> images_{0};
};

// One client: sends a request, waits for its reply, repeats; records each
// request's latency in microseconds.
void RunClient(Batcher& batcher, std::vector<double>& latencies_us) {
  std::vector<float> input(kInputSize, 0.5f);
  std::vector<float> output(kOutputSize);
  Mutex mu;
  std::condition_variable cv;
  for (int i = 0; i < kRequestsPerClient; ++i) {
    bool done = false;
    BatchTask task;
    task.num_images = 1;
    task.input = input;
    task.output = absl::MakeSpan(output);
    task.done = [&](absl::Status) {
      MutexLock lock(mu);
      done = true;
      cv.notify_one();
    };
    const absl::Time start = absl::Now();
    if (!batcher.Schedule(std::move(task)).ok()) continue;
    MutexLock lock(mu);
    lock.Wait(cv, [&] { return done; });
    latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
  }
}

double Percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0.0;
  const size_t k = static_cast<size_t>(q * (values.size() - 1));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

void BM_ClosedLoopOneImageRequests(benchmark::State& state) {
  const int64_t delay_us = state.range(0);
  const int clients = static_cast<int>(state.range(1));
  Batcher::Options options;
  options.max_batch_size = 64;
  options.max_queue_delay = delay_us < 0 ? absl::InfiniteDuration()
                                         : absl::Microseconds(delay_us);
  options.max_queue_size = 4096;
  options.num_workers = 2;
  options.input_size = kInputSize;
  options.output_size = kOutputSize;
  options.name = "bench";
  BatchSizeObserver observer;
  absl::StatusOr<std::unique_ptr<Batcher>> batcher = Batcher::Create(
      options,
      [](int) -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
        return std::make_unique<SpinProcessor>();
      },
      Clock::Real(), &observer);
  if (!batcher.ok()) {
    state.SkipWithError(batcher.status().ToString().c_str());
    return;
  }

  std::vector<std::vector<double>> latencies(clients);
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back(
          [&, c] { RunClient(**batcher, latencies[c]); });
    }
    for (std::thread& thread : threads) thread.join();
  }
  std::vector<double> all;
  for (const std::vector<double>& one : latencies) {
    all.insert(all.end(), one.begin(), one.end());
  }
  state.counters["p50_us"] = Percentile(all, 0.50);
  state.counters["p99_us"] = Percentile(all, 0.99);
  state.counters["batch"] = observer.mean_batch();
  state.counters["req/s"] = benchmark::Counter(
      static_cast<double>(all.size()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_ClosedLoopOneImageRequests)
    ->ArgNames({"delay_us", "clients"})
    ->ArgsProduct({{0, 100, 1000, -1}, {1, 8, 64}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nn
