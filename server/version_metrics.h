// The metrics of one loaded model version, as its request path and its
// batcher record them: the ServableObserver (servable_observer.h) that
// ServingMetrics (server/serving_metrics.h) makes for each servable, owned
// by it (ServableVersion::Options::metrics), so it lives exactly as long as
// the servable: until the version is unloaded and its last in-flight
// request has finished.
//
// Series it feeds (names in server/metrics/metric_names.h):
//   per version  nnserve_requests_total{model,version,method="Predict" or
//                "ModelInfer",protocol,code}
//                nnserve_images_total{model,version}
//                removed from the registry when the last VersionMetrics of
//                that (model, version) is destroyed (two servables of one
//                version number can overlap when a version is replaced
//                while the old one drains; they share these series);
//   per model    request/queue/compute duration, batch size, queue depth,
//                rejections: kept for the process's life (models are few and
//                named by the repository's directories).
//
// Hot path: every series is resolved when this object is created or on the
// first use of a status code / rejection reason, then kept; recording is an
// atomic load plus Counter::Increment (one atomic add) or
// Histogram::Observe (prometheus-cpp: a short mutex-guarded update).
// Per Predict: 1 counter increment and 2 observations (request duration,
// queue duration); per computed batch: 2 observations (compute duration,
// batch size) and 1 counter increment (images).
//
// Thread safety: every method may be called from any thread at once.
#ifndef NNSERVE_SERVER_VERSION_METRICS_H_
#define NNSERVE_SERVER_VERSION_METRICS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/metrics/metric_names.h"
#include "server/servable_observer.h"

namespace nn {

class ServingMetrics;
struct ModelSeries;    // serving_metrics.h
struct VersionSeries;  // serving_metrics.h

class VersionMetrics final : public ServableObserver {
 public:
  // Releases this version's series (see the header comment) and takes its
  // share out of the model's queue-depth gauge.
  ~VersionMetrics() override;

  VersionMetrics(const VersionMetrics&) = delete;
  VersionMetrics& operator=(const VersionMetrics&) = delete;

  // RequestRecorder:
  void RecordInference(metrics::Protocol protocol, absl::StatusCode code,
                       absl::Duration latency) override;
  // Counted under its reason label; kInvalid (a malformed task, no label)
  // is not counted.
  void RecordRejected(Rejection reason) override;
  // Refused by the request path or the batcher before compute.
  void RecordRejected(metrics::RejectReason reason);

  // BatchObserver:
  void OnTaskStarted(absl::Duration queued) override;
  void OnBatchComputed(int64_t images, absl::Duration compute) override;
  void OnTaskDropped(absl::StatusCode why) override;
  void OnQueueDepthChanged(int64_t queued_images) override;

 private:
  friend class ServingMetrics;
  // `model` and `version` belong to `owner`; `version` counts this object
  // among its users until the destructor.
  VersionMetrics(ServingMetrics* owner, ModelSeries* model,
                 VersionSeries* version);

  ServingMetrics* const owner_;
  ModelSeries* const model_;
  VersionSeries* const version_;
  // This servable's share of the model's nnserve_queue_depth, in images.
  std::atomic<int64_t> last_queue_depth_{0};
};

}  // namespace nn

#endif  // NNSERVE_SERVER_VERSION_METRICS_H_
