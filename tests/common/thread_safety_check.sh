#!/usr/bin/env bash
# Proves that the thread-safety analysis the sanitizer builds run
# (-Wthread-safety -Werror=thread-safety, scripts/sanitize.sh) checks
# common/mutex.h's types: a guarded member read without its lock, a
# function called without the lock it requires, and an unlocked wait
# predicate must not compile; the same code holding the locks must.
#   tests/common/thread_safety_check.sh REPO_ROOT
# Needs clang++ (installed by scripts/install-deps.sh for the sanitizer
# builds); without it the check fails under CTest (NNSERVE_REQUIRE_TEST_TOOLS)
# and skips when run by hand.
set -euo pipefail
ROOT="${1:?repository root}"
CXX="${THREAD_SAFETY_CXX:-clang++}"
if ! command -v "$CXX" >/dev/null; then
  if [[ "${NNSERVE_REQUIRE_TEST_TOOLS:-0}" == 1 ]]; then
    echo "FAIL: $CXX is required (scripts/install-deps.sh installs clang)" >&2
    exit 1
  fi
  echo "SKIP: no $CXX"; exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

compile() {  # compile NAME BODY -> status of clang's analysis of BODY
  cat > "$TMP/$1.cc" <<CC
#include <condition_variable>
#include "common/mutex.h"
namespace nn {
class Counter {
 public:
  $2
 private:
  void BumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++value_; }
  Mutex mu_;
  SharedMutex table_mu_;
  std::condition_variable cv_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
  int table_ ABSL_GUARDED_BY(table_mu_) = 0;
};
}  // namespace nn
CC
  "$CXX" -std=c++20 -fsyntax-only -Wthread-safety -Werror=thread-safety \
    -I"$ROOT" "$TMP/$1.cc" 2>"$TMP/$1.log"
}

must_fail() {
  if compile "$1" "$2"; then
    echo "FAIL: $1 compiled; the analysis did not catch it" >&2; exit 1
  fi
  grep -q "thread-safety" "$TMP/$1.log" ||
    { echo "FAIL: $1 failed for another reason:" >&2; cat "$TMP/$1.log" >&2; exit 1; }
  echo "ok: $1 refused: $(grep -m1 -o 'error: .*' "$TMP/$1.log")"
}
must_pass() {
  compile "$1" "$2" ||
    { echo "FAIL: $1 did not compile:" >&2; cat "$TMP/$1.log" >&2; exit 1; }
  echo "ok: $1 compiles"
}

must_fail unlocked_read 'int Get() { return value_; }'
must_fail unlocked_call 'void Bump() { BumpLocked(); }'
must_fail write_under_reader_lock 'void Set() { ReaderLock l(table_mu_); table_ = 1; }'
must_fail unasserted_predicate \
  'void Await() { MutexLock l(mu_); l.Wait(cv_, [this] { return value_ > 0; }); }'
must_pass locked 'int Get() { MutexLock l(mu_); BumpLocked(); return value_; }
  int Read() { ReaderLock l(table_mu_); return table_; }
  void Set() { WriterLock l(table_mu_); table_ = 1; }
  void Await() { MutexLock l(mu_);
    l.Wait(cv_, [this] { mu_.AssertHeld(); return value_ > 0; }); }'
echo "thread_safety_check: PASS"
