// The gRPC form of the Open Inference Protocol's inference: ModelInferRequest
// to a DecodedRequest, and a model's result to ModelInferResponse. The model
// mapping and its errors are model_mapping.h's; this file adds the wire
// form's own rules.
//
// Request:
//   - exactly one input ('images'); `parameters` of inputs are ignored.
//   - its elements in `contents` (the typed field of its datatype:
//     fp32_contents, uint_contents or bytes_contents) or in
//     raw_input_contents (one entry per input, little-endian, row-major),
//     never both: a request with raw_input_contents whose input also has
//     contents, more raw entries than inputs, or two typed fields set, is
//     INVALID_ARGUMENT.
//   - outputs[].parameters["classification"] (int64_param or uint64_param):
//     the classification extension (model_mapping.h).
//   - parameters["typed_output_contents"] (bool_param, nnserve's own):
//     reply in outputs[].contents instead of raw_output_contents. Raw is the
//     default, as Triton answers (tritonclient's gRPC client reads only raw
//     contents); grpcurl users ask for typed contents to read numbers.
//   - a known parameter of the wrong type is INVALID_ARGUMENT; unknown
//     parameters are ignored.
// Response: model_name, model_version (the version that ran), id (echoed),
// the outputs in the order the request named them (default: probabilities,
// class_index) with raw_output_contents in the same order, or typed
// contents (fp32_contents, int64_contents, bytes_contents).
#ifndef NNSERVE_SERVER_V2_GRPC_CODEC_H_
#define NNSERVE_SERVER_V2_GRPC_CODEC_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "inference/open_inference.pb.h"
#include "server/v2/model_mapping.h"

namespace nn::v2 {

inline constexpr absl::string_view kTypedOutputContentsParameter =
    "typed_output_contents";
inline constexpr absl::string_view kClassificationParameter = "classification";

// Decodes `request` for a model of `signature`. The caller has resolved
// request.model_name() and model_version() to that model already.
absl::StatusOr<DecodedRequest> DecodeGrpcInferRequest(
    const inference::ModelInferRequest& request,
    const ModelSignature& signature, const CodecLimits& limits);

// Fills `response` (cleared first) with the outputs `request` asked for,
// from `probabilities` (request.images.count * labels.size() floats,
// row-major, label order).
void EncodeGrpcInferResponse(const DecodedRequest& request,
                             absl::string_view model_name,
                             absl::string_view model_version,
                             absl::Span<const float> probabilities,
                             const ModelSignature& signature,
                             inference::ModelInferResponse* response);

}  // namespace nn::v2

#endif  // NNSERVE_SERVER_V2_GRPC_CODEC_H_
