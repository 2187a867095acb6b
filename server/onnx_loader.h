// The model.onnx loader of the repository (model_loader.h): an ONNX model
// imported once onto the engine's layers (engine/onnx/onnx_import.h), so a
// version directory holding model.onnx is validated, warmed up, served,
// reported and fine-tuned like one holding model.nnm.
//
//   <root>/<model>/<version>/model.onnx
//   <root>/<model>/<version>/labels.txt    optional: one label per line
//
// Labels, the first that is there wins:
//   1. the model's config.textproto `labels` (the operator's override, for
//      every version of the model, exactly as for model.nnm);
//   2. labels.txt beside model.onnx (this version's own labels, as a .nnm
//      carries its own in its spec);
//   3. the model's own, from its metadata_props "label_<i>" entries (what
//      nnserve's export writes, so an exported model dropped into a
//      repository keeps its labels; engine/onnx/onnx_import.h, "Labels").
//      Malformed entries (a gap, too few, an index past the classes, a
//      value over kMaxOnnxLabelBytes or not UTF-8) are ignored as a whole,
//      never an error: the version loads with the class indices and the
//      loader logs a warning naming the entry;
//   4. the class indices "0" .. "<classes - 1>".
// labels.txt: UTF-8 text, one label per line ("\n" or "\r\n"), trailing
// empty lines ignored; it must hold exactly one label per class, else the
// version is FAILED ("labels.txt: 9 labels for 10 classes"). At most
// kMaxLabelsFileBytes. The repository retries a FAILED version when its
// model file changes (touch model.onnx after fixing labels.txt).
//
// Errors: the importer's (INVALID_ARGUMENT naming the operator, node and
// opset, or the shape; NOT_FOUND / errno codes for I/O), prefixed with the
// path; Model::FromSavedModel's for a mapped model the engine refuses.
#ifndef NNSERVE_SERVER_ONNX_LOADER_H_
#define NNSERVE_SERVER_ONNX_LOADER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/model_loader.h"

namespace nn {

inline constexpr char kOnnxModelFileName[] = "model.onnx";
inline constexpr char kOnnxLabelsFileName[] = "labels.txt";
inline constexpr int64_t kMaxLabelsFileBytes = int64_t{1} << 20;

// Imports `path` (a model.onnx) with the labels.txt beside it, if any.
// Reentrant.
absl::StatusOr<LoadedModel> LoadOnnxModel(const std::string& path);

}  // namespace nn

#endif  // NNSERVE_SERVER_ONNX_LOADER_H_
