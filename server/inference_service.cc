#include "server/inference_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/grpc_status.h"
#include "engine/onnx/onnx_export.h"
#include "google/protobuf/arena.h"
#include "server/image_decoding.h"
#include "server/inference_call.h"
#include "server/metrics/metric_names.h"
#include "server/serving_metrics.h"
#include "server/training_service.h"
#include "server/training_stream.h"
#include "server/wire_messages.h"

namespace nn {
namespace {

using ::nnserve::v1::PredictRequest;
using ::nnserve::v1::PredictResponse;
using ::nnserve::v1::TrainProgress;

// A streaming reply that fails at once (training disabled, ...).
class FailedWriteReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FailedWriteReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status TrainingDisabled() {
  return absl::FailedPreconditionError(
      "training is disabled on this server (start nnserve with "
      "--enable_training)");
}

// One nnserve.v1 Predict in flight: the wire request and reply around the
// protocol-independent call (inference_call.h), which owns the decoded
// input, the probabilities and the version handle until the reply is
// finished.
//
// As V2's GrpcInferCall: the request and the reply each live on a protobuf
// arena whose first block is part of the call, so the messages, their
// sub-messages, repeated fields and strings' headers are that one
// allocation, freed at once; the reply's arena is made where the reply is
// written (an arena takes a new block for each thread that allocates from
// it, and under load the reply is written on a batch worker). A float
// tensor's values are computed from where they were parsed (UseInput).
class PredictCall final : public InferenceCall {
 public:
  PredictCall(absl::Time start, grpc::ServerUnaryReactor* reactor,
              grpc::ByteBuffer* response_bytes,
              std::atomic<int64_t>* finished)
      : InferenceCall(start),
        reactor_(reactor),
        response_bytes_(response_bytes),
        finished_(finished),
        request_arena_(request_block_, sizeof request_block_),
        request_(google::protobuf::Arena::CreateMessage<PredictRequest>(
            &request_arena_)) {}

  PredictRequest& request() { return *request_; }
  int top_k = 0;

 private:
  // One 28x28 image as a float tensor is 3,136 bytes of values, parsed
  // into one reservation; with the messages, the shape, the model's name
  // and the arena's own header it fits in 4 KB. Larger requests (more
  // images) take further blocks. One image's reply (10 probabilities, a
  // label) fits in 1 KB.
  static constexpr size_t kRequestBlockBytes = 4096;
  static constexpr size_t kResponseBlockBytes = 1024;

  // Fills the reply from the probabilities: argmax (lowest index on ties),
  // probabilities, and top-k by descending probability (lowest index first
  // on ties).
  absl::Status WriteReply() override {
    const std::vector<std::string>& labels = servable().labels();
    const int num_classes = static_cast<int>(labels.size());
    response_arena_.emplace(response_block_, sizeof response_block_);
    auto* response =
        google::protobuf::Arena::CreateMessage<PredictResponse>(
            &*response_arena_);
    response->set_model(servable().model_name());
    response->set_version(servable().version());
    response->mutable_predictions()->Reserve(static_cast<int>(num_images()));
    // The class order is built only when top-k scores are asked for.
    std::vector<int> order(top_k > 0 ? num_classes : 0);
    const float* output = probabilities().data();
    for (int64_t i = 0; i < num_images(); ++i) {
      const float* p = output + i * num_classes;
      nnserve::v1::Prediction* prediction = response->add_predictions();
      const int best =
          static_cast<int>(std::max_element(p, p + num_classes) - p);
      prediction->set_class_index(best);
      prediction->set_label(labels[best]);
      prediction->set_confidence(p[best]);
      prediction->mutable_probabilities()->Add(p, p + num_classes);
      if (top_k > 0) {
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [p](int a, int b) { return p[a] > p[b]; });
        prediction->mutable_top_k()->Reserve(top_k);
        for (int k = 0; k < top_k; ++k) {
          nnserve::v1::ClassScore* score = prediction->add_top_k();
          score->set_class_index(order[k]);
          score->set_label(labels[order[k]]);
          score->set_probability(p[order[k]]);
        }
      }
    }
    return SerializeResponse(*response, response_bytes_);
  }

  void Finish(const absl::Status& status) override {
    // Counted before Finish: once finished, a draining server may stop.
    finished_->fetch_add(1, std::memory_order_relaxed);
    reactor_->Finish(ToGrpcStatus(status));
  }

