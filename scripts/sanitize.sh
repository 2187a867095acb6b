#!/usr/bin/env bash
# Sanitizer runs (issue 10; tests/robustness/README.md).
#
#   scripts/sanitize.sh [address|thread|all] [ctest args...]   (default: all)
#   scripts/sanitize.sh address-build [targets...]   (configure + build only;
#                                                    scripts/fuzz.sh uses it)
#
# address  build-asan: clang, AddressSanitizer + UndefinedBehaviorSanitizer
#          (+ LeakSanitizer), plus libFuzzer coverage so that scripts/fuzz.sh
#          reuses the same build. Builds everything and runs the whole CTest
#          suite.
# thread   build-tsan: clang, ThreadSanitizer. Builds only the tests labelled
#          `tsan` (batcher, clock, metrics registry and endpoint, the server
#          end-to-end and robustness suites) and what they start (nnserve,
#          model_writer), and runs `ctest -L tsan`.
#
# Every sanitized process, the nnserve children the tests start included,
# writes its reports to <build>/sanitizer-reports/; any report fails the run,
# even from a process that was later killed.
#
# Environment: JOBS (build parallelism, default nproc), CTEST_JOBS (default
# 2), ASAN_BUILD / TSAN_BUILD (build directories, default build-asan /
# build-tsan under the repository root), SANITIZE_CC / SANITIZE_CXX
# (default clang / clang++; gcc / g++ work too, without the fuzzers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-all}"
shift || true
JOBS="${JOBS:-$(nproc)}"
CTEST_JOBS="${CTEST_JOBS:-2}"
ASAN_BUILD="${ASAN_BUILD:-$ROOT/build-asan}"
TSAN_BUILD="${TSAN_BUILD:-$ROOT/build-tsan}"
CC_BIN="${SANITIZE_CC:-clang}"
CXX_BIN="${SANITIZE_CXX:-clang++}"

# -O1 with line tables: readable stacks, about half the compile time of -O3.
# Warnings stay warnings (NNSERVE_WERROR=OFF): the GCC build is the one that
# enforces them, and clang's set differs; except clang's thread-safety
# analysis, which only clang has and which is an error here.
if [[ "$CXX_BIN" == *clang* ]]; then
  # The locking contracts (ABSL_GUARDED_BY ... on common/mutex.h's types)
  # are checked here, and a breach fails the build.
  OPT_FLAGS="-O1 -gline-tables-only -Wthread-safety -Werror=thread-safety"
  FUZZ=ON
  # oneDNN (libdnnl) runs on GCC's OpenMP runtime; clang's -fopenmp would
  # link LLVM's libomp beside it, and omp_set_num_threads (engine/threading.cc)
  # would then set the wrong runtime's thread count. -fopenmp=libgomp links
  # GCC's runtime for the omp_* calls; clang then ignores the engine's own
  # `#pragma omp` loops (they run serially in these builds: same results,
  # and nothing for TSan to misreport in the uninstrumented libgomp), while
  # oneDNN keeps its OpenMP threads.
  GOMP="$(gcc -print-file-name=libgomp.so)"
  OPENMP_ARGS=(-DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp
               -DOpenMP_C_FLAGS=-fopenmp=libgomp -DOpenMP_C_LIB_NAMES=gomp
               "-DOpenMP_gomp_LIBRARY=$GOMP")
else
  OPT_FLAGS="-O1 -g1"
  FUZZ=OFF
  OPENMP_ARGS=()
fi

configure() {
  local dir="$1"
  shift
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$CC_BIN" -DCMAKE_CXX_COMPILER="$CXX_BIN" \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$OPT_FLAGS" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$OPT_FLAGS" \
    -DNNSERVE_WERROR=OFF "${OPENMP_ARGS[@]}" "$@" >/dev/null
}

# Prints the reports of <dir>/sanitizer-reports and fails if there are any.
check_reports() {
  local dir="$1/sanitizer-reports"
  local reports
  reports=$(find "$dir" -type f -size +0 2>/dev/null | sort)
  if [[ -n "$reports" ]]; then
    echo "sanitize.sh: sanitizer reports in $dir:" >&2
    for f in $reports; do
      echo "=== $f" >&2
      head -n 80 "$f" >&2
    done
    return 1
  fi
}

