// The Layer base, the factory, default names and helpers shared by layers.
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/layers/internal.h"
#include "engine/layers/layers.h"
#include "engine/onednn.h"

namespace nn {

using nnserve::v1::LayerSpec;

Layer::Layer(LayerSpec spec, Shape input_shape, Shape output_shape,
             std::vector<ParameterSpec> parameters)
    : spec_(std::move(spec)),
      input_shape_(std::move(input_shape)),
      output_shape_(std::move(output_shape)),
      parameters_(std::move(parameters)) {}

int64_t Layer::parameter_count() const {
  int64_t count = 0;
  for (const ParameterSpec& parameter : parameters_) {
    count += NumElements(parameter.shape);
  }
  return count;
}

Activation Layer::final_activation() const {
  return nnserve::v1::ACTIVATION_LINEAR;
}

bool Layer::CanFuse(absl::Span<const Activation>, Activation) const {
  return false;
}

bool Layer::AbsorbsAtInference(absl::Span<const Activation>,
                               const Layer&) const {
  return false;
}

absl::Status Layer::AppendForwardAbsorbing(ForwardBuilder&,
                                           absl::Span<const Activation>,
                                           const Layer& next) const {
  return absl::InternalError(absl::StrCat(kind(), " cannot absorb the ",
                                          next.kind(), " after it"));
}

namespace layers_internal {

// The kinds' factories, each defined in its layer file (README.md): build
// and validate the layer `spec` on per-sample input `input_shape`.
using LayerFactory = absl::StatusOr<std::unique_ptr<Layer>>(
    const LayerSpec& spec, const Shape& input_shape);
LayerFactory CreateDense;
LayerFactory CreateConv2D;
LayerFactory CreateMaxPooling2D;
LayerFactory CreateFlatten;
LayerFactory CreateSimpleRNN;
LayerFactory CreateDropout;
LayerFactory CreateBatchNormalization;
LayerFactory CreateActivation;

}  // namespace layers_internal

namespace {

using namespace layers_internal;  // NOLINT(build/namespaces)

// The kind table: one row per LayerSpec kind (engine/layers/README.md).
struct KindInfo {
  LayerSpec::KindCase kind;
  absl::string_view keras_class;
  absl::string_view default_name;
  LayerFactory* create;
};

constexpr KindInfo kKinds[] = {
    {LayerSpec::kDense, "Dense", "dense", &CreateDense},
    {LayerSpec::kConv2D, "Conv2D", "conv2d", &CreateConv2D},
    {LayerSpec::kMaxPooling2D, "MaxPooling2D", "max_pooling2d",
     &CreateMaxPooling2D},
    {LayerSpec::kFlatten, "Flatten", "flatten", &CreateFlatten},
    {LayerSpec::kSimpleRnn, "SimpleRNN", "simple_rnn", &CreateSimpleRNN},
    {LayerSpec::kDropout, "Dropout", "dropout", &CreateDropout},
    {LayerSpec::kBatchNormalization, "BatchNormalization",
     "batch_normalization", &CreateBatchNormalization},
    {LayerSpec::kActivation, "Activation", "activation", &CreateActivation},
};

const KindInfo* FindKind(const LayerSpec& spec) {
  for (const KindInfo& info : kKinds) {
    if (info.kind == spec.kind_case()) return &info;
  }
  return nullptr;
}

std::string LayerLabel(const LayerSpec& spec, int index) {
  const KindInfo* info = FindKind(spec);
  return absl::StrCat("layer ", index, " ", DoubleQuote(spec.name()),
                      info == nullptr
                          ? ""
                          : absl::StrCat(" (", info->keras_class, ")"));
}

absl::Status CheckName(const std::string& name) {
  if (name.size() > 128) return absl::InvalidArgumentError("name is too long");
  for (char c : name) {
    if (c == '/' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          "name contains '/', whitespace or a control character");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view LayerKind(const LayerSpec& spec) {
  const KindInfo* info = FindKind(spec);
  return info == nullptr ? "" : info->keras_class;
}

absl::StatusOr<std::unique_ptr<Layer>> CreateLayer(const LayerSpec& spec,
                                                   int index,
                                                   const Shape& input_shape) {
  const KindInfo* info = FindKind(spec);
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(LayerLabel(spec, index),
                     ": no layer kind set (unknown or empty layer)"));
  }
  absl::StatusOr<std::unique_ptr<Layer>> layer =
      info->create(spec, input_shape);
  if (!layer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        LayerLabel(spec, index), ": ", layer.status().message()));
  }
  return layer;
}

