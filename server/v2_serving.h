// The Open Inference Protocol (KServe V2) on nnserve's model repository and
// request path, for both of its wire forms: the gRPC service
// (v2_grpc_service.h) and the REST endpoints translate their messages and
// call this; nothing here knows gRPC or HTTP. The answers are the
// protocol's protobuf messages (nnproto_v2, plain protobuf), which the REST
// side writes as JSON (server/v2/metadata.h: MessageToJson).
//
// Model and version: the model name is the repository directory; a version
// is a string: "" is the newest AVAILABLE version, else a positive decimal
// integer ("1", "12"). Anything else, or a version the repository does not
// serve, is NOT_FOUND ("model m has no version "x"; served: 1, 2"); an
// invalid model name is INVALID_ARGUMENT and an unknown one NOT_FOUND (as
// Predict answers: ResolveVersion, inference_call.h).
//
// Health: ServerLive is true while the process answers. ServerReady is the
// server's readiness, the same answer as the HTTP /readyz (not ready while
// the initial models load or once a drain has started). ModelReady is true
// when the named version (or the newest) is AVAILABLE; false for a model the
// repository knows with no such version AVAILABLE (loading, failed); NOT_FOUND
// for an unknown model or a version number it has never seen.
//
// Inference (Infer): the five steps of inference_call.h with the V2 codec
// (server/v2/model_mapping.h): not started yet -> UNAVAILABLE ("server is
// starting"), like Predict; resolve (above); the wire's Decode against the
// version's signature with CodecLimits{max_images = the server's
// --max_images_per_request} (INVALID_ARGUMENT naming the tensor,
// RESOURCE_EXHAUSTED for too many images); Submit with the wire's deadline
// and cancellation; the reply through the call's WriteV2Reply with
// model_version = the version that ran. The same batcher, limits, drain and
// metrics as Predict: requests are counted as method "ModelInfer" with the
// call's `protocol` label ("v2" or "v2-http"); requests that reached no
// version, and every other V2 RPC, through RecordRequest.
//
// Statistics (ModelStatistics): per loaded version, from its
// VersionStatistics (server/version_statistics.h, kept whether or not
// metrics are on): success/fail counts and latencies, queue and compute
// durations, images and batches, last inference time, and batch_stats: one
// entry per batch size computed (ascending), its compute_infer the count
// and compute time of the batches of that many images. compute_input,
// compute_output (overall and per batch size) and the cache counters are
// zero (nnserve has no separate input/output stage and no cache). Name ""
// means every model, version "" every AVAILABLE version.
//
// Thread safety: every method may be called from any thread at once.
#ifndef NNSERVE_SERVER_V2_SERVING_H_
#define NNSERVE_SERVER_V2_SERVING_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/limits.h"
#include "inference/model_config.pb.h"
#include "inference/open_inference.pb.h"
#include "server/inference_call.h"
#include "server/metrics/metric_names.h"
#include "server/model_repository.h"
#include "server/v2/metadata.h"
#include "server/v2/model_mapping.h"

namespace nn {

class ServingMetrics;  // server/serving_metrics.h

// One V2 inference in flight, whatever its wire: the wire form derives from
// this, holds its request and whatever finishes it, and implements Decode,
// WriteV2Reply and Finish (inference_call.h).
class V2InferenceCall : public InferenceCall {
 public:
  // `protocol`: kV2Grpc or kV2Http (the metrics' label).
  V2InferenceCall(absl::Time start, metrics::Protocol protocol)
      : InferenceCall(start, protocol), protocol_(protocol) {}

  metrics::Protocol protocol() const { return protocol_; }

 protected:
  // Checks and decodes the wire request for a model of `signature`
  // (grpc_codec.h / rest_codec.h). Runs once, after the version resolved.
  virtual absl::StatusOr<v2::DecodedRequest> Decode(
      const v2::ModelSignature& signature, const v2::CodecLimits& limits) = 0;
  // Writes the reply from the model's result: `probabilities` is
  // request.images.count * signature.labels.size() floats, row-major, label
  // order (request.images.pixels is empty by then: the pixels were moved
  // into the batch). An error becomes the call's outcome.
  virtual absl::Status WriteV2Reply(const v2::DecodedRequest& request,
                                    const std::string& model_name,
                                    const std::string& model_version,
                                    absl::Span<const float> probabilities,
                                    const v2::ModelSignature& signature) = 0;

