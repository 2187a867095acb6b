#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/layers/internal.h"
#include "engine/layers/layers.h"
#include "engine/onednn.h"

namespace nn {

using namespace layers_internal;  // NOLINT(build/namespaces)
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

// The validated spec's window; cannot fail once Create succeeded.
absl::StatusOr<Window2D> ConvWindow(const nnserve::v1::Conv2DLayer& conv,
                                    const Shape& input) {
  return ComputeWindow2D(
      input, conv.kernel_height(), conv.kernel_width(),
      conv.stride_height() == 0 ? 1 : conv.stride_height(),
      conv.stride_width() == 0 ? 1 : conv.stride_width(), conv.padding());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> Conv2D::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  const nnserve::v1::Conv2DLayer& conv = spec.conv2d();
  RETURN_IF_ERROR(CheckRange(conv.filters(), 1, kMaxUnits, "filters"));
  RETURN_IF_ERROR(
      CheckRange(conv.kernel_height(), 1, kMaxWindow, "kernel_height"));
  RETURN_IF_ERROR(CheckRange(conv.kernel_width(), 1, kMaxWindow, "kernel_width"));
  RETURN_IF_ERROR(
      CheckRange(conv.stride_height(), 0, kMaxWindow, "stride_height"));
  RETURN_IF_ERROR(CheckRange(conv.stride_width(), 0, kMaxWindow, "stride_width"));
  RETURN_IF_ERROR(CheckActivation(conv.activation(), "activation"));
  RETURN_IF_ERROR(
      CheckRegularizer(conv.kernel_regularizer(), "kernel_regularizer"));
  if (input_shape.size() != 2 && input_shape.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("needs an image input {height,width} or "
                     "{height,width,channels}, got ",
                     ShapeToString(input_shape)));
  }
  const int64_t channels = input_shape.size() == 3 ? input_shape[2] : 1;
  ASSIGN_OR_RETURN(Window2D window, ConvWindow(conv, input_shape));
  const int64_t filters = conv.filters();
  std::vector<ParameterSpec> parameters = {
      {"kernel",
       {conv.kernel_height(), conv.kernel_width(), channels, filters},
       Initializer::kGlorotUniform,
       true,
       conv.kernel_regularizer()},
      {"bias", {filters}, Initializer::kZeros, true, {}},
  };
  return std::unique_ptr<Layer>(new Conv2D(
      spec, input_shape, {window.height.output, window.width.output, filters}, std::move(parameters)));
}

int64_t Conv2D::forward_flops() const {
  const nnserve::v1::Conv2DLayer& conv = spec().conv2d();
  const int64_t channels = input_shape().size() == 3 ? input_shape()[2] : 1;
  return 2 * NumElements(output_shape()) *
         (conv.kernel_height() * conv.kernel_width() * channels + 1);
}

bool Conv2D::CanFuse(absl::Span<const Activation>, Activation next) const {
  return EltwiseAlgorithm(next).has_value();
}

absl::Status Conv2D::AppendInference(PlanBuilder& b,
                                     const LayerParameters& params,
                                     absl::Span<const Activation> fused) const {
  const nnserve::v1::Conv2DLayer& conv = spec().conv2d();
  const int64_t n = b.batch_size();
  const int64_t channels = input_shape().size() == 3 ? input_shape()[2] : 1;
  const int64_t filters = conv.filters();
  ASSIGN_OR_RETURN(Window2D window, ConvWindow(conv, input_shape()));
  // {N,C,H,W} (x) {filters,C,kh,kw} -> {N,filters,H',W'}; the Keras kernel
  // {kh,kw,C,filters} is oneDNN's weights in `hwio` order.
  const dnnl::memory::dims weights_dims = {filters, channels,
                                           conv.kernel_height(),
                                           conv.kernel_width()};
  const dnnl::memory::desc kernel_md(weights_dims, dt::f32, tag::hwio);
  const dnnl::memory::desc bias_md({filters}, dt::f32, tag::x);
  std::vector<Activation> activations = {conv.activation()};
  activations.insert(activations.end(), fused.begin(), fused.end());
  const dnnl::convolution_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
       ImageDesc(input_shape(), n, tag::any),
       dnnl::memory::desc(weights_dims, dt::f32, tag::any), bias_md,
       ImageDesc(output_shape(), n, tag::any), window.strides,
       window.pad_before, window.pad_after},
      InferenceAttr(activations), b.engine());
  const dnnl::memory src = b.Reorder(ImageInput(b, input_shape()),
                                     pd.src_desc());
  return AppendWeightedForward<dnnl::convolution_forward>(b, pd, src, params,
                                                         kernel_md);
}

}  // namespace nn
