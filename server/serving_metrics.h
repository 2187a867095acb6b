// The serving metric families of nnserve (see server/metrics/metric_names.h
// for the naming plan) and the glue that feeds them: the model repository's
// events, each model version's batcher events, and every RPC's outcome.
//
// Hot path: a request that reached a model version records through that
// version's VersionMetrics, whose series pointers are resolved once (per
// status code, on first use), so recording is a few atomic adds without a
// lock or a lookup. Requests that never reached a version (bad requests,
// unknown models) take a slower path with a label lookup; their `model`
// label is the requested name only if the repository knows it, else "" (so a
// client cannot create unbounded label values).
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/batching/batcher.h"
#include "server/metrics/counter.h"
#include "server/metrics/family.h"
#include "server/metrics/gauge.h"
#include "server/metrics/histogram.h"
#include "server/metrics/registry.h"
#include "server/model_repository.h"

namespace nn {

class ServingMetrics;

// Metrics of one model version; also its batcher's observer.
class VersionMetrics final : public BatchObserver {
 public:
  // A Predict finished with `code` after `latency` (server side, handler
  // start to Finish).
  void RecordPredict(absl::StatusCode code, absl::Duration latency);
  // Refused by the batcher before queueing ("queue_full", "draining",
  // "too_large").
  void RecordRejected(const char* reason);

  void OnTaskStarted(absl::Duration queued) override;
  void OnBatchComputed(int64_t images, absl::Duration compute) override;
  void OnTaskDropped(absl::StatusCode why) override;
  void OnQueueDepthChanged(int64_t queued_images) override;

 private:
  friend class ServingMetrics;
  VersionMetrics(ServingMetrics* owner, std::string model, std::string version);

  ServingMetrics* const owner_;
  const std::string model_;
  const std::string version_;
  // Resolved on first use of each canonical code (0..16).
  std::array<std::atomic<metrics::Counter*>, 17> requests_by_code_{};
  metrics::Histogram* request_duration_ = nullptr;
  metrics::Histogram* queue_duration_ = nullptr;
  metrics::Histogram* compute_duration_ = nullptr;
  metrics::Histogram* batch_size_ = nullptr;
  metrics::Counter* images_ = nullptr;
  metrics::Gauge* queue_depth_ = nullptr;  // shared by the model's versions
  std::atomic<int64_t> last_queue_depth_{0};
};

class ServingMetrics final : public RepositoryObserver {
 public:
  // Creates the serving families and the process collector in `registry`,
  // which must outlive this object.
  static absl::StatusOr<std::unique_ptr<ServingMetrics>> Create(
      metrics::Registry* registry);

  // An RPC that has no VersionMetrics (failed before reaching a version, or
  // not a Predict). `model` is "" or a known model name; `version` "" or a
  // number.
  void RecordRequest(const std::string& model, const std::string& version,
                     const char* method, absl::StatusCode code,
                     absl::Duration latency);
  // A rejection without a resolved version.
  void RecordRejected(const std::string& model, const char* reason);

  // RepositoryObserver:
  void OnVersionState(const std::string& model, int64_t version,
                      nnserve::v1::VersionState state) override;
  void OnVersionLoaded(const std::string& model,
                       absl::Duration load_time) override;
  VersionMetrics* MetricsFor(const std::string& model,
                             int64_t version) override;

  // Training jobs: nnserve_training_jobs{state} counts the jobs the server
  // knows per state (running and remembered finished ones);
  // nnserve_training_{progress_ratio,loss,accuracy}{job,model} follow each
  // job until it is forgotten.
  void OnTrainingJobState(const std::string& job, const std::string& model,
                          nnserve::v1::JobState old_state,
                          nnserve::v1::JobState new_state);
  void OnTrainingProgress(const std::string& job, const std::string& model,
                          double progress_ratio, double loss, double accuracy);
  void ForgetTrainingJob(const std::string& job, const std::string& model,
                         nnserve::v1::JobState state);

  // The VersionMetrics of a version, created on first use, never destroyed
  // (versions are few over a process's life).
  VersionMetrics* ForVersion(const std::string& model, int64_t version);

  metrics::Registry& registry() { return *registry_; }

 private:
  friend class VersionMetrics;
  explicit ServingMetrics(metrics::Registry* registry) : registry_(registry) {}

  metrics::Counter* RequestCounter(const std::string& model,
                                   const std::string& version,
                                   const char* method, absl::StatusCode code);

  metrics::Registry* const registry_;
  metrics::Family<metrics::Counter>* requests_ = nullptr;
  metrics::Family<metrics::Histogram>* request_duration_ = nullptr;
  metrics::Family<metrics::Histogram>* queue_duration_ = nullptr;
  metrics::Family<metrics::Histogram>* compute_duration_ = nullptr;
  metrics::Family<metrics::Histogram>* batch_size_ = nullptr;
  metrics::Family<metrics::Counter>* images_ = nullptr;
  metrics::Family<metrics::Gauge>* queue_depth_ = nullptr;
  metrics::Family<metrics::Counter>* rejected_ = nullptr;
  metrics::Family<metrics::Gauge>* model_info_ = nullptr;
  metrics::Family<metrics::Histogram>* load_duration_ = nullptr;
  metrics::Family<metrics::Gauge>* training_jobs_ = nullptr;
  metrics::Family<metrics::Gauge>* training_progress_ = nullptr;
  metrics::Family<metrics::Gauge>* training_loss_ = nullptr;
  metrics::Family<metrics::Gauge>* training_accuracy_ = nullptr;

  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::unique_ptr<VersionMetrics>>
      versions_;  // guarded by mu_
  // The state label currently exported per (model, version).
  std::map<std::pair<std::string, int64_t>, std::string> states_;  // mu_
};

// The Prometheus name of a canonical code: "OK", "NOT_FOUND", ...
const char* StatusCodeName(absl::StatusCode code);

}  // namespace nn

#endif  // NNSERVE_SERVER_SERVING_METRICS_H_
