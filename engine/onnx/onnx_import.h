// ONNX import: an ONNX model (PyTorch's or a Keras exporter's) mapped onto
// nnserve's own layers, as a SavedModel (proto/nnserve/v1/model.proto) that
// Model::FromSavedModel loads and the engine runs, serves and fine-tunes like
// a model it trained itself. Library nnonnx (engine/onnx); no gRPC.
//
//   ASSIGN_OR_RETURN(ImportedModel imported, ImportOnnxFile("v/model.onnx"));
//   ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
//                    Model::FromSavedModel(imported.saved));
//   // ModelInfo: imported.origin ("ONNX (pytorch 1.13.0, opset 13)"),
//   // imported.output, imported.softmax_appended.
//
// How a graph maps (done once, at import; the result has no ONNX left in it)
//   The graph must be a chain from its one input to its one output. Each
//   operator becomes an engine layer or changes only how the engine's
//   channels-last tensor is laid out in ONNX's terms (Transpose, Squeeze,
//   Unsqueeze, Identity, Flatten of an already flat tensor); weights are
//   converted to Keras' layouts (proto/nnserve/v1/model.proto, Parameter):
//     Gemm; MatMul [+ Add]                     Dense (kernel = B or B^T)
//     Conv (2-D, group 1, dilation 1)          Conv2D (valid or Keras' same)
//     MaxPool (2-D)                            MaxPooling2D
//     Flatten(axis 1); Reshape to [N,-1]/[N,F] Flatten (a channels-first
//                                              flatten permutes the next
//                                              Dense's rows instead)
//     Relu, Sigmoid, Tanh                      fused into the Dense/Conv
//                                              before, else Activation
//     Softmax, LogSoftmax (last axis, last)    the final softmax
//     RNN (tanh, forward, 1 direction)         SimpleRNN (bias = Wb + Rb);
//                                              return_sequences when Y is
//                                              used, not when Y_h is; a
//                                              Gather of the last time step
//                                              ends the sequence
//     BatchNormalization (inference form)      BatchNormalization
//     Dropout (inference form; mask unused)    Dropout (same rate)
//     Add of a constant after Dense/Conv       added to its bias
//   Constants fold: Constant, and Shape / Gather / Unsqueeze / Squeeze /
//   Concat / Slice / Cast on constants or on the input's shape. A
//   ConstantOfShape of zeros built from the batch size (PyTorch's RNN zero
//   initial state: Shape, Gather, Unsqueeze, Concat, ConstantOfShape, Slice)
//   is recognised as the zero state SimpleRNN starts from.
//   Inputs: one float tensor [N,H,W], [N,1,H,W], [N,H,W,1] or [N,H*W]
//   (H = W then), N symbolic or any number: the model serves one grayscale
//   H x W image per row. Output: [N,classes] probabilities (Softmax),
//   log-probabilities (LogSoftmax) or logits (a linear last layer); for the
//   last two the engine's final softmax turns them into probabilities and
//   `output` / `softmax_appended` say so. Opsets 11 to 17 of the default
//   domain.
//
// Labels (metadata_props; nnserve's own export, onnx_export.h, writes them)
//   An entry whose key is "label_<i>" (i decimal, no leading zero) names
//   class i; other keys are not labels and are not read. The entries are
//   used, as the spec's labels, when they are exactly label_0 ..
//   label_<C-1> for the graph's C classes, each once, each value UTF-8 of
//   at most kMaxOnnxLabelBytes bytes. Anything else — a gap, too few, an
//   index past the classes, an overlong or non-UTF-8 value — and none of
//   them is used: the model still imports, without labels (the class
//   indices serve), and `labels_ignored` says why. Label metadata never
//   refuses a model (a key that appears twice, label or not, is refused by
//   onnx::checker below, as any ONNX tool would). Whoever serves the model
//   may replace them (server/onnx_loader.h: config.textproto, then
//   labels.txt, then these).
//
// Refusals (all INVALID_ARGUMENT, each message naming what is wrong):
//   - bytes that are not an ONNX model: truncated, corrupt or empty
//     ("not an ONNX model: ...");
//   - a file larger than kMaxOnnxFileBytes; more than kMaxOnnxNodes nodes;
//   - a tensor with external data, or claiming more elements than the bytes
//     it holds (checked before anything is allocated from the claim), or
//     more than 2^28 elements;
//   - onnx::checker's verdict ("invalid ONNX model: ...") and strict shape
//     inference's ("ONNX shape inference failed: ...");
//   - an opset outside 11..17, a node of another domain;
//   - more than one input or output ("the graph has 2 inputs ...");
//   - an operator not in the table: `unsupported ONNX operator Einsum (node
//     "/attn/Einsum", opset 13)`; a supported one with attributes the engine
//     cannot run (a ReLU RNN, dilations, grouped convolution, ...), naming
//     the node and the attribute;
//   - shapes that do not fit: the input (e.g. [N,3,28,28]), a weight that
//     does not match its input ("Gemm (node ...): B is [784,128], the input
//     has 700 features"), a branch in the graph, an output that is not
//     [N,classes], a last activation other than softmax (Sigmoid, ReLU,
//     Tanh outputs are not class probabilities; the engine has no other
//     final activation).
// Never crashes on any bytes (tests/fuzz: the onnx_import target).
//
// Thread safety: the functions are reentrant (onnx's schema registry is
// initialised once, thread-safely, by onnx itself).
#ifndef NNSERVE_ENGINE_ONNX_ONNX_IMPORT_H_
#define NNSERVE_ENGINE_ONNX_ONNX_IMPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

