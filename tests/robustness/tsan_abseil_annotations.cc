// ThreadSanitizer annotations for Debian's (uninstrumented) Abseil
// synchronisation, preloaded by scripts/sanitize.sh into the TSan test run:
//
//   LD_PRELOAD=libnn_tsan_abseil.so ctest -L tsan
//
// Why: Debian's libabsl is not built with -fsanitize=thread, so TSan cannot
// see the happens-before edges that absl::Mutex, absl::CondVar and
// absl::Notification create. gRPC synchronises all its threads with them
// (grpc_core::Mutex and gpr_mu are absl::Mutex), so without this every
// request and reply that crosses a gRPC thread is reported as a race, in
// the instrumented gRPC header code compiled into our binaries and in our
// own handlers: thousands of false reports that would hide real ones.
//
// How: this library defines the exported Abseil functions under their
// mangled names; being preloaded, its definitions win over libabsl's for
// every caller (libgrpc, libgpr, our code). Each wrapper calls the real
// function (dlsym(RTLD_NEXT)) and tells TSan what it did: __tsan_release on
// the mutex before it is released (Unlock, the waits), __tsan_acquire after
// it is acquired. Readers are treated like writers (a stronger order than
// reader locks give: it can only hide reader-reader races, which need a
// write under a reader lock to exist).
//
// Built without -fsanitize (sanitize.sh compiles it with plain flags): the
// TSan entry points are weak, so processes without TSan (openssl, sh) that
// inherit LD_PRELOAD load it harmlessly. The symbol names are those of
// Abseil 20220623 in Debian 12 (inline namespace "debian3"); on another
// Abseil the wrappers are simply never called.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" {
void __tsan_acquire(void* addr) __attribute__((weak));
void __tsan_release(void* addr) __attribute__((weak));
}

namespace {

// Layouts of absl::Duration and absl::Time (trivially copyable, passed in
// two registers like these).
struct Duration {
  int64_t hi;
  uint32_t lo;
};
struct Time {
  Duration rep;
};

void* Real(const char* symbol) {
  void* f = ::dlsym(RTLD_NEXT, symbol);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_abseil_annotations: %s not found\n", symbol);
    std::abort();
  }
  return f;
}

void Acquire(void* p) {
  if (__tsan_acquire != nullptr) __tsan_acquire(p);
}
void Release(void* p) {
  if (__tsan_release != nullptr) __tsan_release(p);
}

}  // namespace

// NN_WRAP(symbol, return type, wrapper name, parameters...): declares the
// wrapper under the mangled `symbol` and, in its body, `real` as the
// original function of the same type.
#define NN_WRAP(symbol, ret, name, ...)                          \
  extern "C" ret name(__VA_ARGS__) __asm__(symbol);              \
  static ret (*name##_real())(__VA_ARGS__) {                     \
    static const auto f = reinterpret_cast<ret (*)(__VA_ARGS__)>( \
        Real(symbol));                                           \
    return f;                                                    \
  }                                                              \
  extern "C" ret name(__VA_ARGS__)

// --- absl::Mutex ------------------------------------------------------------

