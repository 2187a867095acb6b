#include "server/serving_metrics.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/metrics/metric_names.h"
#include "server/metrics/process_collector.h"

namespace nn {
namespace {

constexpr char kPredict[] = "Predict";

const char* StateLabel(nnserve::v1::VersionState state) {
  switch (state) {
    case nnserve::v1::VERSION_STATE_LOADING:
      return metrics::kModelStateLoading;
    case nnserve::v1::VERSION_STATE_AVAILABLE:
      return metrics::kModelStateAvailable;
    case nnserve::v1::VERSION_STATE_FAILED:
      return metrics::kModelStateFailed;
    case nnserve::v1::VERSION_STATE_UNLOADING:
      return metrics::kModelStateUnloading;
    default:
      return nullptr;  // gone
  }
}

// Metrics must never take the server down: a failed Add (impossible with
// the fixed label sets used here) is logged once and the value dropped.
template <typename T>
T* AddOrNull(metrics::Family<T>* family, const metrics::Labels& labels) {
  absl::StatusOr<T*> series = family->Add(labels);
  if (!series.ok()) {
    NN_LOG(ERROR) << "metrics: " << series.status();
    return nullptr;
  }
  return *series;
}

const char* JobStateLabel(nnserve::v1::JobState state) {
  switch (state) {
    case nnserve::v1::JOB_STATE_QUEUED:
      return metrics::kTrainingStateQueued;
    case nnserve::v1::JOB_STATE_RUNNING:
    case nnserve::v1::JOB_STATE_PUBLISHING:
      return metrics::kTrainingStateRunning;
    case nnserve::v1::JOB_STATE_SUCCEEDED:
      return metrics::kTrainingStateSucceeded;
    case nnserve::v1::JOB_STATE_FAILED:
      return metrics::kTrainingStateFailed;
    case nnserve::v1::JOB_STATE_CANCELLED:
      return metrics::kTrainingStateCancelled;
    default:
      return nullptr;
  }
}

}  // namespace

const char* StatusCodeName(absl::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",          "UNKNOWN",
      "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",          "OUT_OF_RANGE",
      "UNIMPLEMENTED",      "INTERNAL",          "UNAVAILABLE",
      "DATA_LOSS",          "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<ServingMetrics>> ServingMetrics::Create(
    metrics::Registry* registry) {
  std::unique_ptr<ServingMetrics> m(new ServingMetrics(registry));
  ASSIGN_OR_RETURN(m->requests_,
                   registry->AddCounterFamily(
                       {metrics::kRequestsTotal,
                        "RPCs finished, by model, version, method and gRPC "
                        "status code.",
                        {"model", "version", "method", "code"}}));
  ASSIGN_OR_RETURN(
      m->request_duration_,
      registry->AddHistogramFamily(
          {metrics::kRequestDurationSeconds,
           "Server-side RPC latency from the handler's start to the reply.",
           {"model", "method"}},
          metrics::LatencyBucketsSeconds()));
  ASSIGN_OR_RETURN(
      m->queue_duration_,
      registry->AddHistogramFamily(
          {metrics::kQueueDurationSeconds,
           "Time a request waited in the batcher's queue before compute.",
           {"model"}},
          metrics::LatencyBucketsSeconds()));
  ASSIGN_OR_RETURN(m->compute_duration_,
                   registry->AddHistogramFamily(
                       {metrics::kComputeDurationSeconds,
                        "Time one batch took to compute.", {"model"}},
                       metrics::LatencyBucketsSeconds()));
  ASSIGN_OR_RETURN(m->batch_size_,
                   registry->AddHistogramFamily(
                       {metrics::kBatchSize, "Images per computed batch.",
                        {"model"}},
                       metrics::BatchSizeBuckets()));
  ASSIGN_OR_RETURN(m->images_, registry->AddCounterFamily(
                                   {metrics::kImagesTotal,
                                    "Images classified.",
                                    {"model", "version"}}));
  ASSIGN_OR_RETURN(m->queue_depth_,
                   registry->AddGaugeFamily(
                       {metrics::kQueueDepth,
                        "Images waiting in the model's batcher queues.",
                        {"model"}}));
  ASSIGN_OR_RETURN(m->rejected_,
                   registry->AddCounterFamily(
                       {metrics::kRejectedTotal,
                        "Requests refused or dropped before compute, by "
                        "reason (queue_full, draining, too_large, "
                        "deadline_exceeded, cancelled).",
                        {"model", "reason"}}));
  ASSIGN_OR_RETURN(m->model_info_,
                   registry->AddGaugeFamily(
                       {metrics::kModelInfo,
                        "1 for each model version the server knows, with its "
                        "state (loading, available, failed, unloading).",
                        {"model", "version", "state"}}));
  ASSIGN_OR_RETURN(m->load_duration_,
                   registry->AddHistogramFamily(
                       {metrics::kModelLoadDurationSeconds,
                        "Time to read, validate and warm up a model version.",
                        {"model"}},
                       metrics::LoadBucketsSeconds()));
  ASSIGN_OR_RETURN(m->training_jobs_,
                   registry->AddGaugeFamily(
                       {metrics::kTrainingJobs,
                        "Training jobs the server knows, by state (queued, "
                        "running, succeeded, failed, cancelled).",
                        {"state"}}));
  ASSIGN_OR_RETURN(m->training_progress_,
                   registry->AddGaugeFamily(
                       {metrics::kTrainingProgressRatio,
                        "Fraction of a training job's batches done, 0..1.",
                        {"job_id", "model"}}));
  ASSIGN_OR_RETURN(m->training_loss_,
                   registry->AddGaugeFamily(
                       {metrics::kTrainingLoss,
                        "Running training loss of a job's current epoch.",
                        {"job_id", "model"}}));
  ASSIGN_OR_RETURN(m->training_accuracy_,
                   registry->AddGaugeFamily(
                       {metrics::kTrainingAccuracy,
                        "Running training accuracy of a job's current epoch, "
                        "0..1.",
                        {"job_id", "model"}}));
  // Every state present from the start, so dashboards show zeros.
  for (const char* state :
       {metrics::kTrainingStateQueued, metrics::kTrainingStateRunning,
        metrics::kTrainingStateSucceeded, metrics::kTrainingStateFailed,
        metrics::kTrainingStateCancelled}) {
    ASSIGN_OR_RETURN(metrics::Gauge * g,
                     m->training_jobs_->Add({{"state", state}}));
    g->Set(0);
  }
  RETURN_IF_ERROR(
      registry->AddCollector(std::make_unique<metrics::ProcessCollector>()));
  return m;
}

metrics::Counter* ServingMetrics::RequestCounter(const std::string& model,
                                                 const std::string& version,
                                                 const char* method,
                                                 absl::StatusCode code) {
  return AddOrNull(requests_, {{"model", model},
                               {"version", version},
                               {"method", method},
                               {"code", StatusCodeName(code)}});
}

void ServingMetrics::RecordRequest(const std::string& model,
                                   const std::string& version,
                                   const char* method, absl::StatusCode code,
                                   absl::Duration latency) {
  if (metrics::Counter* c = RequestCounter(model, version, method, code)) {
    c->Increment();
  }
  if (metrics::Histogram* h = AddOrNull(
          request_duration_, {{"model", model}, {"method", method}})) {
    h->Observe(absl::ToDoubleSeconds(latency));
  }
}

void ServingMetrics::RecordRejected(const std::string& model,
                                    const char* reason) {
  if (metrics::Counter* c =
          AddOrNull(rejected_, {{"model", model}, {"reason", reason}})) {
    c->Increment();
  }
}

void ServingMetrics::OnVersionState(const std::string& model, int64_t version,
                                    nnserve::v1::VersionState state) {
  const std::string v = absl::StrCat(version);
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(model, version);
  auto old = states_.find(key);
  if (old != states_.end()) {
    model_info_->Remove({{"model", model}, {"version", v}, {"state", old->second}});
    states_.erase(old);
  }
  if (const char* label = StateLabel(state)) {
    if (metrics::Gauge* g = AddOrNull(
            model_info_, {{"model", model}, {"version", v}, {"state", label}})) {
      g->Set(1);
    }
    states_[key] = label;
  }
}

void ServingMetrics::OnVersionLoaded(const std::string& model,
                                     absl::Duration load_time) {
  if (metrics::Histogram* h = AddOrNull(load_duration_, {{"model", model}})) {
    h->Observe(absl::ToDoubleSeconds(load_time));
  }
}

VersionMetrics* ServingMetrics::MetricsFor(const std::string& model,
                                           int64_t version) {
  return ForVersion(model, version);
}

VersionMetrics* ServingMetrics::ForVersion(const std::string& model,
                                           int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<VersionMetrics>& slot = versions_[{model, version}];
  if (slot == nullptr) {
    slot.reset(new VersionMetrics(this, model, absl::StrCat(version)));
  }
  return slot.get();
}

void ServingMetrics::OnTrainingJobState(const std::string& /*job*/,
                                        const std::string& /*model*/,
                                        nnserve::v1::JobState old_state,
                                        nnserve::v1::JobState new_state) {
  const char* old_label = JobStateLabel(old_state);
  const char* new_label = JobStateLabel(new_state);
  if (old_label == new_label) return;
  if (old_label != nullptr) {
    if (metrics::Gauge* g = AddOrNull(training_jobs_, {{"state", old_label}})) {
      g->Decrement();
    }
  }
  if (new_label != nullptr) {
    if (metrics::Gauge* g = AddOrNull(training_jobs_, {{"state", new_label}})) {
      g->Increment();
    }
  }
}

void ServingMetrics::OnTrainingProgress(const std::string& job,
                                        const std::string& model,
                                        double progress_ratio, double loss,
                                        double accuracy) {
  const metrics::Labels labels = {{"job_id", job}, {"model", model}};
  if (metrics::Gauge* g = AddOrNull(training_progress_, labels)) {
    g->Set(progress_ratio);
  }
  if (metrics::Gauge* g = AddOrNull(training_loss_, labels)) g->Set(loss);
  if (metrics::Gauge* g = AddOrNull(training_accuracy_, labels)) {
    g->Set(accuracy);
  }
}

void ServingMetrics::ForgetTrainingJob(const std::string& job,
                                       const std::string& model,
                                       nnserve::v1::JobState state) {
  OnTrainingJobState(job, model, state, nnserve::v1::JOB_STATE_UNSPECIFIED);
  const metrics::Labels labels = {{"job_id", job}, {"model", model}};
  training_progress_->Remove(labels);
  training_loss_->Remove(labels);
  training_accuracy_->Remove(labels);
}

VersionMetrics::VersionMetrics(ServingMetrics* owner, std::string model,
                               std::string version)
    : owner_(owner), model_(std::move(model)), version_(std::move(version)) {
  request_duration_ = AddOrNull(owner_->request_duration_,
                                {{"model", model_}, {"method", kPredict}});
  queue_duration_ = AddOrNull(owner_->queue_duration_, {{"model", model_}});
  compute_duration_ = AddOrNull(owner_->compute_duration_, {{"model", model_}});
  batch_size_ = AddOrNull(owner_->batch_size_, {{"model", model_}});
  images_ = AddOrNull(owner_->images_, {{"model", model_}, {"version", version_}});
  queue_depth_ = AddOrNull(owner_->queue_depth_, {{"model", model_}});
}

void VersionMetrics::RecordPredict(absl::StatusCode code,
                                   absl::Duration latency) {
  const int index = static_cast<int>(code);
  if (index >= 0 && index < 17) {
    metrics::Counter* counter =
        requests_by_code_[index].load(std::memory_order_acquire);
    if (counter == nullptr) {
      // First use of this code: resolve once (racing threads get the same
      // pointer from the family).
      counter = owner_->RequestCounter(model_, version_, kPredict, code);
      requests_by_code_[index].store(counter, std::memory_order_release);
    }
    if (counter != nullptr) counter->Increment();
  }
  if (request_duration_ != nullptr) {
    request_duration_->Observe(absl::ToDoubleSeconds(latency));
  }
}

void VersionMetrics::RecordRejected(const char* reason) {
  owner_->RecordRejected(model_, reason);
}

void VersionMetrics::OnTaskStarted(absl::Duration queued) {
  if (queue_duration_ != nullptr) {
    queue_duration_->Observe(absl::ToDoubleSeconds(queued));
  }
}

void VersionMetrics::OnBatchComputed(int64_t images, absl::Duration compute) {
  if (compute_duration_ != nullptr) {
    compute_duration_->Observe(absl::ToDoubleSeconds(compute));
  }
  if (batch_size_ != nullptr) batch_size_->Observe(static_cast<double>(images));
  if (images_ != nullptr) images_->Increment(static_cast<double>(images));
}

void VersionMetrics::OnTaskDropped(absl::StatusCode why) {
  RecordRejected(why == absl::StatusCode::kCancelled
                     ? metrics::kRejectReasonCancelled
                     : metrics::kRejectReasonDeadlineExceeded);
}

void VersionMetrics::OnQueueDepthChanged(int64_t queued_images) {
  // The model's gauge sums its versions: apply this version's change.
  const int64_t previous = last_queue_depth_.exchange(queued_images);
  if (queue_depth_ != nullptr) {
    queue_depth_->Increment(static_cast<double>(queued_images - previous));
  }
}

}  // namespace nn
