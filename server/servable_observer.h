// What a loaded model version reports, as two narrow interfaces implemented
// by one object that the servable owns (ServableVersion::Options::metrics):
// its batcher's events (BatchObserver, server/batching/batcher.h) and the
// outcomes of the requests that reached it (RequestRecorder). The
// repository asks its RepositoryObserver for one per new servable
// (model_repository.h); ServingMetrics answers with a VersionMetrics
// (version_metrics.h). The servable and the repository know only these
// interfaces, so neither depends on the metrics code.
//
// Thread safety: every method may be called from several threads at once;
// each must be cheap (it runs on the request path) and must not call back
// into the servable or its batcher.
#ifndef NNSERVE_SERVER_SERVABLE_OBSERVER_H_
#define NNSERVE_SERVER_SERVABLE_OBSERVER_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/batching/batcher.h"
#include "server/metrics/metric_names.h"

namespace nn {

class RequestRecorder {
 public:
  virtual ~RequestRecorder() = default;
  // An inference request of `protocol` (nnserve.v1 Predict, V2 ModelInfer)
  // that reached this version finished with `code` after `latency` (server
  // side, from the handler's start to the reply). Once per request.
  virtual void RecordInference(metrics::Protocol protocol,
                               absl::StatusCode code,
                               absl::Duration latency) = 0;
  // An nnserve.v1 Predict's RecordInference.
  void RecordPredict(absl::StatusCode code, absl::Duration latency) {
    RecordInference(metrics::Protocol::kNnserveV1, code, latency);
  }
  // The request path refused a request before compute (ServableVersion::
  // Submit, or its own size limit: kTooLarge); besides RecordInference.
  virtual void RecordRejected(Rejection reason) = 0;
};

class ServableObserver : public BatchObserver, public RequestRecorder {};

}  // namespace nn

#endif  // NNSERVE_SERVER_SERVABLE_OBSERVER_H_
