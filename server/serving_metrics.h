// The serving metric families of nnserve (see server/metrics/metric_names.h
// for the naming plan) in a prometheus::Registry (prometheus-cpp 1.0.1), and
// the glue that feeds them: the model repository's events, each model
// version's request path and batcher (VersionMetrics, version_metrics.h),
// every RPC's outcome and the training jobs.
//
// Life of the series, which keeps /metrics bounded however many versions
// are published and jobs run:
//   - a version's series (nnserve_requests_total{version="N"},
//     nnserve_images_total{version="N"}) live while a VersionMetrics of that
//     version exists, i.e. while its servable exists (until the version is
//     unloaded and its last request finished);
//   - nnserve_model_info{version="N",state} follows the repository's state
//     events and is removed when the version is gone for good;
//   - a training job's series (nnserve_training_{progress_ratio,loss,
//     accuracy}{job_id}) live from the job's start until the training
//     service forgets it (ForgetTrainingJob);
//   - everything else is labelled by model (or by nothing) and lives as long
//     as this object: model names come from the repository's directories, and
//     a request naming an unknown model is recorded as model "".
// prometheus-cpp's Family::Remove frees the series, so a cached pointer is
// always dropped before (or together with, under the same lock) its Remove.
//
// Hot path: see version_metrics.h. Requests that never reached a version
// (bad requests, unknown models, the other RPCs) look their model up under
// a mutex, then use cached series as well; no label map is built per call.
#ifndef NNSERVE_SERVER_SERVING_METRICS_H_
#define NNSERVE_SERVER_SERVING_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/status_codes.h"  // kNumStatusCodes, StatusCodeName
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/metrics/metric_names.h"
#include "server/model_repository.h"
#include "server/version_metrics.h"
#include "common/mutex.h"

namespace nn {

// A series resolved on its first use and then kept, so later uses cost one
// acquire load. First uses that race resolve the same series (Family::Add
// returns the existing child for equal labels). Null while unresolved, or if
// resolving failed (logged; the value is dropped and resolving retried).
template <typename T>
class LazySeries {
 public:
  template <typename ResolveFn>
  T* Get(ResolveFn resolve) {
    T* series = series_.load(std::memory_order_acquire);
    if (series == nullptr) {
      series = resolve();
      series_.store(series, std::memory_order_release);
    }
    return series;
  }
  T* get() const { return series_.load(std::memory_order_acquire); }

 private:
  std::atomic<T*> series_{nullptr};
};

// The series of one model name ("" for requests that named no known model).
// Created on first use and kept as long as the ServingMetrics.
struct ModelSeries {
  std::string name;
  // Resolved when the model's first VersionMetrics is made.
  LazySeries<prometheus::Histogram> queue_duration;
  LazySeries<prometheus::Histogram> compute_duration;
  LazySeries<prometheus::Histogram> batch_size;
  LazySeries<prometheus::Gauge> queue_depth;
  LazySeries<prometheus::Histogram> load_duration;
  // Indexed by metrics::Protocol, then metrics::Method; nnserve.v1 Predict's
  // is resolved with the batcher's.
  template <typename T>
  using ByProtocolMethod =
      std::array<std::array<T, metrics::kNumMethods>, metrics::kNumProtocols>;
  ByProtocolMethod<LazySeries<prometheus::Histogram>> request_duration;
  // nnserve_requests_total{version=""}, by protocol, method and code.
  ByProtocolMethod<std::array<LazySeries<prometheus::Counter>, kNumStatusCodes>>
      unversioned_requests;
  // Indexed by metrics::RejectReason.
  std::array<LazySeries<prometheus::Counter>, metrics::kNumRejectReasons>
      rejected;
};

// The series of one (model, version), shared by the VersionMetrics of that
// version (normally one; two while a replaced version drains).
struct VersionSeries {
  ModelSeries* model = nullptr;
  int64_t number = 0;
  std::string label;  // `number` as the version label's value
  // VersionMetrics using these series; guarded by ServingMetrics::mu_. At 0
  // the series are removed from the registry and this object is deleted.
  int users = 0;
  prometheus::Counter* images = nullptr;  // resolved at creation
  // Inference outcomes (Predict, ModelInfer) by protocol and code.
  std::array<std::array<LazySeries<prometheus::Counter>, kNumStatusCodes>,
             metrics::kNumProtocols>
      predicts;
};

class ServingMetrics final : public RepositoryObserver {
 public:
  // Creates the serving families in `registry`, which must outlive this
  // object and every VersionMetrics it made. Internal if a family cannot be
  // registered (a name taken, e.g. by a second ServingMetrics).
  static absl::StatusOr<std::unique_ptr<ServingMetrics>> Create(
      prometheus::Registry* registry);

  // Every VersionMetrics made by MetricsFor must be destroyed first.
  ~ServingMetrics() override = default;

  ServingMetrics(const ServingMetrics&) = delete;
  ServingMetrics& operator=(const ServingMetrics&) = delete;

