// The nnserve.v1 gRPC service in process: a real repository (a temp
// directory with one MLP version, tests/support/model_fixtures), the
// service on a grpc::Server with no port, reached through
// Server::InProcessChannel; the replies are checked against the engine run
// directly, the rejections by code and by their metrics.
#include "server/inference_service.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/metrics/metric_names.h"
#include "server/model_repository.h"
#include "server/serving_metrics.h"
#include "tests/server/small_batching.h"
#include "tests/support/exposition.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using nnserve::v1::PredictRequest;
using nnserve::v1::PredictResponse;

constexpr int kMaxImagesPerRequest = 4;

// `count` distinct 28x28 images as uint8 pixels.
std::string Pixels(int count) {
  std::string data(count * 784, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 7919 + i / 784 * 31) % 256);
  }
  return data;
}

class InferenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::shared_ptr<const Model>> model =
        testing::MakeModel("mnist_mlp", 5);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    ASSERT_TRUE(testing::PublishModel(repo_.path(), "m", 1, *model_).ok());
    absl::StatusOr<std::unique_ptr<ServingMetrics>> metrics =
        ServingMetrics::Create(&registry_);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = *std::move(metrics);

    ModelRepository::Options options;
    options.root = repo_.path();
    options.poll_interval = absl::ZeroDuration();
    options.default_batching = testing::SmallBatching(4, 64);
    options.observer = metrics_.get();
    absl::StatusOr<std::unique_ptr<ModelRepository>> repository =
        ModelRepository::Create(options, Clock::Real());
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    ASSERT_TRUE(repository_->Start().ok());

    InferenceServiceImpl::Options service_options;
    service_options.max_images_per_request = kMaxImagesPerRequest;
    service_ = std::make_unique<InferenceServiceImpl>(
        service_options, repository_.get(), /*training=*/nullptr,
        metrics_.get());
    service_->SetReady(true);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = nnserve::v1::InferenceService::NewStub(
        server_->InProcessChannel(grpc::ChannelArguments()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    if (repository_ != nullptr) repository_->Shutdown();
  }

  grpc::Status Predict(const PredictRequest& request,
                       PredictResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    return stub_->Predict(&context, request, response);
  }

  static PredictRequest PixelRequest(int images) {
    PredictRequest request;
    request.set_model("m");
    request.mutable_images()->mutable_pixels()->set_data(Pixels(images));
    return request;
  }

  testing::Exposition Scrape() const {
    absl::StatusOr<testing::Exposition> e = testing::ParseExposition(
        prometheus::TextSerializer().Serialize(registry_.Collect()));
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : testing::Exposition{};
  }

  testing::TempDir repo_;
  std::shared_ptr<const Model> model_;
  prometheus::Registry registry_{prometheus::Registry::InsertBehavior::Throw};
  std::unique_ptr<ServingMetrics> metrics_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<InferenceServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<nnserve::v1::InferenceService::Stub> stub_;
};

TEST_F(InferenceServiceTest, PredictAnswersWithTheModelsProbabilities) {
  PredictRequest request = PixelRequest(3);
  request.set_top_k(2);
  PredictResponse response;
  const grpc::Status status = Predict(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model(), "m");
  EXPECT_EQ(response.version(), 1);
  ASSERT_EQ(response.predictions_size(), 3);

  const std::string pixels = Pixels(3);
  std::vector<float> input(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) {
    input[i] = static_cast<float>(static_cast<uint8_t>(pixels[i])) / 255.0f;
  }
  Model::ContextOptions context_options;
  context_options.max_batch_size = 3;
  std::unique_ptr<InferenceContext> direct =
      model_->NewInferenceContext(context_options);
  std::vector<float> expected(3 * 10);
  ASSERT_TRUE(direct->Run(input, 3, absl::MakeSpan(expected)).ok());
  for (int i = 0; i < 3; ++i) {
    const nnserve::v1::Prediction& p = response.predictions(i);
    const absl::Span<const float> want =
        absl::MakeConstSpan(expected).subspan(i * 10, 10);
    ASSERT_EQ(p.probabilities_size(), 10);
    EXPECT_LE(testing::MaxContractError(
                  absl::MakeConstSpan(p.probabilities().data(), 10), want),
              testing::kRunToRunTolerance);
    EXPECT_TRUE(testing::IsArgMaxWithinContract(want, p.class_index()));
    EXPECT_EQ(p.label(), model_->labels()[p.class_index()]);
    ASSERT_EQ(p.top_k_size(), 2);
    EXPECT_EQ(p.top_k(0).class_index(), p.class_index());
    EXPECT_GE(p.top_k(0).probability(), p.top_k(1).probability());
  }
  EXPECT_EQ(Scrape().Sum(metrics::kRequestsTotal,
                         {{"model", "m"}, {"version", "1"}, {"code", "OK"}}),
            1);
}