NN_WRAP("_ZN4absl7debian35Mutex4LockEv", void, NnMutexLock, void* mu) {
  NnMutexLock_real()(mu);
  Acquire(mu);
}
NN_WRAP("_ZN4absl7debian35Mutex10ReaderLockEv", void, NnMutexReaderLock,
        void* mu) {
  NnMutexReaderLock_real()(mu);
  Acquire(mu);
}
NN_WRAP("_ZN4absl7debian35Mutex6UnlockEv", void, NnMutexUnlock, void* mu) {
  Release(mu);
  NnMutexUnlock_real()(mu);
}
NN_WRAP("_ZN4absl7debian35Mutex12ReaderUnlockEv", void, NnMutexReaderUnlock,
        void* mu) {
  Release(mu);
  NnMutexReaderUnlock_real()(mu);
}
NN_WRAP("_ZN4absl7debian35Mutex7TryLockEv", bool, NnMutexTryLock, void* mu) {
  const bool locked = NnMutexTryLock_real()(mu);
  if (locked) Acquire(mu);
  return locked;
}
NN_WRAP("_ZN4absl7debian35Mutex13ReaderTryLockEv", bool,
        NnMutexReaderTryLock, void* mu) {
  const bool locked = NnMutexReaderTryLock_real()(mu);
  if (locked) Acquire(mu);
  return locked;
}
NN_WRAP("_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", void,
        NnMutexLockWhen, void* mu, const void* cond) {
  NnMutexLockWhen_real()(mu, cond);
  Acquire(mu);
}
NN_WRAP("_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE", void,
        NnMutexReaderLockWhen, void* mu, const void* cond) {
  NnMutexReaderLockWhen_real()(mu, cond);
  Acquire(mu);
}
// The timed forms hold the mutex on return whatever they return.
NN_WRAP("_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
        bool, NnMutexLockWhenWithTimeout, void* mu, const void* cond,
        Duration timeout) {
  const bool result = NnMutexLockWhenWithTimeout_real()(mu, cond, timeout);
  Acquire(mu);
  return result;
}
NN_WRAP("_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
        bool, NnMutexLockWhenWithDeadline, void* mu, const void* cond,
        Time deadline) {
  const bool result = NnMutexLockWhenWithDeadline_real()(mu, cond, deadline);
  Acquire(mu);
  return result;
}
NN_WRAP("_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
        bool, NnMutexReaderLockWhenWithTimeout, void* mu, const void* cond,
        Duration timeout) {
  const bool result =
      NnMutexReaderLockWhenWithTimeout_real()(mu, cond, timeout);
  Acquire(mu);
  return result;
}
NN_WRAP("_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
        bool, NnMutexReaderLockWhenWithDeadline, void* mu, const void* cond,
        Time deadline) {
  const bool result =
      NnMutexReaderLockWhenWithDeadline_real()(mu, cond, deadline);
  Acquire(mu);
  return result;
}
// Await releases the mutex while it waits and holds it again on return.
NN_WRAP("_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", void, NnMutexAwait,
        void* mu, const void* cond) {
  Release(mu);
  NnMutexAwait_real()(mu, cond);
  Acquire(mu);
}
NN_WRAP("_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE",
        bool, NnMutexAwaitWithTimeout, void* mu, const void* cond,
        Duration timeout) {
  Release(mu);
  const bool result = NnMutexAwaitWithTimeout_real()(mu, cond, timeout);
  Acquire(mu);
  return result;
}
NN_WRAP("_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE",
        bool, NnMutexAwaitWithDeadline, void* mu, const void* cond,
        Time deadline) {
  Release(mu);
  const bool result = NnMutexAwaitWithDeadline_real()(mu, cond, deadline);
  Acquire(mu);
  return result;
}

// --- absl::CondVar: the waits release the mutex and hold it on return ------

NN_WRAP("_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE", void, NnCondVarWait,
        void* cv, void* mu) {
  Release(mu);
  NnCondVarWait_real()(cv, mu);
  Acquire(mu);
}
NN_WRAP("_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE",
        bool, NnCondVarWaitWithTimeout, void* cv, void* mu, Duration timeout) {
  Release(mu);
  const bool result = NnCondVarWaitWithTimeout_real()(cv, mu, timeout);
  Acquire(mu);
  return result;
}
NN_WRAP("_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE",
        bool, NnCondVarWaitWithDeadline, void* cv, void* mu, Time deadline) {
  Release(mu);
  const bool result = NnCondVarWaitWithDeadline_real()(cv, mu, deadline);
  Acquire(mu);
  return result;
}

// --- absl::Notification -----------------------------------------------------

NN_WRAP("_ZN4absl7debian312Notification6NotifyEv", void, NnNotify,
        void* notification) {
  Release(notification);
  NnNotify_real()(notification);
}
NN_WRAP("_ZNK4absl7debian312Notification19WaitForNotificationEv", void,
        NnWaitForNotification, void* notification) {
  NnWaitForNotification_real()(notification);
  Acquire(notification);
}
NN_WRAP("_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
        bool, NnWaitForNotificationWithTimeout, void* notification,
        Duration timeout) {
  const bool notified =
      NnWaitForNotificationWithTimeout_real()(notification, timeout);
  if (notified) Acquire(notification);
  return notified;
}
NN_WRAP("_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
        bool, NnWaitForNotificationWithDeadline, void* notification,
        Time deadline) {
  const bool notified =
      NnWaitForNotificationWithDeadline_real()(notification, deadline);
  if (notified) Acquire(notification);
  return notified;
}
