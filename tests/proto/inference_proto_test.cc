// The service contract: the gRPC service exposes the documented methods, and
// requests carrying each image encoding round-trip.
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "nnserve/v1/inference.pb.h"

namespace nn {
namespace {

using ::nnserve::v1::PredictRequest;

TEST(InferenceProtoTest, ServiceHasEveryMethod) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          "nnserve.v1.InferenceService");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->full_name(), "nnserve.v1.InferenceService");
  for (const char* name : {"Predict", "ListModels", "ModelInfo", "Train",
                           "WatchTraining", "CancelTraining",
                           "ListTrainingJobs"}) {
    EXPECT_NE(service->FindMethodByName(name), nullptr) << name;
  }
  EXPECT_TRUE(service->FindMethodByName("Train")->server_streaming());
  EXPECT_FALSE(service->FindMethodByName("Predict")->server_streaming());
}

TEST(InferenceProtoTest, PixelRequestRoundTripsThroughJsonAsGrpcurlSendsIt) {
  // grpcurl sends JSON; bytes fields are base64. "AAE=" is {0x00, 0x01}.
  PredictRequest request;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"model":"mnist_mlp","version":"3","topK":2,
                      "images":{"pixels":{"data":"AAE="}}})",
                  &request)
                  .ok());
  EXPECT_EQ(request.model(), "mnist_mlp");
  EXPECT_EQ(request.version(), 3);
  EXPECT_EQ(request.top_k(), 2);
  ASSERT_TRUE(request.images().has_pixels());
  EXPECT_EQ(request.images().pixels().data(), std::string("\x00\x01", 2));

  PredictRequest copy;
  ASSERT_TRUE(copy.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(copy.images().pixels().data(), request.images().pixels().data());
}

TEST(InferenceProtoTest, EncodingsAreMutuallyExclusive) {
  PredictRequest request;
  request.mutable_images()->mutable_tensor()->add_shape(1);
  request.mutable_images()->mutable_encoded()->add_png("x");
  EXPECT_FALSE(request.images().has_tensor());
  EXPECT_TRUE(request.images().has_encoded());
}

}  // namespace
}  // namespace nn
