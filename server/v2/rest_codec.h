// The HTTP/REST form of the Open Inference Protocol's inference
// (POST /v2/models/{m}[/versions/{v}]/infer): the JSON body of the
// specification and Triton's binary tensor data extension, in both
// directions, and the JSON error answer. JSON is read and written with
// RapidJSON (chosen by bench/json_bench.cc; see bench/README.md).
//
// Request body: the JSON object
//   {"id": string?, "parameters": {...}?, "inputs": [input], "outputs": [..]?}
// with exactly one input {"name": "images", "datatype", "shape", "data" |
// "parameters": {"binary_data_size": bytes}}; `data` flat or nested in
// row-major order (numbers for FP32/UINT8, strings for BYTES).
// Binary tensor data extension: the request's `Inference-Header-Content-
// Length` header gives the JSON's size; the bytes after it are the binary
// data of the inputs that carry binary_data_size, in input order, exactly
// (missing or extra bytes are INVALID_ARGUMENT). Outputs come back binary
// when the output's parameter "binary_data" is true, or, when it is absent,
// when the request parameter "binary_data_output" is true (tritonclient's
// default); PNGs over REST need binary data (JSON strings are UTF-8).
// Parameters: "timeout" (integer microseconds >= 0, Triton's) on the
// request, its deadline (DecodedRequest::timeout_micros); "classification"
// (integer k) on an output, as in
// model_mapping.h; a known parameter of the wrong JSON type is
// INVALID_ARGUMENT; unknown parameters are ignored.
//
// Response: {"model_name", "model_version", "id"?, "outputs": [{"name",
// "datatype", "shape", "data" | "parameters": {"binary_data_size"}}]}; then
// the binary outputs' bytes (little-endian; BYTES elements length-prefixed),
// in output order, with `Inference-Header-Content-Length` = the JSON's size
// and Content-Type application/octet-stream; otherwise the JSON alone,
// application/json. Floats are written in their shortest exact form.
//
// Errors: {"error": "<message>"}, Content-Type application/json, with the
// HTTP status of HttpStatusFor (the table below).
//   absl code                          HTTP
//   OK                                 200
//   INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE   400
//   UNAUTHENTICATED                    401
//   PERMISSION_DENIED                  403
//   NOT_FOUND (model or version)       404
//   ALREADY_EXISTS, ABORTED            409
//   RESOURCE_EXHAUSTED (size limits)   413
//   CANCELLED (client went away)       499
//   UNIMPLEMENTED                      501
//   UNAVAILABLE (not ready, queue full, draining)   503
//   DEADLINE_EXCEEDED                  504
//   INTERNAL, UNKNOWN, DATA_LOSS       500
#ifndef NNSERVE_SERVER_V2_REST_CODEC_H_
#define NNSERVE_SERVER_V2_REST_CODEC_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/v2/model_mapping.h"

namespace nn::v2 {

inline constexpr absl::string_view kInferenceHeaderContentLength =
    "Inference-Header-Content-Length";
inline constexpr absl::string_view kJsonContentType = "application/json";
inline constexpr absl::string_view kBinaryContentType =
    "application/octet-stream";

// An HTTP answer: status, Content-Type, body, and (when the body carries
// binary data) the value of the Inference-Header-Content-Length header.
struct RestResponse {
  int http_status = 200;
  std::string content_type;
  std::string body;
  std::optional<size_t> json_size;
};

// Decodes an infer request body for a model of `signature`.
// `header_content_length`: the request's Inference-Header-Content-Length
// header, if it has one (a byte count <= body.size(); anything else is
// INVALID_ARGUMENT). A body over limits.max_request_bytes is
// RESOURCE_EXHAUSTED.
absl::StatusOr<DecodedRequest> DecodeRestInferRequest(
    absl::string_view body,
    std::optional<absl::string_view> header_content_length,
    const ModelSignature& signature, const CodecLimits& limits);

// The 200 answer with the outputs `request` asked for, from `probabilities`
// (request.images.count * labels.size() floats, row-major, label order).
RestResponse EncodeRestInferResponse(const DecodedRequest& request,
                                     absl::string_view model_name,
                                     absl::string_view model_version,
                                     absl::Span<const float> probabilities,
                                     const ModelSignature& signature);

// The `ready` member of a POST /v2/repository/index body (the
// specification's {"repository_name": ..., "ready": ...}; both optional):
// false for an empty body or no `ready`. INVALID_ARGUMENT for a body that
// is not a JSON object, or a `ready` that is not true or false; other
// members are ignored.
absl::StatusOr<bool> ParseRepositoryIndexReady(absl::string_view body);

// The answer to a failed request: HttpStatusFor(status) and
// {"error": status.message()}. `status` must not be OK.
RestResponse EncodeRestError(const absl::Status& status);

int HttpStatusFor(absl::StatusCode code);

// `{"error": message}` with the message JSON-escaped.
std::string JsonErrorBody(absl::string_view message);

}  // namespace nn::v2

#endif  // NNSERVE_SERVER_V2_REST_CODEC_H_
