// The graph walk's operators that become engine layers (onnx_graph.h).
// Weights are converted from ONNX's layouts to Keras' (model.proto).
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/onnx/onnx_graph.h"

namespace nn::onnx_import {
namespace {

using nnserve::v1::Activation;
using nnserve::v1::LayerSpec;
using onnx::NodeProto;

std::string DimsOf(const ConstTensor& t) {
  return absl::StrCat("[", QuoteList(t.dims), "]");
}

bool IsLinear(Activation a) {
  return a == nnserve::v1::ACTIVATION_UNSPECIFIED ||
         a == nnserve::v1::ACTIVATION_LINEAR;
}

// Keras' 'same' padding of one spatial axis: (before, after).
std::pair<int64_t, int64_t> SamePads(int64_t size, int64_t kernel,
                                     int64_t stride) {
  const int64_t out = (size + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - size, 0);
  return {total / 2, total - total / 2};
}

}  // namespace

GraphMapper::PendingLayer& GraphMapper::AppendLayer(LayerSpec spec) {
  static constexpr std::pair<LayerSpec::KindCase, const char*> kPrefixes[] = {
      {LayerSpec::kDense, "dense"},
      {LayerSpec::kConv2D, "conv2d"},
      {LayerSpec::kMaxPooling2D, "max_pooling2d"},
      {LayerSpec::kFlatten, "flatten"},
      {LayerSpec::kSimpleRnn, "simple_rnn"},
      {LayerSpec::kDropout, "dropout"},
      {LayerSpec::kBatchNormalization, "batch_normalization"},
      {LayerSpec::kActivation, "activation"}};
  std::string prefix = "layer";
  for (const auto& [kind, name] : kPrefixes) {
    if (kind == spec.kind_case()) prefix = name;
  }
  int& count = kind_counts_[prefix];
  spec.set_name(count == 0 ? prefix : absl::StrCat(prefix, "_", count));
  ++count;
  layers_.push_back(PendingLayer{std::move(spec), {}});
  return layers_.back();
}

GraphMapper::PendingLayer* GraphMapper::OpenLinearLayer() {
  if (layers_.empty() || !last_activation_.empty()) return nullptr;
  PendingLayer& last = layers_.back();
  if (last.spec.has_dense() && IsLinear(last.spec.dense().activation())) return &last;
  if (last.spec.has_conv2d() && IsLinear(last.spec.conv2d().activation())) return &last;
  return nullptr;
}

absl::Status GraphMapper::FlattenData(const NodeProto& node, const Value& data) {
  std::vector<int64_t> order;
  if (engine_shape_.size() == 1) {
    order = data.order;  // [N,F] with unit axes: nothing moves
  } else {
    // ONNX's flat index of each engine element (row-major over engine dims).
    const std::vector<int64_t>& dims = data.dims;
    std::vector<int64_t> engine_stride(engine_shape_.size(), 1);
    for (int e = static_cast<int>(engine_shape_.size()) - 2; e >= 0; --e) {
      engine_stride[e] = engine_stride[e + 1] * engine_shape_[e + 1];
    }
    const int64_t total = engine_stride[0] * engine_shape_[0];
    std::vector<int64_t> onnx_stride(dims.size(), 0);
    int64_t stride = 1;
    for (int i = static_cast<int>(dims.size()) - 1; i >= 1; --i) {
      onnx_stride[i] = stride;
      stride *= dims[i];
    }
    bool identity = true;
    order.resize(total);
    for (int64_t e = 0; e < total; ++e) {
      int64_t onnx_index = 0;
      for (size_t i = 1; i < data.axes.size(); ++i) {
        const int axis = data.axes[i];
        if (axis < 0) continue;
        onnx_index += (e / engine_stride[axis]) % engine_shape_[axis] * onnx_stride[i];
      }
      order[e] = onnx_index;
      identity &= onnx_index == e;
    }
    if (identity) order.clear();
    LayerSpec flatten;
    flatten.mutable_flatten();
    AppendLayer(std::move(flatten));
    engine_shape_ = {total};
  }
  SetData(node, 0, {kBatchAxis, 0}, std::move(order));
  return absl::OkStatus();
}

absl::Status GraphMapper::AppendDense(const NodeProto& node, const Value& data,
                                      std::vector<float> kernel, int64_t in,
                                      int64_t units, std::vector<float> bias) {
  if (engine_shape_.size() != 1 || data.axes != std::vector<int>{kBatchAxis, 0}) {
    return Refuse(node, absl::StrCat("needs features [N,F], gets ", DimsString(data),
                                     " (flatten it first)"));
  }
  if (engine_shape_[0] != in) {
    return Refuse(node, absl::StrCat("the weight has ", in,
                                     " rows, the input has ", engine_shape_[0],
                                     " features"));
  }
  const std::vector<int64_t> order = data.order;
  LayerSpec spec;
  spec.mutable_dense()->set_units(static_cast<int32_t>(units));
  PendingLayer& layer = AppendLayer(std::move(spec));
  if (!order.empty()) {
    std::vector<float> permuted(kernel.size());
    for (int64_t e = 0; e < in; ++e) {
      std::copy_n(kernel.begin() + order[e] * units, units,
                  permuted.begin() + e * units);
    }
    kernel = std::move(permuted);
  }
  layer.params.push_back({"kernel", {in, units}, std::move(kernel)});
  layer.params.push_back({"bias", {units}, std::move(bias)});
  engine_shape_ = {units};
  last_activation_.clear();
  SetData(node, 0, {kBatchAxis, 0}, {});
  return absl::OkStatus();
}

absl::Status GraphMapper::MapGemm(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* a, DataInput(node, 0));
  const Value data = *a;
  ASSIGN_OR_RETURN(const ConstTensor b, ConstInput(node, 1, false));
  ASSIGN_OR_RETURN(const float alpha, FloatAttribute(node, "alpha", 1.0f));
  ASSIGN_OR_RETURN(const float beta, FloatAttribute(node, "beta", 1.0f));
  ASSIGN_OR_RETURN(const int64_t trans_a, IntAttribute(node, "transA", 0));
  ASSIGN_OR_RETURN(const int64_t trans_b, IntAttribute(node, "transB", 0));
  if (trans_a != 0) return Refuse(node, "transA=1 is not supported");
  if (b.dims.size() != 2) return Refuse(node, absl::StrCat("B is ", DimsOf(b), ", not 2-D"));
  const int64_t in = trans_b ? b.dims[1] : b.dims[0];
  const int64_t units = trans_b ? b.dims[0] : b.dims[1];
  if (in < 1 || units < 1) return Refuse(node, absl::StrCat("B is ", DimsOf(b)));
  std::vector<float> kernel(b.floats.size());
  for (int64_t k = 0; k < in; ++k) {
    for (int64_t m = 0; m < units; ++m) {
      kernel[k * units + m] =
          alpha * (trans_b ? b.floats[m * in + k] : b.floats[k * units + m]);
    }
  }
  std::vector<float> bias(units, 0.0f);
  if (HasInput(node, 2)) {
    ASSIGN_OR_RETURN(const ConstTensor c, ConstInput(node, 2, false));
    const bool row = c.dims.size() == 1 || (c.dims.size() == 2 && c.dims[0] == 1);
    if (c.size() == 1) {
      std::fill(bias.begin(), bias.end(), beta * c.floats[0]);
    } else if (row && c.size() == units) {
      for (int64_t m = 0; m < units; ++m) bias[m] = beta * c.floats[m];
    } else {
      return Refuse(node, absl::StrCat("C is ", DimsOf(c), "; a bias of ", units,
                                       " values (or one) is expected"));
    }
  }
  return AppendDense(node, data, std::move(kernel), in, units, std::move(bias));
}

