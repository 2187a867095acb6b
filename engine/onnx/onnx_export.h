// ONNX export: any model nnserve serves or trains, as an ONNX model (opset 13,
// IR version 7) that onnx.checker accepts and ONNX Runtime runs with
// nnserve's outputs (within the engine's numerical contract, engine/model.h).
// Library nnonnx (engine/onnx).
//
//   ASSIGN_OR_RETURN(std::string bytes, ExportOnnx(model->ToSavedModel()));
//
// The graph
//   input          "input", float [N,H,W] (N symbolic), pixels as the engine
//                  takes them (values in [0,1])
//   output         "probabilities", float [N,classes] (rows sum to 1)
//   Dense          Gemm (B = the Keras kernel {in,units}, transB 0)
//   Conv2D         Conv on NCHW (an Unsqueeze makes [N,1,H,W] of the
//                  input); Keras' 'same' as explicit pads (extra at the
//                  bottom/right)
//   MaxPooling2D   MaxPool (same pads; ONNX pads max-pooling with -inf,
//                  which is Keras' 'same')
//   Flatten        Transpose to NHWC + Flatten: Keras' channels-last order
//   SimpleRNN      Transpose to [T,N,F], RNN (tanh, B = [bias, 0]), then
//                  Squeeze + Transpose back (return_sequences) or Squeeze of
//                  Y_h; no initial_h (zero)
//   Dropout        Dropout with its ratio (the identity at inference)
//   BatchNormalization  BatchNormalization over the engine's last axis
//                  (Transposes around it on a [N,T,F] / [N,H,W] tensor)
//   activations    Relu, Sigmoid, Tanh, Softmax (axis -1) after the layer
// Initializers are named "<layer>/<param>" as in the SavedModel; nodes
// "<layer>/<Op>". ImportOnnx of the result gives the same layers again (up
// to the Dense/Flatten order it needs).
//
// Errors: Model::FromSavedModel's (INVALID_ARGUMENT) when it refuses
// `saved`; INTERNAL if onnx::checker refused the result (a bug; the tests
// check every layer kind). Labels go to metadata_props "label_<i>".
#ifndef NNSERVE_ENGINE_ONNX_ONNX_EXPORT_H_
#define NNSERVE_ENGINE_ONNX_ONNX_EXPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

inline constexpr int64_t kExportOnnxOpset = 13;

// The serialized onnx.ModelProto of `saved`.
absl::StatusOr<std::string> ExportOnnx(const nnserve::v1::SavedModel& saved);

}  // namespace nn

#endif  // NNSERVE_ENGINE_ONNX_ONNX_EXPORT_H_
