#include "server/batching/thread_sleeps.h"

#include <sys/resource.h>

#include <utility>

namespace nn {
namespace {

int64_t VoluntarySwitches() {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
  return usage.ru_nvcsw;
}

// The calling thread's sampling state, for the monitor it last called.
struct ThreadSample {
  const SleepRateMonitor* monitor = nullptr;
  int64_t calls = 0;
  int64_t last_sleeps = 0;
};

thread_local ThreadSample sample;

}  // namespace

SleepRateMonitor::SleepRateMonitor(std::function<int64_t()> thread_sleeps)
    : thread_sleeps_(thread_sleeps ? std::move(thread_sleeps)
                                   : VoluntarySwitches) {}

bool SleepRateMonitor::OnCall() {
  if (sample.monitor != this) {
    sample = ThreadSample{this, 0, thread_sleeps_()};
  }
  if (++sample.calls >= kSleepSampleCalls) {
    sample.calls = 0;
    const int64_t now = thread_sleeps_();
    sleeps_.fetch_add(now - sample.last_sleeps, std::memory_order_relaxed);
    sample.last_sleeps = now;
  }
  // The call that closes a window judges it (one thread a window).
  if ((calls_.fetch_add(1, std::memory_order_relaxed) + 1) %
          kSleepRateWindow == 0) {
    const int64_t sleeps = sleeps_.load(std::memory_order_relaxed);
    const int64_t in_window =
        sleeps - window_sleeps_.exchange(sleeps, std::memory_order_relaxed);
    saturated_.store(
        in_window * kCallsPerSleepWhenSaturated <= kSleepRateWindow,
        std::memory_order_relaxed);
  }
  return saturated_.load(std::memory_order_relaxed);
}

bool ReceivingThreadsAreSaturated() {
  static SleepRateMonitor* const monitor = new SleepRateMonitor();
  return monitor->OnCall();
}

}  // namespace nn