  grpc::ServerUnaryReactor* const reactor_;
  grpc::ByteBuffer* const response_bytes_;  // gRPC's, for the reply
  std::atomic<int64_t>* const finished_;
  // Declared in this order: each block before the arena that uses it, an
  // arena before the message it owns (which it frees, not their
  // destructors).
  alignas(8) char request_block_[kRequestBlockBytes];
  alignas(8) char response_block_[kResponseBlockBytes];
  google::protobuf::Arena request_arena_;
  PredictRequest* const request_;
  std::optional<google::protobuf::Arena> response_arena_;  // WriteReply's
};

}  // namespace

InferenceServiceImpl::InferenceServiceImpl(Options options,
                                           ModelRepository* repository,
                                           TrainingService* training,
                                           ServingMetrics* metrics)
    : options_(options),
      repository_(repository),
      training_(training),
      metrics_(metrics) {}

grpc::ServerUnaryReactor* InferenceServiceImpl::Predict(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  const absl::Time start = absl::Now();
  predicts_accepted_.fetch_add(1, std::memory_order_relaxed);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_unique<PredictCall>(start, reactor, response_bytes,
                                            &predicts_finished_);
  const absl::Status parsed = ParseRequest(*request_bytes, &call->request());
  const PredictRequest& request = call->request();
  // Finishes a call that never reached a model version.
  auto fail = [&](const absl::Status& status) {
    predicts_finished_.fetch_add(1, std::memory_order_relaxed);
    RecordRpc(metrics::Method::kPredict, parsed.ok() ? request.model() : "",
              status.code(), start);
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  };
  if (!parsed.ok()) return fail(parsed);
  if (!ready_.load()) {
    return fail(absl::UnavailableError("server is starting: models are loading"));
  }
  absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
      ResolveVersion(*repository_, request.model(), request.version());
  if (!servable.ok()) return fail(servable.status());
  call->Attach(*std::move(servable));

  // From here on the call ends in its Finish (inference_call.h).
  const int num_classes = static_cast<int>(call->servable().labels().size());
  if (request.top_k() < 0 || request.top_k() > num_classes) {
    absl::Status bad = absl::InvalidArgumentError(absl::StrCat(
        "top_k: ", request.top_k(), " is outside [0, ", num_classes, "]"));
    InferenceCall::Fail(std::move(call), std::move(bad));
    return reactor;
  }
  call->top_k = request.top_k();
  // A float tensor is not copied: the call computes it where it was parsed
  // (the request lives as long as the call).
  absl::Span<const float> input;
  absl::StatusOr<int64_t> images =
      DecodeImagesView(request.images(),
                       call->decoding(options_.max_images_per_request),
                       &call->input(), &input);
  if (!images.ok()) {
    InferenceCall::Fail(std::move(call), images.status());
    return reactor;
  }
  call->UseInput(input);
  InferenceCall::Submit(std::move(call), *images,
                        ToAbslDeadline(context->deadline()),
                        [context] { return context->IsCancelled(); });
  return reactor;
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* InferenceServiceImpl::Unary(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes, metrics::Method method,
    absl::Status (InferenceServiceImpl::*handle)(
        const grpc::CallbackServerContext&, const Request&, Response*)) {
  const absl::Time start = absl::Now();
  Request request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    RecordRpc(method, "", parsed.code(), start);
    return FinishNow(context, parsed);
  }
  Response response;
  absl::Status status = (this->*handle)(*context, request, &response);
  if (status.ok()) status = SerializeResponse(response, response_bytes);
  return FinishNow(context, status);
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ListModels(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, metrics::Method::kListModels,
               &InferenceServiceImpl::HandleListModels);
}

absl::Status InferenceServiceImpl::HandleListModels(
    const grpc::CallbackServerContext& /*context*/,
    const nnserve::v1::ListModelsRequest& request,
    nnserve::v1::ListModelsResponse* response) {
  return AnswerListModels(request, response);
}

absl::Status InferenceServiceImpl::AnswerListModels(
    const nnserve::v1::ListModelsRequest& /*request*/,
    nnserve::v1::ListModelsResponse* response) {
  const absl::Time start = absl::Now();
  for (nnserve::v1::ModelStatus& status : repository_->ListModels()) {
    *response->add_models() = std::move(status);
  }
  RecordRpc(metrics::Method::kListModels, "", absl::StatusCode::kOk, start);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelInfo(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, metrics::Method::kModelInfo,
               &InferenceServiceImpl::HandleModelInfo);
}