 private:
  friend class V2Serving;
  absl::Status WriteReply() final;
  // Ends a call that reached no version.
  void FinishUnattached(const absl::Status& status) { Finish(status); }

  const metrics::Protocol protocol_;
  v2::DecodedRequest request_;
  v2::ModelSignature signature_;
};

class V2Serving {
 public:
  struct Options {
    int64_t max_images_per_request = kDefaultMaxImagesPerRequest;
    // Largest REST body (CodecLimits::max_request_bytes).
    int64_t max_request_bytes = int64_t{64} << 20;
    // ServerMetadata's name and version (the server sets the project's
    // version).
    std::string server_name = "nnserve";
    std::string server_version;
  };

  // `repository` must outlive this; `metrics` may be null (metrics off).
  // `readiness`: the server's readiness (OK, or UNAVAILABLE saying why),
  // the answer of /readyz.
  V2Serving(Options options, const ModelRepository* repository,
            ServingMetrics* metrics, std::function<absl::Status()> readiness);

  // Until SetReady(true) (the initial models are loaded), Infer answers
  // UNAVAILABLE, as Predict does.
  void SetReady(bool ready) { started_.store(ready); }

  const Options& options() const { return options_; }
  v2::CodecLimits limits() const;

  // Health (header comment).
  bool ServerLive() const { return true; }
  bool ServerReady() const { return readiness_().ok(); }
  absl::StatusOr<bool> ModelReady(const std::string& name,
                                  const std::string& version) const;

  // The version `name` and `version` name (header comment).
  absl::StatusOr<std::shared_ptr<ServableVersion>> Resolve(
      const std::string& name, const std::string& version) const;
  // The model as V2 describes it, from the version Resolve gives: its
  // signature, platform, properties and batching; versions = every
  // AVAILABLE version of the model, oldest first.
  absl::StatusOr<v2::ModelDescription> Describe(
      const std::string& name, const std::string& version) const;

  // The protocol's answers, filled into cleared messages.
  void ServerMetadata(inference::ServerMetadataResponse* response) const;
  absl::Status ModelMetadata(const std::string& name,
                             const std::string& version,
                             inference::ModelMetadataResponse* response) const;
  absl::Status ModelConfig(const std::string& name, const std::string& version,
                           inference::ModelConfigResponse* response) const;
  absl::Status ModelStatistics(
      const std::string& name, const std::string& version,
      inference::ModelStatisticsResponse* response) const;
  // Every model version the repository knows, by name then version, with
  // Triton's states ("READY", "LOADING", "UNLOADING", "UNAVAILABLE" with the
  // load error as reason); `ready_only`: the READY ones alone.
  void RepositoryIndex(bool ready_only,
                       inference::RepositoryIndexResponse* response) const;

  // Runs `call` through the request path (header comment). The call ends in
  // its Finish, exactly once, on this thread or on a batch worker.
  void Infer(std::unique_ptr<V2InferenceCall> call, const std::string& model,
             const std::string& version, absl::Time deadline,
             std::function<bool()> is_cancelled) const;

  // Counts a V2 request that has no version's recorder (every RPC but an
  // inference that reached a version), under `model` if the repository
  // knows it, else "".
  void RecordRequest(metrics::Protocol protocol, metrics::Method method,
                     const std::string& model, absl::StatusCode code,
                     absl::Time start) const;

 private:
  const Options options_;
  const ModelRepository* const repository_;
  ServingMetrics* const metrics_;
  const std::function<absl::Status()> readiness_;
  std::atomic<bool> started_{false};
};

// The V2 signature of a loaded version: its input size and labels (a view
// of servable.labels(): valid while `servable` lives).
v2::ModelSignature SignatureOf(const ServableVersion& servable);

}  // namespace nn

#endif  // NNSERVE_SERVER_V2_SERVING_H_
