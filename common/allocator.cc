#include "common/allocator.h"

#include <malloc.h>

// gperftools' C API (gperftools/malloc_extension_c.h), declared here weak so
// that a program without tcmalloc links and sees null.
extern "C" {
__attribute__((weak)) void MallocExtension_ReleaseFreeMemory(void);
__attribute__((weak)) const char* tc_version(int* major, int* minor,
                                             const char** patch);
}

namespace nn {

const char* AllocatorName() {
  return tc_version != nullptr ? "tcmalloc" : "glibc";
}

void ReleaseFreeMemory() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
  } else {
    ::malloc_trim(0);
  }
}

}  // namespace nn
