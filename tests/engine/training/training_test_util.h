// Helpers shared by the training tests: small real-digit sets.
#ifndef NNSERVE_TESTS_ENGINE_TRAINING_TRAINING_TEST_UTIL_H_
#define NNSERVE_TESTS_ENGINE_TRAINING_TRAINING_TEST_UTIL_H_

#include <cstdint>

#include "engine/data/dataset.h"

namespace nn::testing {

// data/mnist (7,996 train + 2,004 test real digits), loaded once; the test
// fails (and an empty set is returned) if it is missing.
const Dataset& Mnist();

// `count` images of `images` spread evenly over it. The digit files list
// the zeros first, then the ones, ...: an even spread holds every class in
// about equal numbers, where the first `count` would be zeros only.
ImageSet SpreadSubset(const ImageSet& images, int64_t count);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_ENGINE_TRAINING_TRAINING_TEST_UTIL_H_
