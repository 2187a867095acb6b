// Mutexes the thread-safety analysis understands.
//
// The code's locking contracts are written as Abseil's annotations
// (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...). clang checks them
// (-Wthread-safety) only on types that declare themselves capabilities, and
// libstdc++'s std::mutex does not; so the annotated code uses these thin
// wrappers, and the sanitizer builds (scripts/sanitize.sh, clang) compile
// with -Wthread-safety -Werror: a guarded member touched without its lock,
// or a function called without the lock it requires, does not build.
// tests/common/thread_safety_check.sh proves the check is on.
//
// Why not absl::Mutex: Debian's libabsl is built without ThreadSanitizer
// annotations, so TSan would not see its synchronisation (see
// common/clock.h). These wrap std::mutex / std::shared_mutex, which TSan
// understands, and cost nothing over them (inline, no extra state).
//
// Condition variables: std::condition_variable waits on the
// std::unique_lock inside MutexLock (Wait / WaitFor / WaitUntil). A
// predicate runs with the lock held, which the analysis cannot see inside a
// lambda: such a lambda starts with `mu.AssertHeld();` (a no-op at run
// time that tells the analysis).
#ifndef NNSERVE_COMMON_MUTEX_H_
#define NNSERVE_COMMON_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "absl/base/thread_annotations.h"

namespace nn {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return mu_.try_lock();
  }
  // Tells the analysis the caller holds this mutex (not checked at run
  // time): for lambdas that run under the lock, e.g. wait predicates.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds `mu` from construction to destruction (or Unlock()).
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mutex_(&mu), lock_(mu.mu_) {}
  ~MutexLock() ABSL_UNLOCK_FUNCTION() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // The mutex this lock holds (or held), and whether it holds it now.
  Mutex* mutex() const { return mutex_; }
  bool owns_lock() const { return lock_.owns_lock(); }

  // Releases the mutex before the end of the scope (once).
  void Unlock() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }

  // std::condition_variable's waits on this lock; the mutex is held again
  // when they return.
  void Wait(std::condition_variable& cv) { cv.wait(lock_); }
  template <typename Predicate>
  void Wait(std::condition_variable& cv, Predicate predicate) {
    cv.wait(lock_, std::move(predicate));
  }
  template <typename Rep, typename Period>
  std::cv_status WaitFor(std::condition_variable& cv,
                         std::chrono::duration<Rep, Period> timeout) {
    return cv.wait_for(lock_, timeout);
  }
  template <typename Rep, typename Period, typename Predicate>
  bool WaitFor(std::condition_variable& cv,
               std::chrono::duration<Rep, Period> timeout,
               Predicate predicate) {
    return cv.wait_for(lock_, timeout, std::move(predicate));
  }
  template <typename ClockType, typename Duration>
  std::cv_status WaitUntil(
      std::condition_variable& cv,
      std::chrono::time_point<ClockType, Duration> deadline) {
    return cv.wait_until(lock_, deadline);
  }

 private:
  Mutex* const mutex_;
  std::unique_lock<std::mutex> lock_;
};

// A readers-writer mutex: WriterLock excludes everyone, ReaderLock only
// writers.
class ABSL_LOCKABLE SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void lock_shared() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void unlock_shared() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class ABSL_SCOPED_LOCKABLE WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_.lock();
  }
  ~WriterLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

class ABSL_SCOPED_LOCKABLE ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) ABSL_SHARED_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_.lock_shared();
  }
  ~ReaderLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace nn

#endif  // NNSERVE_COMMON_MUTEX_H_
