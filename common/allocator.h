// Which heap allocator the process runs on, and handing free memory back.
//
// The nnserve binary links gperftools' tcmalloc (Debian's
// libtcmalloc-minimal4; server/CMakeLists.txt) unless built with a
// sanitizer: under load gRPC's buffers are allocated on one thread and freed
// on another, which glibc's malloc pays for with arena locks (a quarter of
// the server's futex calls at 64 in flight) and tcmalloc with a per-thread
// cache; measured in bench/README ("Allocator"). Libraries and tests do not
// link it, so this code asks at run time (tcmalloc's C API, looked up as weak
// symbols) rather than assuming.
#ifndef NNSERVE_COMMON_ALLOCATOR_H_
#define NNSERVE_COMMON_ALLOCATOR_H_

namespace nn {

// "tcmalloc" when tcmalloc serves malloc in this process, else "glibc".
const char* AllocatorName();

// Returns the allocator's free memory to the system: tcmalloc's
// ReleaseFreeMemory, or glibc's malloc_trim(0) (every arena). For after a
// burst of large allocations that will not come back soon (a training job).
void ReleaseFreeMemory();

}  // namespace nn

#endif  // NNSERVE_COMMON_ALLOCATOR_H_
