#include "server/inference_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/grpc_status.h"
#include "server/image_decoding.h"
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

absl::Time ToAbslDeadline(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// One Predict in flight: owns its request, decoded input, output buffer and
// reply, and the handle that keeps its model version alive until the reply
// is finished.
struct PredictCall {
  grpc::ServerUnaryReactor* reactor = nullptr;
  PredictRequest request;
  PredictResponse response;
  grpc::ByteBuffer* response_bytes = nullptr;  // gRPC's, for the reply
  std::shared_ptr<ServableVersion> servable;
  std::vector<float> input;
  std::vector<float> output;
  int64_t num_images = 0;
  int top_k = 0;
  absl::Time start;
};

// Fills the reply from the probabilities: argmax (lowest index on ties),
// probabilities, and top-k by descending probability.
void FillPredictions(PredictCall& call) {
  const std::vector<std::string>& labels = call.servable->labels();
  const int num_classes = static_cast<int>(labels.size());
  call.response.set_model(call.servable->model_name());
  call.response.set_version(call.servable->version());
  std::vector<int> order(num_classes);
  for (int64_t i = 0; i < call.num_images; ++i) {
    const float* p = call.output.data() + i * num_classes;
    nnserve::v1::Prediction* prediction = call.response.add_predictions();
    const int best =
        static_cast<int>(std::max_element(p, p + num_classes) - p);
    prediction->set_class_index(best);
    prediction->set_label(labels[best]);
    prediction->set_confidence(p[best]);
    prediction->mutable_probabilities()->Add(p, p + num_classes);
    if (call.top_k > 0) {
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [p](int a, int b) { return p[a] > p[b]; });
      for (int k = 0; k < call.top_k; ++k) {
        nnserve::v1::ClassScore* score = prediction->add_top_k();
        score->set_class_index(order[k]);
        score->set_label(labels[order[k]]);
        score->set_probability(p[order[k]]);
      }
    }
  }
}

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
  auto call = std::make_unique<PredictCall>();
  call->response_bytes = response_bytes;
  call->start = start;
  const absl::Status parsed = ParseRequest(*request_bytes, &call->request);
  const PredictRequest* request = &call->request;
  // Finishes a call that never reached a model version.
  auto fail = [&](const absl::Status& status) {
    predicts_finished_.fetch_add(1, std::memory_order_relaxed);
    RecordRpc(metrics::Method::kPredict, parsed.ok() ? request->model() : "",
              status.code(), start);
    return FinishNow(context, status);
  };
  if (!parsed.ok()) return fail(parsed);
  if (!ready_.load()) {
    return fail(absl::UnavailableError("server is starting: models are loading"));
  }
  if (absl::Status s = ValidateModelName(request->model()); !s.ok()) {
    return fail(s);
  }
  if (absl::Status s = ValidateVersionNumber("version", request->version());
      !s.ok()) {
    return fail(s);
  }
  absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
      repository_->Get(request->model(), request->version());
  if (!servable.ok()) return fail(servable.status());

  call->servable = *std::move(servable);
  VersionMetrics* version_metrics = call->servable->metrics();
  // Records a call that reached a version but was not queued; `reason` null
  // for a bad request (not a rejection).
  auto record_rejection = [&](const absl::Status& status,
                              const metrics::RejectReason* reason) {
    predicts_finished_.fetch_add(1, std::memory_order_relaxed);
    if (version_metrics != nullptr) {
      if (reason != nullptr) version_metrics->RecordRejected(*reason);
      version_metrics->RecordPredict(status.code(), absl::Now() - start);
    }
  };
  // ... and finishes it (before the call's reactor was taken).
  auto reject = [&](const absl::Status& status,
                    const metrics::RejectReason* reason) {
    record_rejection(status, reason);
    return FinishNow(context, status);
  };
  const Model& model = call->servable->model();
  const int num_classes = static_cast<int>(call->servable->labels().size());
  if (request->top_k() < 0 || request->top_k() > num_classes) {
    return reject(absl::InvalidArgumentError(absl::StrCat(
                      "top_k: ", request->top_k(), " is outside [0, ",
                      num_classes, "]")),
                  nullptr);
  }
  call->top_k = request->top_k();

  ImageDecodingOptions decoding;
  decoding.height = model.input_height();
  decoding.width = model.input_width();
  decoding.max_images = options_.max_images_per_request;
  absl::StatusOr<int64_t> n =
      DecodeImages(request->images(), decoding, &call->input);
  if (!n.ok()) {
    constexpr auto kTooLarge = metrics::RejectReason::kTooLarge;
    return reject(n.status(), n.status().code() ==
                                      absl::StatusCode::kResourceExhausted
                                  ? &kTooLarge
                                  : nullptr);
  }
  call->num_images = *n;
  call->output.resize(*n * num_classes);

  const absl::Time deadline = ToAbslDeadline(context->deadline());
  if (deadline <= absl::Now()) {
    constexpr auto kReason = metrics::RejectReason::kDeadlineExceeded;
    return reject(absl::DeadlineExceededError(
                      "deadline expired before the request was queued"),
                  &kReason);
  }
  if (context->IsCancelled()) {
    constexpr auto kReason = metrics::RejectReason::kCancelled;
    return reject(absl::CancelledError("call cancelled"), &kReason);
  }

  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  call->reactor = reactor;
  PredictCall* raw = call.get();
  BatchTask task;
  task.num_images = raw->num_images;
  task.input = absl::MakeConstSpan(raw->input);
  task.output = absl::MakeSpan(raw->output);
  task.deadline = deadline;
  task.is_cancelled = [context] { return context->IsCancelled(); };
  task.done = [this, raw](absl::Status status) {
    std::unique_ptr<PredictCall> owned(raw);
    if (status.ok()) {
      FillPredictions(*owned);
      status = SerializeResponse(owned->response, owned->response_bytes);
    }
    if (VersionMetrics* m = owned->servable->metrics()) {
      m->RecordPredict(status.code(), absl::Now() - owned->start);
    }
    // Counted before Finish: once finished, a draining server may stop.
    predicts_finished_.fetch_add(1, std::memory_order_relaxed);
    owned->reactor->Finish(ToGrpcStatus(status));
    // `owned` (and with it the model version handle) goes here, after the
    // reply is finished.
  };
  // The fast path: computed here, or by another thread's run that this call
  // follows (Batcher::RunInlineOrFollow).
  ServableVersion* version = raw->servable.get();
  if (BatchProcessor* processor = version->ThreadProcessor();
      processor != nullptr &&
      version->batcher().RunInlineOrFollow(task, *processor)) {
    call.release();  // owned by the task's `done` (which may have run)
    return reactor;
  }
  // Keep the version (the call may finish on a worker before Schedule
  // returns) to build this thread's fast-path processor afterwards.
  std::shared_ptr<ServableVersion> keep = raw->servable;
  absl::Status scheduled = version->batcher().Schedule(std::move(task));
  if (scheduled.ok()) {
    call.release();  // owned by the task's `done` now
    keep->PrepareThreadProcessor();
    return reactor;
  }
  {
    // Not queued: `done` will never run, so the call is still ours.
    const metrics::RejectReason reason =
        scheduled.code() == absl::StatusCode::kResourceExhausted
            ? metrics::RejectReason::kTooLarge
        : absl::StrContains(scheduled.message(), "queue full")
            ? metrics::RejectReason::kQueueFull
            : metrics::RejectReason::kDraining;
    // The reactor was taken above: finish through it (taking the default
    // reactor twice is an error).
    record_rejection(scheduled, &reason);
    reactor->Finish(ToGrpcStatus(scheduled));
    return reactor;
  }
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

