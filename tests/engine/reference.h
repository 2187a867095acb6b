// A naive reference forward pass for tests: plain loops in double precision
// over the Keras-layout parameters, written from the Keras definitions and
// independent of the engine's oneDNN code (it shares only the Network's
// parsed layers, shapes and parameter values).
#ifndef NNSERVE_TESTS_ENGINE_REFERENCE_H_
#define NNSERVE_TESTS_ENGINE_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/network.h"

namespace nn::testing {

// Runs `network` on n samples (row-major, NumElements(input_shape) each) and
// returns n * NumElements(output_shape) values, row-major.
std::vector<double> ReferenceForward(const Network& network,
                                     absl::Span<const float> input, int64_t n);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_ENGINE_REFERENCE_H_
