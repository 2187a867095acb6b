// The graph walk's constant folding and size-1 axis operators
// (onnx_graph.h): Constant, Shape, Gather, Unsqueeze, Squeeze, Concat,
// ConstantOfShape, Slice, Cast.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/onnx/onnx_graph.h"

namespace nn::onnx_import {

using onnx::NodeProto;

absl::Status GraphMapper::MapConstant(const NodeProto& node) {
  Value value;
  value.kind = Value::kConst;
  if (const auto* a = FindAttribute(node, "value"); a != nullptr && a->has_t()) {
    ASSIGN_OR_RETURN(value.constant, ReadTensor(a->t()));
  } else if (const auto* f = FindAttribute(node, "value_float"); f != nullptr) {
    value.constant.floats = {f->f()};
  } else if (const auto* fs = FindAttribute(node, "value_floats"); fs != nullptr) {
    value.constant.dims = {fs->floats_size()};
    value.constant.floats.assign(fs->floats().begin(), fs->floats().end());
  } else if (const auto* i = FindAttribute(node, "value_int"); i != nullptr) {
    value.constant.integer = true;
    value.constant.ints = {i->i()};
  } else if (const auto* is = FindAttribute(node, "value_ints"); is != nullptr) {
    value.constant.integer = true;
    value.constant.dims = {is->ints_size()};
    value.constant.ints.assign(is->ints().begin(), is->ints().end());
  } else {
    return Refuse(node, "has no value nnserve reads (value, value_float(s), "
                        "value_int(s))");
  }
  SetOutput(node, 0, std::move(value));
  return absl::OkStatus();
}

absl::Status GraphMapper::MapShape(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* in, Input(node, 0));
  std::vector<int64_t> dims;
  if (in->kind == Value::kData) {
    dims = in->dims;  // as it was when computed (engine_shape_ moves on)
  } else if (in->kind == Value::kConst) {
    dims = in->constant.dims;
  } else {
    return Refuse(node, "reads the shape of a value nnserve does not track");
  }
  const int64_t rank = static_cast<int64_t>(dims.size());
  ASSIGN_OR_RETURN(int64_t start, IntAttribute(node, "start", 0));
  ASSIGN_OR_RETURN(int64_t end, IntAttribute(node, "end", rank));
  start = std::clamp(start < 0 ? start + rank : start, int64_t{0}, rank);
  end = std::clamp(end < 0 ? end + rank : end, int64_t{0}, rank);
  Value value;
  value.kind = Value::kInts;
  if (start < end) value.ints.assign(dims.begin() + start, dims.begin() + end);
  SetOutput(node, 0, std::move(value));
  return absl::OkStatus();
}

absl::Status GraphMapper::MapGather(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* in, Input(node, 0));
  ASSIGN_OR_RETURN(const int64_t axis, IntAttribute(node, "axis", 0));
  ASSIGN_OR_RETURN(const Value* index_value, Input(node, 1));
  if (index_value->kind != Value::kConst || !index_value->constant.integer ||
      index_value->constant.dims.size() > 1) {
    return Refuse(node, "the indices must be a constant scalar or 1-D tensor");
  }
  const ConstTensor& indices = index_value->constant;
  if (in->kind == Value::kInts ||
      (in->kind == Value::kConst && in->constant.integer &&
       in->constant.dims.size() <= 1)) {
    const std::vector<int64_t>& from =
        in->kind == Value::kInts ? in->ints : in->constant.ints;
    if (axis != 0 && axis != -1) return Refuse(node, "axis must be 0 on a 1-D tensor");
    Value value;
    value.kind = Value::kInts;
    value.scalar = indices.dims.empty();
    for (int64_t i : indices.ints) {
      const int64_t k = NormalizeAxis(i, static_cast<int64_t>(from.size()));
      if (k < 0) return Refuse(node, absl::StrCat("index ", i, " is out of range"));
      value.ints.push_back(from[k]);
    }
    SetOutput(node, 0, std::move(value));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const Value* data, DataInput(node, 0));
  const int64_t a = NormalizeAxis(axis, static_cast<int64_t>(data->axes.size()));
  if (a < 0 || !indices.dims.empty()) {
    return Refuse(node, "on the data path only a scalar index on a valid axis "
                        "is supported (the last time step of a sequence)");
  }
  const int engine_axis = data->axes[a];
  const int64_t size = engine_axis == kUnitAxis ? 1
                       : engine_axis == kBatchAxis ? 0
                                                   : engine_shape_[engine_axis];
  const int64_t index = indices.ints[0] < 0 ? indices.ints[0] + size : indices.ints[0];
  std::vector<int> axes = data->axes;
  axes.erase(axes.begin() + a);
  if (engine_axis == kUnitAxis && index == 0) {  // a squeeze
    SetData(node, 0, std::move(axes), data->order);
    return absl::OkStatus();
  }
  PendingLayer* last = layers_.empty() ? nullptr : &layers_.back();
  if (engine_axis != 0 || last == nullptr || !last->spec.has_simple_rnn() ||
      !last->spec.simple_rnn().return_sequences() || index != size - 1 ||
      engine_shape_.size() != 2) {
    return Refuse(node, absl::StrCat(
        "selects index ", indices.ints[0], " of axis ", axis, " of ",
        DimsString(*data),
        "; the only selection nnserve maps is the last time step of a "
        "SimpleRNN's sequence"));
  }
  last->spec.mutable_simple_rnn()->set_return_sequences(false);
  engine_shape_ = {engine_shape_[1]};
  for (int& e : axes) {
    if (e == 1) e = 0;
  }
  SetData(node, 0, std::move(axes), {});
  return absl::OkStatus();
}

