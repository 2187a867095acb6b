#include "common/images.h"
#include "tests/fuzz/fuzz_targets.h"

#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/string_view.h"
#include "engine/data/idx.h"
#include "engine/data/png.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "engine/onnx/onnx_export.h"
#include "engine/onnx/onnx_import.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "nnserve/v1/inference.pb.h"
#include "nnserve/v1/model.pb.h"
#include "server/image_decoding.h"
#include "server/v1_json.h"
#include "tests/fuzz/fuzz_check.h"

namespace nn::fuzz {
namespace {

absl::string_view View(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// Protobuf logs every invalid UTF-8 string and text-format error to stderr;
// at thousands of inputs a second that drowns real findings.
void QuietProtobuf() {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
}

class SilentErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, int, const std::string&) override {}
  void AddWarning(int, int, const std::string&) override {}
};

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

}  // namespace

std::string ModelFilePayloadInput(const std::string& payload) {
  return std::string(1, '\x01') + payload;
}

std::string ModelFileRawInput(const std::string& file) {
  return std::string(1, '\x00') + file;
}

bool FuzzModelFile(const uint8_t* data, size_t size) {
  QuietProtobuf();
  if (size == 0) return false;
  std::string file;
  const absl::string_view rest = View(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    file = std::string(rest);
  } else {
    // The header the engine writes (engine/model_file.h), over `rest`.
    file = std::string(kModelFileMagic);
    AppendLittleEndian(kSavedModelFormatVersion, 4, &file);
    AppendLittleEndian(rest.size(), 8, &file);
    AppendLittleEndian(crc32(0, reinterpret_cast<const Bytef*>(rest.data()),
                             static_cast<uInt>(rest.size())),
                       4, &file);
    file.append(rest.data(), rest.size());
  }
  absl::StatusOr<nnserve::v1::SavedModel> saved = ParseModelFile(file);
  if (!saved.ok()) {
    NN_FUZZ_CHECK(!saved.status().message().empty());
    return false;
  }
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(*std::move(saved));
  if (!model.ok()) {
    NN_FUZZ_CHECK(!model.status().message().empty());
    return false;
  }
  const Model& m = **model;
  NN_FUZZ_CHECK(m.num_classes() >= 1);
  NN_FUZZ_CHECK(m.input_height() >= 1 && m.input_width() >= 1);
  // Saving and loading again gives a valid model too.
  absl::StatusOr<std::string> bytes = SerializeModelFile(m.ToSavedModel());
  NN_FUZZ_CHECK(bytes.ok());
  absl::StatusOr<nnserve::v1::SavedModel> again = ParseModelFile(*bytes);
  NN_FUZZ_CHECK(again.ok());
  NN_FUZZ_CHECK(Model::FromSavedModel(*std::move(again)).ok());
  // A valid model computes (small ones only: the fuzzer must stay fast).
  if (m.flops_per_image() <= 20'000'000) {
    std::unique_ptr<InferenceContext> context = m.NewInferenceContext();
    std::vector<float> input(size_t(m.input_height()) * m.input_width(), 0.5f);
    std::vector<float> output(m.num_classes());
    const absl::Status run =
        context->Run(input, 1, absl::MakeSpan(output));
    NN_FUZZ_CHECK(run.ok());
    // Probabilities are finite; they sum to 1 unless the weights overflow
    // (finite but huge weights are valid and may give NaN: not a bug).
    double sum = 0;
    bool finite = true;
    for (float p : output) {
      finite &= std::isfinite(p);
      sum += p;
    }
    NN_FUZZ_CHECK(!finite || std::abs(sum - 1.0) < 1e-3);
  }
  return true;
}

bool FuzzModelSpec(const uint8_t* data, size_t size) {
  QuietProtobuf();
  if (size == 0) return false;
  const absl::string_view rest = View(data + 1, size - 1);
  nnserve::v1::ModelSpec spec;
  bool parsed = false;
  if (data[0] % 2 == 0) {
    parsed = spec.ParseFromArray(rest.data(), static_cast<int>(rest.size()));
  } else {
    google::protobuf::TextFormat::Parser parser;
    SilentErrors errors;
    parser.RecordErrorsTo(&errors);
    parsed = parser.ParseFromString(std::string(rest), &spec);
  }
  if (!parsed) return false;
  const absl::Status status = ValidateModelSpec(spec);
  // Deterministic: the same spec gets the same verdict.
  NN_FUZZ_CHECK(ValidateModelSpec(spec).code() == status.code());
  if (!status.ok()) {
    NN_FUZZ_CHECK(!status.message().empty());
    return false;
  }
  return true;
}

bool FuzzPredict(const uint8_t* data, size_t size) {
  QuietProtobuf();
  nnserve::v1::Images images;
  if (!images.ParseFromArray(data, static_cast<int>(size))) return false;
  ImageDecodingOptions options;  // 28 x 28
  options.max_images = 64;       // small, so that accepted inputs stay fast
  std::vector<float> out;
  absl::StatusOr<int64_t> n = DecodeImages(images, options, &out);
  if (!n.ok()) {
    NN_FUZZ_CHECK(n.status().code() == absl::StatusCode::kInvalidArgument ||
                  n.status().code() == absl::StatusCode::kResourceExhausted);
    return false;
  }
  NN_FUZZ_CHECK(*n >= 1 && *n <= options.max_images);
  NN_FUZZ_CHECK(out.size() == static_cast<size_t>(*n) * 784);
  NN_FUZZ_CHECK(CountImages(images, int64_t{options.height} * options.width) ==
                *n);
  for (float v : out) NN_FUZZ_CHECK(v >= 0.0f && v <= 1.0f);
  return true;
}