// The same images as a float tensor (computed from the parsed request, not
// copied) and as uint8 pixels: the same predictions; top_k 0 adds no scores,
// top_k 10 all classes by descending probability, lowest index first on ties.
TEST_F(InferenceServiceTest, FloatTensorAnswersAsPixelsAndTopKShapesTheScores) {
  const std::string pixels = Pixels(3);
  for (const int top_k : {0, 10}) {
    SCOPED_TRACE(top_k);
    PredictRequest as_pixels = PixelRequest(3);
    as_pixels.set_top_k(top_k);
    PredictRequest as_tensor;
    as_tensor.set_model("m");
    as_tensor.set_top_k(top_k);
    nnserve::v1::FloatTensor* tensor =
        as_tensor.mutable_images()->mutable_tensor();
    tensor->add_shape(3);
    tensor->add_shape(28);
    tensor->add_shape(28);
    for (const char c : pixels) {
      tensor->add_values(static_cast<float>(static_cast<uint8_t>(c)) / 255.0f);
    }
    PredictResponse from_pixels, from_tensor;
    ASSERT_TRUE(Predict(as_pixels, &from_pixels).ok());
    const grpc::Status status = Predict(as_tensor, &from_tensor);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(from_tensor.predictions_size(), 3);
    for (int i = 0; i < 3; ++i) {
      const nnserve::v1::Prediction& t = from_tensor.predictions(i);
      const nnserve::v1::Prediction& p = from_pixels.predictions(i);
      ASSERT_EQ(t.probabilities_size(), 10);
      EXPECT_LE(testing::MaxContractError(
                    absl::MakeConstSpan(t.probabilities().data(), 10),
                    absl::MakeConstSpan(p.probabilities().data(), 10)),
                testing::kRunToRunTolerance);
      EXPECT_EQ(t.label(), model_->labels()[t.class_index()]);
      EXPECT_EQ(t.confidence(), t.probabilities(t.class_index()));
      ASSERT_EQ(t.top_k_size(), top_k);
      std::vector<bool> seen(10, false);
      for (int k = 0; k < top_k; ++k) {
        const nnserve::v1::ClassScore& score = t.top_k(k);
        ASSERT_GE(score.class_index(), 0);
        ASSERT_LT(score.class_index(), 10);
        EXPECT_FALSE(seen[score.class_index()]);
        seen[score.class_index()] = true;
        EXPECT_EQ(score.probability(), t.probabilities(score.class_index()));
        EXPECT_EQ(score.label(), model_->labels()[score.class_index()]);
        if (k > 0) {
          const nnserve::v1::ClassScore& before = t.top_k(k - 1);
          EXPECT_TRUE(before.probability() > score.probability() ||
                      (before.probability() == score.probability() &&
                       before.class_index() < score.class_index()));
        }
      }
      if (top_k > 0) {
        EXPECT_EQ(t.top_k(0).class_index(), t.class_index());
      }
    }
  }
}

