// The graph walk (onnx_graph.h): inputs, outputs, dispatch, values, and the
// operators that only lay out the data (Transpose, Flatten, Reshape).
#include "engine/onnx/onnx_graph.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "common/status_macros.h"

namespace nn::onnx_import {

using onnx::NodeProto;

// `axis` in [-rank, rank) as a non-negative index, or -1.
int64_t NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return -1;
  return axis < 0 ? axis + rank : axis;
}

std::string IntsString(const std::vector<int64_t>& ints) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < ints.size() && i < 16; ++i) {
    parts.push_back(ints[i] == kBatch ? "N" : absl::StrCat(ints[i]));
  }
  if (ints.size() > 16) parts.push_back("...");
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

absl::StatusOr<MappedGraph> MapGraph(const onnx::GraphProto& graph,
                                     int64_t opset) {
  GraphMapper mapper(graph, opset);
  return mapper.Map();
}

absl::Status GraphMapper::Refuse(const NodeProto& node,
                                 absl::string_view why) const {
  return absl::InvalidArgumentError(
      absl::StrCat(NodeLabel(node), ", opset ", opset_, ": ", why));
}

absl::StatusOr<MappedGraph> GraphMapper::Map() {
  for (const onnx::TensorProto& t : graph_.initializer()) {
    initializers_[t.name()] = &t;
  }
  for (const NodeProto& node : graph_.node()) {
    for (const std::string& name : node.input()) ++uses_[name];
  }
  for (const onnx::ValueInfoProto& output : graph_.output()) {
    ++uses_[output.name()];
  }
  RETURN_IF_ERROR(MapInput());
  for (const NodeProto& node : graph_.node()) RETURN_IF_ERROR(MapNode(node));
  RETURN_IF_ERROR(MapOutput());

  MappedGraph mapped;
  mapped.spec.set_name(graph_.name().empty() ? "onnx_model" : graph_.name());
  mapped.spec.mutable_input()->set_height(input_height_);
  mapped.spec.mutable_input()->set_width(input_width_);
  for (PendingLayer& layer : layers_) {
    for (Param& param : layer.params) {
      nnserve::v1::Parameter* p = mapped.parameters.Add();
      p->set_name(absl::StrCat(layer.spec.name(), "/", param.name));
      p->mutable_shape()->Add(param.shape.begin(), param.shape.end());
      p->mutable_values()->Add(param.values.begin(), param.values.end());
    }
    *mapped.spec.add_layers() = std::move(layer.spec);
  }
  mapped.output = output_;
  mapped.softmax_appended = output_ != OnnxOutputKind::kProbabilities;
  mapped.input_description = input_description_;
  return mapped;
}

