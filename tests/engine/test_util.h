// Helpers shared by the engine tests.
#ifndef NNSERVE_TESTS_ENGINE_TEST_UTIL_H_
#define NNSERVE_TESTS_ENGINE_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/model.h"
#include "engine/network.h"
#include "nnserve/v1/model.pb.h"

namespace nn::testing {

// Parses a ModelSpec in protobuf text format; fails the test on a syntax
// error.
nnserve::v1::ModelSpec ParseSpec(absl::string_view text);
// Reads a ModelSpec text file such as models/mnist_cnn.textproto.
nnserve::v1::ModelSpec ReadSpecFile(const std::string& path);

// Model::Create of models/<name>.textproto ("mnist_cnn", ...); fails the
// test (and returns null) on an error.
std::shared_ptr<const Model> TutorialModel(const std::string& name,
                                           uint64_t seed = 7);

// A network on `input_shape` with the layers of `layers_text` (ModelSpec
// text holding `layers { ... }` entries): Glorot kernels from `seed`, and
// biases, BN gamma/beta/mean uniform in [-0.5, 0.5] (gamma in [0.5, 1.5]) and
// moving variances in [0.5, 1.5], so that no part is trivially zero or one.
std::shared_ptr<const Network> RandomNetwork(const Shape& input_shape,
                                             absl::string_view layers_text,
                                             uint64_t seed);

// `count` floats uniform in [0, 1).
std::vector<float> RandomInput(int64_t count, uint64_t seed);

// The first n images of data/mnist's test set as floats in [0, 1].
std::vector<float> MnistTestImages(int64_t n);

// Runs `network` once on n samples in a fresh context; fails the test on an
// error status.
std::vector<float> RunNetwork(const std::shared_ptr<const Network>& network,
                              absl::Span<const float> input, int64_t n);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_ENGINE_TEST_UTIL_H_
