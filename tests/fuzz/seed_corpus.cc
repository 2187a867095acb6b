#include "common/file.h"
#include "tests/fuzz/seed_corpus.h"


#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/data/dataset.h"
#include "engine/data/idx.h"
#include "engine/data/png.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "engine/onnx/onnx_export.h"
#include <cstdlib>
#include "google/protobuf/text_format.h"
#include "nnserve/v1/inference.pb.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/v2_seed_corpus.h"
#include "tests/robustness/png_builder.h"

namespace nn::fuzz {
namespace {

using robustness::BuildPng;

constexpr char kGoldenModel[] = "tests/testdata/golden_mlp_v1.nnm";
constexpr const char* kTutorialSpecs[] = {"models/mnist_mlp.textproto",
                                          "models/mnist_cnn.textproto",
                                          "models/mnist_rnn.textproto"};

// Small networks with every layer kind, cheap enough to run per input.
constexpr const char* kSmallSpecs[] = {
    R"pb(name: "tiny_cnn" input { height: 8 width: 8 }
         layers { conv2d { filters: 2 kernel_height: 3 kernel_width: 3
                           padding: PADDING_SAME activation: ACTIVATION_RELU } }
         layers { batch_normalization {} }
         layers { max_pooling2d { pool_height: 2 pool_width: 2 } }
         layers { flatten {} }
         layers { dropout { rate: 0.5 } }
         layers { dense { units: 3 } }
         layers { activation { activation: ACTIVATION_SOFTMAX } })pb",
    R"pb(name: "tiny_rnn" input { height: 5 width: 4 }
         labels: [ "a", "b" ]
         layers { simple_rnn { units: 3 return_sequences: true } }
         layers { simple_rnn { units: 3 activation: ACTIVATION_TANH } }
         layers { dense { units: 2 activation: ACTIVATION_SOFTMAX } })pb",
};

absl::StatusOr<nnserve::v1::ModelSpec> ParseSpec(const std::string& text) {
  nnserve::v1::ModelSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) {
    return absl::InvalidArgumentError("cannot parse a seed spec");
  }
  return spec;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::vector<std::string>>>