absl::Status GraphMapper::MapInput() {
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const onnx::ValueInfoProto& input : graph_.input()) {
    // IR version 3 lists initializers as inputs too.
    if (!initializers_.contains(input.name())) inputs.push_back(&input);
  }
  if (inputs.size() != 1) {
    std::vector<std::string> names;
    for (const auto* input : inputs) names.push_back(DoubleQuote(input->name()));
    return absl::InvalidArgumentError(absl::StrCat(
        "the graph has ", inputs.size(), " inputs (",
        absl::StrJoin(names, ", "),
        "); nnserve serves models with exactly one input, the image"));
  }
  const onnx::ValueInfoProto& input = *inputs[0];
  const std::string prefix =
      absl::StrCat("input ", DoubleQuote(input.name()), " ");
  if (!input.type().has_tensor_type() ||
      input.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "is not a float tensor"));
  }
  const onnx::TensorShapeProto& shape = input.type().tensor_type().shape();
  std::vector<int64_t> dims;
  std::vector<std::string> shown;
  for (int i = 0; i < shape.dim_size(); ++i) {
    const auto& dim = shape.dim(i);
    const std::string& param = dim.dim_param();
    const bool plain_param =
        !param.empty() && param.size() <= 16 &&
        std::all_of(param.begin(), param.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        });
    shown.push_back(dim.has_dim_value() ? absl::StrCat(dim.dim_value())
                    : plain_param       ? param
                                        : "?");
    // The batch dimension, whatever it says: the model serves one image a
    // row. Others must be known.
    dims.push_back(i == 0 ? kBatch : dim.has_dim_value() ? dim.dim_value() : 0);
  }
  input_description_ =
      absl::StrCat(DoubleQuote(input.name()), " [", absl::StrJoin(shown, ","), "]");
  const auto fits = [](int64_t d) { return d >= 1 && d <= 4096; };
  Value data;
  data.kind = Value::kData;
  const size_t rank = dims.size();
  if (rank == 3 && fits(dims[1]) && fits(dims[2])) {
    data.axes = {kBatchAxis, 0, 1};
    engine_shape_ = {dims[1], dims[2]};
  } else if (rank == 4 && dims[1] == 1 && fits(dims[2]) && fits(dims[3])) {
    data.axes = {kBatchAxis, kUnitAxis, 0, 1};
    engine_shape_ = {dims[2], dims[3]};
  } else if (rank == 4 && dims[3] == 1 && fits(dims[1]) && fits(dims[2])) {
    data.axes = {kBatchAxis, 0, 1, kUnitAxis};
    engine_shape_ = {dims[1], dims[2]};
  } else if (rank == 2 && dims[1] >= 1 && dims[1] <= 4096 * 4096 &&
             std::llround(std::sqrt(static_cast<double>(dims[1]))) *
                     std::llround(std::sqrt(static_cast<double>(dims[1]))) ==
                 dims[1]) {
    const int64_t side = std::llround(std::sqrt(static_cast<double>(dims[1])));
    engine_shape_ = {side, side};
    nnserve::v1::LayerSpec flatten;
    flatten.mutable_flatten();
    AppendLayer(std::move(flatten));
    engine_shape_ = {dims[1]};
    data.axes = {kBatchAxis, 0};
    input_height_ = input_width_ = static_cast<int>(side);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "has shape [", absl::StrJoin(shown, ","),
        "], which does not fit: nnserve serves one grayscale image a row, "
        "float [N,H,W], [N,1,H,W], [N,H,W,1] or [N,H*W] (square) with H and W "
        "known and at most 4096"));
  }
  if (input_height_ == 0) {
    input_height_ = static_cast<int>(engine_shape_[0]);
    input_width_ = static_cast<int>(engine_shape_[1]);
  }
  data.dims = OnnxDims(data.axes);
  data.generation = generation_ = 1;
  data_name_ = input.name();
  values_[input.name()] = std::move(data);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapNode(const NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported ONNX operator ", Quote(node.domain()), ".",
        OperatorName(node.op_type()), " (node ", DoubleQuote(node.name()),
        "): nnserve reads the default ONNX domain only"));
  }
  const std::string& op = node.op_type();
  // A zero state (ConstantOfShape) stays zeros through the operators that
  // only reshape, select or convert it.
  if (op == "Gather" || op == "Unsqueeze" || op == "Squeeze" || op == "Slice" ||
      op == "Cast") {
    if (auto it = values_.find(node.input_size() > 0 ? node.input(0) : "");
        it != values_.end() && it->second.kind == Value::kZeros) {
      Value zeros = it->second;
      SetOutput(node, 0, std::move(zeros));
      return absl::OkStatus();
    }
  }
  if (op == "Constant") return MapConstant(node);
  if (op == "Identity") {
    ASSIGN_OR_RETURN(const Value* in, Input(node, 0));
    if (in->kind == Value::kData) {
      RETURN_IF_ERROR(DataInput(node, 0).status());
      SetData(node, 0, in->axes, in->order);
      return absl::OkStatus();
    }
    Value copy = *in;
    SetOutput(node, 0, std::move(copy));
    return absl::OkStatus();
  }
  if (op == "Shape") return MapShape(node);
  if (op == "Gather") return MapGather(node);
  if (op == "Unsqueeze") return MapUnsqueeze(node);
  if (op == "Squeeze") return MapSqueeze(node);
  if (op == "Concat") return MapConcat(node);
  if (op == "ConstantOfShape") return MapConstantOfShape(node);
  if (op == "Slice") return MapSlice(node);
  if (op == "Cast") return MapCast(node);
  if (op == "Transpose") return MapTranspose(node);
  if (op == "Flatten") return MapFlatten(node);
  if (op == "Reshape") return MapReshape(node);
  if (op == "Gemm") return MapGemm(node);
  if (op == "MatMul") return MapMatMul(node);
  if (op == "Add") return MapAdd(node);
  if (op == "Relu") return MapActivation(node, nnserve::v1::ACTIVATION_RELU);
  if (op == "Sigmoid") return MapActivation(node, nnserve::v1::ACTIVATION_SIGMOID);
  if (op == "Tanh") return MapActivation(node, nnserve::v1::ACTIVATION_TANH);
  if (op == "Softmax") return MapSoftmax(node, /*log=*/false);
  if (op == "LogSoftmax") return MapSoftmax(node, /*log=*/true);
  if (op == "Conv") return MapConvOrPool(node, /*conv=*/true);
  if (op == "MaxPool") return MapConvOrPool(node, /*conv=*/false);
  if (op == "BatchNormalization") return MapBatchNormalization(node);
  if (op == "Dropout") return MapDropout(node);
  if (op == "RNN") return MapRnn(node);
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported ONNX operator ", OperatorName(op), " (node ",
                   DoubleQuote(node.name()), ", opset ", opset_, ")"));
}

