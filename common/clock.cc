#include "common/clock.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "absl/time/clock.h"
#include "common/mutex.h"

namespace nn {
namespace {

class RealClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }

  bool WaitUntil(MutexLock& lock,
                 std::condition_variable& cv, absl::Time deadline,
                 absl::FunctionRef<bool()> done) override {
    if (deadline == absl::InfiniteFuture()) {
      lock.Wait(cv, [&] { return done(); });
      return true;
    }
    while (!done()) {
      const absl::Time now = absl::Now();
      if (now >= deadline) return false;
      // wait_for measures on the steady clock, immune to wall-clock jumps;
      // the cap keeps std::chrono arithmetic clear of overflow for deadlines
      // years away.
      const absl::Duration left = std::min(deadline - now, absl::Hours(1));
      lock.WaitFor(cv, absl::ToChronoNanoseconds(left));
    }
    return true;
  }
};

int64_t ToNanosSaturated(absl::Time time) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (time >= absl::FromUnixNanos(kMax)) return kMax;
  if (time <= absl::FromUnixNanos(kMin)) return kMin;
  return absl::ToUnixNanos(time);
}

}  // namespace

Clock* Clock::Real() {
  static Clock* const clock = new RealClock();
  return clock;
}

FakeClock::FakeClock(absl::Time start) : now_ns_(ToNanosSaturated(start)) {}

FakeClock::~FakeClock() = default;

absl::Time FakeClock::Now() {
  return absl::FromUnixNanos(now_ns_.load(std::memory_order_acquire));
}

bool FakeClock::WaitUntil(MutexLock& lock,
                          std::condition_variable& cv, absl::Time deadline,
                          absl::FunctionRef<bool()> done) {
  const int64_t deadline_ns = ToNanosSaturated(deadline);
  Waiter self{lock.mutex(), &cv, 0};
  {
    MutexLock waiters_lock(waiters_mu_);
    // Time read below is at least as new as any Advance() that has already
    // bumped the generation, so those need not wake this waiter.
    self.woken_generation = generation_;
    waiters_.push_back(&self);
  }
  waiters_cv_.notify_all();
  // The fake time saturates at the end of the int64 range; an infinite
  // deadline must still never pass.
  const bool infinite = deadline == absl::InfiniteFuture();
  while (!done() &&
         (infinite || now_ns_.load(std::memory_order_acquire) < deadline_ns)) {
    lock.Wait(cv);
  }
  {
    MutexLock waiters_lock(waiters_mu_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
  }
  return done();
}

void FakeClock::Advance(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return;
  MutexLock advance_lock(advance_mu_);
  const int64_t now_ns = now_ns_.load(std::memory_order_relaxed);
  const int64_t step_ns = absl::ToInt64Nanoseconds(duration);
  const int64_t next_ns = now_ns > std::numeric_limits<int64_t>::max() - step_ns
                              ? std::numeric_limits<int64_t>::max()
                              : now_ns + step_ns;
  now_ns_.store(next_ns, std::memory_order_release);
  WakeWaiters();
}

void FakeClock::AdvanceTo(absl::Time time) { Advance(time - Now()); }

// A waiter checks the time with its own mutex held and then blocks on its
// condition variable, releasing the mutex. Locking that mutex after the new
// time is stored, and notifying after, means the waiter either saw the new
// time or is blocked and gets the notification: no lost wake-up. The mutex
// can only be tried (waiters take waiters_mu_ while holding it); when another
// thread holds it, try again after letting that thread run.
void FakeClock::WakeWaiters() {
  int64_t generation;
  {
    MutexLock waiters_lock(waiters_mu_);
    generation = ++generation_;
  }
  for (;;) {
    bool pending = false;
    {
      MutexLock waiters_lock(waiters_mu_);
      for (Waiter* waiter : waiters_) {
        if (waiter->woken_generation >= generation) continue;
        if (waiter->mu->try_lock()) {
          waiter->mu->unlock();
          waiter->cv->notify_all();
          waiter->woken_generation = generation;
        } else {
          pending = true;
        }
      }
    }
    if (!pending) return;
    std::this_thread::yield();
  }
}

int FakeClock::num_waiters() {
  MutexLock waiters_lock(waiters_mu_);
  return static_cast<int>(waiters_.size());
}

void FakeClock::BlockUntilWaiters(int count) {
  MutexLock waiters_lock(waiters_mu_);
  waiters_lock.Wait(waiters_cv_,
                   [&] {
                     waiters_mu_.AssertHeld();
                     return static_cast<int>(waiters_.size()) >= count;
                   });
}

}  // namespace nn
