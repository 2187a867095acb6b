#include "server/serving_metrics.h"

#include <exception>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/mutex.h"

namespace nn {
namespace {

using metrics::Method;
using metrics::Protocol;

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

// The index of a job state's series in training_jobs_by_state_ (the order
// of kTrainingJobStates), or -1 for a job that is not (or no longer) known.
int JobStateIndex(nnserve::v1::JobState state) {
  switch (state) {
    case nnserve::v1::JOB_STATE_QUEUED:
      return 0;
    case nnserve::v1::JOB_STATE_RUNNING:
    case nnserve::v1::JOB_STATE_PUBLISHING:
      return 1;
    case nnserve::v1::JOB_STATE_SUCCEEDED:
      return 2;
    case nnserve::v1::JOB_STATE_FAILED:
      return 3;
    case nnserve::v1::JOB_STATE_CANCELLED:
      return 4;
    default:
      return -1;
  }
}
constexpr const char* kTrainingJobStates[] = {
    metrics::kTrainingStateQueued, metrics::kTrainingStateRunning,
    metrics::kTrainingStateSucceeded, metrics::kTrainingStateFailed,
    metrics::kTrainingStateCancelled};

// Metrics must never take the server down: prometheus-cpp's Family::Add
// throws on invalid label names (impossible with the fixed label sets used
// here); such a failure is logged and the value dropped.
template <typename T, typename... Args>
T* AddOrNull(prometheus::Family<T>* family, const prometheus::Labels& labels,
             Args&&... args) {
  try {
    return &family->Add(labels, std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    NN_LOG(ERROR) << "metrics: cannot add a series to " << family->GetName()
                  << ": " << e.what();
    return nullptr;
  }
}

// Removes `series` (which frees it) if it was ever resolved.
template <typename T>
void RemoveIfSet(prometheus::Family<T>* family, T* series) {
  if (series != nullptr) family->Remove(series);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServingMetrics>> ServingMetrics::Create(
    prometheus::Registry* registry) {
  std::unique_ptr<ServingMetrics> m(new ServingMetrics(registry));
  // Help texts: one line, no backslashes (TextSerializer does not escape).
  try {
    auto counter = [registry](const char* name, const char* help) {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(
          *registry);
    };
    auto gauge = [registry](const char* name, const char* help) {
      return &prometheus::BuildGauge().Name(name).Help(help).Register(
          *registry);
    };
    auto histogram = [registry](const char* name, const char* help) {
      return &prometheus::BuildHistogram().Name(name).Help(help).Register(
          *registry);
    };
    m->requests_ = counter(metrics::kRequestsTotal,
                           "RPCs finished, by model, version, method and "
                           "gRPC status code.");
    m->request_duration_ = histogram(
        metrics::kRequestDurationSeconds,
        "Server-side RPC latency from the handler's start to the reply.");
    m->queue_duration_ = histogram(
        metrics::kQueueDurationSeconds,
        "Time a request waited in the batcher's queue before compute.");
    m->compute_duration_ = histogram(metrics::kComputeDurationSeconds,
                                     "Time one batch took to compute.");
    m->batch_size_ = histogram(metrics::kBatchSize, "Images per computed batch.");
    m->images_ = counter(metrics::kImagesTotal, "Images classified.");
    m->queue_depth_ = gauge(metrics::kQueueDepth,
                            "Images waiting in the model's batcher queues.");
    m->rejected_ = counter(metrics::kRejectedTotal,
                           "Requests refused or dropped before compute, by "
                           "reason (queue_full, draining, too_large, "
                           "deadline_exceeded, cancelled).");
    m->model_info_ = gauge(metrics::kModelInfo,
                           "1 for each model version the server knows, with "
                           "its state (loading, available, failed, "
                           "unloading).");
    m->load_duration_ =
        histogram(metrics::kModelLoadDurationSeconds,
                  "Time to read, validate and warm up a model version.");
    m->training_jobs_ = gauge(metrics::kTrainingJobs,
                              "Training jobs the server knows, by state "
                              "(queued, running, succeeded, failed, "
                              "cancelled).");
    m->training_progress_ =
        gauge(metrics::kTrainingProgressRatio,
              "Fraction of a training job's batches done, 0..1.");
    m->training_loss_ = gauge(metrics::kTrainingLoss,
                              "Running training loss of a job's current "
                              "epoch.");
    m->training_accuracy_ = gauge(metrics::kTrainingAccuracy,
                                  "Running training accuracy of a job's "
                                  "current epoch, 0..1.");
    // Every state present from the start, so dashboards show zeros.
    for (int i = 0; i < 5; ++i) {
      m->training_jobs_by_state_[i] =
          &m->training_jobs_->Add({{"state", kTrainingJobStates[i]}});
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot register the serving metrics: ", e.what()));
  }
  return m;
}

ModelSeries* ServingMetrics::FindOrAddModel(const std::string& model) {
  std::unique_ptr<ModelSeries>& slot = models_[model];
  if (slot == nullptr) {
    slot = std::make_unique<ModelSeries>();
    slot->name = model;
  }
  return slot.get();
}

prometheus::Counter* ServingMetrics::RequestCounter(const std::string& model,
                                                    const std::string& version,
                                                    Method method,
                                                    Protocol protocol,
                                                    absl::StatusCode code) {
  return AddOrNull(requests_, {{"model", model},
                               {"version", version},
                               {"method", metrics::MethodLabel(method)},
                               {"protocol", metrics::ProtocolLabel(protocol)},
                               {"code", StatusCodeName(code)}});
}

prometheus::Histogram* ServingMetrics::RequestDuration(const std::string& model,
                                                       Method method,
                                                       Protocol protocol) {
  return AddOrNull(request_duration_,
                   {{"model", model},
                    {"method", metrics::MethodLabel(method)},
                    {"protocol", metrics::ProtocolLabel(protocol)}},
                   metrics::LatencyBucketsSeconds());
}

prometheus::Counter* ServingMetrics::RejectedCounter(
    const std::string& model, metrics::RejectReason reason) {
  return AddOrNull(rejected_, {{"model", model},
                               {"reason", metrics::RejectReasonLabel(reason)}});
}

prometheus::Gauge* ServingMetrics::TrainingJobsGauge(
    nnserve::v1::JobState state) const {
  const int index = JobStateIndex(state);
  return index < 0 ? nullptr : training_jobs_by_state_[index];
}

void ServingMetrics::RecordRequest(const std::string& model, Method method,
                                   absl::StatusCode code,
                                   absl::Duration latency, Protocol protocol) {
  ModelSeries* series;
  {
    MutexLock lock(mu_);
    series = FindOrAddModel(model);
  }
  const int p = static_cast<int>(protocol);
  const int m = static_cast<int>(method);
  const int c = static_cast<int>(code);
  if (c >= 0 && c < kNumStatusCodes) {
    if (prometheus::Counter* counter =
            series->unversioned_requests[p][m][c].Get([&] {
              return RequestCounter(model, "", method, protocol, code);
            })) {
      counter->Increment();
    }
  }
  if (prometheus::Histogram* h = series->request_duration[p][m].Get(
          [&] { return RequestDuration(model, method, protocol); })) {
    h->Observe(absl::ToDoubleSeconds(latency));
  }
}

void ServingMetrics::OnVersionState(const std::string& model, int64_t version,
                                    nnserve::v1::VersionState state) {
  const char* label = StateLabel(state);
  MutexLock lock(mu_);
  const auto key = std::make_pair(model, version);
  auto old = model_info_series_.find(key);
  if (old != model_info_series_.end()) {
    if (old->second.state == label) return;
    prometheus::Gauge* gauge = old->second.gauge;
    model_info_series_.erase(old);
    RemoveIfSet(model_info_, gauge);
  }
  if (label == nullptr) return;
  prometheus::Gauge* gauge =
      AddOrNull(model_info_, {{"model", model},
                              {"version", absl::StrCat(version)},
                              {"state", label}});
  if (gauge == nullptr) return;
  gauge->Set(1);
  model_info_series_[key] = {label, gauge};
}

void ServingMetrics::OnVersionLoaded(const std::string& model,
                                     absl::Duration load_time) {
  ModelSeries* series;
  {
    MutexLock lock(mu_);
    series = FindOrAddModel(model);
  }
  if (prometheus::Histogram* h = series->load_duration.Get([&] {
        return AddOrNull(load_duration_, {{"model", model}},
                         metrics::LoadBucketsSeconds());
      })) {
    h->Observe(absl::ToDoubleSeconds(load_time));
  }
}

std::unique_ptr<ServableObserver> ServingMetrics::ObserverFor(
    const std::string& model, int64_t version) {
  return MetricsFor(model, version);
}

std::unique_ptr<VersionMetrics> ServingMetrics::MetricsFor(
    const std::string& model, int64_t version) {
  MutexLock lock(mu_);
  ModelSeries* m = FindOrAddModel(model);
  const prometheus::Labels by_model = {{"model", model}};
  m->queue_duration.Get([&] {
    return AddOrNull(queue_duration_, by_model,
                     metrics::LatencyBucketsSeconds());
  });
  m->compute_duration.Get([&] {
    return AddOrNull(compute_duration_, by_model,
                     metrics::LatencyBucketsSeconds());
  });
  m->batch_size.Get([&] {
    return AddOrNull(batch_size_, by_model, metrics::BatchSizeBuckets());
  });
  m->queue_depth.Get([&] { return AddOrNull(queue_depth_, by_model); });
  m->request_duration[static_cast<int>(Protocol::kNnserveV1)]
                     [static_cast<int>(Method::kPredict)]
                         .Get([&] {
                           return RequestDuration(model, Method::kPredict,
                                                  Protocol::kNnserveV1);
                         });

  std::unique_ptr<VersionSeries>& v = versions_[{model, version}];
  if (v == nullptr) {
    v = std::make_unique<VersionSeries>();
    v->model = m;
    v->number = version;
    v->label = absl::StrCat(version);
    v->images =
        AddOrNull(images_, {{"model", model}, {"version", v->label}});
  }
  ++v->users;
  return std::unique_ptr<VersionMetrics>(new VersionMetrics(this, m, v.get()));
}

void ServingMetrics::ReleaseVersion(VersionSeries* series) {
  // Under mu_ throughout: a MetricsFor of the same version that ran between
  // the erase and the Removes would get the series about to be freed.
  MutexLock lock(mu_);
  if (--series->users > 0) return;
  auto it = versions_.find({series->model->name, series->number});
  std::unique_ptr<VersionSeries> gone = std::move(it->second);
  versions_.erase(it);
  RemoveIfSet(images_, gone->images);
  for (auto& by_code : gone->predicts) {
    for (LazySeries<prometheus::Counter>& predicts : by_code) {
      RemoveIfSet(requests_, predicts.get());
    }
  }
}

void ServingMetrics::OnTrainingJobState(const std::string& job,
                                        const std::string& model,
                                        nnserve::v1::JobState old_state,
                                        nnserve::v1::JobState new_state) {
  if (old_state == nnserve::v1::JOB_STATE_UNSPECIFIED &&
      JobStateIndex(new_state) >= 0) {
    const prometheus::Labels labels = {{"job_id", job}, {"model", model}};
    MutexLock lock(jobs_mu_);
    if (!jobs_.contains(job)) {
      jobs_[job] = {AddOrNull(training_progress_, labels),
                    AddOrNull(training_loss_, labels),
                    AddOrNull(training_accuracy_, labels)};
    }
  }
  prometheus::Gauge* from = TrainingJobsGauge(old_state);
  prometheus::Gauge* to = TrainingJobsGauge(new_state);
  if (from == to) return;
  if (from != nullptr) from->Decrement();
  if (to != nullptr) to->Increment();
}

void ServingMetrics::OnTrainingProgress(const std::string& job,
                                        double progress_ratio, double loss,
                                        double accuracy) {
  MutexLock lock(jobs_mu_);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;
  if (it->second.progress != nullptr) it->second.progress->Set(progress_ratio);
  if (it->second.loss != nullptr) it->second.loss->Set(loss);
  if (it->second.accuracy != nullptr) it->second.accuracy->Set(accuracy);
}

void ServingMetrics::ForgetTrainingJob(const std::string& job,
                                       nnserve::v1::JobState state) {
  if (prometheus::Gauge* g = TrainingJobsGauge(state)) g->Decrement();
  MutexLock lock(jobs_mu_);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;
  const JobSeries gone = it->second;
  jobs_.erase(it);
  RemoveIfSet(training_progress_, gone.progress);
  RemoveIfSet(training_loss_, gone.loss);
  RemoveIfSet(training_accuracy_, gone.accuracy);
}

}  // namespace nn
