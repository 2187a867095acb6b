// Calls on nnserve's gRPC API for the end-to-end and robustness suites, one
// copy each: a stub on a channel of its own, Predict with a deadline, a
// Predict of raw pixels from the test digits, and the probabilities the
// engine itself computes (what the server must answer).
#ifndef NNSERVE_TESTS_SUPPORT_GRPC_CALLS_H_
#define NNSERVE_TESTS_SUPPORT_GRPC_CALLS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "tests/support/model_fixtures.h"

namespace nn::testing {

using Stub = ::nnserve::v1::InferenceService::Stub;

// A stub on a fresh channel to `target` ("127.0.0.1:PORT") with a
// subchannel of its own (tests that count connections or kill servers do
// not share one by accident) and no message size limits.
std::unique_ptr<Stub> NewStub(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        grpc::InsecureChannelCredentials());

// Predict with a deadline `timeout` from now.
grpc::Status Predict(Stub& stub, const nnserve::v1::PredictRequest& request,
                     nnserve::v1::PredictResponse* response,
                     absl::Duration timeout = absl::Seconds(20));

// A Predict for `model` of images [first, first + count) of `images` as raw
// pixels (784 bytes an image).
nnserve::v1::PredictRequest PixelRequest(const std::string& model,
                                         const TestImages& images,
                                         int64_t count, int64_t first = 0);

// The probabilities the engine computes itself for `n` images of `input`
// (n * 784 floats) with the model in `path`: what the server must answer
// (within the numerical contract). Fails the test if the model cannot run.
std::vector<float> EngineProbabilities(const std::string& path,
                                       const std::vector<float>& input,
                                       int64_t n);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_GRPC_CALLS_H_
