#!/usr/bin/env bash
# Runs tests again with oneDNN capped at an older instruction set, so that one
# machine checks what a machine of that kind would compute (.ci/run; the
# README's "Numerical contract").
#
#   scripts/test-isa.sh ISA LABEL [LABEL...]     e.g. scripts/test-isa.sh AVX2 engine e2e
#
# ISA is a value of ONEDNN_MAX_CPU_ISA that oneDNN 2.6 accepts: SSE41, AVX,
# AVX2, AVX512_CORE, ... (a cap above the CPU's own ISA changes nothing: the
# script then says so and runs nothing; and
# oneDNN ignores a value it does not know: this script checks, from oneDNN's
# own verbose report, that the cap took effect, and prints the ISA the tests
# ran on). The project's own vector kernels (engine/vector_clones.h: max
# pooling, optimiser updates) pick their code by the CPU, not by this cap;
# max pooling computes the same bits on every path.
#
# Runs on the Release build of scripts/test.sh (BUILD_DIR, default build/):
# run that first. Environment: CTEST_JOBS (default 2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build}"
if (( $# < 2 )); then
  echo "usage: $0 ISA LABEL [LABEL...]" >&2
  exit 2
fi
ISA="$1"
shift
LABELS="$(IFS='|'; echo "$*")"

native="$(env -u ONEDNN_MAX_CPU_ISA "$ROOT/scripts/onednn-isa.sh")" ||
  { echo "test-isa: oneDNN printed no ISA report" >&2; exit 1; }
export ONEDNN_MAX_CPU_ISA="$ISA"
effective="$("$ROOT/scripts/onednn-isa.sh")" ||
  { echo "test-isa: oneDNN printed no ISA report" >&2; exit 1; }
echo "test-isa: ONEDNN_MAX_CPU_ISA=$ISA -> oneDNN reports isa:$effective" \
     "(this CPU without the cap: isa:$native)"

# The cap must have taken effect: the reported ISA names it (oneDNN's
# spelling, e.g. "Intel AVX2", "Intel SSE4.1", "Intel AVX-512 ..."), unless
# the CPU itself is below the cap.
expected=""
case "$ISA" in
  SSE41) expected="SSE4.1" ;;
  AVX) expected="AVX" ;;
  AVX2) expected="AVX2" ;;
  AVX512_CORE*) expected="AVX-512" ;;
esac
# Under a cap at or above the CPU's own ISA, oneDNN runs what it runs
# natively, so the run would repeat scripts/test.sh's: skipped (on an AVX2
# machine, the AVX2 step of .ci/run).
if [[ "$native" == "$effective" ]]; then
  echo "test-isa: oneDNN runs isa:$native with or without the cap $ISA:" \
       "the native run (scripts/test.sh) already covered it; skipped"
  exit 0
elif [[ -n "$expected" && "$effective" != *"$expected"* ]]; then
  echo "test-isa: the cap $ISA did not take effect (isa:$effective)" >&2
  exit 1
fi

cd "$BUILD"
ctest --output-on-failure -j "${CTEST_JOBS:-2}" -L "^($LABELS)\$"
