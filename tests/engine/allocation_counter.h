// Counts operator new calls in a test binary that links allocation_counter.cc
// (which replaces the global operator new and delete).
#ifndef NNSERVE_TESTS_ENGINE_ALLOCATION_COUNTER_H_
#define NNSERVE_TESTS_ENGINE_ALLOCATION_COUNTER_H_

#include <cstdint>

namespace nn::testing {

// operator new calls so far, on every thread.
int64_t AllocationCount();

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_ENGINE_ALLOCATION_COUNTER_H_
