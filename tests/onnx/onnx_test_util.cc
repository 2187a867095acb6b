#include "tests/onnx/onnx_test_util.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/data/dataset.h"
#include "google/protobuf/text_format.h"
#include <random>

namespace nn::testing {

std::string OnnxModelsDir() {
  const char* dir = std::getenv("NNSERVE_ONNX_MODELS_DIR");
  return dir == nullptr ? "" : dir;
}

absl::StatusOr<Digits> LoadAllDigits() {
  ASSIGN_OR_RETURN(Dataset data, LoadDataset("data/mnist"));
  Digits digits;
  digits.test_count = data.test.count;
  digits.count = data.test.count + data.train.count;
  for (const ImageSet* set : {&data.test, &data.train}) {
    const size_t start = digits.pixels.size();
    digits.pixels.resize(start + set->pixels.size());
    PixelsToUnit(set->pixels.data(), static_cast<int64_t>(set->pixels.size()),
                 digits.pixels.data() + start);
    digits.labels.insert(digits.labels.end(), set->labels.begin(), set->labels.end());
  }
  return digits;
}

absl::StatusOr<std::vector<float>> RunModel(const Model& model,
                                            const std::vector<float>& pixels,
                                            int64_t n) {
  const int64_t image = int64_t{model.input_height()} * model.input_width();
  if (static_cast<int64_t>(pixels.size()) < n * image) {
    return absl::InvalidArgumentError("too few pixels");
  }
  std::unique_ptr<InferenceContext> context = model.NewInferenceContext();
  std::vector<float> out(n * model.num_classes());
  for (int64_t i = 0; i < n; i += 256) {
    const int64_t b = std::min<int64_t>(256, n - i);
    RETURN_IF_ERROR(context->Run(
        absl::MakeConstSpan(pixels.data() + i * image, b * image), b,
        absl::MakeSpan(out.data() + i * model.num_classes(), b * model.num_classes())));
  }
  return out;
}

absl::StatusOr<std::string> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

absl::Status WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ReadFloats(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string bytes, ReadBytes(path));
  if (bytes.size() % sizeof(float) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not float32 values"));
  }
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

absl::Status WriteFloats(const std::string& path, const std::vector<float>& values) {
  return WriteBytes(path, std::string(reinterpret_cast<const char*>(values.data()),
                                      values.size() * sizeof(float)));
}

namespace {

constexpr const char* kExportSpecs[][2] = {
    {"every_image_layer", R"pb(
       input { height: 20 width: 24 }
       layers { conv2d { filters: 4 kernel_height: 3 kernel_width: 3
                         stride_height: 2 stride_width: 1 padding: PADDING_SAME
                         activation: ACTIVATION_RELU } }
       layers { batch_normalization { epsilon: 0.01 } }
       layers { max_pooling2d { pool_height: 3 pool_width: 2 padding: PADDING_SAME } }
       layers { conv2d { filters: 3 kernel_height: 2 kernel_width: 3
                         activation: ACTIVATION_TANH } }
       layers { max_pooling2d { pool_height: 2 pool_width: 2 stride_height: 1
                                stride_width: 2 } }
       layers { flatten {} }
       layers { dropout { rate: 0.3 } }
       layers { dense { units: 16 activation: ACTIVATION_SIGMOID } }
       layers { batch_normalization {} }
       layers { activation { activation: ACTIVATION_TANH } }
       layers { dense { units: 5 } }
       layers { activation { activation: ACTIVATION_SOFTMAX } })pb"},
    {"rnn_bn_dropout", R"pb(
       input { height: 28 width: 28 }
       layers { simple_rnn { units: 12 return_sequences: true } }
       layers { batch_normalization {} }
       layers { dropout { rate: 0.2 } }
       layers { simple_rnn { units: 8 } }
       layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb"},
    {"bn_on_rows", R"pb(
       input { height: 28 width: 28 }
       layers { batch_normalization {} }
       layers { conv2d { filters: 2 kernel_height: 5 kernel_width: 5 } }
       layers { flatten {} }
       layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } })pb"},
};

}  // namespace

absl::StatusOr<std::vector<ExportCase>> ExportCases() {
  std::vector<std::pair<std::string, std::string>> specs;
  for (const char* name : {"mnist_mlp", "mnist_cnn", "mnist_rnn"}) {
    ASSIGN_OR_RETURN(std::string text,
                     ReadBytes(absl::StrCat("models/", name, ".textproto")));
    specs.emplace_back(name, std::move(text));
  }
  for (const auto& [name, text] : kExportSpecs) specs.emplace_back(name, text);
  std::vector<ExportCase> cases;
  std::mt19937_64 random(42);
  for (const auto& [name, text] : specs) {
    nnserve::v1::ModelSpec spec;
    if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot parse spec ", name));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::Create(spec, 7));
    ExportCase c{name, model->ToSavedModel()};
    for (nnserve::v1::Parameter& p : *c.saved.mutable_parameters()) {
      const bool scale = absl::EndsWith(p.name(), "/gamma") ||
                         absl::EndsWith(p.name(), "/moving_variance");
      const bool shift = absl::EndsWith(p.name(), "/bias") || absl::EndsWith(p.name(), "/beta") ||
                         absl::EndsWith(p.name(), "/moving_mean");
      if (!scale && !shift) continue;
      std::uniform_real_distribution<float> u(scale ? 0.5f : -0.5f, scale ? 1.5f : 0.5f);
      for (float& v : *p.mutable_values()) v = u(random);
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

int ArgMax(const std::vector<float>& values, int64_t row, int classes) {
  const auto first = values.begin() + row * classes;
  return static_cast<int>(std::max_element(first, first + classes) - first);
}

}  // namespace nn::testing
