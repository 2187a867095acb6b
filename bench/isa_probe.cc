// isa_probe: what this process believes about the CPU's vector ISA, as each
// kind of library finds out (the check of libnnhide_avx512.so,
// bench/hide_avx512.cc). Prints one line of `key=value`:
//   cpuid_avx512f     CPUID leaf 7 EBX bit 16, read on the main thread
//   thread_avx512f    the same, read on a thread started afterwards
//   builtin_avx512f   GCC's __builtin_cpu_supports (libgcc's cache)
//   clone             the multiversioned variant the loader chose (an IFUNC
//                     of this program, resolved before any constructor)
//   onednn            oneDNN's effective ISA, as dnnl::cpu_isa's bits
//   avx2              CPUID's AVX2 bit (kept by the shim)
// `isa_probe segv` writes through a null pointer instead (a genuine fault).
#include <cpuid.h>

#include <cstdio>
#include <string_view>
#include <thread>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

int CpuidAvx512f() {
  unsigned eax, ebx, ecx, edx;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  return (ebx >> 16) & 1;
}

int CpuidAvx2() {
  unsigned eax, ebx, ecx, edx;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  return (ebx >> 5) & 1;
}

}  // namespace

// GCC's function multiversioning: one body per target, the loader's IFUNC
// picks one (what NN_VECTOR_CLONES' target_clones does, with bodies that
// say which they are).
__attribute__((target("default"))) const char* Clone() {
  return "default";
}
__attribute__((target("avx2"))) const char* Clone() { return "avx2"; }
__attribute__((target("avx512f"))) const char* Clone() {
  return "avx512f";
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "segv") {
    *static_cast<volatile int*>(nullptr) = 1;
  }
  int thread_avx512f = -1;
  std::thread([&] { thread_avx512f = CpuidAvx512f(); }).join();
  std::printf(
      "cpuid_avx512f=%d thread_avx512f=%d builtin_avx512f=%d clone=%s "
      "onednn=0x%x avx2=%d\n",
      CpuidAvx512f(), thread_avx512f, __builtin_cpu_supports("avx512f") ? 1 : 0,
      Clone(), static_cast<unsigned>(dnnl::get_effective_cpu_isa()),
      CpuidAvx2());
  return 0;
}