absl::Status GraphMapper::MapOutput() {
  if (graph_.output_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the graph has ", graph_.output_size(),
        " outputs; nnserve serves models with exactly one output, the class "
        "scores"));
  }
  const std::string& name = graph_.output(0).name();
  auto it = values_.find(name);
  if (it == values_.end() || it->second.kind != Value::kData ||
      it->second.generation != generation_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the graph's output ", DoubleQuote(name),
        " is not computed from its input by a chain of layers"));
  }
  const Value& out = it->second;
  if (out.axes != std::vector<int>{kBatchAxis, 0} || engine_shape_.size() != 1 ||
      !out.order.empty() || engine_shape_[0] < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the graph's output ", DoubleQuote(name), " is ", DimsString(out),
        "; nnserve serves class scores [N,classes] (at least 2 classes)"));
  }
  if (ended_) return absl::OkStatus();
  if (!last_activation_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the graph's output ", DoubleQuote(name), " comes from ",
        last_activation_,
        ": nnserve serves softmax probabilities, so a model must end in "
        "Softmax, LogSoftmax or a linear layer (logits); the engine has no "
        "other final activation"));
  }
  // Logits: the engine's softmax goes into the last Dense, or after it.
  output_ = OnnxOutputKind::kLogits;
  if (PendingLayer* last = OpenLinearLayer();
      last != nullptr && last->spec.has_dense()) {
    last->spec.mutable_dense()->set_activation(nnserve::v1::ACTIVATION_SOFTMAX);
  } else {
    nnserve::v1::LayerSpec softmax;
    softmax.mutable_activation()->set_activation(nnserve::v1::ACTIVATION_SOFTMAX);
    AppendLayer(std::move(softmax));
  }
  return absl::OkStatus();
}

// --- Values -----------------------------------------------------------------

bool GraphMapper::HasInput(const NodeProto& node, int index) const {
  return index < node.input_size() && !node.input(index).empty();
}

int GraphMapper::UseCount(const std::string& name) const {
  auto it = uses_.find(name);
  return it == uses_.end() ? 0 : it->second;
}

absl::StatusOr<const Value*> GraphMapper::Input(const NodeProto& node,
                                                int index) {
  if (!HasInput(node, index)) {
    return Refuse(node, absl::StrCat("input ", index, " is missing"));
  }
  const std::string& name = node.input(index);
  if (auto it = values_.find(name); it != values_.end()) return &it->second;
  if (auto it = initializers_.find(name); it != initializers_.end()) {
    Value value;
    value.kind = Value::kConst;
    ASSIGN_OR_RETURN(value.constant, ReadTensor(*it->second));
    return &(values_[name] = std::move(value));
  }
  return Refuse(node, absl::StrCat("reads ", DoubleQuote(name),
                                   ", which no earlier node computes"));
}

absl::StatusOr<const Value*> GraphMapper::DataInput(const NodeProto& node,
                                                    int index) {
  ASSIGN_OR_RETURN(const Value* value, Input(node, index));
  if (value->kind != Value::kData) {
    return Refuse(node, absl::StrCat("input ", DoubleQuote(node.input(index)),
                                     " must come from the model's input"));
  }
  if (value->generation != generation_) {
    return Refuse(node, absl::StrCat(
        "the graph branches: ", DoubleQuote(node.input(index)),
        " is read after ", DoubleQuote(data_name_),
        " was computed from it (nnserve maps a chain of layers)"));
  }
  if (ended_ && node.op_type() != "Identity") {
    return Refuse(node, "follows the final Softmax/LogSoftmax, which must be "
                        "the graph's last operator");
  }
  return value;
}

absl::StatusOr<ConstTensor> GraphMapper::ConstInput(const NodeProto& node,
                                                    int index, bool integer) {
  ASSIGN_OR_RETURN(const Value* value, Input(node, index));
  if (value->kind != Value::kConst) {
    return Refuse(node, absl::StrCat("input ", DoubleQuote(node.input(index)),
                                     " must be a constant"));
  }
  if (value->constant.integer != integer) {
    return Refuse(node, absl::StrCat("input ", DoubleQuote(node.input(index)),
                                     " must be a ",
                                     integer ? "integer" : "float", " tensor"));
  }
  return value->constant;
}