// Larger files are refused before they are read (protobuf's own limit).
inline constexpr int64_t kMaxOnnxFileBytes = int64_t{1} << 31;
// Nodes of one graph.
inline constexpr int kMaxOnnxNodes = 10000;
// Opsets of the default ONNX domain that import reads.
inline constexpr int64_t kMinOnnxOpset = 11;
inline constexpr int64_t kMaxOnnxOpset = 17;
// Bytes of one label read from metadata_props.
inline constexpr int64_t kMaxOnnxLabelBytes = 4096;

// What the ONNX model's output was before the engine's final softmax.
enum class OnnxOutputKind {
  kProbabilities,     // it ended in Softmax: served as it was
  kLogProbabilities,  // it ended in LogSoftmax: softmax gives exp(output)
  kLogits,            // it ended in a linear layer: softmax appended
};

// "probabilities", "log-probabilities" or "logits".
absl::string_view OnnxOutputKindName(OnnxOutputKind kind);

struct ImportedModel {
  // A valid model (Model::FromSavedModel accepts it): spec (name from the
  // graph's name, input H x W, layers named as Keras does), parameters in
  // Keras layout, producer "onnx import: <origin>"; no history; labels
  // from metadata_props when they are well-formed (see "Labels").
  nnserve::v1::SavedModel saved;
  // Where it came from, for ModelInfo: "ONNX (pytorch 1.13.0, opset 13)".
  std::string origin;
  std::string producer_name;     // ModelProto.producer_name, may be empty
  std::string producer_version;  // ModelProto.producer_version
  int64_t opset = 0;             // of the default domain
  OnnxOutputKind output = OnnxOutputKind::kProbabilities;
  // True when the ONNX model did not end in Softmax and the engine's softmax
  // was appended (output kLogits or kLogProbabilities).
  bool softmax_appended = false;
  // The ONNX input as it was declared, e.g. "input [N,28,28]".
  std::string input_description;
  // Why metadata_props' label entries were not used ("label_3 is missing
  // (9 label entries for 10 classes)"); empty when they were used or the
  // model has none.
  std::string labels_ignored;
};

// Imports the serialized ModelProto in `bytes`. Errors above.
absl::StatusOr<ImportedModel> ImportOnnx(absl::string_view bytes);

// ImportOnnx of the file at `path`: NOT_FOUND if it does not exist, other
// codes (from errno) for I/O errors, INVALID_ARGUMENT if it is larger than
// kMaxOnnxFileBytes; errors are prefixed with the path.
absl::StatusOr<ImportedModel> ImportOnnxFile(const std::string& path);

}  // namespace nn

#endif  // NNSERVE_ENGINE_ONNX_ONNX_IMPORT_H_
