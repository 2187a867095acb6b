// The engine's outputs on an ONNX file, for bench/peers.sh's check before it
// times anything (the engine, ONNX Runtime and PyTorch must agree on the very
// same file, so that a wrong model is never timed). The engine's side of
// tests/onnx/run_onnx.cjs:
//
//   build/bin/onnx_outputs MODEL.onnx INPUT.f32 N OUTPUT.f32
//
// INPUT.f32: N images of 28 x 28 little-endian floats in [0, 1] (row-major,
// at least N * 784 floats; extra ones are ignored). MODEL.onnx is imported as
// onnx_bench imports it (ImportOnnxFile, Model::FromSavedModel) and run once
// at batch N on one oneDNN thread. OUTPUT.f32 gets the N x classes
// probabilities (the engine's softmax appended to logits or
// log-probabilities, as served; "output" names what the file gave).
// Prints one JSON line on stdout:
//   {"classes": 10, "flops_per_image": 5142932, "output": "probabilities",
//    "softmax_appended": false}
// flops_per_image is Model::flops_per_image of the imported model (a
// multiply-add counts 2), the figure engine_bench's GFLOP/s columns use.
// Exit status 0 on success; otherwise the reason on stderr and 1.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/file.h"
#include "engine/model.h"
#include "engine/onnx/onnx_import.h"
#include "engine/threading.h"

namespace nn {
namespace {

constexpr int64_t kImage = 28 * 28;
constexpr int64_t kMaxImages = 4096;  // a check, not a data set

absl::Status Run(const std::string& model_path, const std::string& input_path,
                 int64_t n, const std::string& output_path) {
  if (n < 1 || n > kMaxImages) {
    return absl::InvalidArgumentError("N must be 1.." +
                                      std::to_string(kMaxImages));
  }
  absl::StatusOr<std::string> bytes =
      ReadFile(input_path, n * kImage * 4 + (1 << 20));
  if (!bytes.ok()) return bytes.status();
  if (static_cast<int64_t>(bytes->size()) < n * kImage * 4) {
    return absl::InvalidArgumentError(input_path + " holds fewer than " +
                                      std::to_string(n) + " images");
  }
  std::vector<float> images(static_cast<size_t>(n * kImage));
  std::memcpy(images.data(), bytes->data(), images.size() * sizeof(float));

  SetThreadOneDnnThreads(1);
  absl::StatusOr<ImportedModel> imported = ImportOnnxFile(model_path);
  if (!imported.ok()) return imported.status();
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(imported->saved);
  if (!model.ok()) return model.status();
  std::unique_ptr<InferenceContext> context = (*model)->NewInferenceContext();
  std::vector<float> probabilities(
      static_cast<size_t>(n * (*model)->num_classes()));
  if (absl::Status s = context->Run(images, n, absl::MakeSpan(probabilities));
      !s.ok()) {
    return s;
  }
  FILE* out = std::fopen(output_path.c_str(), "wb");
  if (out == nullptr) {
    return absl::UnavailableError("cannot create " + output_path + ": " +
                                  std::strerror(errno));
  }
  const size_t written = std::fwrite(probabilities.data(), sizeof(float),
                                     probabilities.size(), out);
  if (std::fclose(out) != 0 || written != probabilities.size()) {
    return absl::UnavailableError("cannot write " + output_path);
  }
  std::printf(
      "{\"classes\": %d, \"flops_per_image\": %lld, \"output\": \"%s\", "
      "\"softmax_appended\": %s}\n",
      (*model)->num_classes(),
      static_cast<long long>((*model)->flops_per_image()),
      std::string(OnnxOutputKindName(imported->output)).c_str(),
      imported->softmax_appended ? "true" : "false");
  return absl::OkStatus();
}

}  // namespace
}  // namespace nn

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr,
                 "usage: onnx_outputs MODEL.onnx INPUT.f32 N OUTPUT.f32\n");
    return 1;
  }
  char* end = nullptr;
  const long long n = std::strtoll(argv[3], &end, 10);
  if (end == argv[3] || *end != '\0') {
    std::fprintf(stderr, "onnx_outputs: N is not a number: %s\n", argv[3]);
    return 1;
  }
  const absl::Status status = nn::Run(argv[1], argv[2], n, argv[4]);
  if (!status.ok()) {
    std::fprintf(stderr, "onnx_outputs: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
