// How many threads oneDNN uses, per calling thread.
//
// oneDNN runs its primitives on OpenMP. The thread count is OpenMP's
// per-thread "nthreads" setting of the thread that *creates and runs* the
// primitives: each server worker sets it once, before it creates its
// InferenceContext (primitives may size their work split at creation), and
// keeps it. Threads that never call SetThreadOneDnnThreads use the process
// default (OMP_NUM_THREADS, else one per core).
//
// With several workers on few cores, one oneDNN thread per worker is the
// right default: OpenMP threads spin at barriers, and two-thread calls beside
// other busy threads were measured 2-7x slower (see bench/README.md).
#ifndef NNSERVE_ENGINE_THREADING_H_
#define NNSERVE_ENGINE_THREADING_H_

namespace nn {

// Sets the calling thread's oneDNN (OpenMP) thread count; values < 1 are
// treated as 1. Affects primitives created and run on this thread afterwards.
void SetThreadOneDnnThreads(int threads);

// The calling thread's current oneDNN (OpenMP) thread count.
int ThreadOneDnnThreads();

}  // namespace nn

#endif  // NNSERVE_ENGINE_THREADING_H_
