#!/usr/bin/env bash
# One engine build against another, in alternating rounds: each round runs
# the same engine_bench cases with the OLD build, then the NEW one, and the
# figure per case is the median of the per-round ratios NEW images/s ÷ OLD
# images/s (above 1: NEW is faster), with the rounds' min-max.
#
#   bench/engine_ab.sh OLD_BIN NEW_BIN [ROUNDS] [FILTER] [MIN_TIME_S]
#     OLD_BIN, NEW_BIN  directories holding engine_bench (e.g. a copy of
#                       build/bin made before a change, and build/bin)
#     ROUNDS 3, FILTER '^Engine/mnist_cnn/batch:(1|8|32|256)/threads:1/',
#     MIN_TIME_S 0.5 (per case and round)
# ONEDNN_MAX_CPU_ISA (exported by the caller) caps both sides alike.
# Quiet machine only (OpenMP threads spin; a busy neighbour makes calls
# 10-100x slower).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,13p' "$0" >&2; exit 2; }
OLD="$1" NEW="$2" ROUNDS="${3:-3}"
FILTER="${4:-^Engine/mnist_cnn/batch:(1|8|32|256)/threads:1/}"
MIN_TIME="${5:-0.5}"
for side in "$OLD" "$NEW"; do
  [[ -x "$side/engine_bench" ]] || { echo "engine_ab.sh: no $side/engine_bench" >&2; exit 1; }
done
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for side in old new; do
    bin="$OLD"
    [[ "$side" == new ]] && bin="$NEW"
    "$bin/engine_bench" --benchmark_filter="$FILTER" \
      --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
      >"$WORK/$side$round.json" 2>/dev/null
  done
  echo "engine_ab.sh: round $round of $ROUNDS done" >&2
done
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def rates(path):
    return {b["name"]: b["items_per_second"]
            for b in json.load(open(path))["benchmarks"]
            if "items_per_second" in b}
old = [rates(f"{work}/old{r}.json") for r in range(1, rounds + 1)]
new = [rates(f"{work}/new{r}.json") for r in range(1, rounds + 1)]
print("| case | OLD images/s | NEW images/s | NEW ÷ OLD, median (min-max) |")
print("|---|---|---|---|")
for name in old[0]:
    ratios = [n[name] / o[name] for o, n in zip(old, new) if name in n]
    print(f"| {name} | {statistics.median(o[name] for o in old):,.0f} | "
          f"{statistics.median(n[name] for n in new if name in n):,.0f} | "
          f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) |")
PY
