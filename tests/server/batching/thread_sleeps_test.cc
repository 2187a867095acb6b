// SleepRateMonitor: the verdict over windows of calls, with a fake count
// of the calling thread's sleeps, then with the real one (getrusage).
#include "server/batching/thread_sleeps.h"

#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace nn {
namespace {

thread_local int64_t fake_sleeps = 0;
int64_t FakeSleeps() { return fake_sleeps; }

// `calls` calls on a new thread, `sleeps_per_call` fake sleeps before each;
// returns the last verdict.
bool CallOnNewThread(SleepRateMonitor& monitor, int64_t calls,
                     int64_t sleeps_per_call) {
  bool verdict = false;
  std::thread([&] {
    for (int64_t i = 0; i < calls; ++i) {
      fake_sleeps += sleeps_per_call;
      verdict = monitor.OnCall();
    }
  }).join();
  return verdict;
}

TEST(SleepRateMonitorTest, NoVerdictBeforeTheFirstWindowCloses) {
  SleepRateMonitor monitor(FakeSleeps);
  EXPECT_FALSE(CallOnNewThread(monitor, kSleepRateWindow - 1, 0));
  EXPECT_TRUE(CallOnNewThread(monitor, 1, 0));
}

TEST(SleepRateMonitorTest, ThreadsThatNeverSleepAreSaturated) {
  SleepRateMonitor monitor(FakeSleeps);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int64_t i = 0; i < kSleepRateWindow; ++i) monitor.OnCall();
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(CallOnNewThread(monitor, 1, 0));
}

TEST(SleepRateMonitorTest, TheVerdictFollowsTheLatestWindow) {
  SleepRateMonitor monitor(FakeSleeps);
  EXPECT_TRUE(CallOnNewThread(monitor, kSleepRateWindow, 0));
  // One sleep every call: far above one in kCallsPerSleepWhenSaturated.
  EXPECT_FALSE(CallOnNewThread(monitor, kSleepRateWindow, 1));
  EXPECT_TRUE(CallOnNewThread(monitor, kSleepRateWindow, 0));
}

TEST(SleepRateMonitorTest, OneSleepInTwentyCallsIsSaturatedOneInFiveIsNot) {
  SleepRateMonitor monitor(FakeSleeps);
  bool sparse = false, dense = true;
  std::thread([&] {
    for (int64_t i = 0; i < 2 * kSleepRateWindow; ++i) {
      if (i % 20 == 0) ++fake_sleeps;
      sparse = monitor.OnCall();
    }
    for (int64_t i = 0; i < 2 * kSleepRateWindow; ++i) {
      if (i % 5 == 0) ++fake_sleeps;
      dense = monitor.OnCall();
    }
  }).join();
  EXPECT_TRUE(sparse);
  EXPECT_FALSE(dense);
}

TEST(SleepRateMonitorTest, RealSleepsBetweenCallsAreNotSaturated) {
  SleepRateMonitor monitor;  // getrusage
  bool sleepy = true;
  std::thread([&] {
    for (int64_t i = 0; i < 2 * kSleepRateWindow; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      sleepy = monitor.OnCall();
    }
  }).join();
  EXPECT_FALSE(sleepy);
}

}  // namespace
}  // namespace nn
