// nnserve's metric naming plan (issue 7). This header names the families,
// the values of their enumerated labels and their buckets; ServingMetrics
// (server/serving_metrics.h) creates them in a prometheus::Registry
// (prometheus-cpp 1.0.1) and feeds them from the gRPC service, the batcher,
// the model repository and the training jobs, so that the dashboard and the
// README have one source.
//
// Conventions (https://prometheus.io/docs/practices/naming/): prefix
// "nnserve_"; base units (seconds, bytes; ratios 0..1); counters end in
// "_total"; labels have few values (model names, versions, method names,
// canonical status codes; never request ids or image contents). HELP texts
// are one line without backslashes: prometheus-cpp's TextSerializer writes
// them unescaped (serving_metrics_test checks every family).
//
// family                               type       labels                      meaning
// nnserve_requests_total               counter    model,version,method,protocol,code
//                                                                             RPCs finished (every method of
//                                                                             Method); code = canonical gRPC status
//                                                                             name ("OK", "UNAVAILABLE", ...);
//                                                                             version "" when none was resolved
// nnserve_request_duration_seconds     histogram  model,method,protocol       server-side latency, from the handler's
//                                                                             start to Finish (LatencyBucketsSeconds)
// nnserve_queue_duration_seconds       histogram  model                       time a request waited in the batcher's
//                                                                             queue (LatencyBucketsSeconds)
// nnserve_compute_duration_seconds     histogram  model                       time one batch took to execute
//                                                                             (LatencyBucketsSeconds)
// nnserve_batch_size                   histogram  model                       images per executed batch
//                                                                             (BatchSizeBuckets)
// nnserve_images_total                 counter    model,version               images inferred
// nnserve_queue_depth                  gauge      model                       requests waiting in the batcher's queue
// nnserve_rejected_total               counter    model,reason                requests refused before compute; reason
//                                                                             one of kRejectReason*
// nnserve_model_info                   gauge      model,version,state         1 for each known version; state one of
//                                                                             kModelState*; a version's old state
//                                                                             series is removed (Family::Remove) when
//                                                                             it changes state
// nnserve_model_load_duration_seconds  histogram  model                       load + validation + warm-up time of a
//                                                                             version (LoadBucketsSeconds)
// nnserve_training_jobs                gauge      state                       training jobs per state, one of
//                                                                             kTrainingState*
// nnserve_training_progress_ratio      gauge      job_id,model                fraction of the job's batches done, 0..1
// nnserve_training_loss                gauge      job_id,model                latest training loss (cross-entropy)
// nnserve_training_accuracy            gauge      job_id,model                latest training accuracy, 0..1
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds          see process_collector.h (ProcessCollector)
//
// Life of a series (what keeps /metrics bounded): a series with a `version`
// label lives as long as that version is loaded (removed when it is unloaded,
// or at once if it failed and its file is gone); a series with a `job_id`
// label as long as the training service remembers the job; a series with only
// `model` (and method/code/reason/state) labels as long as the process, for
// models the repository knows (unknown names are recorded as model "").
//
// Hot path: resolve each series once (per model version, method and code when
// they first appear) and keep the pointer; then Counter::Increment is one
// atomic add and Histogram::Observe one short mutex-guarded update.
#ifndef NNSERVE_SERVER_METRICS_METRIC_NAMES_H_
#define NNSERVE_SERVER_METRICS_METRIC_NAMES_H_

#include <vector>

