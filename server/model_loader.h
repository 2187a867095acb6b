// Model formats the repository can load: which file in a version directory
// holds the model, and how it becomes an engine Model.
//
//   <root>/<model>/<version>/model.nnm     nnserve's own file (engine/model_file.h)
//   <root>/<model>/<version>/model.onnx    an ONNX model, imported onto the
//                                          engine's layers (onnx_loader.h)
//
// Each format is a ModelLoader: a file name and a function from that file's
// path to a validated engine Model (a format that converts to a SavedModel
// ends in Model::FromSavedModel, which validates it, as LoadModel does) and
// where it came from (LoadedModel). The Model carries everything else
// ModelInfo reports about a version (spec and layer summary, labels, input
// shape, training history); the repository adds the file's path and the
// loader's format. Another format is one more loader:
// ModelLoaderRegistry::Add, or a line in ModelLoaderRegistry::Default().
//
// Choosing the loader of a version: the version directory's model files
// (the registered file names present in it) decide.
//   - none: the version is not there yet (a writer has not renamed its file
//     into place), and the scan ignores it;
//   - exactly one: its loader loads the version;
//   - two or more: the version is ambiguous and FAILED (error names the
//     files), not loaded. Deliberately no precedence rule: picking one would
//     silently serve a model the operator may not have meant (a half-done
//     conversion, a copy left behind), and a FAILED version is visible in
//     ModelInfo while the previous version keeps serving. Removing all but
//     one file changes the directory, so the version is tried again at the
//     next poll.
#ifndef NNSERVE_SERVER_MODEL_LOADER_H_
#define NNSERVE_SERVER_MODEL_LOADER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

// The file the repository publishes (Publish writes SavedModels as .nnm).
inline constexpr char kNativeModelFileName[] = "model.nnm";

// What a loader gives: the model, and for a converted format where it came
// from. Implicit from a bare model (nnserve's own format: no origin).
struct LoadedModel {
  LoadedModel(std::shared_ptr<const Model> m)  // NOLINT(runtime/explicit)
      : model(std::move(m)) {}

  std::shared_ptr<const Model> model;  // never null
  // The importer's description ("ONNX (pytorch 1.13.0, opset 13)"); empty
  // for a model nnserve trained (ModelInfo then derives it from the history).
  std::string origin;
  // The source model's output was not probabilities and the engine's final
  // softmax was appended (reported in ModelInfo).
  bool softmax_appended = false;
};

struct ModelLoader {
  // Reads the file at `path`, validates it and returns the model; errors
  // name the path and say what is wrong (a bad file is an error, never a
  // crash). Called on the repository's loading thread, never concurrently
  // for one version; must be safe to call concurrently for different files.
  using LoadFunction =
      std::function<absl::StatusOr<LoadedModel>(const std::string& path)>;

  // The file name in a version directory ("model.nnm"): no '/', not
  // starting with '.' (temporary files do), not ending with ".tmp".
  std::string file_name;
  // Short name for logs, errors and VersionInfo.format ("nnserve", "onnx").
  std::string format;
  LoadFunction load;
};

// The formats one repository knows, keyed by file name. Not thread-safe to
// modify; const use is thread-safe.
class ModelLoaderRegistry {
 public:
  ModelLoaderRegistry() = default;

  // The formats nnserve ships: model.nnm ("nnserve") and model.onnx
  // ("onnx", LoadOnnxModel).
  static ModelLoaderRegistry Default();

  // INVALID_ARGUMENT for an invalid file name, an empty format or no load
  // function; ALREADY_EXISTS if a loader has this file name.
  absl::Status Add(ModelLoader loader);

  // The registered file names, sorted.
  std::vector<std::string> file_names() const;

  // The loader for a version directory holding the model files `present`
  // (registered names; see the header comment): FAILED_PRECONDITION naming
  // the files when there are two or more, NOT_FOUND when there is none or a
  // name is not registered.
  absl::StatusOr<const ModelLoader*> Choose(
      const std::vector<std::string>& present) const;

 private:
  std::vector<ModelLoader> loaders_;  // sorted by file_name
};

}  // namespace nn

#endif  // NNSERVE_SERVER_MODEL_LOADER_H_
