// The repository's queries: handles for requests (Get) and what ListModels
// and ModelInfo report. Readers take the model table's lock shared.
#include "server/model_repository.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "common/mutex.h"

namespace nn {

using ::nnserve::v1::ModelStatus;
using ::nnserve::v1::VersionInfo;
using ::nnserve::v1::VersionState;

absl::StatusOr<std::shared_ptr<ServableVersion>> ModelRepository::Get(
    const std::string& model, int64_t version) const {
  ReaderLock lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) {
    std::vector<std::string> known;
    for (const auto& [name, entry] : models_) known.push_back(name);
    return absl::NotFoundError(absl::StrCat(
        "model ", Quote(model), " not found; known models: ",
        known.empty() ? "none" : absl::StrJoin(known, ", ")));
  }
  const ModelEntry& entry = it->second;
  if (version == 0) {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.servable != nullptr) return v->second.servable;
    }
    bool loading = false;
    std::vector<std::string> states;
    for (const auto& [v, ve] : entry.versions) {
      loading |= ve.info.state() == nnserve::v1::VERSION_STATE_LOADING;
      states.push_back(absl::StrCat(
          v, ": ", nnserve::v1::VersionState_Name(ve.info.state()),
          ve.info.error().empty() ? "" : absl::StrCat(" (", ve.info.error(), ")")));
    }
    std::string message = absl::StrCat(
        "model ", Quote(model), " has no available version",
        states.empty() ? "" : absl::StrCat(" [", absl::StrJoin(states, "; "), "]"));
    if (loading) return absl::UnavailableError(message);
    return absl::FailedPreconditionError(message);
  }
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) {
    std::vector<int64_t> available;
    for (const auto& [n, ve] : entry.versions) {
      if (ve.servable != nullptr) available.push_back(n);
    }
    return absl::NotFoundError(absl::StrCat(
        "model ", Quote(model), " has no version ", version, " loaded; available: ",
        available.empty() ? "none" : absl::StrJoin(available, ", ")));
  }
  if (v->second.servable == nullptr) {
    const VersionState state = v->second.info.state();
    std::string message = absl::StrCat(
        "version ", version, " of model ", Quote(model), " is ",
        nnserve::v1::VersionState_Name(state),
        v->second.info.error().empty()
            ? ""
            : absl::StrCat(": ", v->second.info.error()));
    if (state == nnserve::v1::VERSION_STATE_LOADING) {
      return absl::UnavailableError(message);
    }
    return absl::NotFoundError(message);
  }
  return v->second.servable;
}

namespace {

// The loader's origin, or for nnserve's own file "nnserve", noting the first
// imported model its history started from.
std::string VersionOrigin(const ServableVersion& servable) {
  if (!servable.origin().empty()) return servable.origin();
  for (const nnserve::v1::TrainingHistory& run : servable.model().history()) {
    if (!run.base_origin().empty()) {
      return absl::StrCat("nnserve, fine-tuned from ", run.base_origin());
    }
  }
  return "nnserve";
}

void FillDetails(const ServableVersion& servable, VersionInfo* info) {
  const Model& model = servable.model();
  info->mutable_input()->set_height(model.input_height());
  info->mutable_input()->set_width(model.input_width());
  for (const std::string& label : servable.labels()) info->add_labels(label);
  for (const LayerSummary& layer : model.Summary()) {
    nnserve::v1::LayerSummary* out = info->add_layers();
    out->set_name(layer.name);
    out->set_kind(layer.kind);
    for (int64_t d : layer.output_shape) out->add_output_shape(d);
    out->set_parameters(layer.parameters);
  }
  info->set_total_parameters(model.total_parameters());
  info->set_architecture(model.spec().name());
  *info->mutable_history() = model.history();
  info->set_origin(VersionOrigin(servable));
  info->set_softmax_appended(servable.softmax_appended());
}

}  // namespace

std::vector<ModelStatus> ModelRepository::ListModels() const {
  ReaderLock lock(mu_);
  std::vector<ModelStatus> out;
  for (const auto& [name, entry] : models_) {
    ModelStatus& status = out.emplace_back();
    status.set_name(name);
    *status.mutable_batching() = entry.batching;
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      *status.add_versions() = v->second.info;
      if (status.default_version() == 0 && v->second.servable != nullptr) {
        status.set_default_version(v->first);
      }
    }
  }
  return out;
}

absl::StatusOr<ModelStatus> ModelRepository::ModelInfo(const std::string& model,
                                                       int64_t version) const {
  ReaderLock lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("model ", Quote(model), " not found"));
  }
  const ModelEntry& entry = it->second;
  ModelStatus status;
  status.set_name(model);
  *status.mutable_batching() = entry.batching;
  for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
    if (status.default_version() == 0 && v->second.servable != nullptr) {
      status.set_default_version(v->first);
    }
    if (version != 0 && v->first != version) continue;
    VersionInfo* info = status.add_versions();
    *info = v->second.info;
    if (v->second.servable != nullptr) FillDetails(*v->second.servable, info);
  }
  if (version != 0 && status.versions_size() == 0) {
    return absl::NotFoundError(
        absl::StrCat("model ", Quote(model), " has no version ", version));
  }
  return status;
}

bool ModelRepository::HasModel(const std::string& model) const {
  ReaderLock lock(mu_);
  return models_.contains(model);
}

int64_t ModelRepository::HighestVersion(const std::string& model) const {
  ReaderLock lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return 0;
  int64_t highest = it->second.highest_on_disk;
  if (!it->second.versions.empty()) {
    highest = std::max(highest, it->second.versions.rbegin()->first);
  }
  return highest;
}

absl::Status ModelRepository::LastPollError() const {
  ReaderLock lock(mu_);
  return last_poll_error_;
}

}  // namespace nn
