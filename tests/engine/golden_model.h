// The golden model file tests/testdata/golden_mlp_v1.nnm: how it was made, so
// the test can check its contents without trusting the file.
#ifndef NNSERVE_TESTS_ENGINE_GOLDEN_MODEL_H_
#define NNSERVE_TESTS_ENGINE_GOLDEN_MODEL_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "nnserve/v1/model.pb.h"

namespace nn::testing {

inline constexpr char kGoldenModelPath[] = "tests/testdata/golden_mlp_v1.nnm";

// A 4x4-input MLP with labels and one history record:
// Flatten -> Dense(5, relu) "hidden" -> Dense(3, softmax) "out".
inline constexpr char kGoldenSpec[] = R"pb(
  name: "golden_mlp"
  input { height: 4 width: 4 }
  labels: [ "cat", "dog", "bird" ]
  layers { name: "flatten" flatten {} }
  layers { name: "hidden" dense { units: 5 activation: ACTIVATION_RELU } }
  layers { name: "out" dense { units: 3 activation: ACTIVATION_SOFTMAX } }
)pb";

// Value i of parameter tensor `id` (hidden/kernel, hidden/bias, out/kernel,
// out/bias).
inline float GoldenParameterValue(int id, int64_t i) {
  return static_cast<float>(0.5 * std::sin(0.37 * static_cast<double>(i + 1) +
                                           static_cast<double>(id)));
}

// Two 4x4 input images.
inline std::vector<float> GoldenInput() {
  std::vector<float> input;
  for (int k = 0; k < 2; ++k) {
    for (int p = 0; p < 16; ++p) {
      input.push_back(static_cast<float>((p * 7 + k * 3) % 16) / 15.0f);
    }
  }
  return input;
}

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_ENGINE_GOLDEN_MODEL_H_
