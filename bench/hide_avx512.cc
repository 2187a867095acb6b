// libnnhide_avx512.so: a process that preloads it (LD_PRELOAD) sees a CPU
// without AVX-512 and AMX, so every library in it picks its AVX2 code the
// way it would on an AVX2 machine. For benchmarks only (issue 19): oneDNN's
// ISA cap (ONEDNN_MAX_CPU_ISA) caps oneDNN alone, while ONNX Runtime's MLAS,
// OpenBLAS and GCC's function multiversioning read CPUID themselves.
//
// How: Linux's CPUID faulting (arch_prctl(ARCH_SET_CPUID, 0), the
// `cpuid_fault` flag of /proc/cpuinfo; KVM provides it to guests) turns every
// CPUID instruction of the process into a SIGSEGV. The handler here runs the
// real CPUID (faulting off for that one instruction), clears the AVX-512 and
// AMX feature bits (leaf 7 subleaves 0 and 1, and their state components in
// leaf 0xD) and steps over the instruction. XGETBV cannot be faulted: the
// OS-enabled state (XCR0) still lists the ZMM registers, and every library
// we run requires the CPUID bit as well.
//
// When: from an IFUNC resolver of this library, which the dynamic loader
// runs while relocating it, after the libraries it loaded later and before
// the program itself; so even the program's own IFUNCs (GCC's target_clones,
// resolved before any constructor runs) see the hidden CPU. glibc's own
// choice of string functions is made earlier and is not changed.
//
// Failure is loud: without CPUID faulting the process stops at load with a
// message on stderr (exit status 86), never runs unmasked. The setting is
// per thread and inherited by threads and fork(); exec() clears it, and the
// preload (an inherited LD_PRELOAD) sets it again. A program that installs
// its own SIGSEGV handler must pass faults it does not own to the previous
// one; otherwise its first CPUID kills it, again loudly. Node 20's
// WebAssembly trap handler does not: run Node with
// --disable-wasm-trap-handler (bench/peers.sh sets NODE_OPTIONS).
//
// Nothing here calls libc: the resolver runs before this library's own
// relocations are guaranteed done, so it makes raw system calls.

#include <asm/prctl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include <cstdint>

