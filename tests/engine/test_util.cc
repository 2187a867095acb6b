#include "tests/engine/test_util.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/data/dataset.h"
#include "engine/initializers.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace nn::testing {

nnserve::v1::ModelSpec ParseSpec(absl::string_view text) {
  nnserve::v1::ModelSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(std::string(text),
                                                            &spec))
      << text;
  return spec;
}

nnserve::v1::ModelSpec ReadSpecFile(const std::string& path) {
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << path;
  std::stringstream text;
  text << file.rdbuf();
  return ParseSpec(text.str());
}

std::shared_ptr<const Model> TutorialModel(const std::string& name,
                                           uint64_t seed) {
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::Create(ReadSpecFile("models/" + name + ".textproto"), seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

std::shared_ptr<const Network> RandomNetwork(const Shape& input_shape,
                                             absl::string_view layers_text,
                                             uint64_t seed) {
  absl::StatusOr<std::unique_ptr<Network>> network =
      Network::Create(input_shape, ParseSpec(layers_text).layers());
  EXPECT_TRUE(network.ok()) << network.status();
  if (!network.ok()) return nullptr;
  (*network)->InitializeParameters(seed);
  Random random(seed + 1);
  for (int id = 0; id < (*network)->num_parameter_tensors(); ++id) {
    const std::string& name = (*network)->parameter_spec(id).name;
    double low = -0.5, high = 0.5;
    if (name == "gamma" || name == "moving_variance") low = 0.5, high = 1.5;
    if (name == "kernel" || name == "recurrent_kernel") continue;
    Tensor* tensor = (*network)->mutable_parameter(id);
    for (int64_t i = 0; i < tensor->size(); ++i) {
      (*tensor)[i] = static_cast<float>(low + (high - low) * random.Uniform());
    }
  }
  return std::shared_ptr<const Network>(std::move(*network));
}

std::vector<float> RandomInput(int64_t count, uint64_t seed) {
  Random random(seed);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = static_cast<float>(random.Uniform());
  return values;
}

std::vector<float> MnistTestImages(int64_t n) {
  absl::StatusOr<Dataset> dataset = LoadDataset("data/mnist");
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  if (!dataset.ok()) return {};
  EXPECT_GE(dataset->test.count, n);
  // Spread over the digit-ordered test set so every class appears.
  std::vector<float> images;
  const int64_t step = dataset->test.count / n;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* image = dataset->test.image(i * step);
    for (int64_t p = 0; p < dataset->test.image_size(); ++p) {
      images.push_back(image[p] / 255.0f);
    }
  }
  return images;
}

std::vector<float> RunNetwork(const std::shared_ptr<const Network>& network,
                              absl::Span<const float> input, int64_t n) {
  std::vector<float> output(
      static_cast<size_t>(n * NumElements(network->output_shape())));
  std::unique_ptr<NetworkContext> context = NetworkContext::Create(network);
  absl::Status status = context->Run(input, n, absl::MakeSpan(output));
  EXPECT_TRUE(status.ok()) << status;
  return output;
}

}  // namespace nn::testing
