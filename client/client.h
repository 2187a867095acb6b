// A thin typed client of nnserve's gRPC API (proto/nnserve/v1/inference.proto)
// and of the standard health service. Blocking calls; every error comes back
// as an absl::Status with the RPC's code and message.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Client> client,
//                    Client::Create({.channel = {.target = "localhost:50051"}}));
//   ASSIGN_OR_RETURN(nnserve::v1::ListModelsResponse models,
//                    client->ListModels());
//
// Thread-safe: calls may run concurrently from several threads.
#ifndef NNSERVE_CLIENT_CLIENT_H_
#define NNSERVE_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference/open_inference.grpc.pb.h"
#include "nnserve/v1/inference.grpc.pb.h"

namespace nn {

struct ClientOptions {
  ChannelOptions channel;
  // Deadline of each unary call (Predict, ListModels, ...), counted from the
  // call's start; it includes connecting. Streaming calls (Train,
  // WatchTraining) have no deadline: training takes as long as it takes.
  absl::Duration timeout = absl::Seconds(10);
  // Sent as "authorization: Bearer <token>" on the training calls (Train,
  // WatchTraining, CancelTraining, ListTrainingJobs) when not empty.
  std::string token;
};

class Client {
 public:
  // Creates the channel (connecting lazily: a dead server shows up as
  // UNAVAILABLE on the first call). Fails only on unreadable TLS files.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  absl::StatusOr<nnserve::v1::PredictResponse> Predict(
      const nnserve::v1::PredictRequest& request);
  absl::StatusOr<nnserve::v1::ListModelsResponse> ListModels();
  absl::StatusOr<nnserve::v1::ModelInfoResponse> ModelInfo(
      const nnserve::v1::ModelInfoRequest& request);
  // The model file's bytes in response.data (any size: the channel takes
  // replies of any length).
  absl::StatusOr<nnserve::v1::ExportModelResponse> ExportModel(
      const nnserve::v1::ExportModelRequest& request);

  // The Open Inference Protocol's inference.GRPCInferenceService on the
  // same channel (client/v2_requests.h builds the requests).
  absl::StatusOr<inference::ModelInferResponse> ModelInfer(
      const inference::ModelInferRequest& request);
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(
      const std::string& model, const std::string& version);

  // Called with each message of a training stream, in order. Returning false
  // stops reading: the call is cancelled on the client side and the job keeps
  // running on the server (reattach with WatchTraining).
  using ProgressCallback =
      std::function<bool(const nnserve::v1::TrainProgress& progress)>;

  // Starts a job and streams its progress to `on_progress`. Returns OK when
  // the stream ended with the job's result or when `on_progress` stopped it;
  // otherwise the status the stream ended with (e.g. CANCELLED when the job
  // was cancelled, INVALID_ARGUMENT for a bad spec).
  absl::Status Train(const nnserve::v1::TrainRequest& request,
                     const ProgressCallback& on_progress);
  // Streams an existing job's progress; same contract as Train.
  absl::Status WatchTraining(const std::string& job_id,
                             const ProgressCallback& on_progress);
  absl::StatusOr<nnserve::v1::TrainingJob> CancelTraining(
      const std::string& job_id);
  absl::StatusOr<nnserve::v1::ListTrainingJobsResponse> ListTrainingJobs();

  // grpc.health.v1.Health/Check for `service` ("" = the whole server).
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(
      const std::string& service);

  const ClientOptions& options() const { return options_; }

 private:
  Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel);

  // A context with the unary deadline and, if `authorize`, the token.
  std::unique_ptr<grpc::ClientContext> NewContext(bool unary,
                                                  bool authorize) const;
  // Reads `reader` to its end; see Train.
  absl::Status ReadProgress(
      grpc::ClientContext& context,
      grpc::ClientReaderInterface<nnserve::v1::TrainProgress>& reader,
      const ProgressCallback& on_progress);

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<nnserve::v1::InferenceService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_stub_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> v2_stub_;
};

}  // namespace nn

#endif  // NNSERVE_CLIENT_CLIENT_H_