absl::Status ResolveLayerNames(
    google::protobuf::RepeatedPtrField<LayerSpec>* layers) {
  absl::flat_hash_set<std::string> taken;
  for (int i = 0; i < layers->size(); ++i) {
    const LayerSpec& layer = layers->Get(i);
    if (layer.name().empty()) continue;
    if (absl::Status status = CheckName(layer.name()); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(LayerLabel(layer, i), ": ", status.message()));
    }
    if (!taken.insert(layer.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(LayerLabel(layer, i), ": duplicate layer name"));
    }
  }
  absl::flat_hash_map<LayerSpec::KindCase, int> next_suffix;
  for (int i = 0; i < layers->size(); ++i) {
    LayerSpec* layer = layers->Mutable(i);
    if (!layer->name().empty()) continue;
    const KindInfo* info = FindKind(*layer);
    const absl::string_view prefix =
        info == nullptr ? "layer" : info->default_name;
    int& suffix = next_suffix[layer->kind_case()];
    std::string name;
    do {
      name = suffix == 0 ? std::string(prefix) : absl::StrCat(prefix, "_", suffix);
      ++suffix;
    } while (taken.contains(name));
    taken.insert(name);
    layer->set_name(std::move(name));
  }
  return absl::OkStatus();
}

namespace layers_internal {

absl::Status CheckActivation(Activation activation, absl::string_view field) {
  if (!nnserve::v1::Activation_IsValid(activation)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": unknown activation ", activation));
  }
  return absl::OkStatus();
}