absl::Status InferenceServiceImpl::HandleModelInfo(
    const grpc::CallbackServerContext& /*context*/,
    const nnserve::v1::ModelInfoRequest& request,
    nnserve::v1::ModelInfoResponse* response) {
  return AnswerModelInfo(request, response);
}

absl::Status InferenceServiceImpl::AnswerModelInfo(
    const nnserve::v1::ModelInfoRequest& request,
    nnserve::v1::ModelInfoResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status result = ValidateModelName(request.model());
  if (result.ok()) {
    result = ValidateVersionNumber("version", request.version());
  }
  if (result.ok()) {
    absl::StatusOr<nnserve::v1::ModelStatus> status =
        repository_->ModelInfo(request.model(), request.version());
    if (status.ok()) {
      *response->mutable_model() = *std::move(status);
      if (training_ != nullptr) {
        for (nnserve::v1::TrainingJob& job : training_->List(request.model())) {
          *response->add_training_jobs() = std::move(job);
        }
      }
    } else {
      result = status.status();
    }
  }
  RecordRpc(metrics::Method::kModelInfo, request.model(), result.code(),
            start);
  return result;
}

namespace {

std::string Authorization(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  return it == metadata.end() ? "" : std::string(it->second.data(),
                                                 it->second.size());
}

}  // namespace

absl::Status InferenceServiceImpl::AuthorizeTraining(
    const std::string& authorization) const {
  if (training_ == nullptr) return TrainingDisabled();
  return training_->Authorize(authorization);
}

absl::StatusOr<std::shared_ptr<TrainingJob>> InferenceServiceImpl::AnswerTrain(
    const std::string& authorization, const nnserve::v1::TrainRequest& request) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<TrainingJob>> job =
      absl::UnknownError("not started");
  if (absl::Status status = AuthorizeTraining(authorization); status.ok()) {
    job = training_->Start(request);
  } else {
    job = status;
  }
  RecordRpc(metrics::Method::kTrain, request.model(), job.status().code(),
            start);
  return job;
}

absl::StatusOr<std::shared_ptr<TrainingJob>>
InferenceServiceImpl::AnswerWatchTraining(
    const std::string& authorization,
    const nnserve::v1::WatchTrainingRequest& request, size_t* first_event) {
  const absl::Time start = absl::Now();
  // (A StatusOr cannot hold an OK status without a value.)
  using JobOr = absl::StatusOr<std::shared_ptr<TrainingJob>>;
  const absl::Status authorized = AuthorizeTraining(authorization);
  JobOr job = authorized.ok() ? training_->Find(request.job_id())
                              : JobOr(authorized);
  RecordRpc(metrics::Method::kWatchTraining, job.ok() ? (*job)->model() : "",
            job.status().code(), start);
  if (!job.ok()) return job;
  // From the current state on: a snapshot first, then new events; a job that
  // has succeeded also resends its result.
  std::vector<TrainProgress> events = (*job)->EventsFrom(0);
  *first_event = events.size();
  if ((*job)->ended(nullptr) && !events.empty() &&
      events.back().has_result()) {
    *first_event = events.size() - 1;
  }
  return job;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceServiceImpl::Train(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  nnserve::v1::TrainRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    RecordRpc(metrics::Method::kTrain, "", parsed.code(), absl::Now());
    return new FailedWriteReactor(ToGrpcStatus(parsed));
  }
  absl::StatusOr<std::shared_ptr<TrainingJob>> job =
      AnswerTrain(Authorization(*context), request);
  if (!job.ok()) return new FailedWriteReactor(ToGrpcStatus(job.status()));
  return TrainingStream::Start(*std::move(job), /*first_event=*/0,
                               /*snapshot_first=*/false,
                               ProgressIntervalFromMillis(request.progress_interval_millis()));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceServiceImpl::WatchTraining(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  nnserve::v1::WatchTrainingRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    RecordRpc(metrics::Method::kWatchTraining, "", parsed.code(), absl::Now());
    return new FailedWriteReactor(ToGrpcStatus(parsed));
  }
  size_t first = 0;
  absl::StatusOr<std::shared_ptr<TrainingJob>> job =
      AnswerWatchTraining(Authorization(*context), request, &first);
  if (!job.ok()) return new FailedWriteReactor(ToGrpcStatus(job.status()));
  return TrainingStream::Start(*std::move(job), first, /*snapshot_first=*/true,
                               ProgressIntervalFromMillis(0));
}

