#include "server/v2_serving.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "server/serving_metrics.h"

namespace nn {
namespace {

using ::nnserve::v1::ModelStatus;
using ::nnserve::v1::VersionInfo;

// 0 for "", the number for a positive decimal integer of at most 18 digits,
// -1 for anything else.
int64_t ParseVersion(const std::string& version) {
  if (version.empty()) return 0;
  if (version.size() > 18) return -1;
  for (char c : version) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return -1;
  }
  int64_t number = 0;
  if (!absl::SimpleAtoi(version, &number) || number <= 0) return -1;
  return number;
}

// The AVAILABLE version numbers of `status`, oldest first.
std::vector<int64_t> AvailableVersions(const ModelStatus& status) {
  std::vector<int64_t> versions;
  for (const VersionInfo& v : status.versions()) {
    if (v.state() == nnserve::v1::VERSION_STATE_AVAILABLE) {
      versions.push_back(v.version());
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::Status NoSuchVersion(const std::string& name, const std::string& version,
                           const std::vector<int64_t>& served) {
  return absl::NotFoundError(absl::StrCat(
      "model ", Quote(name), " has no version ", Quote(version),
      " (versions are positive integers; served: ",
      served.empty() ? "none" : absl::StrJoin(served, ", "), ")"));
}

const char* TritonState(nnserve::v1::VersionState state) {
  switch (state) {
    case nnserve::v1::VERSION_STATE_AVAILABLE:
      return "READY";
    case nnserve::v1::VERSION_STATE_LOADING:
      return "LOADING";
    case nnserve::v1::VERSION_STATE_UNLOADING:
      return "UNLOADING";
    default:
      return "UNAVAILABLE";
  }
}

void SetDuration(const VersionStatistics::Duration& d,
                 inference::StatisticDuration* out) {
  out->set_count(d.count);
  out->set_ns(d.ns);
}

void FillStatistics(const ServableVersion& servable,
                    inference::ModelStatistics* out) {
  const VersionStatistics::Snapshot s = servable.statistics();
  out->set_name(servable.model_name());
  out->set_version(absl::StrCat(servable.version()));
  out->set_last_inference(s.last_inference_ms);
  out->set_inference_count(s.inference_count);
  out->set_execution_count(s.execution_count);
  inference::InferStatistics* stats = out->mutable_inference_stats();
  SetDuration(s.success, stats->mutable_success());
  SetDuration(s.fail, stats->mutable_fail());
  SetDuration(s.queue, stats->mutable_queue());
  SetDuration(s.compute_infer, stats->mutable_compute_infer());
  // Present with zeros, as Triton writes them: no separate input/output
  // stage, no cache.
  stats->mutable_compute_input();
  stats->mutable_compute_output();
  stats->mutable_cache_hit();
  stats->mutable_cache_miss();
  // Per batch size: compute_infer from the batches of that size; input and
  // output present with zeros, as above.
  for (const VersionStatistics::Snapshot::Batches& b : s.batches) {
    inference::InferBatchStatistics* batch = out->add_batch_stats();
    batch->set_batch_size(static_cast<uint64_t>(b.batch_size));
    SetDuration(b.compute, batch->mutable_compute_infer());
    batch->mutable_compute_input();
    batch->mutable_compute_output();
  }
}

}  // namespace

v2::ModelSignature SignatureOf(const ServableVersion& servable) {
  v2::ModelSignature signature;
  signature.height = servable.model().input_height();
  signature.width = servable.model().input_width();
  signature.labels = servable.labels();
  return signature;
}

absl::Status V2InferenceCall::WriteReply() {
  return WriteV2Reply(request_, servable().model_name(),
                      absl::StrCat(servable().version()), probabilities(),
                      signature_);
}

V2Serving::V2Serving(Options options, const ModelRepository* repository,
                     ServingMetrics* metrics,
                     std::function<absl::Status()> readiness)
    : options_(std::move(options)),
      repository_(repository),
      metrics_(metrics),
      readiness_(std::move(readiness)) {}

v2::CodecLimits V2Serving::limits() const {
  v2::CodecLimits limits;
  limits.max_images = options_.max_images_per_request;
  limits.max_request_bytes = options_.max_request_bytes;
  return limits;
}

absl::StatusOr<std::shared_ptr<ServableVersion>> V2Serving::Resolve(
    const std::string& name, const std::string& version) const {
  const int64_t number = ParseVersion(version);
  if (number < 0) {
    RETURN_IF_ERROR(ValidateModelName(name));
    if (!repository_->HasModel(name)) {
      return absl::NotFoundError(
          absl::StrCat("model ", Quote(name), " not found"));
    }
    ASSIGN_OR_RETURN(ModelStatus status, repository_->ModelInfo(name, 0));
    return NoSuchVersion(name, version, AvailableVersions(status));
  }
  return ResolveVersion(*repository_, name, number);
}

absl::StatusOr<bool> V2Serving::ModelReady(const std::string& name,
                                           const std::string& version) const {
  absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
      Resolve(name, version);
  if (servable.ok()) return true;
  if (servable.status().code() != absl::StatusCode::kNotFound ||
      !repository_->HasModel(name)) {
    return servable.status();
  }
  // A known model: not ready if the version exists in another state.
  const int64_t number = ParseVersion(version);
  if (number < 0) return servable.status();
  if (number == 0) return false;  // no version AVAILABLE
  if (repository_->ModelInfo(name, number).ok()) return false;
  return servable.status();
}

absl::StatusOr<v2::ModelDescription> V2Serving::Describe(
    const std::string& name, const std::string& version) const {
  ASSIGN_OR_RETURN(std::shared_ptr<ServableVersion> servable,
                   Resolve(name, version));
  ASSIGN_OR_RETURN(ModelStatus status, repository_->ModelInfo(name, 0));
  v2::ModelDescription model;
  model.name = servable->model_name();
  for (int64_t v : AvailableVersions(status)) {
    model.versions.push_back(absl::StrCat(v));
  }
  model.platform = std::string(absl::EndsWith(servable->path(), ".onnx")
                                   ? v2::kPlatformOnnx
                                   : v2::kPlatformNnm);
  model.signature = SignatureOf(*servable);
  model.owner = servable;
  model.max_batch_size = servable->batching().max_batch_size();
  model.max_queue_delay_microseconds =
      static_cast<uint64_t>(servable->batching().max_queue_delay_micros());

  // Training provenance: the architecture and size, and the last training
  // run that produced the weights (if any: an imported model has none).
  const Model& m = servable->model();
  std::map<std::string, std::string>& p = model.properties;
  p["version"] = absl::StrCat(servable->version());
  if (!m.spec().name().empty()) p["architecture"] = m.spec().name();
  p["parameters"] = absl::StrCat(m.total_parameters());
  p["training_runs"] = absl::StrCat(m.history().size());
  // Where the weights came from (an imported file: "ONNX (pytorch 1.13.1,
  // opset 13)"), and whether nnserve appended the softmax (logits exports).
  if (!servable->origin().empty()) p["origin"] = servable->origin();
  if (servable->softmax_appended()) p["softmax_appended"] = "true";
  if (!m.history().empty()) {
    const nnserve::v1::TrainingHistory& h = *m.history().rbegin();
    p["dataset"] = h.dataset();
    p["epochs"] = absl::StrCat(h.epochs_size());
    p["train_examples"] = absl::StrCat(h.train_examples());
    if (h.has_test()) {
      p["test_accuracy"] = v2::FloatText(h.test_accuracy());
      p["test_loss"] = v2::FloatText(h.test_loss());
    }
    if (h.base_version() > 0) {
      p["base_version"] = absl::StrCat(h.base_version());
    }
  }
  return model;
}

void V2Serving::ServerMetadata(
    inference::ServerMetadataResponse* response) const {
  response->Clear();
  response->set_name(options_.server_name);
  response->set_version(options_.server_version);
  for (std::string& e : v2::V2Extensions(/*statistics_supported=*/true)) {
    response->add_extensions(std::move(e));
  }
}

absl::Status V2Serving::ModelMetadata(
    const std::string& name, const std::string& version,
    inference::ModelMetadataResponse* response) const {
  response->Clear();
  ASSIGN_OR_RETURN(v2::ModelDescription model, Describe(name, version));
  v2::FillModelMetadata(model, response);
  return absl::OkStatus();
}

absl::Status V2Serving::ModelConfig(
    const std::string& name, const std::string& version,
    inference::ModelConfigResponse* response) const {
  response->Clear();
  ASSIGN_OR_RETURN(v2::ModelDescription model, Describe(name, version));
  v2::FillModelConfig(model, response->mutable_config());
  return absl::OkStatus();
}

absl::Status V2Serving::ModelStatistics(
    const std::string& name, const std::string& version,
    inference::ModelStatisticsResponse* response) const {
  response->Clear();
  if (!version.empty() || !name.empty()) {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          "version: given without a model name; name the model too");
    }
    if (!version.empty()) {
      ASSIGN_OR_RETURN(std::shared_ptr<ServableVersion> servable,
                       Resolve(name, version));
      FillStatistics(*servable, response->add_model_stats());
      return absl::OkStatus();
    }
  }
  std::vector<ModelStatus> models;
  if (name.empty()) {
    models = repository_->ListModels();
  } else {
    RETURN_IF_ERROR(ValidateModelName(name));
    ASSIGN_OR_RETURN(ModelStatus status, repository_->ModelInfo(name, 0));
    models.push_back(std::move(status));
  }
  for (const ModelStatus& model : models) {
    for (int64_t v : AvailableVersions(model)) {
      // A version unloaded since the listing is left out.
      absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
          repository_->Get(model.name(), v);
      if (servable.ok()) FillStatistics(**servable, response->add_model_stats());
    }
  }
  return absl::OkStatus();
}

void V2Serving::RepositoryIndex(
    bool ready_only, inference::RepositoryIndexResponse* response) const {
  response->Clear();
  for (const ModelStatus& model : repository_->ListModels()) {
    std::vector<const VersionInfo*> versions;
    for (const VersionInfo& v : model.versions()) versions.push_back(&v);
    std::sort(versions.begin(), versions.end(),
              [](const VersionInfo* a, const VersionInfo* b) {
                return a->version() < b->version();
              });
    for (const VersionInfo* v : versions) {
      const bool ready = v->state() == nnserve::v1::VERSION_STATE_AVAILABLE;
      if (ready_only && !ready) continue;
      inference::RepositoryIndexResponse::ModelIndex* index =
          response->add_models();
      index->set_name(model.name());
      index->set_version(absl::StrCat(v->version()));
      index->set_state(TritonState(v->state()));
      index->set_reason(v->error());
    }
    if (versions.empty() && !ready_only) {
      inference::RepositoryIndexResponse::ModelIndex* index =
          response->add_models();
      index->set_name(model.name());
      index->set_state("UNAVAILABLE");
      index->set_reason("no version loaded");
    }
  }
}

void V2Serving::Infer(std::unique_ptr<V2InferenceCall> call,
                      const std::string& model, const std::string& version,
                      absl::Time deadline,
                      std::function<bool()> is_cancelled) const {
  // Finishes a call that never reached a model version.
  auto fail = [&](const absl::Status& status) {
    RecordRequest(call->protocol(), metrics::Method::kModelInfer, model,
                  status.code(), call->start());
    call->FinishUnattached(status);
  };
  if (!started_.load()) {
    return fail(
        absl::UnavailableError("server is starting: models are loading"));
  }
  absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
      Resolve(model, version);
  if (!servable.ok()) return fail(servable.status());
  call->Attach(*std::move(servable));

  // From here on the call ends in its Finish (inference_call.h).
  call->signature_ = SignatureOf(call->servable());
  absl::StatusOr<v2::DecodedRequest> decoded =
      call->Decode(call->signature_, limits());
  if (!decoded.ok()) {
    InferenceCall::Fail(std::move(call), decoded.status());
    return;
  }
  // A deadline the request itself carries (REST's "timeout" parameter)
  // tightens the wire's.
  if (decoded->timeout_micros.has_value()) {
    deadline = std::min(
        deadline, call->start() + absl::Microseconds(*decoded->timeout_micros));
  }
  const int64_t images = decoded->images.count;
  call->input().swap(decoded->images.pixels);
  call->request_ = *std::move(decoded);
  InferenceCall::Submit(std::move(call), images, deadline,
                        std::move(is_cancelled));
}

void V2Serving::RecordRequest(metrics::Protocol protocol,
                              metrics::Method method, const std::string& model,
                              absl::StatusCode code, absl::Time start) const {
  if (metrics_ == nullptr) return;
  metrics_->RecordRequest(repository_->HasModel(model) ? model : "", method,
                          code, absl::Now() - start, protocol);
}

}  // namespace nn
