#!/usr/bin/env bash
# bench/serving.sh without nnserve: the ceiling alone, short levels.
#   serving_sh_test.sh BIN_DIR     (run from the repository root)
set -euo pipefail
BIN="$1"
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$OUT"; exit 1; }

NNSERVE=/nonexistent/nnserve CONCURRENCY=1,4 ROUNDS=2 DURATION=200ms WARMUP=0s \
  bench/serving.sh "$BIN" >"$OUT" 2>&1 || fail "serving.sh exited $?"

grep -q "^nnserve: skipped (/nonexistent/nnserve not found)" "$OUT" \
  || fail "no message about skipping nnserve"
grep -q "^| server | model | concurrency | req/s | p50 µs | p99 µs | failed | req/s vs ceiling |$" "$OUT" \
  || fail "no table header"
grep -Eq "^\| ceiling \| - \| 1 \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| 0 \| 1.00 \|$" "$OUT" \
  || fail "no ceiling row at concurrency 1"
grep -Eq "^\| ceiling \| - \| 4 \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| 0 \| 1.00 \|$" "$OUT" \
  || fail "no ceiling row at concurrency 4"
[[ "$(grep -c '^| nnserve' "$OUT")" == 0 ]] || fail "nnserve rows without nnserve"
# Two rounds, one row per level (the medians).
grep -q "^round 2 of 2$" "$OUT" || fail "no second round"
grep -q "2 rounds of 200ms a level" "$OUT" || fail "no rounds in the table's caption"
[[ "$(grep -c '^| ceiling' "$OUT")" == 2 ]] || fail "not one ceiling row per level"

# The script stopped the ceiling server: its port no longer answers.
port="$(sed -n 's/^ceiling: 127.0.0.1:\([0-9]*\)$/\1/p' "$OUT")"
[[ -n "$port" ]] || fail "no ceiling address printed"
rc=0
"$BIN/nnctl" --target="127.0.0.1:$port" --timeout=2s predict --model=m \
  --index=0 data/mnist/t10k-images-idx3-ubyte >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "the ceiling server still answers on port $port (rc $rc)"

# A missing tool is a clear error, not a hang.
rc=0
bench/serving.sh /nonexistent/bin >"$OUT" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "missing binaries: exit $rc, expected 1"
grep -q "nnctl not found" "$OUT" || fail "missing binaries: no message"
echo "PASS"
