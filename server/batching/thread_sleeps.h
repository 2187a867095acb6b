// Whether the threads that receive requests are saturated: over the last
// kSleepRateWindow calls here (from all threads), they slept (blocked in
// the kernel: a futex, epoll_wait, ...) at most once in
// kCallsPerSleepWhenSaturated calls. Gathering (Batcher::Options::
// gather_images) asks it before making a request wait for others: threads
// that never sleep have other requests to read, so a request that waits
// costs no throughput; threads that sleep between requests would leave a
// core idle while it waits.
//
// Measured (bench/README.md, "Gathering"): gRPC's receiving threads slept
// 3.2 times a request at 1 call in flight, 0.58 at 8, 0.39 at 16, 0.15 at
// 32 and 0.04 at 64 (the MLP, 2 cores).
//
// Cost a call: a thread-local count and a shared atomic increment; one
// getrusage(RUSAGE_THREAD) a kSleepSampleCalls calls of a thread. The
// verdict is the latest window's.
#ifndef NNSERVE_SERVER_BATCHING_THREAD_SLEEPS_H_
#define NNSERVE_SERVER_BATCHING_THREAD_SLEEPS_H_

#include <atomic>
#include <cstdint>
#include <functional>

namespace nn {

// A thread's calls between two looks at its voluntary context switches.
inline constexpr int64_t kSleepSampleCalls = 16;
// Calls (all threads) a verdict is made over.
inline constexpr int64_t kSleepRateWindow = 512;
// Saturated: at most one sleep in this many calls.
inline constexpr int64_t kCallsPerSleepWhenSaturated = 10;

class SleepRateMonitor {
 public:
  // `thread_sleeps`: the calling thread's voluntary context switches so far
  // (by default getrusage(RUSAGE_THREAD)'s ru_nvcsw; tests pass a fake).
  explicit SleepRateMonitor(std::function<int64_t()> thread_sleeps = nullptr);

  // Counts a call on this thread and returns the latest verdict (false
  // before the first window closes). Thread-safe. A thread's samples
  // belong to the last monitor it called.
  bool OnCall();

 private:
  std::function<int64_t()> thread_sleeps_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> sleeps_{0};
  std::atomic<int64_t> window_sleeps_{0};  // sleeps_ when the window began
  std::atomic<bool> saturated_{false};
};

// The process's monitor of the threads that call it (gRPC's receiving
// threads: ServableVersion passes this to its batcher).
bool ReceivingThreadsAreSaturated();

}  // namespace nn

#endif  // NNSERVE_SERVER_BATCHING_THREAD_SLEEPS_H_
