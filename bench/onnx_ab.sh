#!/usr/bin/env bash
# Imported ONNX model vs the native model of the same architecture, in
# alternating rounds (issue 18: within 5 % at batch 1, 8, 32, 256): each
# round runs bench/onnx_bench's pairs once (case by case; native first in
# odd rounds, ONNX first in even ones), and the figure per case is the median
# of the per-round ratios ONNX images/s ÷ native images/s (1.00 = equal;
# above 1: ONNX faster).
#
#   bench/onnx_ab.sh [ROUNDS] [MIN_TIME_S] [THREADS]    defaults 6 2 1
# (about 6 minutes). The defaults were 5 rounds of 0.3 s: a dozen calls of
# the CNN at batch 256, whose round-to-round spread (0.75-0.97) was wider
# than the 5 % to be shown. The plans are the same (tests/onnx/
# onnx_plan_test.cc; bench/README.md), so a ratio away from 1 is the
# machine's noise, not the import.
# Needs the ONNX test models (scripts/test.sh, or the CTest fixture
# onnx_models, makes build/onnx-models). Quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-6}" MIN_TIME="${2:-2}" THREADS="${3:-1}"
BIN="${BIN:-build/bin}"
export NNSERVE_ONNX_MODELS_DIR="${NNSERVE_ONNX_MODELS_DIR:-build/onnx-models}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  NNSERVE_ONNX_BENCH_ONNX_FIRST=$(( round % 2 == 0 ? 1 : 0 )) \
  "$BIN/onnx_bench" --benchmark_filter="^(Native|Onnx)/.*/threads:${THREADS}/" \
    --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
    >"$WORK/round$round.json" 2>/dev/null
  echo "round $round done" >&2
done
/usr/bin/python3 - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
ratios, native = {}, {}
for r in range(1, rounds + 1):
    runs = {b["name"]: b["real_time"] for b in
            json.load(open(f"{work}/round{r}.json"))["benchmarks"]}
    for name, t in runs.items():
        if not name.startswith("Native/"):
            continue
        case = name[len("Native/"):]
        onnx = runs.get("Onnx/" + case)
        if onnx is None:
            continue
        ratios.setdefault(case, []).append(t / onnx)  # time ratio = speed ratio
        native.setdefault(case, []).append(t)
print(f"{'case':48} {'native us':>10} {'onnx/native':>12} {'min':>6} {'max':>6}")
for case, rs in ratios.items():
    print(f"{case:48} {statistics.median(native[case]):10.1f} "
          f"{statistics.median(rs):12.3f} {min(rs):6.3f} {max(rs):6.3f}")
PY
