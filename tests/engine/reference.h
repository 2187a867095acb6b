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

// Parameter values by parameter id (Network order), in double.
using ReferenceParameters = std::vector<std::vector<double>>;
// The network's parameters in double.
ReferenceParameters ToReferenceParameters(const Network& network);

// The general form, for gradient checks: `parameters` instead of the
// network's, a double input, and optionally training mode, in which
// BatchNormalization normalises with the batch's statistics (mean and biased
// variance over every sample and position) instead of the moving ones.
// Dropout is the identity in both modes.
std::vector<double> ReferenceForward(const Network& network,
                                     const ReferenceParameters& parameters,
                                     absl::Span<const double> input, int64_t n,
                                     bool training);

// The training loss the engine minimises, in double: the mean over the batch
// of -log(output[label]) (the network ends in a softmax), plus every
// trainable kernel's l1 * sum|w| + l2 * sum w^2; training-mode forward.
double ReferenceLoss(const Network& network,
                     const ReferenceParameters& parameters,
                     absl::Span<const double> input,
                     absl::Span<const int32_t> labels);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_ENGINE_REFERENCE_H_
