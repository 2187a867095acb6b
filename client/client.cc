#include "client/client.h"

#include <grpcpp/client_context.h>

#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace nn {

namespace v1 = ::nnserve::v1;

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   CreateChannel(options.channel));
  return std::unique_ptr<Client>(
      new Client(std::move(options), std::move(channel)));
}

Client::Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::InferenceService::NewStub(channel_)),
      health_stub_(grpc::health::v1::Health::NewStub(channel_)),
      v2_stub_(inference::GRPCInferenceService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext(bool unary,
                                                        bool authorize) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (unary) {
    context->set_deadline(
        absl::ToChronoTime(absl::Now() + options_.timeout));
  }
  if (authorize && !options_.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + options_.token);
  }
  return context;
}

absl::StatusOr<inference::ModelInferResponse> Client::ModelInfer(
    const inference::ModelInferRequest& request) {
  inference::ModelInferResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/false);
  RETURN_IF_ERROR(
      FromGrpcStatus(v2_stub_->ModelInfer(context.get(), request, &response)));
  return response;
}

absl::StatusOr<inference::ModelMetadataResponse> Client::ModelMetadata(
    const std::string& model, const std::string& version) {
  inference::ModelMetadataRequest request;
  request.set_name(model);
  if (!version.empty()) request.set_version(version);
  inference::ModelMetadataResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/false);
  RETURN_IF_ERROR(FromGrpcStatus(
      v2_stub_->ModelMetadata(context.get(), request, &response)));
  return response;
}

absl::StatusOr<v1::PredictResponse> Client::Predict(
    const v1::PredictRequest& request) {
  v1::PredictResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/false);
  RETURN_IF_ERROR(
      FromGrpcStatus(stub_->Predict(context.get(), request, &response)));
  return response;
}

absl::StatusOr<v1::ListModelsResponse> Client::ListModels() {
  v1::ListModelsResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/false);
  RETURN_IF_ERROR(FromGrpcStatus(
      stub_->ListModels(context.get(), v1::ListModelsRequest(), &response)));
  return response;
}

absl::StatusOr<v1::ModelInfoResponse> Client::ModelInfo(
    const v1::ModelInfoRequest& request) {
  v1::ModelInfoResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/false);
  RETURN_IF_ERROR(
      FromGrpcStatus(stub_->ModelInfo(context.get(), request, &response)));
  return response;
}

absl::StatusOr<v1::ExportModelResponse> Client::ExportModel(
    const v1::ExportModelRequest& request) {
  v1::ExportModelResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/false);
  RETURN_IF_ERROR(
      FromGrpcStatus(stub_->ExportModel(context.get(), request, &response)));
  return response;
}

absl::Status Client::ReadProgress(
    grpc::ClientContext& context,
    grpc::ClientReaderInterface<v1::TrainProgress>& reader,
    const ProgressCallback& on_progress) {
  v1::TrainProgress progress;
  while (reader.Read(&progress)) {
    if (!on_progress(progress)) {
      context.TryCancel();
      // Finish() reports CANCELLED, which is what we asked for.
      reader.Finish().IgnoreError();
      return absl::OkStatus();
    }
  }
  return FromGrpcStatus(reader.Finish());
}

absl::Status Client::Train(const v1::TrainRequest& request,
                           const ProgressCallback& on_progress) {
  auto context = NewContext(/*unary=*/false, /*authorize=*/true);
  auto reader = stub_->Train(context.get(), request);
  return ReadProgress(*context, *reader, on_progress);
}

absl::Status Client::WatchTraining(const std::string& job_id,
                                   const ProgressCallback& on_progress) {
  auto context = NewContext(/*unary=*/false, /*authorize=*/true);
  v1::WatchTrainingRequest request;
  request.set_job_id(job_id);
  auto reader = stub_->WatchTraining(context.get(), request);
  return ReadProgress(*context, *reader, on_progress);
}

absl::StatusOr<v1::TrainingJob> Client::CancelTraining(
    const std::string& job_id) {
  v1::CancelTrainingRequest request;
  request.set_job_id(job_id);
  v1::CancelTrainingResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/true);
  RETURN_IF_ERROR(
      FromGrpcStatus(stub_->CancelTraining(context.get(), request, &response)));
  return response.job();
}

absl::StatusOr<v1::ListTrainingJobsResponse> Client::ListTrainingJobs() {
  v1::ListTrainingJobsResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/true);
  RETURN_IF_ERROR(FromGrpcStatus(stub_->ListTrainingJobs(
      context.get(), v1::ListTrainingJobsRequest(), &response)));
  return response;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
Client::Health(const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto context = NewContext(/*unary=*/true, /*authorize=*/false);
  RETURN_IF_ERROR(
      FromGrpcStatus(health_stub_->Check(context.get(), request, &response)));
  return response.status();
}

}  // namespace nn
