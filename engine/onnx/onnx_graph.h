// The graph walk of ONNX import (internal to nnonnx; the contract is in
// onnx_import.h).
//
// Nodes are visited once, in the graph's (topological) order. Every ONNX
// value becomes one of:
//   kConst   a tensor known at import (initializers, Constant, folds);
//   kInts    a 1-D int64 vector (or scalar) computed from the input's shape:
//            entries are numbers or kBatch, the symbolic batch size;
//   kZeros   zeros of a shape built from the batch size (ConstantOfShape):
//            only an RNN's initial state may read it;
//   kData    the image flowing through the layers. The engine holds it
//            channels-last with per-sample shape `engine_shape_`; `axes`
//            says which engine axis each ONNX axis is (kBatchAxis, or
//            kUnitAxis for a size-1 axis the engine does not have), so
//            Transpose, Squeeze and Unsqueeze change only `axes`. After a
//            channels-first flatten the engine's features are a permutation
//            of ONNX's: engine feature i is ONNX feature order[i].
// Only the newest kData value may be read (generation): a graph that
// branches is refused.
#ifndef NNSERVE_ENGINE_ONNX_ONNX_GRAPH_H_
#define NNSERVE_ENGINE_ONNX_ONNX_GRAPH_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/onnx/onnx_import.h"
#include "engine/onnx/onnx_tensors.h"
#include "nnserve/v1/model.pb.h"
#include "onnx/onnx_pb.h"  // defines ONNX_API, includes onnx-ml.pb.h

namespace nn::onnx_import {

// The symbolic batch size in kInts and ONNX dims (never a real dimension,
// and not ONNX's -1 or 0 of Reshape).
inline constexpr int64_t kBatch = std::numeric_limits<int64_t>::min();
inline constexpr int kBatchAxis = -2;  // an `axes` entry: the batch axis
inline constexpr int kUnitAxis = -1;   // an `axes` entry: size 1, no engine axis

struct Value {
  enum Kind { kConst, kInts, kZeros, kData };
  Kind kind = kConst;
  ConstTensor constant;       // kConst
  std::vector<int64_t> ints;  // kInts
  bool scalar = false;        // kInts: a 0-D tensor
  std::vector<int> axes;      // kData: per ONNX axis
  std::vector<int64_t> dims;  // kData: ONNX dims (kBatch for the batch axis)
  std::vector<int64_t> order;  // kData, 1-D engine shape only; empty: identity
  int64_t generation = 0;     // kData
};

struct MappedGraph {
  nnserve::v1::ModelSpec spec;
  google::protobuf::RepeatedPtrField<nnserve::v1::Parameter> parameters;
  OnnxOutputKind output = OnnxOutputKind::kProbabilities;
  bool softmax_appended = false;
  std::string input_description;
};

// `axis` in [-rank, rank) as a non-negative index, or -1.
int64_t NormalizeAxis(int64_t axis, int64_t rank);
// "[N,1,28,28]": kBatch as N, at most 16 entries.
std::string IntsString(const std::vector<int64_t>& ints);

// Maps `graph` (already checked: tensor claims, onnx::checker) at `opset`.
absl::StatusOr<MappedGraph> MapGraph(const onnx::GraphProto& graph,
                                     int64_t opset);

// The walk's state; the per-operator methods are split over onnx_graph.cc
// (values, layout), onnx_folding.cc (folding), onnx_layers.cc (layers) and
// onnx_rnn.cc (RNN, BatchNormalization, Dropout).
class GraphMapper {
 public:
  GraphMapper(const onnx::GraphProto& graph, int64_t opset)
      : graph_(graph), opset_(opset) {}
  absl::StatusOr<MappedGraph> Map();

 private:
  // One layer of the spec being built, with its parameters (Keras layout).
  struct Param {
    std::string name;  // "kernel", "bias", ...
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  struct PendingLayer {
    nnserve::v1::LayerSpec spec;
    std::vector<Param> params;
  };

  absl::Status MapInput();
  absl::Status MapNode(const onnx::NodeProto& node);
  absl::Status MapOutput();

