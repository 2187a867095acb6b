// Helpers of the ONNX tests (tests/onnx): the generated models' directory,
// the real digits, running a model over many images, raw float files.
#ifndef NNSERVE_TESTS_ONNX_ONNX_TEST_UTIL_H_
#define NNSERVE_TESTS_ONNX_ONNX_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "nnserve/v1/model.pb.h"

namespace nn::testing {

// <build>/onnx-models (scripts/make-onnx-models.py, the CTest fixture
// onnx_models), from NNSERVE_ONNX_MODELS_DIR; "" when unset.
std::string OnnxModelsDir();

// All 10,000 digits of data/mnist in the order of the models' .probs.f32
// files: the 2,000 test images, then the 8,000 training images, as floats in
// [0, 1] (784 a digit), with their labels.
struct Digits {
  int64_t count = 0;
  int64_t test_count = 0;
  std::vector<float> pixels;
  std::vector<int> labels;
};
absl::StatusOr<Digits> LoadAllDigits();

// `model`'s probabilities for the `n` images of `pixels`, in batches of up
// to 256 on one context.
absl::StatusOr<std::vector<float>> RunModel(const Model& model,
                                            const std::vector<float>& pixels,
                                            int64_t n);

// A file of little-endian float32 values; WriteFloats the converse.
absl::StatusOr<std::vector<float>> ReadFloats(const std::string& path);
absl::Status WriteFloats(const std::string& path, const std::vector<float>& values);
absl::StatusOr<std::string> ReadBytes(const std::string& path);
absl::Status WriteBytes(const std::string& path, const std::string& bytes);

// Models of every layer kind for the export tests, each a SavedModel with
// seeded weights and non-trivial biases and BatchNormalization statistics
// (uniform in [-0.5, 0.5]; gamma and variances in [0.5, 1.5]): the tutorial's
// three networks, a CNN of every image layer on a 20 x 24 input ('same'
// padding, strides, BN, Dropout, sigmoid/tanh/relu), an RNN with BN and
// Dropout between its layers, and BN on the raw image rows.
struct ExportCase {
  std::string name;
  nnserve::v1::SavedModel saved;
};
absl::StatusOr<std::vector<ExportCase>> ExportCases();

// Index of the largest of `values[row * classes .. + classes)`.
int ArgMax(const std::vector<float>& values, int64_t row, int classes);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_ONNX_ONNX_TEST_UTIL_H_