grpc::ServerUnaryReactor* InferenceServiceImpl::CancelTraining(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, metrics::Method::kCancelTraining,
               &InferenceServiceImpl::HandleCancelTraining);
}

absl::Status InferenceServiceImpl::HandleCancelTraining(
    const grpc::CallbackServerContext& context,
    const nnserve::v1::CancelTrainingRequest& request,
    nnserve::v1::CancelTrainingResponse* response) {
  return AnswerCancelTraining(Authorization(context), request, response);
}

absl::Status InferenceServiceImpl::AnswerCancelTraining(
    const std::string& authorization,
    const nnserve::v1::CancelTrainingRequest& request,
    nnserve::v1::CancelTrainingResponse* response) {
  const absl::Time start = absl::Now();
  const absl::Status authorized = AuthorizeTraining(authorization);
  absl::StatusOr<nnserve::v1::TrainingJob> job =
      authorized.ok() ? training_->Cancel(request.job_id())
                      : absl::StatusOr<nnserve::v1::TrainingJob>(authorized);
  RecordRpc(metrics::Method::kCancelTraining, job.ok() ? job->model() : "",
            job.status().code(), start);
  if (!job.ok()) return job.status();
  *response->mutable_job() = *std::move(job);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ListTrainingJobs(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, metrics::Method::kListTrainingJobs,
               &InferenceServiceImpl::HandleListTrainingJobs);
}

absl::Status InferenceServiceImpl::HandleListTrainingJobs(
    const grpc::CallbackServerContext& context,
    const nnserve::v1::ListTrainingJobsRequest& /*request*/,
    nnserve::v1::ListTrainingJobsResponse* response) {
  return AnswerListTrainingJobs(Authorization(context), response);
}

absl::Status InferenceServiceImpl::AnswerListTrainingJobs(
    const std::string& authorization,
    nnserve::v1::ListTrainingJobsResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = AuthorizeTraining(authorization);
  if (status.ok()) {
    for (nnserve::v1::TrainingJob& job : training_->List()) {
      *response->add_jobs() = std::move(job);
    }
  }
  RecordRpc(metrics::Method::kListTrainingJobs, "", status.code(), start);
  return status;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ExportModel(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, metrics::Method::kExportModel,
               &InferenceServiceImpl::HandleExportModel);
}

absl::Status InferenceServiceImpl::HandleExportModel(
    const grpc::CallbackServerContext& /*context*/,
    const nnserve::v1::ExportModelRequest& request,
    nnserve::v1::ExportModelResponse* response) {
  const absl::Time start = absl::Now();
  auto run = [&]() -> absl::Status {
    RETURN_IF_ERROR(ValidateModelName(request.model()));
    RETURN_IF_ERROR(ValidateVersionNumber("version", request.version()));
    if (request.format() != nnserve::v1::EXPORT_FORMAT_ONNX) {
      return absl::InvalidArgumentError(absl::StrCat(
          "format: ", static_cast<int>(request.format()), " (",
          nnserve::v1::ExportFormat_IsValid(request.format())
              ? nnserve::v1::ExportFormat_Name(request.format())
              : std::string("unknown"),
          ") is not an export format; use EXPORT_FORMAT_ONNX"));
    }
    // Only a loaded version exports (a FAILED one has no model): every
    // other answer of Get is NOT_FOUND here, as the RPC documents.
    absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
        repository_->Get(request.model(), request.version());
    if (!servable.ok()) {
      return absl::NotFoundError(servable.status().message());
    }
    // The labels the version serves (config.textproto may override the
    // model's own) go into the file.
    nnserve::v1::SavedModel saved = (*servable)->model().ToSavedModel();
    saved.mutable_spec()->clear_labels();
    for (const std::string& label : (*servable)->labels()) {
      saved.mutable_spec()->add_labels(label);
    }
    ASSIGN_OR_RETURN(std::string bytes, ExportOnnx(saved));
    response->set_model(request.model());
    response->set_version((*servable)->version());
    response->set_format(request.format());
    response->set_data(std::move(bytes));
    return absl::OkStatus();
  };
  absl::Status status = run();
  RecordRpc(metrics::Method::kExportModel, request.model(), status.code(),
            start);
  return status;
}

void InferenceServiceImpl::RecordRpc(metrics::Method method,
                                     const std::string& model,
                                     absl::StatusCode code,
                                     absl::Time start) const {
  if (metrics_ == nullptr) return;
  metrics_->RecordRequest(repository_->HasModel(model) ? model : "", method,
                          code, absl::Now() - start);
}

}  // namespace nn
