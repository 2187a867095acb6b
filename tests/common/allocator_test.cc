// common/allocator.h in a binary linked as NN_EXPECTED_ALLOCATOR says: this
// file builds twice, without tcmalloc (allocator_test: "glibc") and, when the
// server links it, with it (allocator_tcmalloc_test: "tcmalloc").
#include "common/allocator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace nn {
namespace {

// Resident set size in bytes (/proc/self/statm, second field, in pages).
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0;
  int64_t resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * 4096;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizer = true;
#else
constexpr bool kSanitizer = false;
#endif
#else
constexpr bool kSanitizer = false;
#endif

bool IsTcmalloc() { return std::string(NN_EXPECTED_ALLOCATOR) == "tcmalloc"; }

TEST(AllocatorTest, NamesTheAllocatorThisBinaryLinks) {
  EXPECT_STREQ(AllocatorName(), NN_EXPECTED_ALLOCATOR);
}

// Freed memory stays with the allocator until ReleaseFreeMemory hands it
// back. The blocks are ones each allocator keeps: 64 KiB ones (under glibc's
// mmap threshold, so from the heap, with a block allocated after them so that
// glibc cannot just trim the heap's top) or 1 MiB ones (tcmalloc's page heap;
// its gradual release is off in this test: TCMALLOC_RELEASE_RATE=0).
TEST(AllocatorTest, ReleaseFreeMemoryHandsFreedHeapBackToTheSystem) {
  if (kSanitizer) {
    GTEST_SKIP() << "a sanitizer's allocator (quarantine, own heap) serves "
                    "malloc here";
  }
  constexpr int64_t kTotal = int64_t{192} << 20;
  const int64_t block = IsTcmalloc() ? int64_t{1} << 20 : int64_t{64} << 10;
  std::vector<char*> blocks;
  blocks.reserve(kTotal / block);
  const int64_t before = ResidentBytes();
  for (int64_t n = 0; n < kTotal; n += block) {
    char* b = static_cast<char*>(std::malloc(block));
    ASSERT_NE(b, nullptr);
    std::memset(b, 1, block);  // resident
    asm volatile("" : : "r"(b) : "memory");  // the stores are not dead
    blocks.push_back(b);
  }
  char* after_them = static_cast<char*>(std::malloc(block));
  std::memset(after_them, 1, block);
  const int64_t with_blocks = ResidentBytes();
  for (char* b : blocks) std::free(b);
  const int64_t freed = ResidentBytes();
  // (glibc hands some back on its own as the chunks coalesce.)
  ASSERT_GT(freed, before + kTotal / 4)
      << "the premise: " << AllocatorName() << " keeps freed blocks resident";

  ReleaseFreeMemory();
  const int64_t released = ResidentBytes();
  EXPECT_LT(released, before + kTotal / 8)
      << "resident " << (before >> 20) << " MiB before, "
      << (with_blocks >> 20) << " MiB with the blocks, "
      << (freed >> 20) << " MiB freed, " << (released >> 20)
      << " MiB after ReleaseFreeMemory";
  std::free(after_them);
}

}  // namespace
}  // namespace nn