absl::Duration ProgressInterval(int millis) {
  return absl::Milliseconds(millis > 0 ? millis : 250);
}

}  // namespace

absl::Status InferenceServiceImpl::AuthorizeTraining(
    const grpc::CallbackServerContext& context) const {
  if (training_ == nullptr) return TrainingDisabled();
  return training_->Authorize(Authorization(context));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceServiceImpl::Train(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  const absl::Time start = absl::Now();
  nnserve::v1::TrainRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    RecordRpc(metrics::Method::kTrain, "", parsed.code(), start);
    return new FailedWriteReactor(ToGrpcStatus(parsed));
  }
  absl::StatusOr<std::shared_ptr<TrainingJob>> job =
      absl::UnknownError("not started");
  if (absl::Status status = AuthorizeTraining(*context); status.ok()) {
    job = training_->Start(request);
  } else {
    job = status;
  }
  RecordRpc(metrics::Method::kTrain, request.model(), job.status().code(),
            start);
  if (!job.ok()) return new FailedWriteReactor(ToGrpcStatus(job.status()));
  return TrainingStream::Start(*std::move(job), /*first_event=*/0,
                               /*snapshot_first=*/false,
                               ProgressInterval(request.progress_interval_millis()));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceServiceImpl::WatchTraining(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  const absl::Time start = absl::Now();
  nnserve::v1::WatchTrainingRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    RecordRpc(metrics::Method::kWatchTraining, "", parsed.code(), start);
    return new FailedWriteReactor(ToGrpcStatus(parsed));
  }
  // (A StatusOr cannot hold an OK status without a value.)
  using JobOr = absl::StatusOr<std::shared_ptr<TrainingJob>>;
  const absl::Status authorized = AuthorizeTraining(*context);
  JobOr job = authorized.ok() ? training_->Find(request.job_id())
                              : JobOr(authorized);
  RecordRpc(metrics::Method::kWatchTraining, job.ok() ? (*job)->model() : "",
            job.status().code(), start);
  if (!job.ok()) return new FailedWriteReactor(ToGrpcStatus(job.status()));
  // From the current state on: a snapshot first, then new events; a job that
  // has succeeded also resends its result.
  std::vector<TrainProgress> events = (*job)->EventsFrom(0);
  size_t first = events.size();
  if ((*job)->ended(nullptr) && !events.empty() &&
      events.back().has_result()) {
    first = events.size() - 1;
  }
  return TrainingStream::Start(*std::move(job), first, /*snapshot_first=*/true,
                               ProgressInterval(0));
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
  const absl::Time start = absl::Now();
  const absl::Status authorized = AuthorizeTraining(context);
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
  const absl::Time start = absl::Now();
  absl::Status status = AuthorizeTraining(context);
  if (status.ok()) {
    for (nnserve::v1::TrainingJob& job : training_->List()) {
      *response->add_jobs() = std::move(job);
    }
  }
  RecordRpc(metrics::Method::kListTrainingJobs, "", status.code(), start);
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
