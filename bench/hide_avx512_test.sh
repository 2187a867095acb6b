#!/usr/bin/env bash
# hide_avx512_test PROBE LIBRARY: isa_probe without and with the preload.
# Without it the probe must agree with /proc/cpuinfo; with it no way of
# asking (CPUID on the main thread and on a later thread, libgcc's
# __builtin_cpu_supports, the loader's choice of a target_clones variant,
# oneDNN's effective ISA) may report AVX-512, while AVX2 stays. Skipped (77)
# where there is nothing to hide (no avx512f) or no CPUID faulting.
set -euo pipefail
PROBE="$1" LIBRARY="$2"
plain="$("$PROBE")"
echo "plain:   $plain"
if ! grep -qw avx512f /proc/cpuinfo; then
  [[ "$plain" == *"cpuid_avx512f=0"* ]] || { echo "FAIL: probe reports AVX-512 the CPU lacks"; exit 1; }
  echo "SKIP: this CPU has no AVX-512 to hide"; exit 77
fi
[[ "$plain" == *"cpuid_avx512f=1 thread_avx512f=1 builtin_avx512f=1 clone=avx512f"* ]] ||
  { echo "FAIL: without the preload the probe should see AVX-512"; exit 1; }
if ! grep -qw cpuid_fault /proc/cpuinfo; then
  status=0; LD_PRELOAD="$LIBRARY" "$PROBE" 2>/dev/null || status=$?
  [[ $status == 86 ]] || { echo "FAIL: without CPUID faulting the preload must stop the process (86), got $status"; exit 1; }
  echo "SKIP: no CPUID faulting here (the preload stopped the process, as it must)"; exit 77
fi
hidden="$(LD_PRELOAD="$LIBRARY" "$PROBE")"
echo "preload: $hidden"
expected="cpuid_avx512f=0 thread_avx512f=0 builtin_avx512f=0 clone=avx2"
[[ "$hidden" == *"$expected"* ]] || { echo "FAIL: expected $expected"; exit 1; }
[[ "$hidden" == *"avx2=1"* ]] || { echo "FAIL: AVX2 must stay"; exit 1; }
# oneDNN's ISA bits: avx512_core (0x27) must not be within them.
onednn=$(( $(sed 's/.*onednn=\(0x[0-9a-f]*\).*/\1/' <<<"$hidden") ))
(( (onednn & 0x27) != 0x27 && (onednn & 0x7) == 0x7 )) ||
  { echo "FAIL: oneDNN should find AVX2 and not AVX-512 (isa bits $onednn)"; exit 1; }
# A genuine fault, and a SIGSEGV sent, still end the process by SIGSEGV.
status=0; (LD_PRELOAD="$LIBRARY" exec "$PROBE" segv) 2>/dev/null || status=$?
[[ $status == 139 ]] || { echo "FAIL: a genuine fault should end the process by SIGSEGV (139), got $status"; exit 1; }
status=0; (LD_PRELOAD="$LIBRARY" exec /usr/bin/env sh -c 'kill -SEGV $$; sleep 5') 2>/dev/null || status=$?
[[ $status == 139 ]] || { echo "FAIL: a SIGSEGV sent should end the process (139), got $status"; exit 1; }
echo "PASS"
