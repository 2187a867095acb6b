// The gRPC front of nnserve (callback API): parses a request, hands it to
// the protocol-independent request path (InferenceCall, inference_call.h:
// resolve the version, decode, ServableVersion::Submit) and returns; the
// reply is finished from the call's completion (on a batch worker, or at
// once for a rejection or a fast-path compute). No thread is parked per
// request. Domain logic lives in the repository, the servable, the batcher
// and the engine; this class only translates wire <-> call.
#ifndef NNSERVE_SERVER_INFERENCE_SERVICE_H_
#define NNSERVE_SERVER_INFERENCE_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/limits.h"
#include "grpcpp/support/byte_buffer.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "server/metrics/metric_names.h"
#include "server/model_repository.h"

namespace nn {

class TrainingJob;      // server/training_service.h
class TrainingService;  // server/training_service.h
class ServingMetrics;   // server/serving_metrics.h

// Every method raw (bytes in and out; see server/wire_messages.h for why):
// each handler parses its request and serializes its reply. Reflection still
// describes the typed service: it reads the generated descriptors.
using InferenceServiceBase = nnserve::v1::InferenceService::
    WithRawCallbackMethod_Predict<nnserve::v1::InferenceService::
    WithRawCallbackMethod_ListModels<nnserve::v1::InferenceService::
    WithRawCallbackMethod_ModelInfo<nnserve::v1::InferenceService::
    WithRawCallbackMethod_Train<nnserve::v1::InferenceService::
    WithRawCallbackMethod_WatchTraining<nnserve::v1::InferenceService::
    WithRawCallbackMethod_CancelTraining<nnserve::v1::InferenceService::
    WithRawCallbackMethod_ListTrainingJobs<nnserve::v1::InferenceService::
    WithRawCallbackMethod_ExportModel<
        nnserve::v1::InferenceService::Service>>>>>>>>;

// A request whose bytes do not parse as its message gets INVALID_ARGUMENT
// ("request could not be parsed as nnserve.v1.PredictRequest ...") from
// every method.
class InferenceServiceImpl final : public InferenceServiceBase {
 public:
  struct Options {
    // Most images one Predict may carry; more: RESOURCE_EXHAUSTED.
    int64_t max_images_per_request = kDefaultMaxImagesPerRequest;
  };

  // `repository` must outlive the service; `training` and `metrics` may be
  // null (training unavailable / no metrics). Training RPCs go through
  // `training`'s Authorize (disabled: FAILED_PRECONDITION; token missing or
  // wrong: UNAUTHENTICATED).
  InferenceServiceImpl(Options options, ModelRepository* repository,
                       TrainingService* training, ServingMetrics* metrics);

  // Until SetReady(true), Predict answers UNAVAILABLE ("starting").
  void SetReady(bool ready) { ready_.store(ready); }

  // Predict calls whose handler ran, and those whose reply was finished
  // (equal when none is in flight). For the drain report.
  int64_t predicts_accepted() const { return predicts_accepted_.load(); }
  int64_t predicts_finished() const { return predicts_finished_.load(); }

  // What ListModels and ModelInfo answer, for the gRPC methods and for their
  // JSON view on the HTTP port (v1_rest_service.h), so both serve the same
  // code. Each counts the RPC (metrics: protocol nnserve.v1). ModelInfo:
  // INVALID_ARGUMENT for a bad name or version number, NOT_FOUND for an
  // unknown model or version. Thread-safe.
  absl::Status AnswerListModels(const nnserve::v1::ListModelsRequest& request,
                                nnserve::v1::ListModelsResponse* response);
  absl::Status AnswerModelInfo(const nnserve::v1::ModelInfoRequest& request,
                               nnserve::v1::ModelInfoResponse* response);

  // What the training RPCs decide, for the gRPC methods and for their HTTP
  // view (v1_training_rest.h), so both run the same checks in the same
  // order and count the same RPCs. `authorization` is the value of the
  // gRPC metadata (or HTTP header) "authorization", "" if absent: training
  // disabled is FAILED_PRECONDITION, a missing or wrong token
  // UNAUTHENTICATED, then TrainingService's own errors. Thread-safe.
  // Train: the started job, streamed from its first event.
  absl::StatusOr<std::shared_ptr<TrainingJob>> AnswerTrain(
      const std::string& authorization,
      const nnserve::v1::TrainRequest& request);
  // WatchTraining: the job and the first logged event to stream after a
  // snapshot of its state (a succeeded job resends its result).
  absl::StatusOr<std::shared_ptr<TrainingJob>> AnswerWatchTraining(
      const std::string& authorization,
      const nnserve::v1::WatchTrainingRequest& request, size_t* first_event);
  absl::Status AnswerCancelTraining(
      const std::string& authorization,
      const nnserve::v1::CancelTrainingRequest& request,
      nnserve::v1::CancelTrainingResponse* response);
  absl::Status AnswerListTrainingJobs(
      const std::string& authorization,
      nnserve::v1::ListTrainingJobsResponse* response);

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelInfo(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Train(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchTraining(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* CancelTraining(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListTrainingJobs(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  // Answers on the calling thread: the export (engine/onnx/onnx_export.h)
  // takes milliseconds for the models nnserve serves.
  grpc::ServerUnaryReactor* ExportModel(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

 private:
  // A unary method that answers at once: parses the request, runs `handle`
  // (which counts the RPC) and serializes its reply. An unparseable request
  // is counted as `method` with model "" and answered INVALID_ARGUMENT.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Unary(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response, metrics::Method method,
      absl::Status (InferenceServiceImpl::*handle)(
          const grpc::CallbackServerContext&, const Request&, Response*));

  absl::Status HandleListModels(const grpc::CallbackServerContext& context,
                                const nnserve::v1::ListModelsRequest& request,
                                nnserve::v1::ListModelsResponse* response);
  absl::Status HandleModelInfo(const grpc::CallbackServerContext& context,
                               const nnserve::v1::ModelInfoRequest& request,
                               nnserve::v1::ModelInfoResponse* response);
  absl::Status HandleCancelTraining(
      const grpc::CallbackServerContext& context,
      const nnserve::v1::CancelTrainingRequest& request,
      nnserve::v1::CancelTrainingResponse* response);
  absl::Status HandleListTrainingJobs(
      const grpc::CallbackServerContext& context,
      const nnserve::v1::ListTrainingJobsRequest& request,
      nnserve::v1::ListTrainingJobsResponse* response);
  absl::Status HandleExportModel(const grpc::CallbackServerContext& context,
                                 const nnserve::v1::ExportModelRequest& request,
                                 nnserve::v1::ExportModelResponse* response);

  absl::Status AuthorizeTraining(const std::string& authorization) const;
  // Counts an RPC that reached no model version, when metrics are on, under
  // `model` if the repository knows that name and under "" otherwise (a
  // client cannot create label values).
  void RecordRpc(metrics::Method method, const std::string& model,
                 absl::StatusCode code, absl::Time start) const;

  const Options options_;
  ModelRepository* const repository_;
  TrainingService* const training_;
  ServingMetrics* const metrics_;
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> predicts_accepted_{0};
  std::atomic<int64_t> predicts_finished_{0};
};

}  // namespace nn

#endif  // NNSERVE_SERVER_INFERENCE_SERVICE_H_
