// Helpers for the Open Inference Protocol's gRPC end-to-end tests: a stub,
// calls with a deadline, requests of the test digits in each input form,
// and the outputs of a reply read back as numbers.
#ifndef NNSERVE_TESTS_E2E_V2_GRPC_UTIL_H_
#define NNSERVE_TESTS_E2E_V2_GRPC_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "inference/open_inference.grpc.pb.h"
#include "tests/support/model_fixtures.h"

namespace nn::testing {

using V2Stub = ::inference::GRPCInferenceService::Stub;

std::unique_ptr<V2Stub> NewV2Stub(const std::string& target);

// A client context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> ContextWithin(
    absl::Duration timeout = absl::Seconds(20));

grpc::Status Infer(V2Stub& stub, const inference::ModelInferRequest& request,
                   inference::ModelInferResponse* response,
                   absl::Duration timeout = absl::Seconds(20));

// How the images travel.
enum class InputForm { kRaw, kTyped };

// A request for `model` of images [0, n) of `images`:
//   FloatRequest  FP32 of `shape` (its product n * 784)
//   PixelRequest  UINT8 [n,28,28] (typed: uint_contents)
//   PngRequest    BYTES [n], one PNG an element (raw: 4-byte length + bytes)
inference::ModelInferRequest FloatRequest(const std::string& model,
                                          const TestImages& images, int64_t n,
                                          const std::vector<int64_t>& shape,
                                          InputForm form);
inference::ModelInferRequest PixelV2Request(const std::string& model,
                                            const TestImages& images,
                                            int64_t n, InputForm form);
inference::ModelInferRequest PngRequest(const std::string& model,
                                        const TestImages& images, int64_t n,
                                        InputForm form);

// Output `index` of `response` as floats / int64s, from raw_output_contents
// or from typed contents, whichever the reply carries.
std::vector<float> OutputFloats(const inference::ModelInferResponse& response,
                                int index);
std::vector<int64_t> OutputInt64s(const inference::ModelInferResponse& response,
                                  int index);

// Predict's probabilities for images [0, n) of `images` as a float tensor:
// n * 10 floats (what ModelInfer must answer for the same images).
std::vector<float> PredictProbabilities(const std::string& target,
                                        const std::string& model,
                                        const TestImages& images, int64_t n);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_E2E_V2_GRPC_UTIL_H_