absl::Status GraphMapper::MapUnsqueeze(const NodeProto& node) {
  bool present = false;
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOperand(node, &present));
  ASSIGN_OR_RETURN(const Value* in, Input(node, 0));
  if (in->kind == Value::kInts) {
    if (!in->scalar || axes.size() != 1 || (axes[0] != 0 && axes[0] != -1)) {
      return Refuse(node, "unsqueezes a shape vector other than a scalar");
    }
    Value value = *in;
    value.scalar = false;
    SetOutput(node, 0, std::move(value));
    return absl::OkStatus();
  }
  // The new axes' positions in the output, ascending.
  const size_t in_rank =
      in->kind == Value::kConst ? in->constant.dims.size() : in->axes.size();
  const int64_t rank = static_cast<int64_t>(in_rank + axes.size());
  if (axes.empty() || rank > kMaxTensorRank) return Refuse(node, "needs 1 to a few axes");
  for (int64_t& a : axes) {
    a = NormalizeAxis(a, rank);
    if (a < 0) return Refuse(node, "has an axis out of range");
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
    return Refuse(node, "repeats an axis");
  }
  if (in->kind == Value::kConst) {
    Value value = *in;
    for (int64_t a : axes) value.constant.dims.insert(value.constant.dims.begin() + a, 1);
    SetOutput(node, 0, std::move(value));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const Value* data, DataInput(node, 0));
  std::vector<int> out = data->axes;
  for (int64_t a : axes) out.insert(out.begin() + a, kUnitAxis);
  SetData(node, 0, std::move(out), data->order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapSqueeze(const NodeProto& node) {
  bool present = false;
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOperand(node, &present));
  ASSIGN_OR_RETURN(const Value* in, Input(node, 0));
  if (in->kind != Value::kData) {
    return Refuse(node, "squeezes a constant (nnserve folds few operators)");
  }
  ASSIGN_OR_RETURN(const Value* data, DataInput(node, 0));
  const int64_t rank = static_cast<int64_t>(data->axes.size());
  std::vector<bool> drop(rank, false);
  if (!present) {
    for (int64_t a = 0; a < rank; ++a) drop[a] = data->axes[a] == kUnitAxis;
  }
  for (int64_t a : axes) {
    const int64_t k = NormalizeAxis(a, rank);
    if (k < 0 || data->axes[k] != kUnitAxis) {
      return Refuse(node, absl::StrCat("axis ", a, " of ", DimsString(*data),
                                       " is not of size 1"));
    }
    drop[k] = true;
  }
  std::vector<int> out;
  for (int64_t a = 0; a < rank; ++a) {
    if (!drop[a]) out.push_back(data->axes[a]);
  }
  SetData(node, 0, std::move(out), data->order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapConcat(const NodeProto& node) {
  Value value;
  value.kind = Value::kInts;
  for (int i = 0; i < node.input_size(); ++i) {
    ASSIGN_OR_RETURN(const Value* in, Input(node, i));
    if (in->kind == Value::kInts && !in->scalar) {
      value.ints.insert(value.ints.end(), in->ints.begin(), in->ints.end());
    } else if (in->kind == Value::kConst && in->constant.integer &&
               in->constant.dims.size() == 1) {
      value.ints.insert(value.ints.end(), in->constant.ints.begin(),
                        in->constant.ints.end());
    } else {
      return Refuse(node, "concatenates something other than 1-D shape "
                          "vectors (nnserve maps a chain of layers)");
    }
    if (value.ints.size() > static_cast<size_t>(kMaxTensorRank)) {
      return Refuse(node, "builds a shape of too many dimensions");
    }
  }
  SetOutput(node, 0, std::move(value));
  return absl::OkStatus();
}

absl::Status GraphMapper::MapConstantOfShape(const NodeProto& node) {
  ASSIGN_OR_RETURN(const std::vector<int64_t> shape, IntsInput(node, 0));
  (void)shape;
  if (const auto* a = FindAttribute(node, "value"); a != nullptr) {
    if (!a->has_t()) return Refuse(node, "value is not a tensor");
    ASSIGN_OR_RETURN(const ConstTensor fill, ReadTensor(a->t()));
    const bool zero = fill.size() == 1 && (fill.integer ? fill.ints[0] == 0
                                                        : fill.floats[0] == 0.0f);
    if (!zero) {
      return Refuse(node, "fills with a value other than 0 (only a zero "
                          "initial state is mapped)");
    }
  }
  Value value;
  value.kind = Value::kZeros;
  SetOutput(node, 0, std::move(value));
  return absl::OkStatus();
}

absl::Status GraphMapper::MapSlice(const NodeProto& node) {
  return Refuse(node, "slices the data path (nnserve maps Slice only on a "
                      "zero initial state)");
}

absl::Status GraphMapper::MapCast(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* in, Input(node, 0));
  ASSIGN_OR_RETURN(const int64_t to, IntAttribute(node, "to", 0));
  if (in->kind == Value::kInts && to == onnx::TensorProto::INT64) {
    SetOutput(node, 0, *in);
    return absl::OkStatus();
  }
  if (in->kind == Value::kData && to == onnx::TensorProto::FLOAT) {
    ASSIGN_OR_RETURN(const Value* data, DataInput(node, 0));
    SetData(node, 0, data->axes, data->order);
    return absl::OkStatus();
  }
  return Refuse(node, absl::StrCat("casts to type ", to,
                                   ", which nnserve does not map here"));
}

}  // namespace nn::onnx_import