  // Values.
  absl::StatusOr<const Value*> Input(const onnx::NodeProto& node, int index);
  bool HasInput(const onnx::NodeProto& node, int index) const;
  absl::StatusOr<const Value*> DataInput(const onnx::NodeProto& node,
                                         int index);
  absl::StatusOr<ConstTensor> ConstInput(const onnx::NodeProto& node,
                                         int index, bool integer);
  absl::StatusOr<std::vector<int64_t>> IntsInput(const onnx::NodeProto& node,
                                                 int index);
  // Axes from the attribute (opset < 13) or input 1 (opset >= 13).
  absl::StatusOr<std::vector<int64_t>> AxesOperand(const onnx::NodeProto& node,
                                                   bool* present);
  void SetOutput(const onnx::NodeProto& node, int index, Value value);
  void SetData(const onnx::NodeProto& node, int index, std::vector<int> axes,
               std::vector<int64_t> order);
  // The ONNX dims of a data value laid out as `axes` on engine_shape_.
  std::vector<int64_t> OnnxDims(const std::vector<int>& axes) const;
  std::string DimsString(const Value& data) const;
  int UseCount(const std::string& name) const;

  // Folding (onnx_folding.cc) and layout (onnx_graph.cc).
  absl::Status MapConstant(const onnx::NodeProto& node);
  absl::Status MapShape(const onnx::NodeProto& node);
  absl::Status MapGather(const onnx::NodeProto& node);
  absl::Status MapUnsqueeze(const onnx::NodeProto& node);
  absl::Status MapSqueeze(const onnx::NodeProto& node);
  absl::Status MapConcat(const onnx::NodeProto& node);
  absl::Status MapConstantOfShape(const onnx::NodeProto& node);
  absl::Status MapSlice(const onnx::NodeProto& node);
  absl::Status MapCast(const onnx::NodeProto& node);
  absl::Status MapTranspose(const onnx::NodeProto& node);
  absl::Status MapFlatten(const onnx::NodeProto& node);
  absl::Status MapReshape(const onnx::NodeProto& node);

  // Layers (onnx_layers.cc, onnx_rnn.cc).
  absl::Status MapGemm(const onnx::NodeProto& node);
  absl::Status MapMatMul(const onnx::NodeProto& node);
  absl::Status MapAdd(const onnx::NodeProto& node);
  absl::Status MapActivation(const onnx::NodeProto& node,
                             nnserve::v1::Activation activation);
  absl::Status MapSoftmax(const onnx::NodeProto& node, bool log);
  absl::Status MapConvOrPool(const onnx::NodeProto& node, bool conv);
  absl::Status MapBatchNormalization(const onnx::NodeProto& node);
  absl::Status MapDropout(const onnx::NodeProto& node);
  absl::Status MapRnn(const onnx::NodeProto& node);

  // Appends a Flatten of the data (any layout) to engine features;
  // `data` becomes the new data value of node output 0.
  absl::Status FlattenData(const onnx::NodeProto& node, const Value& data);
  // Appends a Dense from the data's features with kernel {in, units}
  // given in ONNX feature order (rows are permuted by the data's order).
  absl::Status AppendDense(const onnx::NodeProto& node, const Value& data,
                           std::vector<float> kernel, int64_t in,
                           int64_t units, std::vector<float> bias);
  PendingLayer& AppendLayer(nnserve::v1::LayerSpec spec);
  // The last layer when it is a Dense or Conv2D with a linear activation
  // (an activation or a bias can still be folded into it), else nullptr.
  PendingLayer* OpenLinearLayer();
  absl::Status Refuse(const onnx::NodeProto& node,
                      absl::string_view why) const;

  const onnx::GraphProto& graph_;
  const int64_t opset_;
  absl::flat_hash_map<std::string, const onnx::TensorProto*> initializers_;
  absl::flat_hash_map<std::string, Value> values_;
  absl::flat_hash_map<std::string, int> uses_;
  absl::flat_hash_map<std::string, int> kind_counts_;  // layer names
  std::vector<PendingLayer> layers_;
  std::vector<int64_t> engine_shape_;  // per sample, after layers_
  int64_t generation_ = 0;            // of the newest kData value
  std::string data_name_;             // its ONNX name
  int input_height_ = 0;
  int input_width_ = 0;
  // Set by Softmax / LogSoftmax: no data operator may follow.
  bool ended_ = false;
  OnnxOutputKind output_ = OnnxOutputKind::kLogits;
  // The activation operator the data went through last, "" when the last
  // layer that changed values was linear (Dropout does not count).
  std::string last_activation_;
  std::string input_description_;
};

}  // namespace nn::onnx_import

#endif  // NNSERVE_ENGINE_ONNX_ONNX_GRAPH_H_
