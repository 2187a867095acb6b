// The client side of the Open Inference Protocol (KServe V2) over gRPC:
// ModelInferRequests of images with raw FP32 contents (little-endian,
// row-major [N,28,28], the form Triton's clients send), and a reply read
// back as nnserve.v1 Predictions so that nnctl prints both protocols alike.
// What the server maps: server/v2/model_mapping.h.
#ifndef NNSERVE_CLIENT_V2_REQUESTS_H_
#define NNSERVE_CLIENT_V2_REQUESTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/image_input.h"
#include "inference/open_inference.pb.h"
#include "nnserve/v1/inference.pb.h"

namespace nn {

// The wire a command speaks (nnctl's --protocol). Adding one: a value here,
// its name in ParseWireProtocol, and its call in the load generator.
// kV2Http: the Open Inference Protocol over REST (client/http_load.h; bench
// only).
enum class WireProtocol { kNnserveV1, kV2Grpc, kV2Http };
// "nnserve.v1", "v2" or "v2-http"; INVALID_ARGUMENT naming the accepted
// values.
absl::StatusOr<WireProtocol> ParseWireProtocol(absl::string_view name);
absl::string_view WireProtocolName(WireProtocol protocol);

// A request for `model` ("" version = newest) of `images` (all 28x28) as
// input "images", FP32 [N,28,28] in raw_input_contents. `classification` >
// 0 asks for output "probabilities" in Triton's classification form (the
// `classification` parameter: the k best as "probability:index:label"),
// besides "class_index"; 0 asks for the default outputs.
inference::ModelInferRequest BuildModelInferRequest(
    absl::Span<const InputImage* const> images, const std::string& model,
    const std::string& version, int classification);

// Up to `count` requests of `images_per_request` images each, taking images
// in order and wrapping around (BuildPredictRequests' rule); default
// outputs. INVALID_ARGUMENT if `images` is empty or a count is below 1.
absl::StatusOr<std::vector<inference::ModelInferRequest>>
BuildModelInferRequests(const std::vector<InputImage>& images,
                        const std::string& model, const std::string& version,
                        int images_per_request, int count);

// The Predictions of a reply to a BuildModelInferRequest with
// classification = num_classes (every class, so each Prediction gets every
// probability, its label, and `top_k` best scores). INTERNAL if the reply
// is not that shape.
absl::StatusOr<std::vector<nnserve::v1::Prediction>> PredictionsFromModelInfer(
    const inference::ModelInferResponse& response, int64_t images,
    int num_classes, int top_k);

}  // namespace nn

#endif  // NNSERVE_CLIENT_V2_REQUESTS_H_