absl::Status CheckRegularizer(const nnserve::v1::Regularizer& regularizer,
                              absl::string_view field) {
  for (float value : {regularizer.l1(), regularizer.l2()}) {
    if (!std::isfinite(value) || value < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": l1 and l2 must be finite and >= 0, got ", regularizer.l1(),
          " and ", regularizer.l2()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRange(int64_t value, int64_t min, int64_t max,
                        absl::string_view field) {
  if (value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be in [", min, ", ", max, "], got ", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<SpatialDim> ComputeSpatialDim(int64_t input, int64_t window,
                                             int64_t stride,
                                             nnserve::v1::Padding padding,
                                             absl::string_view what) {
  SpatialDim dim;
  switch (padding) {
    case nnserve::v1::PADDING_UNSPECIFIED:
    case nnserve::v1::PADDING_VALID:
      if (window > input) {
        return absl::InvalidArgumentError(absl::StrCat(
            "window ", what, " ", window, " is larger than the input ", what,
            " ", input, " (valid padding)"));
      }
      dim.output = (input - window) / stride + 1;
      return dim;
    case nnserve::v1::PADDING_SAME: {
      dim.output = (input + stride - 1) / stride;
      const int64_t total =
          std::max<int64_t>((dim.output - 1) * stride + window - input, 0);
      dim.pad_before = total / 2;
      dim.pad_after = total - dim.pad_before;
      return dim;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown padding ", padding));
  }
}

absl::StatusOr<Window2D> ComputeWindow2D(const Shape& input, int64_t window_h,
                                         int64_t window_w, int64_t stride_h,
                                         int64_t stride_w,
                                         nnserve::v1::Padding padding) {
  Window2D window;
  ASSIGN_OR_RETURN(window.height, ComputeSpatialDim(input[0], window_h,
                                                    stride_h, padding, "height"));
  ASSIGN_OR_RETURN(window.width, ComputeSpatialDim(input[1], window_w, stride_w,
                                                   padding, "width"));
  window.strides = {stride_h, stride_w};
  window.pad_before = {window.height.pad_before, window.width.pad_before};
  window.pad_after = {window.height.pad_after, window.width.pad_after};
  return window;
}

dnnl::primitive_attr PrimitiveAttr(absl::Span<const Activation> activations) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  for (Activation activation : activations) {
    if (std::optional<dnnl::algorithm> algorithm =
            EltwiseAlgorithm(activation)) {
      ops.append_eltwise(1.0f, *algorithm, 0.0f, 0.0f);
    }
  }
  attr.set_post_ops(ops);
  return attr;
}

Activation ForwardActivation(const ForwardBuilder& b, Activation activation) {
  return b.training() && activation == nnserve::v1::ACTIVATION_SOFTMAX
             ? nnserve::v1::ACTIVATION_LINEAR
             : activation;
}

void AppendActivation(ForwardBuilder& b, Activation activation) {
  const dnnl::memory src = b.current();
  const dnnl::memory::desc md = src.get_desc();
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::primitive primitive;
  dnnl::memory::desc scratchpad_md;
  if (activation == nnserve::v1::ACTIVATION_SOFTMAX) {
    // {N,F} -> {N,F}, softmax over F
    if (b.training()) {
      throw dnnl::error(dnnl_invalid_arguments,
                        "training leaves softmax to the loss");
    }
    dnnl::softmax_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, md, 1}, attr, b.engine());
    primitive = dnnl::softmax_forward(pd);
    scratchpad_md = pd.scratchpad_desc();
  } else if (std::optional<dnnl::algorithm> algorithm =
                 EltwiseAlgorithm(activation)) {
    dnnl::eltwise_forward::primitive_desc pd(
        {b.forward_kind(), *algorithm, md, 0.0f, 0.0f}, attr, b.engine());
    primitive = dnnl::eltwise_forward(pd);
    scratchpad_md = pd.scratchpad_desc();
  } else {
    return;  // linear
  }
  const dnnl::memory dst = b.current_writable() ? src : b.NewMemory(md);
  b.AddStep(primitive, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
            scratchpad_md);
  b.set_current(dst);
}

dnnl::memory ImageInput(ForwardBuilder& b, const Shape& sample) {
  if (sample.size() == 3) return b.current();
  const dnnl::memory plain = b.CurrentAs(PlainDesc(sample, b.batch_size()));
  return b.View(plain, ImageDesc(sample, b.batch_size(),
                                 dnnl::memory::format_tag::nhwc));
}

void AppendActivationBackward(TrainingPlanBuilder& b, Activation activation,
                              const dnnl::memory& dst) {
  dnnl::algorithm algorithm;
  switch (activation) {
    case nnserve::v1::ACTIVATION_RELU:
      algorithm = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
      break;
    case nnserve::v1::ACTIVATION_SIGMOID:
      algorithm = dnnl::algorithm::eltwise_logistic_use_dst_for_bwd;
      break;
    case nnserve::v1::ACTIVATION_TANH:
      algorithm = dnnl::algorithm::eltwise_tanh_use_dst_for_bwd;
      break;
    default:
      return;  // linear; softmax is part of the loss
  }
  const dnnl::memory::desc md = dst.get_desc();
  // The forward descriptor is only the backward's hint: the forward ran as
  // a post-op or a separate eltwise step computing the same function.
  const dnnl::eltwise_forward::primitive_desc hint(
      {dnnl::prop_kind::forward_training, algorithm, md, 0.0f, 0.0f},
      b.engine());
  const dnnl::eltwise_backward::primitive_desc pd(
      {algorithm, md, md, 0.0f, 0.0f}, PrimitiveAttr({}), b.engine(), hint);
  const dnnl::memory diff = b.DiffAs(md);
  b.AddStep(dnnl::eltwise_backward(pd),
            {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, diff},
             {DNNL_ARG_DIFF_SRC, diff}},
            pd.scratchpad_desc());
  b.set_current_diff(diff);
}

dnnl::memory ImageDiffForInput(TrainingPlanBuilder& b,
                               const dnnl::memory& diff, const Shape& sample) {
  if (sample.size() == 3) return diff;
  const dnnl::memory nhwc = b.Reorder(
      diff, ImageDesc(sample, b.batch_size(), dnnl::memory::format_tag::nhwc));
  return b.View(nhwc, PlainDesc(sample, b.batch_size()));
}

}  // namespace layers_internal
}  // namespace nn