namespace {

long RawSyscall(long number, long a, long b = 0, long c = 0, long d = 0) {
  long result;
  register long r10 asm("r10") = d;
  asm volatile("syscall"
               : "=a"(result)
               : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
               : "rcx", "r11", "memory");
  return result;
}

void WriteError(const char* message) {
  long length = 0;
  while (message[length] != '\0') ++length;
  RawSyscall(SYS_write, 2, reinterpret_cast<long>(message), length);
}

// The kernel's struct sigaction for rt_sigaction (not glibc's).
struct KernelSigaction {
  void* handler;  // a sa_sigaction (with SA_SIGINFO), or SIG_DFL
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};
constexpr unsigned long kSaRestorer = 0x04000000;

extern "C" void nnhide_avx512_restorer();
asm(".text\n"
    ".type nnhide_avx512_restorer,@function\n"
    "nnhide_avx512_restorer:\n"
    "  mov $15, %rax\n"  // rt_sigreturn
    "  syscall\n");

struct Registers {
  uint32_t eax, ebx, ecx, edx;
};

Registers RealCpuid(uint32_t leaf, uint32_t subleaf) {
  Registers r;
  asm volatile("cpuid"
               : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
               : "a"(leaf), "c"(subleaf));
  return r;
}

constexpr uint32_t Bit(int n) { return uint32_t{1} << n; }

// Leaf 7 subleaf 0. EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28,
// BW 30, VL 31. ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14.
// EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX-BF16 22, FP16 23,
// AMX-TILE 24, AMX-INT8 25.
constexpr uint32_t kLeaf7Ebx = Bit(16) | Bit(17) | Bit(21) | Bit(26) |
                               Bit(27) | Bit(28) | Bit(30) | Bit(31);
constexpr uint32_t kLeaf7Ecx = Bit(1) | Bit(6) | Bit(11) | Bit(12) | Bit(14);
constexpr uint32_t kLeaf7Edx =
    Bit(2) | Bit(3) | Bit(8) | Bit(22) | Bit(23) | Bit(24) | Bit(25);
// Leaf 7 subleaf 1 EAX: AVX512_BF16 5 (AVX-VNNI, bit 4, is AVX2-level: kept).
constexpr uint32_t kLeaf7Sub1Eax = Bit(5);
// Leaf 0xD subleaf 0 EAX, the state components XCR0 may hold: opmask 5,
// ZMM_Hi256 6, Hi16_ZMM 7, AMX XTILECFG 17, XTILEDATA 18.
constexpr uint32_t kLeafDEax = Bit(5) | Bit(6) | Bit(7) | Bit(17) | Bit(18);

Registers HiddenCpuid(uint32_t leaf, uint32_t subleaf) {
  RawSyscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
  Registers r = RealCpuid(leaf, subleaf);
  RawSyscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
  if (leaf == 7 && subleaf == 0) {
    r.ebx &= ~kLeaf7Ebx;
    r.ecx &= ~kLeaf7Ecx;
    r.edx &= ~kLeaf7Edx;
  } else if (leaf == 7 && subleaf == 1) {
    r.eax &= ~kLeaf7Sub1Eax;
  } else if (leaf == 0xD && subleaf == 0) {
    r.eax &= ~kLeafDEax;
  }
  return r;
}

void OnSegv(int, siginfo_t* info, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  greg_t* regs = uc->uc_mcontext.gregs;
  const auto* at = reinterpret_cast<const unsigned char*>(regs[REG_RIP]);
  // A CPUID fault is the kernel's (si_code > 0) with the instruction at RIP;
  // RIP of any other fault is mapped, so the two bytes can be read.
  if (info->si_code <= 0 || at[0] != 0x0F || at[1] != 0xA2) {
    // Anything else gets the default action as it would have: a fault
    // faults again on return, a sent signal is sent again.
    KernelSigaction dfl{};
    dfl.handler = nullptr;  // SIG_DFL
    RawSyscall(SYS_rt_sigaction, SIGSEGV, reinterpret_cast<long>(&dfl), 0, 8);
    if (info->si_code <= 0) {
      RawSyscall(SYS_kill, RawSyscall(SYS_getpid, 0), SIGSEGV);
    }
    return;
  }
  const Registers r = HiddenCpuid(static_cast<uint32_t>(regs[REG_RAX]),
                                  static_cast<uint32_t>(regs[REG_RCX]));
  regs[REG_RAX] = r.eax;  // CPUID zero-extends into the 64-bit registers
  regs[REG_RBX] = r.ebx;
  regs[REG_RCX] = r.ecx;
  regs[REG_RDX] = r.edx;
  regs[REG_RIP] += 2;
}

void Install() {
  KernelSigaction action{};
  action.handler = reinterpret_cast<void*>(&OnSegv);
  action.flags = SA_SIGINFO | kSaRestorer | SA_RESTART;
  action.restorer = nnhide_avx512_restorer;
  if (RawSyscall(SYS_rt_sigaction, SIGSEGV, reinterpret_cast<long>(&action),
                 0, 8) != 0 ||
      RawSyscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
    WriteError(
        "libnnhide_avx512.so: this kernel or CPU cannot fault CPUID "
        "(no cpuid_fault in /proc/cpuinfo): AVX-512 cannot be hidden\n");
    RawSyscall(SYS_exit_group, 86);
  }
}

}  // namespace

// The IFUNC whose resolver installs the handler; `nnhide_avx512_installed`
// refers to it so that the linker emits the IRELATIVE relocation that makes
// the loader call the resolver at load.
extern "C" {
__attribute__((visibility("hidden"))) int NnhideAvx512Done() { return 1; }
__attribute__((visibility("hidden"))) int (*NnhideAvx512Resolve())() {
  Install();
  return &NnhideAvx512Done;
}
__attribute__((visibility("hidden"), ifunc("NnhideAvx512Resolve"))) int
NnhideAvx512Installed();
__attribute__((visibility("default"), used)) int (*nnhide_avx512_installed)() =
    NnhideAvx512Installed;
}
