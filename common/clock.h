// An injectable time source, so that code whose behaviour depends on time (the
// batcher's delay rule and deadlines, the model repository's poller) is tested
// on a FakeClock that the test advances, not with sleeps.
//
//   Clock* clock = Clock::Real();            // production
//   FakeClock clock; clock.Advance(absl::Milliseconds(5));   // tests
//
// Waiting: WaitUntil() blocks on a std::condition_variable until a predicate
// holds or the clock reaches a deadline; a FakeClock wakes such waiters when
// it is advanced. It uses Mutex rather than absl::Mutex on purpose:
// Debian 12's libabsl is built without ThreadSanitizer annotations, so TSan
// cannot see the synchronisation absl::Mutex provides and reports false races;
// Mutex and std::condition_variable go through pthread, which TSan
// understands.
#ifndef NNSERVE_COMMON_CLOCK_H_
#define NNSERVE_COMMON_CLOCK_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace nn {

class Clock {
 public:
  virtual ~Clock() = default;

  // The current time. Thread-safe.
  virtual absl::Time Now() = 0;

  // Blocks until `done()` returns true or Now() >= `deadline`, whichever comes
  // first, and returns `done()`. `lock` must own its mutex; it is released
  // while blocking and owned again on return. `done` is evaluated with the
  // mutex held and must read only state guarded by it; a thread that changes
  // that state must do so with the mutex held and then notify `cv` (as with
  // any condition variable). `deadline` may be absl::InfiniteFuture().
  // Thread-safe; any number of threads may wait at once.
  virtual bool WaitUntil(MutexLock& lock,
                         std::condition_variable& cv, absl::Time deadline,
                         absl::FunctionRef<bool()> done) = 0;

  // The process-wide real clock: absl::Now() and real waiting. Never
  // destroyed.
  static Clock* Real();
};

// A clock that moves only when told to. Starts at `start` (a fixed, arbitrary
// time by default, so tests don't depend on the date). Time never goes back.
// Thread-safe: Advance() may race with Now() and WaitUntil() on other threads.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));
  ~FakeClock() override;

  absl::Time Now() override;
  bool WaitUntil(MutexLock& lock,
                 std::condition_variable& cv, absl::Time deadline,
                 absl::FunctionRef<bool()> done) override;

  // Moves time forward by `duration` (>= 0; negative values are ignored) and
  // wakes every waiter whose deadline has now passed. Returns once every
  // thread that was waiting has been woken (it may not have run yet). Must not
  // be called while holding a mutex that a thread waits on through this clock
  // (it would wait for that mutex forever).
  void Advance(absl::Duration duration);
  // Advance(time - Now()); no effect if `time` is not after Now().
  void AdvanceTo(absl::Time time);

  // Threads blocked in WaitUntil() right now.
  int num_waiters();
  // Blocks until at least `count` threads are blocked in WaitUntil(), so a
  // test advances time only once the code under test waits for it.
  void BlockUntilWaiters(int count);

 private:
  struct Waiter {
    Mutex* mu;
    std::condition_variable* cv;
    int64_t woken_generation;
  };

  void WakeWaiters();

  // Nanoseconds since the Unix epoch; read without locks by Now() and by
  // waiters' predicates.
  std::atomic<int64_t> now_ns_;

  Mutex advance_mu_;  // serialises Advance()
  Mutex waiters_mu_;  // acquired after a waiter's own mutex, never before
  std::condition_variable waiters_cv_;  // a waiter registered
  std::vector<Waiter*> waiters_ ABSL_GUARDED_BY(waiters_mu_);
  int64_t generation_ ABSL_GUARDED_BY(waiters_mu_) = 0;
};

}  // namespace nn

#endif  // NNSERVE_COMMON_CLOCK_H_
