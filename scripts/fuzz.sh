#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time (issue 10;
# tests/robustness/README.md).
#
#   scripts/fuzz.sh [SECONDS]        (per target; default 60)
#
# Uses the clang ASan + UBSan build that scripts/sanitize.sh makes
# (build-asan, configured with -DNNSERVE_FUZZ=ON), building the fuzzers if
# needed. Seeds come from real files (make_seed_corpus: the golden model, the
# tutorial specs, real digits as pixels/tensors/PNGs, IDX slices) plus the
# recorded crash inputs in tests/robustness/fuzz_regressions/. Each target's
# corpus grows in <build>/fuzz/corpus/<target> across runs.
#
# A crash (or leak, timeout, out-of-memory) fails the run and is left in
# <build>/fuzz/crashes/<target>/; to keep it fixed, copy it into
# tests/robustness/fuzz_regressions/<target>/ (fuzz_regression_test replays
# it in every build).
#
# Environment: ASAN_BUILD (default build-asan), JOBS, FUZZ_TARGETS (default:
# all nine), FUZZ_RSS_MB (default 2048).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-60}"
BUILD="${ASAN_BUILD:-$ROOT/build-asan}"
TARGETS="${FUZZ_TARGETS:-model_file model_spec predict png idx v2_rest v2_grpc onnx_import v1_json}"
RSS_MB="${FUZZ_RSS_MB:-2048}"

missing=()
for t in $TARGETS; do
  [[ -x "$BUILD/bin/${t}_fuzzer" ]] || missing+=("${t}_fuzzer")
done
[[ -x "$BUILD/bin/make_seed_corpus" ]] || missing+=(make_seed_corpus)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "== building ${missing[*]} in $BUILD"
  ASAN_BUILD="$BUILD" "$ROOT/scripts/sanitize.sh" address-build "${missing[@]}"
fi

cd "$ROOT"  # make_seed_corpus reads data/, models/ and tests/testdata/
# PyTorch's ONNX exports, seeds of onnx_import (tests/onnx).
/usr/bin/python3 "$ROOT/scripts/make-onnx-models.py" "$BUILD/onnx-models"
export NNSERVE_ONNX_MODELS_DIR="$BUILD/onnx-models"
rm -rf "$BUILD/fuzz/seeds"
"$BUILD/bin/make_seed_corpus" "$BUILD/fuzz/seeds" >/dev/null

# Leaks fail a fuzz run like crashes (per input); tests/lsan.supp lists what
# Debian's libraries keep on purpose.
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
for t in $TARGETS; do
  corpus="$BUILD/fuzz/corpus/$t"
  crashes="$BUILD/fuzz/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  dirs=("$corpus" "$BUILD/fuzz/seeds/$t")
  [[ -d "$ROOT/tests/robustness/fuzz_regressions/$t" ]] &&
    dirs+=("$ROOT/tests/robustness/fuzz_regressions/$t")
  log="$BUILD/fuzz/$t.log"
  echo "== $t: ${SECONDS_EACH}s"
  set +e
  "$BUILD/bin/${t}_fuzzer" -max_total_time="$SECONDS_EACH" -timeout=20 \
    -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${dirs[@]}" > "$log" 2>&1
  rc=$?
  set -e
  grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" "$log" |
    tr '\n' ' ' | sed 's/stat:://g'
  echo
  if [[ $rc -ne 0 ]]; then
    status=1
    echo "fuzz.sh: $t failed (exit $rc); inputs in $crashes:" >&2
    ls -1 "$crashes" >&2 || true
    grep -A30 -E "ERROR: |==[0-9]+==|fuzz invariant broken" "$log" | head -n 60 >&2 || true
  fi
done
exit $status
