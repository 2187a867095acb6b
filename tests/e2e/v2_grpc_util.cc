#include "tests/e2e/v2_grpc_util.h"

#include <cstring>

#include "absl/time/clock.h"
#include "engine/data/png.h"
#include "gtest/gtest.h"
#include "tests/support/grpc_calls.h"

namespace nn::testing {
namespace {

template <typename T>
void AppendLittleEndian(T value, std::string* out) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // x86-64 and arm64: little-endian
  out->append(bytes, sizeof(T));
}

inference::ModelInferRequest::InferInputTensor* AddImages(
    inference::ModelInferRequest* request, const std::string& model,
    const char* datatype, const std::vector<int64_t>& shape) {
  request->set_model_name(model);
  auto* input = request->add_inputs();
  input->set_name("images");
  input->set_datatype(datatype);
  for (int64_t d : shape) input->add_shape(d);
  return input;
}

}  // namespace

std::unique_ptr<V2Stub> NewV2Stub(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args));
}

std::unique_ptr<grpc::ClientContext> ContextWithin(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

grpc::Status Infer(V2Stub& stub, const inference::ModelInferRequest& request,
                   inference::ModelInferResponse* response,
                   absl::Duration timeout) {
  return stub.ModelInfer(ContextWithin(timeout).get(), request, response);
}

inference::ModelInferRequest FloatRequest(const std::string& model,
                                          const TestImages& images, int64_t n,
                                          const std::vector<int64_t>& shape,
                                          InputForm form) {
  inference::ModelInferRequest request;
  auto* input = AddImages(&request, model, "FP32", shape);
  const float* begin = images.floats.data();
  if (form == InputForm::kRaw) {
    request.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(begin),
                    static_cast<size_t>(n) * 784 * sizeof(float)));
  } else {
    input->mutable_contents()->mutable_fp32_contents()->Add(begin,
                                                            begin + n * 784);
  }
  return request;
}

inference::ModelInferRequest PixelV2Request(const std::string& model,
                                            const TestImages& images,
                                            int64_t n, InputForm form) {
  inference::ModelInferRequest request;
  auto* input = AddImages(&request, model, "UINT8", {n, 28, 28});
  if (form == InputForm::kRaw) {
    request.add_raw_input_contents(std::string(
        images.pixels.begin(), images.pixels.begin() + n * 784));
  } else {
    for (int64_t i = 0; i < n * 784; ++i) {
      input->mutable_contents()->add_uint_contents(images.pixels[i]);
    }
  }
  return request;
}

inference::ModelInferRequest PngRequest(const std::string& model,
                                        const TestImages& images, int64_t n,
                                        InputForm form) {
  inference::ModelInferRequest request;
  auto* input = AddImages(&request, model, "BYTES", {n});
  std::string raw;
  for (int64_t i = 0; i < n; ++i) {
    GrayImage image{28, 28,
                    std::vector<uint8_t>(images.pixels.begin() + i * 784,
                                         images.pixels.begin() + (i + 1) * 784)};
    absl::StatusOr<std::string> png = EncodePng(image);
    EXPECT_TRUE(png.ok()) << png.status();
    if (!png.ok()) continue;
    if (form == InputForm::kRaw) {
      AppendLittleEndian(static_cast<uint32_t>(png->size()), &raw);
      raw += *png;
    } else {
      input->mutable_contents()->add_bytes_contents(*png);
    }
  }
  if (form == InputForm::kRaw) request.add_raw_input_contents(raw);
  return request;
}

std::vector<float> OutputFloats(const inference::ModelInferResponse& response,
                                int index) {
  if (index < response.raw_output_contents_size()) {
    const std::string& raw = response.raw_output_contents(index);
    std::vector<float> values(raw.size() / sizeof(float));
    std::memcpy(values.data(), raw.data(), values.size() * sizeof(float));
    return values;
  }
  const auto& typed = response.outputs(index).contents().fp32_contents();
  return std::vector<float>(typed.begin(), typed.end());
}

std::vector<int64_t> OutputInt64s(const inference::ModelInferResponse& response,
                                  int index) {
  if (index < response.raw_output_contents_size()) {
    const std::string& raw = response.raw_output_contents(index);
    std::vector<int64_t> values(raw.size() / sizeof(int64_t));
    std::memcpy(values.data(), raw.data(), values.size() * sizeof(int64_t));
    return values;
  }
  const auto& typed = response.outputs(index).contents().int64_contents();
  return std::vector<int64_t>(typed.begin(), typed.end());
}

std::vector<float> PredictProbabilities(const std::string& target,
                                        const std::string& model,
                                        const TestImages& images, int64_t n) {
  std::unique_ptr<Stub> stub = NewStub(target);
  nnserve::v1::PredictRequest request;
  request.set_model(model);
  auto* tensor = request.mutable_images()->mutable_tensor();
  tensor->add_shape(n);
  tensor->add_shape(28);
  tensor->add_shape(28);
  tensor->mutable_values()->Add(images.floats.begin(),
                                images.floats.begin() + n * 784);
  nnserve::v1::PredictResponse response;
  grpc::Status status = Predict(*stub, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<float> probabilities;
  for (const auto& p : response.predictions()) {
    probabilities.insert(probabilities.end(), p.probabilities().begin(),
                         p.probabilities().end());
  }
  return probabilities;
}

}  // namespace nn::testing
