// A monotonically increasing value (requests served, images inferred). Lives
// in a Family<Counter>; the pointer Family::Add returns stays valid for the
// registry's life, so the hot path is one atomic add: no lock, no lookup.
#ifndef NNSERVE_SERVER_METRICS_COUNTER_H_
#define NNSERVE_SERVER_METRICS_COUNTER_H_

#include <atomic>

#include "server/metrics/metric_family.h"

namespace nn::metrics {

// alignas(64): counters updated by different threads never share a cache
// line.
class alignas(64) Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;

  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `amount`. Negative and NaN amounts are ignored (a counter never
  // goes down). Lock-free and thread-safe. A double holds every integer up
  // to 2^53 exactly, so integer increments stay exact far beyond any
  // realistic count.
  void Increment(double amount = 1.0) {
    if (!(amount >= 0.0)) return;
    value_.fetch_add(amount, std::memory_order_relaxed);
  }

  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_COUNTER_H_