# ctest in <dir> with its output in <dir>/ctest-<name>.log; the summary lines
# are printed last.
run_ctest() {
  local dir="$1" name="$2"
  shift 2
  rm -rf "$dir/sanitizer-reports"
  mkdir -p "$dir/sanitizer-reports"
  local status=0
  (cd "$ROOT" && ctest --test-dir "$dir" --output-on-failure \
      -j "$CTEST_JOBS" "$@") > "$dir/ctest-$name.log" 2>&1 || status=$?
  tail -n 40 "$dir/ctest-$name.log" | grep -v "^$" |
    grep -E "tests passed|tests failed|Total Test time|\(Failed\)|\(Timeout\)|Not Run|\*\*\*" || true
  if [[ $status -ne 0 ]]; then
    echo "sanitize.sh: $name: ctest failed; log: $dir/ctest-$name.log" >&2
    grep -B2 -A40 -E "^[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*" \
      "$dir/ctest-$name.log" | head -n 200 >&2 || true
  fi
  check_reports "$dir" || status=1
  return $status
}

# Configures build-asan and builds the given targets (default: all).
build_address() {
  configure "$ASAN_BUILD" -DNNSERVE_SANITIZE=address -DNNSERVE_FUZZ="$FUZZ"
  if [[ $# -gt 0 ]]; then
    cmake --build "$ASAN_BUILD" -j "$JOBS" --target "$@"
  else
    cmake --build "$ASAN_BUILD" -j "$JOBS"
  fi
}

run_address() {
  echo "== ASan + UBSan: $ASAN_BUILD (whole suite)"
  build_address
  local reports="$ASAN_BUILD/sanitizer-reports"
  # detect_leaks: LeakSanitizer at every exit (tests/lsan.supp lists leaks
  # that are not ours). UBSan aborts on the first report.
  export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
  export NNSERVE_TEST_TIME_SCALE=3
  # Excluded: the deploy tests that only run node and promtool on manifests
  # and dashboards (tests/deploy): no code of ours runs in them, so a
  # sanitizer build adds nothing (deploy_dashboard_live_test, which starts
  # nnserve, does run).
  # Also excluded: the browser test (label browser: Chromium drawing on the
  # console) and its fixtures, which would train three models with the
  # sanitized nntrain first; the console's server side (/v1, the page and
  # its headers) runs here in console_e2e_test.
  run_ctest "$ASAN_BUILD" asan \
    -E '^deploy_(k8s_manifests|dashboard|compose|seed_models)_test$' \
    -LE '^browser$' "$@"
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS NNSERVE_TEST_TIME_SCALE GTEST_FILTER
}

run_thread() {
  echo "== TSan: $TSAN_BUILD (ctest -L tsan)"
  configure "$TSAN_BUILD" -DNNSERVE_SANITIZE=thread -DNNSERVE_BUILD_BENCH=OFF
  # The tests labelled tsan are their own targets (nn_test); they depend on
  # nnserve and model_writer where they start them.
  local targets
  targets=$(cd "$ROOT" && ctest --test-dir "$TSAN_BUILD" -N -L tsan |
    sed -n 's/^ *Test *#[0-9]*: *\([A-Za-z0-9_]*\)$/\1/p')
  if [[ -z "$targets" ]]; then
    echo "sanitize.sh: no tests labelled tsan" >&2
    return 1
  fi
  # shellcheck disable=SC2086
  cmake --build "$TSAN_BUILD" -j "$JOBS" --target $targets
  # Happens-before edges of Debian's uninstrumented absl::Mutex, CondVar and
  # Notification (which gRPC synchronises with), for TSan: see
  # tests/robustness/tsan_abseil_annotations.cc. Plain flags: it is preloaded
  # into every process of the run, instrumented or not.
  local shim="$TSAN_BUILD/lib/libnn_tsan_abseil.so"
  mkdir -p "$TSAN_BUILD/lib"
  "$CXX_BIN" -std=c++20 -shared -fPIC -O1 -Wall -Wextra -Werror -o "$shim" \
    "$ROOT/tests/robustness/tsan_abseil_annotations.cc" -ldl
  local reports="$TSAN_BUILD/sanitizer-reports"
  # halt_on_error=0: a race is reported and the process continues, so one
  # run shows every race; the report files fail the run. The exit code 66
  # also fails the test binary itself.
  export TSAN_OPTIONS="log_path=$reports/tsan:suppressions=$ROOT/tests/tsan.supp:second_deadlock_stack=1:history_size=4"
  export LD_PRELOAD="$shim" NNSERVE_TEST_TIME_SCALE=10
  run_ctest "$TSAN_BUILD" tsan -L tsan "$@"
  local status=$?
  unset TSAN_OPTIONS LD_PRELOAD NNSERVE_TEST_TIME_SCALE
  return $status
}

case "$MODE" in
  address) run_address "$@" ;;
  address-build) build_address "$@" ;;
  thread) run_thread "$@" ;;
  all)
    status=0
    run_address "$@" || status=1
    run_thread "$@" || status=1
    exit $status
    ;;
  *)
    echo "usage: scripts/sanitize.sh [address|thread|all] [ctest args...]" >&2
    echo "       scripts/sanitize.sh address-build [targets...]" >&2
    exit 2
    ;;
esac