bool FuzzPng(const uint8_t* data, size_t size) {
  PngDecodeOptions options;
  options.max_width = 256;  // bound the work per input; bombs still reach
  options.max_height = 256; // the header check
  absl::StatusOr<GrayImage> image = DecodePng(View(data, size), options);
  if (!image.ok()) {
    NN_FUZZ_CHECK(image.status().code() == absl::StatusCode::kInvalidArgument);
    return false;
  }
  NN_FUZZ_CHECK(image->height >= 1 && image->height <= options.max_height);
  NN_FUZZ_CHECK(image->width >= 1 && image->width <= options.max_width);
  NN_FUZZ_CHECK(image->pixels.size() ==
                size_t(image->height) * size_t(image->width));
  // What decodes re-encodes and decodes to the same pixels.
  absl::StatusOr<std::string> png = EncodePng(*image);
  NN_FUZZ_CHECK(png.ok());
  absl::StatusOr<GrayImage> again = DecodePng(*png, options);
  NN_FUZZ_CHECK(again.ok() && again->pixels == image->pixels);
  return true;
}

bool FuzzIdx(const uint8_t* data, size_t size) {
  absl::StatusOr<IdxArray> array = ParseIdx(View(data, size));
  if (!array.ok()) return false;
  size_t elements = 1;
  for (int64_t d : array->dims) {
    NN_FUZZ_CHECK(d >= 0);
    elements *= static_cast<size_t>(d);
  }
  NN_FUZZ_CHECK(array->data.size() == elements);
  // Serialising gives back the input (the format has one encoding).
  NN_FUZZ_CHECK(SerializeIdx(*array) == View(data, size));
  return true;
}

bool FuzzOnnxImport(const uint8_t* data, size_t size) {
  QuietProtobuf();
  absl::StatusOr<ImportedModel> imported = ImportOnnx(View(data, size));
  if (!imported.ok()) {
    NN_FUZZ_CHECK(!imported.status().message().empty());
    NN_FUZZ_CHECK(imported.status().code() == absl::StatusCode::kInvalidArgument);
    return false;
  }
  // An accepted graph is a valid model that computes and exports again.
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(imported->saved);
  NN_FUZZ_CHECK(model.ok());
  const Model& m = **model;
  NN_FUZZ_CHECK(m.num_classes() >= 2);
  if (m.flops_per_image() <= 20'000'000) {
    std::unique_ptr<InferenceContext> context = m.NewInferenceContext();
    std::vector<float> input(size_t(m.input_height()) * m.input_width(), 0.5f);
    std::vector<float> output(m.num_classes());
    NN_FUZZ_CHECK(context->Run(input, 1, absl::MakeSpan(output)).ok());
  }
  absl::StatusOr<std::string> exported = ExportOnnx(imported->saved);
  NN_FUZZ_CHECK(exported.ok());
  absl::StatusOr<ImportedModel> again = ImportOnnx(*exported);
  NN_FUZZ_CHECK(again.ok());
  NN_FUZZ_CHECK(again->saved.parameters_size() == imported->saved.parameters_size());
  return true;
}

bool FuzzV1Json(const uint8_t* data, size_t size) {
  nnserve::v1::TrainRequest request;
  const absl::Status parsed = ParseJsonBody(
      absl::string_view(reinterpret_cast<const char*>(data), size), &request);
  if (!parsed.ok()) {
    // Refused: INVALID_ARGUMENT with a bounded message, nothing kept.
    NN_FUZZ_CHECK(parsed.code() == absl::StatusCode::kInvalidArgument);
    NN_FUZZ_CHECK(parsed.message().size() <= kMaxJsonErrorDetail + 120);
    NN_FUZZ_CHECK(request.ByteSizeLong() == 0);
    return false;
  }
  // Accepted: it writes back as JSON that parses to the same message.
  absl::StatusOr<std::string> json = ToJson(request);
  NN_FUZZ_CHECK(json.ok());
  nnserve::v1::TrainRequest again;
  NN_FUZZ_CHECK(ParseJsonBody(*json, &again).ok());
  NN_FUZZ_CHECK(again.SerializeAsString() == request.SerializeAsString());
  return true;
}

const std::vector<FuzzTarget>& AllFuzzTargets() {
  static const std::vector<FuzzTarget> targets = {
      {"model_file", FuzzModelFile},
      {"model_spec", FuzzModelSpec},
      {"predict", FuzzPredict},
      {"png", FuzzPng},
      {"idx", FuzzIdx},
      {"v2_rest", FuzzV2Rest},
      {"v2_grpc", FuzzV2Grpc},
      {"onnx_import", FuzzOnnxImport},
      {"v1_json", FuzzV1Json},
  };
  return targets;
}

}  // namespace nn::fuzz