// A float tensor is range checked before it is computed: the first value
// outside [0, 1] (NaN too) is named, whatever the others.
TEST_F(InferenceServiceTest, FloatTensorValueOutOfRangeIsNamed) {
  for (const float bad : {-0.5f, 1.5f, std::nanf("")}) {
    PredictRequest request;
    request.set_model("m");
    nnserve::v1::FloatTensor* tensor =
        request.mutable_images()->mutable_tensor();
    tensor->add_shape(2);
    tensor->add_shape(784);
    for (int i = 0; i < 2 * 784; ++i) tensor->add_values(0.5f);
    tensor->set_values(900, bad);
    tensor->set_values(1000, 2.0f);
    PredictResponse response;
    const grpc::Status status = Predict(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("images.tensor.values[900] (image 1)"),
              std::string::npos)
        << status.error_message();
  }
}

TEST_F(InferenceServiceTest, TooManyImagesIsResourceExhaustedCountedTooLarge) {
  PredictResponse response;
  const grpc::Status status =
      Predict(PixelRequest(kMaxImagesPerRequest + 1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const testing::Exposition e = Scrape();
  EXPECT_EQ(e.Sum(metrics::kRejectedTotal,
                  {{"model", "m"}, {"reason", metrics::kRejectReasonTooLarge}}),
            1);
  EXPECT_EQ(e.Sum(metrics::kRequestsTotal,
                  {{"model", "m"},
                   {"version", "1"},
                   {"code", "RESOURCE_EXHAUSTED"}}),
            1);
}

TEST_F(InferenceServiceTest, BadTopKIsInvalidArgument) {
  PredictRequest request = PixelRequest(1);
  request.set_top_k(11);
  PredictResponse response;
  EXPECT_EQ(Predict(request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(InferenceServiceTest, UnknownModelIsNotFoundAndCountedWithoutVersion) {
  PredictRequest request = PixelRequest(1);
  request.set_model("nope");
  PredictResponse response;
  EXPECT_EQ(Predict(request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Scrape().Sum(metrics::kRequestsTotal,
                         {{"model", ""}, {"code", "NOT_FOUND"}}),
            1);
}

TEST_F(InferenceServiceTest, PredictBeforeReadyIsUnavailable) {
  service_->SetReady(false);
  PredictResponse response;
  EXPECT_EQ(Predict(PixelRequest(1), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(service_->predicts_accepted(), service_->predicts_finished());
}

TEST_F(InferenceServiceTest, EveryAcceptedPredictIsFinished) {
  PredictResponse response;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Predict(PixelRequest(1 + i % 4), &response).ok());
  }
  EXPECT_EQ(service_->predicts_accepted(), 20);
  EXPECT_EQ(service_->predicts_finished(), 20);
}

TEST_F(InferenceServiceTest, ModelInfoDescribesTheLoadedVersion) {
  grpc::ClientContext context;
  nnserve::v1::ModelInfoRequest request;
  request.set_model("m");
  nnserve::v1::ModelInfoResponse response;
  const grpc::Status status = stub_->ModelInfo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model().name(), "m");
  EXPECT_EQ(response.model().default_version(), 1);
  ASSERT_EQ(response.model().versions_size(), 1);
  const nnserve::v1::VersionInfo& v = response.model().versions(0);
  EXPECT_EQ(v.state(), nnserve::v1::VERSION_STATE_AVAILABLE);
  EXPECT_EQ(v.labels_size(), 10);
  EXPECT_GT(v.layers_size(), 0);
  EXPECT_EQ(response.model().batching().max_inline_images(), 4);

  grpc::ClientContext unknown_context;
  request.set_model("nope");
  EXPECT_EQ(stub_->ModelInfo(&unknown_context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(InferenceServiceTest, ListModelsListsTheRepositorysModels) {
  grpc::ClientContext context;
  nnserve::v1::ListModelsResponse response;
  const grpc::Status status = stub_->ListModels(
      &context, nnserve::v1::ListModelsRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.models_size(), 1);
  EXPECT_EQ(response.models(0).name(), "m");
  EXPECT_EQ(response.models(0).default_version(), 1);
}

}  // namespace
}  // namespace nn
