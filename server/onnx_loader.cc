#include "server/onnx_loader.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/file.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/model.h"
#include "engine/onnx/onnx_import.h"

namespace nn {
namespace {

// The labels of `labels_path` (see the header), or an error naming it.
absl::StatusOr<std::vector<std::string>> ReadLabels(
    const std::string& labels_path, int num_classes) {
  ASSIGN_OR_RETURN(std::string text,
                   ReadFile(labels_path, kMaxLabelsFileBytes));
  std::vector<std::string> labels;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    labels.emplace_back(line);
  }
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  if (static_cast<int>(labels.size()) != num_classes) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": ", labels.size(), " labels for ",
                     num_classes, " classes (one label per line)"));
  }
  return labels;
}

}  // namespace

absl::StatusOr<LoadedModel> LoadOnnxModel(const std::string& path) {
  ASSIGN_OR_RETURN(ImportedModel imported, ImportOnnxFile(path));
  const size_t slash = path.rfind('/');
  const std::string labels_path =
      absl::StrCat(slash == std::string::npos ? "." : path.substr(0, slash),
                   "/", kOnnxLabelsFileName);
  struct stat st;
  if (::stat(labels_path.c_str(), &st) == 0) {
    absl::StatusOr<ModelSpecSummary> summary =
        CheckModelSpec(imported.saved.spec());
    if (!summary.ok()) {
      return absl::Status(summary.status().code(),
                          absl::StrCat(path, ": ", summary.status().message()));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> labels,
                     ReadLabels(labels_path, summary->num_classes));
    imported.saved.mutable_spec()->clear_labels();
    for (std::string& label : labels) {
      imported.saved.mutable_spec()->add_labels(std::move(label));
    }
  } else if (!imported.labels_ignored.empty()) {
    NN_LOG(WARNING) << path << ": its label metadata is ignored ("
                    << imported.labels_ignored
                    << "); the class indices serve unless config.textproto "
                       "or labels.txt names the classes";
  }
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(std::move(imported.saved));
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat(path, ": ", model.status().message()));
  }
  LoadedModel loaded(*std::move(model));
  loaded.origin = std::move(imported.origin);
  loaded.softmax_appended = imported.softmax_appended;
  return loaded;
}

}  // namespace nn
