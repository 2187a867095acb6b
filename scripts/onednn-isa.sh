#!/usr/bin/env bash
# Prints the instruction set oneDNN dispatches to on this machine, as oneDNN
# itself reports it (ONEDNN_VERBOSE's "isa:" line), under the environment's
# ONEDNN_MAX_CPU_ISA if set: e.g. "Intel AVX2". Needs a build (BUILD_DIR,
# default build/). Exit status 1 if oneDNN printed no report.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build}"
# One tiny inference (a test that builds a plan) makes oneDNN print it.
report="$(cd "$ROOT" && ONEDNN_VERBOSE=1 "$BUILD/bin/engine_model_test" \
            --gtest_filter='InferenceContextTest.RejectsSizeMismatchesWithInvalidArgument' 2>&1 |
          grep -m1 'onednn_verbose,info,cpu,isa:' || true)"
[[ -n "$report" ]] || exit 1
echo "${report#*isa:}"