  // An RPC that has no VersionMetrics (failed before reaching a version, or
  // not a Predict): counted with version "". `model` must be "" or a model
  // the repository knows (ModelRepository::HasModel), which keeps the label
  // bounded. Streaming RPCs (Train, WatchTraining) are counted when the
  // stream starts, with the status of the start and the time it took.
  void RecordRequest(
      const std::string& model, metrics::Method method, absl::StatusCode code,
      absl::Duration latency,
      metrics::Protocol protocol = metrics::Protocol::kNnserveV1);

  // RepositoryObserver:
  void OnVersionState(const std::string& model, int64_t version,
                      nnserve::v1::VersionState state) override;
  void OnVersionLoaded(const std::string& model,
                       absl::Duration load_time) override;
  // MetricsFor, as the servable's observer.
  std::unique_ptr<ServableObserver> ObserverFor(const std::string& model,
                                                int64_t version) override;

  // A new VersionMetrics for a servable of (model, version), which owns it.
  std::unique_ptr<VersionMetrics> MetricsFor(const std::string& model,
                                             int64_t version);

  // Training jobs: nnserve_training_jobs{state} counts the jobs the server
  // knows per state (running and remembered finished ones). A job appears
  // with old_state JOB_STATE_UNSPECIFIED; from then until ForgetTrainingJob
  // its nnserve_training_{progress_ratio,loss,accuracy}{job_id,model} exist.
  // Progress of a job not known (or already forgotten) is ignored, so a
  // cancelled job's late progress cannot bring its series back.
  void OnTrainingJobState(const std::string& job, const std::string& model,
                          nnserve::v1::JobState old_state,
                          nnserve::v1::JobState new_state);
  void OnTrainingProgress(const std::string& job, double progress_ratio,
                          double loss, double accuracy);
  void ForgetTrainingJob(const std::string& job, nnserve::v1::JobState state);

 private:
  friend class VersionMetrics;

  struct ModelInfoSeries {
    const char* state = nullptr;  // the exported `state` label
    prometheus::Gauge* gauge = nullptr;
  };
  struct JobSeries {
    prometheus::Gauge* progress = nullptr;
    prometheus::Gauge* loss = nullptr;
    prometheus::Gauge* accuracy = nullptr;
  };

  explicit ServingMetrics(prometheus::Registry* registry)
      : registry_(registry) {}

  ModelSeries* FindOrAddModel(const std::string& model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called by ~VersionMetrics.
  void ReleaseVersion(VersionSeries* series) ABSL_LOCKS_EXCLUDED(mu_);

  // Resolvers for LazySeries (thread-safe; null on failure, logged).
  prometheus::Counter* RequestCounter(const std::string& model,
                                      const std::string& version,
                                      metrics::Method method,
                                      metrics::Protocol protocol,
                                      absl::StatusCode code);
  prometheus::Histogram* RequestDuration(const std::string& model,
                                         metrics::Method method,
                                         metrics::Protocol protocol);
  prometheus::Counter* RejectedCounter(const std::string& model,
                                       metrics::RejectReason reason);
  // The nnserve_training_jobs series of a state; null for "no state".
  prometheus::Gauge* TrainingJobsGauge(nnserve::v1::JobState state) const;

  prometheus::Registry* const registry_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* request_duration_ = nullptr;
  prometheus::Family<prometheus::Histogram>* queue_duration_ = nullptr;
  prometheus::Family<prometheus::Histogram>* compute_duration_ = nullptr;
  prometheus::Family<prometheus::Histogram>* batch_size_ = nullptr;
  prometheus::Family<prometheus::Counter>* images_ = nullptr;
  prometheus::Family<prometheus::Gauge>* queue_depth_ = nullptr;
  prometheus::Family<prometheus::Counter>* rejected_ = nullptr;
  prometheus::Family<prometheus::Gauge>* model_info_ = nullptr;
  prometheus::Family<prometheus::Histogram>* load_duration_ = nullptr;
  prometheus::Family<prometheus::Gauge>* training_jobs_ = nullptr;
  prometheus::Family<prometheus::Gauge>* training_progress_ = nullptr;
  prometheus::Family<prometheus::Gauge>* training_loss_ = nullptr;
  prometheus::Family<prometheus::Gauge>* training_accuracy_ = nullptr;
  // nnserve_training_jobs by state (queued, running, succeeded, failed,
  // cancelled), resolved at Create.
  std::array<prometheus::Gauge*, 5> training_jobs_by_state_{};

  // Mutex, not absl::Mutex: Debian's libabsl has no ThreadSanitizer
  // annotations (see common/clock.h). Taken before a family's own mutex.
  Mutex mu_;
  std::map<std::string, std::unique_ptr<ModelSeries>> models_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int64_t>, std::unique_ptr<VersionSeries>>
      versions_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int64_t>, ModelInfoSeries> model_info_series_
      ABSL_GUARDED_BY(mu_);
  Mutex jobs_mu_;
  std::map<std::string, JobSeries> jobs_ ABSL_GUARDED_BY(jobs_mu_);
};

}  // namespace nn

#endif  // NNSERVE_SERVER_SERVING_METRICS_H_
