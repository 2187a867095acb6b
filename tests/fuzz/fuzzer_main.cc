// The libFuzzer entry point of one target of fuzz_targets.h, chosen at
// compile time with -DNN_FUZZ_FUNCTION=FuzzPng (see tests/fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)nn::fuzz::NN_FUZZ_FUNCTION(data, size);
  return 0;
}