absl::StatusOr<std::vector<int64_t>> GraphMapper::IntsInput(
    const NodeProto& node, int index) {
  ASSIGN_OR_RETURN(const Value* value, Input(node, index));
  if (value->kind == Value::kInts) return value->ints;
  if (value->kind == Value::kConst && value->constant.integer &&
      value->constant.dims.size() <= 1) {
    return value->constant.ints;
  }
  return Refuse(node, absl::StrCat("input ", DoubleQuote(node.input(index)),
                                   " must be a constant 1-D integer tensor"));
}

absl::StatusOr<std::vector<int64_t>> GraphMapper::AxesOperand(
    const NodeProto& node, bool* present) {
  if (opset_ < 13) {
    *present = FindAttribute(node, "axes") != nullptr;
    return IntsAttribute(node, "axes", {});
  }
  *present = HasInput(node, 1);
  if (!*present) return std::vector<int64_t>();
  return IntsInput(node, 1);
}

void GraphMapper::SetOutput(const NodeProto& node, int index, Value value) {
  if (index < node.output_size() && !node.output(index).empty()) {
    values_[node.output(index)] = std::move(value);
  }
}

void GraphMapper::SetData(const NodeProto& node, int index,
                          std::vector<int> axes, std::vector<int64_t> order) {
  Value value;
  value.kind = Value::kData;
  value.dims = OnnxDims(axes);
  value.axes = std::move(axes);
  value.order = std::move(order);
  value.generation = ++generation_;
  data_name_ = index < node.output_size() ? node.output(index) : "";
  SetOutput(node, index, std::move(value));
}

std::vector<int64_t> GraphMapper::OnnxDims(const std::vector<int>& axes) const {
  std::vector<int64_t> dims;
  for (int axis : axes) {
    dims.push_back(axis == kBatchAxis ? kBatch
                   : axis == kUnitAxis ? 1
                                       : engine_shape_[axis]);
  }
  return dims;
}

std::string GraphMapper::DimsString(const Value& data) const {
  return IntsString(data.dims);
}

// --- Layout -------------------------------------------------------------------

absl::Status GraphMapper::MapTranspose(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* data, DataInput(node, 0));
  const int64_t rank = static_cast<int64_t>(data->axes.size());
  std::vector<int64_t> reversed;
  for (int64_t a = rank - 1; a >= 0; --a) reversed.push_back(a);
  ASSIGN_OR_RETURN(const std::vector<int64_t> perm,
                   IntsAttribute(node, "perm", reversed));
  std::vector<bool> seen(rank, false);
  if (static_cast<int64_t>(perm.size()) != rank) {
    return Refuse(node, absl::StrCat("perm has ", perm.size(),
                                     " entries for a rank-", rank, " input"));
  }
  std::vector<int> out;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) return Refuse(node, "perm is not a permutation");
    seen[p] = true;
    out.push_back(data->axes[p]);
  }
  SetData(node, 0, std::move(out), data->order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapFlatten(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* data, DataInput(node, 0));
  ASSIGN_OR_RETURN(const int64_t axis, IntAttribute(node, "axis", 1));
  const int64_t rank = static_cast<int64_t>(data->axes.size());
  if (NormalizeAxis(axis, rank) != 1 || data->axes[0] != kBatchAxis) {
    return Refuse(node, absl::StrCat("flattens ", DimsString(*data), " from axis ",
                                     axis, "; nnserve flattens each image "
                                     "(axis 1, batch first)"));
  }
  const Value copy = *data;
  return FlattenData(node, copy);
}

absl::Status GraphMapper::MapReshape(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* data, DataInput(node, 0));
  const Value copy = *data;
  ASSIGN_OR_RETURN(const std::vector<int64_t> shape, IntsInput(node, 1));
  ASSIGN_OR_RETURN(const int64_t allow_zero, IntAttribute(node, "allowzero", 0));
  int64_t features = 1;
  for (int64_t d : engine_shape_) features *= d;
  const bool batch_first = !copy.axes.empty() && copy.axes[0] == kBatchAxis;
  const bool first_ok = shape.size() == 2 &&
                        (shape[0] == kBatch || (shape[0] == 0 && allow_zero == 0) ||
                         (shape[0] == -1 && shape[1] == features));
  const bool second_ok =
      shape.size() == 2 && (shape[1] == features || (shape[1] == -1 && shape[0] != -1));
  if (!batch_first || !first_ok || !second_ok) {
    return Refuse(node, absl::StrCat(
        "reshapes ", DimsString(copy), " to ", IntsString(shape),
        "; nnserve maps a Reshape only as a flatten of each image to [N,",
        features, "]"));
  }
  return FlattenData(node, copy);
}

}  // namespace nn::onnx_import
