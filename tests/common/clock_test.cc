#include "common/clock.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "common/mutex.h"

namespace nn {
namespace {

TEST(FakeClockTest, StartsAtItsStartTimeAndMovesOnlyWhenAdvanced) {
  const absl::Time start = absl::FromUnixSeconds(42);
  FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Microseconds(1500));
  EXPECT_EQ(clock.Now(), start + absl::Microseconds(1500));
  clock.AdvanceTo(start + absl::Seconds(3));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(3));
}

TEST(FakeClockTest, NeverGoesBackwards) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  clock.Advance(absl::Seconds(-1));
  clock.AdvanceTo(start - absl::Hours(1));
  EXPECT_EQ(clock.Now(), start);
}

// A thread waiting on the fake clock with a deadline; the test drives it.
class Waiter {
 public:
  Waiter(Clock& clock, absl::Time deadline)
      : thread_([this, &clock, deadline] {
          MutexLock lock(mu_);
          const bool result =
              clock.WaitUntil(lock, cv_, deadline, [&] { return flag_; });
          result_ = result ? 1 : 0;
        }) {}
  ~Waiter() {
    if (!thread_.joinable()) return;
    SetFlag();  // a failed test must not hang here
    thread_.join();
  }

  void SetFlag() {
    {
      MutexLock lock(mu_);
      flag_ = true;
    }
    cv_.notify_all();
  }
  // -1 while waiting, then WaitUntil's result (1 or 0).
  int result() {
    MutexLock lock(mu_);
    return result_;
  }
  int Join() {
    thread_.join();
    return result();
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  bool flag_ = false;
  int result_ = -1;
  std::thread thread_;  // last: starts after the members it uses exist
};

TEST(FakeClockTest, WaitUntilTimesOutOnlyOnceTheClockReachesTheDeadline) {
  FakeClock clock;
  Waiter waiter(clock, clock.Now() + absl::Milliseconds(10));
  clock.BlockUntilWaiters(1);

  clock.Advance(absl::Milliseconds(9));
  EXPECT_EQ(waiter.result(), -1);
  EXPECT_EQ(clock.num_waiters(), 1);  // woken, found it early, waits again
  clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(waiter.Join(), 0);
  EXPECT_EQ(clock.num_waiters(), 0);
}

TEST(FakeClockTest, WaitUntilReturnsTrueWhenThePredicateHoldsBeforeTheDeadline) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  Waiter waiter(clock, start + absl::Seconds(1));
  clock.BlockUntilWaiters(1);
  waiter.SetFlag();
  EXPECT_EQ(waiter.Join(), 1);
  EXPECT_EQ(clock.Now(), start);
}

TEST(FakeClockTest, WaitUntilAnInfiniteDeadlineEndsOnlyWithThePredicate) {
  FakeClock clock;
  Waiter waiter(clock, absl::InfiniteFuture());
  clock.BlockUntilWaiters(1);
  clock.Advance(absl::Hours(24 * 365 * 1000));
  EXPECT_EQ(waiter.result(), -1);
  waiter.SetFlag();
  EXPECT_EQ(waiter.Join(), 1);
}

TEST(FakeClockTest, WaitUntilAPastDeadlineReturnsAtOnce) {
  FakeClock clock;
  Mutex mu;
  std::condition_variable cv;
  MutexLock lock(mu);
  EXPECT_FALSE(clock.WaitUntil(lock, cv, clock.Now(), [] { return false; }));
  EXPECT_TRUE(clock.WaitUntil(lock, cv, clock.Now(), [] { return true; }));
  EXPECT_TRUE(lock.owns_lock());
}

TEST(FakeClockTest, AdvanceWakesEveryWaiterWhoseDeadlinePassed) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 1; i <= 4; ++i) {
    waiters.push_back(
        std::make_unique<Waiter>(clock, start + absl::Seconds(i)));
  }
  clock.BlockUntilWaiters(4);
  clock.Advance(absl::Milliseconds(2500));
  EXPECT_EQ(waiters[0]->Join(), 0);
  EXPECT_EQ(waiters[1]->Join(), 0);
  EXPECT_EQ(waiters[2]->result(), -1);
  EXPECT_EQ(waiters[3]->result(), -1);
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(waiters[2]->Join(), 0);
  EXPECT_EQ(waiters[3]->Join(), 0);
}

TEST(RealClockTest, NowFollowsAbslNow) {
  const absl::Time before = absl::Now();
  const absl::Time now = Clock::Real()->Now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, absl::Now());
}

TEST(RealClockTest, WaitUntilWaitsForTheDeadlineOrThePredicate) {
  Clock* clock = Clock::Real();
  Mutex mu;
  std::condition_variable cv;
  MutexLock lock(mu);
  EXPECT_TRUE(clock->WaitUntil(lock, cv, absl::InfiniteFuture(),
                               [] { return true; }));
  const absl::Time start = absl::Now();
  EXPECT_FALSE(clock->WaitUntil(lock, cv, start + absl::Milliseconds(20),
                                [] { return false; }));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  EXPECT_TRUE(lock.owns_lock());
}

}  // namespace
}  // namespace nn
