#include "tests/support/grpc_calls.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "common/limits.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "gtest/gtest.h"

namespace nn::testing {

std::unique_ptr<Stub> NewStub(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return nnserve::v1::InferenceService::NewStub(
      grpc::CreateCustomChannel(target, std::move(credentials), args));
}

grpc::Status Predict(Stub& stub, const nnserve::v1::PredictRequest& request,
                     nnserve::v1::PredictResponse* response,
                     absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return stub.Predict(&context, request, response);
}

nnserve::v1::PredictRequest PixelRequest(const std::string& model,
                                         const TestImages& images,
                                         int64_t count, int64_t first) {
  nnserve::v1::PredictRequest request;
  request.set_model(model);
  request.mutable_images()->mutable_pixels()->set_data(
      std::string(images.pixels.begin() + first * kImagePixels,
                  images.pixels.begin() + (first + count) * kImagePixels));
  return request;
}

std::vector<float> EngineProbabilities(const std::string& path,
                                       const std::vector<float>& input,
                                       int64_t n) {
  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModel(path);
  if (!model.ok()) {
    ADD_FAILURE() << model.status();
    return {};
  }
  if (static_cast<int64_t>(input.size()) < n * kImagePixels) {
    ADD_FAILURE() << "EngineProbabilities: " << input.size()
                  << " floats hold fewer than " << n << " images";
    return {};
  }
  std::unique_ptr<InferenceContext> context = (*model)->NewInferenceContext();
  std::vector<float> out(n * (*model)->num_classes());
  const absl::Status run =
      context->Run(absl::MakeConstSpan(input.data(), n * kImagePixels), n,
                   absl::MakeSpan(out));
  if (!run.ok()) {
    ADD_FAILURE() << run;
    return {};
  }
  return out;
}

}  // namespace nn::testing