absl::Status GraphMapper::MapMatMul(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* a, DataInput(node, 0));
  const Value data = *a;
  ASSIGN_OR_RETURN(ConstTensor b, ConstInput(node, 1, false));
  if (b.dims.size() != 2 || b.dims[0] < 1 || b.dims[1] < 1) {
    return Refuse(node, absl::StrCat("B is ", DimsOf(b), "; a 2-D weight is expected"));
  }
  const int64_t units = b.dims[1];
  return AppendDense(node, data, std::move(b.floats), b.dims[0], units,
                     std::vector<float>(units, 0.0f));
}

absl::Status GraphMapper::MapAdd(const NodeProto& node) {
  ASSIGN_OR_RETURN(const Value* first, Input(node, 0));
  const int data_index = first->kind == Value::kData ? 0 : 1;
  ASSIGN_OR_RETURN(const Value* d, DataInput(node, data_index));
  const Value data = *d;
  ASSIGN_OR_RETURN(const ConstTensor c, ConstInput(node, 1 - data_index, false));
  PendingLayer* last = OpenLinearLayer();
  if (last == nullptr) {
    return Refuse(node, "adds a constant that is not the bias of a Dense "
                        "(MatMul/Gemm) or Conv right before it");
  }
  std::vector<float>& bias = last->params.back().values;
  const int64_t units = static_cast<int64_t>(bias.size());
  bool fits = c.size() == 1;
  if (last->spec.has_dense()) {
    fits |= c.size() == units && (c.dims.size() == 1 ||
                                  (c.dims.size() == 2 && c.dims[0] == 1));
  } else {  // NCHW broadcast: [F,1,1] or [1,F,1,1]
    fits |= c.size() == units && c.dims.size() >= 3 &&
            data.axes == std::vector<int>{kBatchAxis, 2, 0, 1} &&
            c.dims[c.dims.size() - 3] == units;
  }
  if (!fits) {
    return Refuse(node, absl::StrCat("adds ", DimsOf(c), " to ", DimsString(data),
                                     "; only a per-unit (per-channel) bias is mapped"));
  }
  for (int64_t u = 0; u < units; ++u) bias[u] += c.floats[c.size() == 1 ? 0 : u];
  SetData(node, 0, data.axes, data.order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapActivation(const NodeProto& node, Activation activation) {
  ASSIGN_OR_RETURN(const Value* d, DataInput(node, 0));
  const Value data = *d;
  if (PendingLayer* last = OpenLinearLayer(); last != nullptr) {
    if (last->spec.has_dense()) {
      last->spec.mutable_dense()->set_activation(activation);
    } else {
      last->spec.mutable_conv2d()->set_activation(activation);
    }
  } else {
    LayerSpec spec;
    spec.mutable_activation()->set_activation(activation);
    AppendLayer(std::move(spec));
  }
  last_activation_ = node.op_type();
  SetData(node, 0, data.axes, data.order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapSoftmax(const NodeProto& node, bool log) {
  ASSIGN_OR_RETURN(const Value* d, DataInput(node, 0));
  const Value data = *d;
  ASSIGN_OR_RETURN(const int64_t axis, IntAttribute(node, "axis", opset_ >= 13 ? -1 : 1));
  if (engine_shape_.size() != 1 || data.axes != std::vector<int>{kBatchAxis, 0} ||
      (axis != 1 && axis != -1) || !data.order.empty()) {
    return Refuse(node, absl::StrCat("applies to axis ", axis, " of ", DimsString(data),
                                     "; nnserve's final softmax is over the classes "
                                     "of [N,classes]"));
  }
  PendingLayer* last = OpenLinearLayer();
  if (last != nullptr && last->spec.has_dense()) {
    last->spec.mutable_dense()->set_activation(nnserve::v1::ACTIVATION_SOFTMAX);
  } else {
    LayerSpec spec;
    spec.mutable_activation()->set_activation(nnserve::v1::ACTIVATION_SOFTMAX);
    AppendLayer(std::move(spec));
  }
  ended_ = true;
  output_ = log ? OnnxOutputKind::kLogProbabilities : OnnxOutputKind::kProbabilities;
  last_activation_.clear();
  SetData(node, 0, data.axes, data.order);
  return absl::OkStatus();
}

absl::Status GraphMapper::MapConvOrPool(const NodeProto& node, bool conv) {
  ASSIGN_OR_RETURN(const Value* d, DataInput(node, 0));
  const Value data = *d;
  const bool rank3 = engine_shape_.size() == 3;
  if (engine_shape_.size() < 2 ||
      data.axes != std::vector<int>{kBatchAxis, rank3 ? 2 : kUnitAxis, 0, 1}) {
    return Refuse(node, absl::StrCat("needs an image [N,C,H,W] (channels first), gets ",
                                     DimsString(data)));
  }
  const int64_t h = engine_shape_[0], w = engine_shape_[1];
  const int64_t channels = rank3 ? engine_shape_[2] : 1;
  ConstTensor weight;
  if (conv) {
    ASSIGN_OR_RETURN(weight, ConstInput(node, 1, false));
    if (weight.dims.size() != 4 || weight.dims[1] != channels || weight.dims[0] < 1) {
      return Refuse(node, absl::StrCat("W is ", DimsOf(weight), "; [filters,", channels,
                                       ",kh,kw] is expected for ", DimsString(data)));
    }
  }
  std::vector<int64_t> default_kernel;
  if (conv) default_kernel = {weight.dims[2], weight.dims[3]};
  ASSIGN_OR_RETURN(const std::vector<int64_t> kernel,
                   IntsAttribute(node, "kernel_shape", default_kernel));
  ASSIGN_OR_RETURN(const std::vector<int64_t> strides, IntsAttribute(node, "strides", {1, 1}));
  ASSIGN_OR_RETURN(const std::vector<int64_t> dilations,
                   IntsAttribute(node, "dilations", {1, 1}));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, IntsAttribute(node, "pads", {0, 0, 0, 0}));
  ASSIGN_OR_RETURN(const std::string auto_pad, StringAttribute(node, "auto_pad", "NOTSET"));
  ASSIGN_OR_RETURN(const int64_t group, IntAttribute(node, "group", 1));
  ASSIGN_OR_RETURN(const int64_t ceil_mode, IntAttribute(node, "ceil_mode", 0));
  ASSIGN_OR_RETURN(const int64_t storage_order, IntAttribute(node, "storage_order", 0));
  if (kernel.size() != 2 || strides.size() != 2 || pads.size() != 4 ||
      kernel[0] < 1 || kernel[1] < 1 || strides[0] < 1 || strides[1] < 1 ||
      kernel[0] > h || kernel[1] > w || strides[0] > h || strides[1] > w) {
    return Refuse(node, absl::StrCat("kernel_shape [", QuoteList(kernel), "], strides [",
                                     QuoteList(strides), "] and pads do not fit ",
                                     DimsString(data), " (2-D windows only)"));
  }
  if (conv && (kernel[0] != weight.dims[2] || kernel[1] != weight.dims[3])) {
    return Refuse(node, "kernel_shape disagrees with W");
  }
  if (dilations != std::vector<int64_t>{1, 1}) return Refuse(node, "dilations other than 1");
  if (group != 1) return Refuse(node, "grouped convolution (group != 1)");
  if (storage_order != 0) return Refuse(node, "storage_order 1");
  if (!conv && node.output_size() > 1 && UseCount(node.output(1)) > 0) {
    return Refuse(node, "uses the Indices output");
  }
  const auto same_h = SamePads(h, kernel[0], strides[0]);
  const auto same_w = SamePads(w, kernel[1], strides[1]);
  const std::vector<int64_t> keras_same = {same_h.first, same_w.first, same_h.second,
                                           same_w.second};
  bool same = false;
  if (auto_pad == "VALID") {
    pads = {0, 0, 0, 0};
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    pads = keras_same;
    if (auto_pad == "SAME_LOWER") {
      std::swap(pads[0], pads[2]);
      std::swap(pads[1], pads[3]);
    }
  } else if (auto_pad != "NOTSET") {
    return Refuse(node, absl::StrCat("auto_pad ", Quote(auto_pad)));
  }
  if (pads == keras_same && pads != std::vector<int64_t>{0, 0, 0, 0}) {
    same = true;
  } else if (pads != std::vector<int64_t>{0, 0, 0, 0}) {
    return Refuse(node, absl::StrCat("pads [", QuoteList(pads),
                                     "] are neither 0 nor Keras' 'same' [",
                                     QuoteList(keras_same), "] for ", DimsString(data)));
  }
  const auto out_size = [&](int64_t size, int64_t k, int64_t s, bool ceil) {
    return same ? (size + s - 1) / s : (size - k + (ceil ? s - 1 : 0)) / s + 1;
  };
  const int64_t out_h = out_size(h, kernel[0], strides[0], false);
  const int64_t out_w = out_size(w, kernel[1], strides[1], false);
  if (!conv && ceil_mode != 0 &&
      (out_h != out_size(h, kernel[0], strides[0], true) ||
       out_w != out_size(w, kernel[1], strides[1], true))) {
    return Refuse(node, "ceil_mode 1 gives a larger output than Keras' pooling");
  }
  const nnserve::v1::Padding padding =
      same ? nnserve::v1::PADDING_SAME : nnserve::v1::PADDING_VALID;
  LayerSpec spec;
  int64_t out_channels = channels;
  std::vector<Param> params;
  if (conv) {
    const int64_t filters = weight.dims[0], kh = kernel[0], kw = kernel[1];
    nnserve::v1::Conv2DLayer* c = spec.mutable_conv2d();
    c->set_filters(static_cast<int32_t>(filters));
    c->set_kernel_height(static_cast<int32_t>(kh));
    c->set_kernel_width(static_cast<int32_t>(kw));
    c->set_stride_height(static_cast<int32_t>(strides[0]));
    c->set_stride_width(static_cast<int32_t>(strides[1]));
    c->set_padding(padding);
    // ONNX W [F, C, kh, kw] -> Keras kernel {kh, kw, C, F}.
    std::vector<float> k(weight.floats.size());
    for (int64_t f = 0; f < filters; ++f)
      for (int64_t ch = 0; ch < channels; ++ch)
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j)
            k[((i * kw + j) * channels + ch) * filters + f] =
                weight.floats[((f * channels + ch) * kh + i) * kw + j];
    std::vector<float> bias(filters, 0.0f);
    if (HasInput(node, 2)) {
      ASSIGN_OR_RETURN(const ConstTensor b, ConstInput(node, 2, false));
      if (b.size() != filters) {
        return Refuse(node, absl::StrCat("B is ", DimsOf(b), "; ", filters, " values expected"));
      }
      bias = b.floats;
    }
    params.push_back({"kernel", {kh, kw, channels, filters}, std::move(k)});
    params.push_back({"bias", {filters}, std::move(bias)});
    out_channels = filters;
    last_activation_.clear();
  } else {
    nnserve::v1::MaxPooling2DLayer* p = spec.mutable_max_pooling2d();
    p->set_pool_height(static_cast<int32_t>(kernel[0]));
    p->set_pool_width(static_cast<int32_t>(kernel[1]));
    p->set_stride_height(static_cast<int32_t>(strides[0]));
    p->set_stride_width(static_cast<int32_t>(strides[1]));
    p->set_padding(padding);
  }
  AppendLayer(std::move(spec)).params = std::move(params);
  engine_shape_ = {out_h, out_w, out_channels};
  SetData(node, 0, {kBatchAxis, 2, 0, 1}, {});
  return absl::OkStatus();
}

}  // namespace nn::onnx_import
