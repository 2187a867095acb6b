#include "server/model_loader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model_file.h"
#include "server/onnx_loader.h"

namespace nn {

ModelLoaderRegistry ModelLoaderRegistry::Default() {
  ModelLoaderRegistry registry;
  // LoadModel is ReadModelFile + Model::FromSavedModel, errors prefixed with
  // the path.
  absl::Status added = registry.Add(ModelLoader{
      kNativeModelFileName, "nnserve",
      [](const std::string& path) -> absl::StatusOr<LoadedModel> {
        return nn::LoadModel(path);
      }});
  (void)added;  // fixed, valid entries in an empty registry
  added = registry.Add(
      ModelLoader{kOnnxModelFileName, "onnx", &nn::LoadOnnxModel});
  (void)added;
  return registry;
}

absl::Status ModelLoaderRegistry::Add(ModelLoader loader) {
  const std::string& name = loader.file_name;
  if (name.empty() || absl::StrContains(name, '/') ||
      IsTemporaryModelFileName(name) || name == "config.textproto") {
    return absl::InvalidArgumentError(absl::StrCat(
        "model loader file name '", name,
        "': must be a plain file name, not starting with '.', not ending "
        "with '.tmp', and not config.textproto"));
  }
  if (loader.format.empty() || !loader.load) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model loader for ", name, ": needs a format name and a function"));
  }
  auto at = std::lower_bound(
      loaders_.begin(), loaders_.end(), name,
      [](const ModelLoader& l, const std::string& n) { return l.file_name < n; });
  if (at != loaders_.end() && at->file_name == name) {
    return absl::AlreadyExistsError(
        absl::StrCat("a model loader for ", name, " is registered already"));
  }
  loaders_.insert(at, std::move(loader));
  return absl::OkStatus();
}

std::vector<std::string> ModelLoaderRegistry::file_names() const {
  std::vector<std::string> names;
  for (const ModelLoader& loader : loaders_) names.push_back(loader.file_name);
  return names;
}

absl::StatusOr<const ModelLoader*> ModelLoaderRegistry::Choose(
    const std::vector<std::string>& present) const {
  if (present.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the version directory holds ", present.size(), " model files (",
        absl::StrJoin(present, ", "),
        "); keep exactly one, the repository does not choose between them"));
  }
  if (present.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "the version directory holds no model file (one of ",
        absl::StrJoin(file_names(), ", "), ")"));
  }
  for (const ModelLoader& loader : loaders_) {
    if (loader.file_name == present[0]) return &loader;
  }
  return absl::NotFoundError(
      absl::StrCat("no model loader for ", present[0]));
}

}  // namespace nn