MakeSeedCorpora() {
  std::map<std::string, std::vector<std::string>> corpora;

  // model_file and model_spec.
  ASSIGN_OR_RETURN(const std::string golden, ReadFile(kGoldenModel));
  corpora["model_file"].push_back(ModelFileRawInput(golden));
  corpora["model_file"].push_back(
      ModelFilePayloadInput(golden.substr(kModelFileHeaderBytes)));
  for (const char* path : kTutorialSpecs) {
    ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
    ASSIGN_OR_RETURN(const nnserve::v1::ModelSpec spec, ParseSpec(text));
    corpora["model_spec"].push_back("\x01" + text);
    corpora["model_spec"].push_back(std::string(1, '\0') +
                                    spec.SerializeAsString());
  }
  for (const char* text : kSmallSpecs) {
    ASSIGN_OR_RETURN(const nnserve::v1::ModelSpec spec, ParseSpec(text));
    corpora["model_spec"].push_back(absl::StrCat("\x01", text));
    ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
                     Model::Create(spec, /*seed=*/3));
    ASSIGN_OR_RETURN(const std::string file,
                     SerializeModelFile(model->ToSavedModel()));
    corpora["model_file"].push_back(ModelFileRawInput(file));
    corpora["model_file"].push_back(
        ModelFilePayloadInput(file.substr(kModelFileHeaderBytes)));
    // onnx_import: nnserve's own exports of every layer kind.
    ASSIGN_OR_RETURN(std::string onnx, ExportOnnx(model->ToSavedModel()));
    corpora["onnx_import"].push_back(std::move(onnx));
  }
  // onnx_import: PyTorch's real exports (the RNN with its zero-state
  // subgraph, the MLP at opset 11) and a Keras-style graph, when
  // scripts/make-onnx-models.py made them (CTest's fixture onnx_models and
  // scripts/fuzz.sh set NNSERVE_ONNX_MODELS_DIR).
  if (const char* dir = std::getenv("NNSERVE_ONNX_MODELS_DIR"); dir != nullptr) {
    for (const char* name : {"mnist_rnn", "mnist_mlp_opset11", "keras_bn_mlp"}) {
      ASSIGN_OR_RETURN(std::string onnx,
                       ReadFile(absl::StrCat(dir, "/", name, ".onnx")));
      corpora["onnx_import"].push_back(std::move(onnx));
    }
  }

  // Real digits: predict, png, idx.
  ASSIGN_OR_RETURN(const IdxArray images,
                   ReadIdxFile("data/mnist/t10k-images-idx3-ubyte"));
  ASSIGN_OR_RETURN(const IdxArray labels,
                   ReadIdxFile("data/mnist/t10k-labels-idx1-ubyte"));
  if (images.dims.size() != 3 || images.dims[0] < 3 || images.dims[1] != 28 ||
      images.dims[2] != 28 || labels.dims.empty() || labels.dims[0] < 10) {
    return absl::FailedPreconditionError("data/mnist is not the digit set");
  }
  auto digit = [&](int i) {
    return std::string(images.data.begin() + i * 784,
                       images.data.begin() + (i + 1) * 784);
  };
  corpora["idx"].push_back(SerializeIdx(
      IdxArray{{2, 28, 28}, {images.data.begin(), images.data.begin() + 2 * 784}}));
  corpora["idx"].push_back(SerializeIdx(
      IdxArray{{10}, {labels.data.begin(), labels.data.begin() + 10}}));

  std::vector<std::string>& pngs = corpora["png"];
  for (int i = 0; i < 3; ++i) {
    const std::string pixels = digit(i);
    ASSIGN_OR_RETURN(std::string png,
                     EncodePng(GrayImage{28, 28, {pixels.begin(), pixels.end()}}));
    pngs.push_back(png);
  }
  {
    const std::string p = digit(0);
    std::string gray16, rgb, gray_alpha, rgba16, bits1;
    for (char c : p) {
      gray16.append(2, c);
      rgb.append(3, c);
      gray_alpha += std::string{c, '\x7f'};
      rgba16.append(6, c);
      rgba16.append(2, '\xff');
    }
    for (int row = 0; row < 28; ++row) {  // 1-bit gray: 4 bytes a row
      for (int byte = 0; byte < 4; ++byte) {
        unsigned char packed = 0;
        for (int bit = 0; bit < 8 && byte * 8 + bit < 28; ++bit) {
          if (static_cast<unsigned char>(p[row * 28 + byte * 8 + bit]) > 127) {
            packed |= static_cast<unsigned char>(0x80 >> bit);
          }
        }
        bits1.push_back(static_cast<char>(packed));
      }
    }
    pngs.push_back(BuildPng(28, 28, 16, robustness::kPngGray, gray16));
    pngs.push_back(BuildPng(28, 28, 8, robustness::kPngRgb, rgb));
    pngs.push_back(BuildPng(28, 28, 8, robustness::kPngGrayAlpha, gray_alpha));
    pngs.push_back(BuildPng(28, 28, 16, robustness::kPngRgba, rgba16));
    pngs.push_back(BuildPng(28, 28, 1, robustness::kPngGray, bits1));
    pngs.push_back(BuildPng(28, 28, 8, robustness::kPngPalette, p,
                            robustness::PngGrayPalette(256)));
  }

  std::vector<std::string>& predict = corpora["predict"];
  {
    nnserve::v1::Images pixels;
    pixels.mutable_pixels()->set_data(digit(0) + digit(1));
    predict.push_back(pixels.SerializeAsString());
    nnserve::v1::Images tensor;
    tensor.mutable_tensor()->add_shape(1);
    tensor.mutable_tensor()->add_shape(28);
    tensor.mutable_tensor()->add_shape(28);
    for (char c : digit(2)) {
      tensor.mutable_tensor()->add_values(
          PixelToUnit(static_cast<uint8_t>(c)));
    }
    predict.push_back(tensor.SerializeAsString());
    tensor.mutable_tensor()->set_shape(1, 784);
    tensor.mutable_tensor()->mutable_shape()->RemoveLast();
    predict.push_back(tensor.SerializeAsString());
    nnserve::v1::Images encoded;
    encoded.mutable_encoded()->add_png(pngs[0]);
    encoded.mutable_encoded()->add_png(pngs[4]);  // RGB
    predict.push_back(encoded.SerializeAsString());
  }
  AddV2Seeds({digit(0), digit(1)}, {pngs[0], pngs[4]}, &corpora);
  // /v1/training/jobs bodies: a new training from the tutorial's MLP spec,
  // a fine-tune, inline examples (base64 bytes).
  std::vector<std::string>& v1 = corpora["v1_json"];
  v1.push_back(
      R"({"model":"tiny","spec":{"name":"tiny","input":{"height":28,"width":28},)"
      R"("layers":[{"name":"flatten","flatten":{}},{"name":"dense","dense":)"
      R"({"units":32,"activation":"ACTIVATION_RELU"}},{"name":"out","dense":)"
      R"({"units":10,"activation":"ACTIVATION_SOFTMAX"}}]},"dataset":"mnist",)"
      R"("config":{"epochs":1,"batchSize":32,"maxTrainExamples":512},)"
      R"("progressIntervalMillis":50})");
  v1.push_back(R"({"model":"mnist_mlp","baseVersion":"0","dataset":"fashion-mnist",)"
               R"("config":{"epochs":2,"optimizer":"OPTIMIZER_SGD","learningRate":0.01,)"
               R"("validationSplit":0.1,"seed":"7"}})");
  v1.push_back(R"({"model":"m","base_version":1,"examples":{"images":{"pixels":)"
               R"({"data":"AAECAw=="}},"labels":[1,2]}})");
  return corpora;
}

}  // namespace nn::fuzz
