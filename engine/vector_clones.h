// NN_VECTOR_CLONES before a kernel compiles it for AVX-512, AVX2 and baseline
// x86-64, the best chosen when the program loads (GCC function
// multiversioning), so one binary runs everywhere and fast here.
//
// Clang 14 cannot multiversion function templates; in clang builds (the
// sanitizer and fuzzing builds, which are not for speed) the macro is empty
// and the kernels compile for the baseline ISA: the same results, slower.
#ifndef NNSERVE_ENGINE_VECTOR_CLONES_H_
#define NNSERVE_ENGINE_VECTOR_CLONES_H_

#if defined(__clang__)
#define NN_VECTOR_CLONES
#else
#define NN_VECTOR_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

#endif  // NNSERVE_ENGINE_VECTOR_CLONES_H_
