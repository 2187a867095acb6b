// The graph walk's RNN, BatchNormalization and Dropout (onnx_graph.h).
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/onnx/onnx_graph.h"

namespace nn::onnx_import {
namespace {

std::string DimsOf(const ConstTensor& t) {
  return absl::StrCat("[", QuoteList(t.dims), "]");
}

}  // namespace

using nnserve::v1::LayerSpec;
using onnx::NodeProto;

absl::Status GraphMapper::MapBatchNormalization(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* d, DataInput(node, 0));
  const Value data = *d;
  const int last_axis = static_cast<int>(engine_shape_.size()) - 1;
  if (data.axes.size() < 2 || data.axes[0] != kBatchAxis || data.axes[1] != last_axis) {
    return Refuse(node, absl::StrCat(
        "normalizes axis 1 of ", DimsString(data),
        ", which is not the engine's feature/channel axis (nnserve normalizes "
        "the last axis of a channels-last tensor)"));
  }
  ASSIGN_OR_RETURN(int64_t training, IntAttribute(node, "training_mode", 0));
  for (int i = 1; i < node.output_size(); ++i) {
    if (UseCount(node.output(i)) > 0) training = 1;
  }
  if (training != 0) return Refuse(node, "training mode (only the inference form is mapped)");
  ASSIGN_OR_RETURN(const float epsilon, FloatAttribute(node, "epsilon", 1e-5f));
  ASSIGN_OR_RETURN(const float momentum, FloatAttribute(node, "momentum", 0.9f));
  if (!(epsilon > 0.0f) || !(momentum > 0.0f && momentum < 1.0f)) {
    return Refuse(node, "epsilon must be > 0 and momentum in (0, 1)");
  }
  const int64_t features = engine_shape_.back();
  static constexpr const char* kNames[] = {"gamma", "beta", "moving_mean", "moving_variance"};
  std::vector<Param> params;
  for (int i = 0; i < 4; ++i) {
    ASSIGN_OR_RETURN(ConstTensor t, ConstInput(node, i + 1, false));
    if (t.size() != features) {
      return Refuse(node, absl::StrCat("input ", i + 1, " is ", DimsOf(t), "; ", features,
                                       " values expected"));
    }
    std::vector<float> values = std::move(t.floats);
    if (!data.order.empty()) {
      std::vector<float> permuted(features);
      for (int64_t e = 0; e < features; ++e) permuted[e] = values[data.order[e]];
      values = std::move(permuted);
    }
    params.push_back({kNames[i], {features}, std::move(values)});
  }
  LayerSpec spec;
  spec.mutable_batch_normalization()->set_epsilon(epsilon);
  spec.mutable_batch_normalization()->set_momentum(momentum);
  AppendLayer(std::move(spec)).params = std::move(params);
  last_activation_.clear();
  SetData(node, 0, data.axes, data.order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapDropout(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* d, DataInput(node, 0));
  const Value data = *d;
  float rate = 0.5f;
  if (opset_ >= 12) {
    if (HasInput(node, 1)) {
      ASSIGN_OR_RETURN(const ConstTensor ratio, ConstInput(node, 1, false));
      if (ratio.size() != 1) return Refuse(node, "ratio is not a scalar");
      rate = ratio.floats[0];
    }
    if (HasInput(node, 2)) {
      ASSIGN_OR_RETURN(const Value* mode, Input(node, 2));
      const bool off = mode->kind == Value::kConst && mode->constant.size() == 1 &&
                       (mode->constant.integer ? mode->constant.ints[0] == 0
                                               : mode->constant.floats[0] == 0.0f);
      if (!off) return Refuse(node, "training_mode is not a constant false");
    }
  } else {
    ASSIGN_OR_RETURN(rate, FloatAttribute(node, "ratio", 0.5f));
  }
  if (node.output_size() > 1 && UseCount(node.output(1)) > 0) {
    return Refuse(node, "uses the mask output");
  }
  if (!(rate >= 0.0f && rate < 1.0f)) return Refuse(node, "ratio outside [0, 1)");
  LayerSpec spec;
  spec.mutable_dropout()->set_rate(rate);
  AppendLayer(std::move(spec));
  SetData(node, 0, data.axes, data.order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapRnn(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* d, DataInput(node, 0));
  const Value data = *d;
  ASSIGN_OR_RETURN(const int64_t layout, IntAttribute(node, "layout", 0));
  ASSIGN_OR_RETURN(const std::string direction, StringAttribute(node, "direction", "forward"));
  ASSIGN_OR_RETURN(const std::vector<std::string> activations,
                   StringsAttribute(node, "activations"));
  ASSIGN_OR_RETURN(const int64_t hidden, IntAttribute(node, "hidden_size", 0));
  if (direction != "forward") return Refuse(node, absl::StrCat("direction ", Quote(direction)));
  if (!activations.empty() && activations != std::vector<std::string>{"Tanh"}) {
    return Refuse(node, absl::StrCat("activation ", Quote(activations[0]),
                                     " (SimpleRNN runs tanh only)"));
  }
  if (FindAttribute(node, "clip") != nullptr || FindAttribute(node, "activation_alpha") ||
      FindAttribute(node, "activation_beta")) {
    return Refuse(node, "clip or activation_alpha/beta");
  }
  const std::vector<int> want = layout == 0 ? std::vector<int>{0, kBatchAxis, 1}
                                            : std::vector<int>{kBatchAxis, 0, 1};
  if ((layout != 0 && layout != 1) || engine_shape_.size() != 2 || data.axes != want) {
    return Refuse(node, absl::StrCat("needs a sequence ", layout == 0 ? "[T,N,F]" : "[N,T,F]",
                                     ", gets ", DimsString(data)));
  }
  const int64_t steps = engine_shape_[0], features = engine_shape_[1];
  ASSIGN_OR_RETURN(const ConstTensor w, ConstInput(node, 1, false));
  ASSIGN_OR_RETURN(const ConstTensor r, ConstInput(node, 2, false));
  if (w.dims != std::vector<int64_t>{1, hidden, features} || hidden < 1 ||
      r.dims != std::vector<int64_t>{1, hidden, hidden}) {
    return Refuse(node, absl::StrCat("W is ", DimsOf(w), " and R ", DimsOf(r), "; [1,",
                                     hidden, ",", features, "] and [1,", hidden, ",", hidden,
                                     "] are expected (hidden_size ", hidden, ")"));
  }
  std::vector<float> bias(hidden, 0.0f);
  if (HasInput(node, 3)) {
    ASSIGN_OR_RETURN(const ConstTensor b, ConstInput(node, 3, false));
    if (b.size() != 2 * hidden) return Refuse(node, absl::StrCat("B is ", DimsOf(b)));
    for (int64_t j = 0; j < hidden; ++j) bias[j] = b.floats[j] + b.floats[hidden + j];
  }
  if (HasInput(node, 4)) return Refuse(node, "sequence_lens (all sequences are full)");
  if (HasInput(node, 5)) {
    ASSIGN_OR_RETURN(const Value* h0, Input(node, 5));
    const bool zero =
        h0->kind == Value::kZeros ||
        (h0->kind == Value::kConst && !h0->constant.integer &&
         std::all_of(h0->constant.floats.begin(), h0->constant.floats.end(),
                     [](float v) { return v == 0.0f; }));
    if (!zero) return Refuse(node, "initial_h is not zero (SimpleRNN starts from 0)");
  }
  const bool use_y = node.output_size() > 0 && UseCount(node.output(0)) > 0;
  const bool use_h = node.output_size() > 1 && UseCount(node.output(1)) > 0;
  if (use_y == use_h) {
    return Refuse(node, use_y ? "uses both Y and Y_h" : "uses neither Y nor Y_h");
  }
  std::vector<float> kernel(features * hidden), recurrent(hidden * hidden);
  for (int64_t j = 0; j < hidden; ++j) {
    for (int64_t f = 0; f < features; ++f) kernel[f * hidden + j] = w.floats[j * features + f];
    for (int64_t i = 0; i < hidden; ++i) recurrent[i * hidden + j] = r.floats[j * hidden + i];
  }
  LayerSpec spec;
  spec.mutable_simple_rnn()->set_units(static_cast<int32_t>(hidden));
  spec.mutable_simple_rnn()->set_return_sequences(use_y);
  spec.mutable_simple_rnn()->set_activation(nnserve::v1::ACTIVATION_TANH);
  PendingLayer& layer = AppendLayer(std::move(spec));
  layer.params.push_back({"kernel", {features, hidden}, std::move(kernel)});
  layer.params.push_back({"recurrent_kernel", {hidden, hidden}, std::move(recurrent)});
  layer.params.push_back({"bias", {hidden}, std::move(bias)});
  last_activation_ = "RNN";
  if (use_y) {
    engine_shape_ = {steps, hidden};
    SetData(node, 0, layout == 0 ? std::vector<int>{0, kUnitAxis, kBatchAxis, 1}
                                 : std::vector<int>{kBatchAxis, 0, kUnitAxis, 1}, {});
  } else {
    engine_shape_ = {hidden};
    SetData(node, 1, layout == 0 ? std::vector<int>{kUnitAxis, kBatchAxis, 0}
                                 : std::vector<int>{kBatchAxis, kUnitAxis, 0}, {});
  }
  return absl::OkStatus();
}

}  // namespace nn::onnx_import
