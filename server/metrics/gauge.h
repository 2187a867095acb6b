// A value that goes up and down (queue depth, loaded-model state, training
// progress). Lives in a Family<Gauge>; the pointer Family::Add returns stays
// valid for the registry's life, so updates are one atomic operation.
#ifndef NNSERVE_SERVER_METRICS_GAUGE_H_
#define NNSERVE_SERVER_METRICS_GAUGE_H_

#include <atomic>

#include "server/metrics/metric_family.h"

namespace nn::metrics {

// alignas(64): gauges updated by different threads never share a cache line.
class alignas(64) Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;

  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // All lock-free and thread-safe. Any double is accepted, NaN and ±Inf
  // included (the exposition writes them as NaN, +Inf, -Inf).
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Increment(double amount = 1.0) {
    value_.fetch_add(amount, std::memory_order_relaxed);
  }
  void Decrement(double amount = 1.0) {
    value_.fetch_sub(amount, std::memory_order_relaxed);
  }

  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_GAUGE_H_
