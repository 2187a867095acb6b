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
# TEST_ISA_HIDE_AVX512=1 (with a cap below AVX-512, on a CPU with AVX-512
# and CPUID faulting) also preloads BUILD/lib/libnnhide_avx512.so into every
# test process (bench/hide_avx512.cc): then the project's multiversioned
# kernels, ONNX Runtime and OpenBLAS take their AVX2 code too, as on an AVX2
# machine (Node runs with --disable-wasm-trap-handler, which the preload
# needs). Not for labels whose tests start a browser.
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

if [[ "${TEST_ISA_HIDE_AVX512:-0}" == 1 ]]; then
  hide="$BUILD/lib/libnnhide_avx512.so"
  if [[ "$ISA" == AVX512* ]]; then
    echo "test-isa: TEST_ISA_HIDE_AVX512=1 needs a cap below AVX-512 (got $ISA)" >&2
    exit 1
  elif ! grep -qw avx512f /proc/cpuinfo || ! grep -qw cpuid_fault /proc/cpuinfo; then
    echo "test-isa: no AVX-512 to hide or no CPUID faulting on this CPU: skipped"
    exit 0
  elif [[ ! -f "$hide" ]]; then
    echo "test-isa: $hide is missing (a sanitizer build has none)" >&2
    exit 1
  fi
  export LD_PRELOAD="$hide${LD_PRELOAD:+:$LD_PRELOAD}"
  export NODE_OPTIONS="--disable-wasm-trap-handler${NODE_OPTIONS:+ $NODE_OPTIONS}"
  echo "test-isa: AVX-512 hidden from every test process too ($("$BUILD/bin/isa_probe"))"
fi

cd "$BUILD"
ctest --output-on-failure -j "${CTEST_JOBS:-2}" -L "^($LABELS)\$"