namespace nn::metrics {

inline constexpr char kRequestsTotal[] = "nnserve_requests_total";
inline constexpr char kRequestDurationSeconds[] =
    "nnserve_request_duration_seconds";
inline constexpr char kQueueDurationSeconds[] = "nnserve_queue_duration_seconds";
inline constexpr char kComputeDurationSeconds[] =
    "nnserve_compute_duration_seconds";
inline constexpr char kBatchSize[] = "nnserve_batch_size";
inline constexpr char kImagesTotal[] = "nnserve_images_total";
inline constexpr char kQueueDepth[] = "nnserve_queue_depth";
inline constexpr char kRejectedTotal[] = "nnserve_rejected_total";
inline constexpr char kModelInfo[] = "nnserve_model_info";
inline constexpr char kModelLoadDurationSeconds[] =
    "nnserve_model_load_duration_seconds";
inline constexpr char kTrainingJobs[] = "nnserve_training_jobs";
inline constexpr char kTrainingProgressRatio[] =
    "nnserve_training_progress_ratio";
inline constexpr char kTrainingLoss[] = "nnserve_training_loss";
inline constexpr char kTrainingAccuracy[] = "nnserve_training_accuracy";

// Values of the `method` label of nnserve_requests_total and
// nnserve_request_duration_seconds: every RPC of nnserve.v1.InferenceService,
// then every RPC of the Open Inference Protocol (inference.
// GRPCInferenceService; its REST endpoints count under the same names).
enum class Method {
  kPredict,
  kListModels,
  kModelInfo,
  kTrain,
  kWatchTraining,
  kCancelTraining,
  kListTrainingJobs,
  kExportModel,
  kServerLive,
  kServerReady,
  kModelReady,
  kServerMetadata,
  kModelMetadata,
  kModelInfer,
  kModelConfig,
  kModelStatistics,
  kRepositoryIndex,
};
inline constexpr int kNumMethods = 17;
// The RPC's name as the .proto spells it ("Predict", "ModelInfer", ...).
inline const char* MethodLabel(Method method) {
  static constexpr const char* kLabels[kNumMethods] = {
      "Predict",        "ListModels",      "ModelInfo",      "Train",
      "WatchTraining",  "CancelTraining",  "ListTrainingJobs", "ExportModel",
      "ServerLive",     "ServerReady",     "ModelReady",     "ServerMetadata",
      "ModelMetadata",  "ModelInfer",      "ModelConfig",    "ModelStatistics",
      "RepositoryIndex"};
  return kLabels[static_cast<int>(method)];
}

// Values of the `protocol` label of nnserve_requests_total and
// nnserve_request_duration_seconds: the wire a request came on (the same
// words as nnctl's --protocol).
enum class Protocol {
  kNnserveV1,  // "nnserve.v1": nnserve.v1.InferenceService over gRPC
  kV2Grpc,     // "v2": the Open Inference Protocol over gRPC
  kV2Http,     // "v2-http": the Open Inference Protocol over REST
};
inline constexpr int kNumProtocols = 3;
inline const char* ProtocolLabel(Protocol protocol) {
  static constexpr const char* kLabels[kNumProtocols] = {"nnserve.v1", "v2",
                                                         "v2-http"};
  return kLabels[static_cast<int>(protocol)];
}
// The method an inference request of `protocol` counts under: Predict for
// nnserve.v1, ModelInfer for the Open Inference Protocol.
inline Method InferenceMethod(Protocol protocol) {
  return protocol == Protocol::kNnserveV1 ? Method::kPredict
                                          : Method::kModelInfer;
}

// Values of the `reason` label of nnserve_rejected_total.
inline constexpr char kRejectReasonQueueFull[] = "queue_full";
inline constexpr char kRejectReasonDraining[] = "draining";
inline constexpr char kRejectReasonTooLarge[] = "too_large";
inline constexpr char kRejectReasonDeadlineExceeded[] = "deadline_exceeded";
inline constexpr char kRejectReasonCancelled[] = "cancelled";
enum class RejectReason {
  kQueueFull,
  kDraining,
  kTooLarge,
  kDeadlineExceeded,
  kCancelled,
};
inline constexpr int kNumRejectReasons = 5;
inline const char* RejectReasonLabel(RejectReason reason) {
  static constexpr const char* kLabels[kNumRejectReasons] = {
      kRejectReasonQueueFull, kRejectReasonDraining, kRejectReasonTooLarge,
      kRejectReasonDeadlineExceeded, kRejectReasonCancelled};
  return kLabels[static_cast<int>(reason)];
}

// Values of the `state` label of nnserve_model_info.
inline constexpr char kModelStateLoading[] = "loading";
inline constexpr char kModelStateAvailable[] = "available";
inline constexpr char kModelStateUnloading[] = "unloading";
inline constexpr char kModelStateFailed[] = "failed";

// Values of the `state` label of nnserve_training_jobs.
inline constexpr char kTrainingStateQueued[] = "queued";
inline constexpr char kTrainingStateRunning[] = "running";
inline constexpr char kTrainingStateSucceeded[] = "succeeded";
inline constexpr char kTrainingStateFailed[] = "failed";
inline constexpr char kTrainingStateCancelled[] = "cancelled";

// `count` upper bounds start, start*factor, start*factor^2, ... (the +Inf
// bucket is implicit). Needs start > 0, factor > 1, count >= 1; otherwise an
// empty list (only +Inf).
inline std::vector<double> ExponentialBuckets(double start, double factor,
                                              int count) {
  std::vector<double> bounds;
  if (!(start > 0) || !(factor > 1) || count < 1) return bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

// 100 µs to 3.3 s, doubling: small CPU models answer in well under a
// millisecond alone and in tens of milliseconds under load.
inline std::vector<double> LatencyBucketsSeconds() {
  return ExponentialBuckets(0.0001, 2, 16);
}

// 1, 2, 4, ..., 512 images.
inline std::vector<double> BatchSizeBuckets() {
  return ExponentialBuckets(1, 2, 10);
}

// 10 ms to about 41 s, quadrupling.
inline std::vector<double> LoadBucketsSeconds() {
  return ExponentialBuckets(0.01, 4, 7);
}

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_METRIC_NAMES_H_
