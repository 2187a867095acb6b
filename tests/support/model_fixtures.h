// Builds model repositories for server tests from the tutorial specs in
// models/*.textproto, with weights from the engine.
#ifndef NNSERVE_TESTS_SUPPORT_MODEL_FIXTURES_H_
#define NNSERVE_TESTS_SUPPORT_MODEL_FIXTURES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "nnserve/v1/model.pb.h"

namespace nn::testing {

// Parses models/<name>.textproto (relative to the repository root, the tests'
// working directory).
absl::StatusOr<nnserve::v1::ModelSpec> LoadTutorialSpec(const std::string& name);

// A model of the tutorial architecture `spec_name` initialised with `seed`.
absl::StatusOr<std::shared_ptr<const Model>> MakeModel(
    const std::string& spec_name, uint64_t seed);

// Writes `model` as <repo>/<model_name>/<version>/model.nnm (atomically) and
// returns the file's path.
absl::StatusOr<std::string> PublishModel(const std::string& repo,
                                         const std::string& model_name,
                                         int64_t version, const Model& model);

// The first `count` real test digits of data/mnist, as bytes and as floats
// (PixelToUnit), 784 per image, and their labels.
struct TestImages {
  int64_t count = 0;
  std::vector<uint8_t> pixels;
  std::vector<float> floats;
  std::vector<int> labels;
};
absl::StatusOr<TestImages> LoadTestDigits(int64_t count, int64_t offset = 0);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_MODEL_FIXTURES_H_
