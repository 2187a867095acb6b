// The Open Inference Protocol fuzz targets (fuzz_targets.h): the REST body
// parser (JSON + binary tensor data) and the gRPC ModelInferRequest decoder
// of server/v2, each followed by the response encoder on what was accepted.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "inference/open_inference.pb.h"
#include "server/v2/grpc_codec.h"
#include "server/v2/rest_codec.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_targets.h"

namespace nn::fuzz {
namespace {

v2::ModelSignature Signature() {
  static const std::vector<std::string>* const labels = [] {
    auto* l = new std::vector<std::string>();
    for (int i = 0; i < 10; ++i) l->push_back(absl::StrCat("class", i));
    return l;
  }();
  v2::ModelSignature s;
  s.labels = *labels;
  return s;
}

v2::CodecLimits Limits() {
  v2::CodecLimits limits;
  limits.max_images = 64;  // small, so that accepted inputs stay fast
  limits.max_request_bytes = 1 << 20;
  return limits;
}

// The invariants of every accepted request (model_mapping.h).
void CheckDecoded(const v2::DecodedRequest& d, const v2::CodecLimits& limits) {
  NN_FUZZ_CHECK(d.images.count >= 1 && d.images.count <= limits.max_images);
  NN_FUZZ_CHECK(d.images.pixels.size() ==
                   static_cast<size_t>(d.images.count) * 784);
  for (float v : d.images.pixels) NN_FUZZ_CHECK(v >= 0.0f && v <= 1.0f);
  NN_FUZZ_CHECK(!d.outputs.empty() && d.outputs.size() <= 2);
  for (const v2::OutputSpec& o : d.outputs) {
    NN_FUZZ_CHECK(o.kind != v2::OutputKind::kClassification ||
                     (o.classification >= 1 && o.classification <= 10));
  }
}

bool DecodeFailedCleanly(const absl::Status& status) {
  NN_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                   status.code() == absl::StatusCode::kResourceExhausted);
  return false;
}

}  // namespace

// Byte 0 even: the rest is the body, with no Inference-Header-Content-Length;
// odd: bytes 1..4 (little-endian) modulo (body size + 2) are that header's
// value (body size + 1 is one too many), the body follows.
bool FuzzV2Rest(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  std::optional<std::string> header;
  size_t offset = 1;
  if (data[0] % 2 == 1) {
    if (size < 5) return false;
    uint32_t claimed;
    std::memcpy(&claimed, data + 1, 4);
    offset = 5;
    header = std::to_string(claimed % (size - offset + 2));
  }
  const absl::string_view body(reinterpret_cast<const char*>(data) + offset,
                               size - offset);
  const v2::ModelSignature signature = Signature();
  const v2::CodecLimits limits = Limits();
  std::optional<absl::string_view> header_view;
  if (header.has_value()) header_view = *header;
  absl::StatusOr<v2::DecodedRequest> decoded =
      v2::DecodeRestInferRequest(body, header_view, signature, limits);
  if (!decoded.ok()) {
    const v2::RestResponse error = v2::EncodeRestError(decoded.status());
    NN_FUZZ_CHECK(error.http_status == 400 || error.http_status == 413);
    return DecodeFailedCleanly(decoded.status());
  }
  CheckDecoded(*decoded, limits);
  const std::vector<float> probabilities(decoded->images.count * 10, 0.1f);
  const v2::RestResponse response = v2::EncodeRestInferResponse(
      *decoded, "m", "1", probabilities, signature);
  NN_FUZZ_CHECK(response.http_status == 200);
  NN_FUZZ_CHECK(!response.json_size.has_value() ||
                   *response.json_size <= response.body.size());
  return true;
}

// A serialized inference.ModelInferRequest.
bool FuzzV2Grpc(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return false;
  const v2::ModelSignature signature = Signature();
  const v2::CodecLimits limits = Limits();
  absl::StatusOr<v2::DecodedRequest> decoded =
      v2::DecodeGrpcInferRequest(request, signature, limits);
  if (!decoded.ok()) return DecodeFailedCleanly(decoded.status());
  CheckDecoded(*decoded, limits);
  const std::vector<float> probabilities(decoded->images.count * 10, 0.1f);
  inference::ModelInferResponse response;
  v2::EncodeGrpcInferResponse(*decoded, "m", "1", probabilities, signature,
                              &response);
  NN_FUZZ_CHECK(response.outputs_size() ==
                   static_cast<int>(decoded->outputs.size()));
  return true;
}

}  // namespace nn::fuzz
