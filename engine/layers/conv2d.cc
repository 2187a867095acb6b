#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/layers/conv_one_channel_forward.h"
#include "engine/layers/conv_weight_gradient.h"
#include "engine/layers/internal.h"
#include "engine/layers/layers.h"
#include "engine/onednn.h"

namespace nn {

using namespace layers_internal;  // NOLINT(build/namespaces)
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

// {H, W} (one channel) or {H, W, C} -> {H', W', filters}; valid padding:
// H' = floor((H - kh) / stride) + 1; same: H' = ceil(H / stride).
// Parameters: kernel {kh, kw, C, filters}, bias {filters}.
// oneDNN convolution with format_tag::any layouts; activation fused.
class Conv2D final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "Conv2D"; }
  int64_t forward_flops() const override;
  bool CanFuse(absl::Span<const Activation> fused,
               Activation next) const override;
  Activation final_activation() const override {
    return spec().conv2d().activation();
  }
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;

 private:
  using Layer::Layer;
  // The geometry of this layer (one input channel) at batch size n.
  OneChannelConvGeometry OneChannelGeometry(int64_t n) const;
  bool AbsorbsAtInference(absl::Span<const Activation> fused,
                          const Layer& next) const override;
  absl::Status AppendForwardAbsorbing(ForwardBuilder& b,
                                      absl::Span<const Activation> fused,
                                      const Layer& next) const override;
  // Whether inference runs the host kernel (conv_one_channel_forward.h)
  // with the activations `fused` after the layer's own; `relu` is then
  // whether one of them is a ReLU (the others are linear).
  bool RunsOneChannelKernel(absl::Span<const Activation> fused,
                            bool* relu) const;
  void AppendOneChannelForward(ForwardBuilder& b,
                               const OneChannelConvGeometry& g, bool relu,
                               bool pooled) const;
  dnnl::memory AppendOneChannelWeightGradient(TrainingPlanBuilder& b,
                                              const dnnl::memory& src,
                                              const dnnl::memory& diff_dst) const;
};

// The validated spec's window; cannot fail once Create succeeded.
absl::StatusOr<Window2D> ConvWindow(const nnserve::v1::Conv2DLayer& conv,
                                    const Shape& input) {
  return ComputeWindow2D(
      input, conv.kernel_height(), conv.kernel_width(),
      conv.stride_height() == 0 ? 1 : conv.stride_height(),
      conv.stride_width() == 0 ? 1 : conv.stride_width(), conv.padding());
}

// The image layouts (source, destination) a convolution asks for.
struct ImageLayouts {
  dnnl::memory::desc src;
  dnnl::memory::desc dst;
};

// The weight gradient of a convolution over `window` with weights and bias
// `weights`/`bias` and images in layouts `src`/`dst`, as oneDNN implements it.
dnnl::convolution_backward_weights::primitive_desc WeightsGradient(
    const Window2D& window, const dnnl::memory::desc& weights,
    const dnnl::memory::desc& bias, const dnnl::memory::desc& src,
    const dnnl::memory::desc& dst) {
  const dnnl::convolution_forward::primitive_desc hint(
      {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
       src, weights, bias, dst, window.strides, window.pad_before,
       window.pad_after},
      PrimitiveAttr({}), CpuEngine());
  return dnnl::convolution_backward_weights::primitive_desc(
      {dnnl::algorithm::convolution_direct, src, weights, bias, dst,
       window.strides, window.pad_before, window.pad_after},
      PrimitiveAttr({}), CpuEngine(), hint);
}

// Training's image layouts: format_tag::any (oneDNN's blocked nChw<B>c),
// unless the weight gradient would then pad the input channels to the block
// B (with one channel below AVX-512 the weight gradient is the host
// kernel's, AppendOneChannelWeightGradient, and the same choice stays for
// the forward and backward_data). In oneDNN 2.6 that happens for a layer with few input channels (the
// first layer, C = 1: on AVX2 the source is copied into 8x its size each
// batch and the kernel does 8x the multiply-adds: 16.4 M instructions a
// batch-32 call against 5.1 M in nhwc, engine/layers/README.md). Then the
// layer runs in nhwc throughout (forward, ReLU backward, weight gradient),
// where the same JIT kernels read the source unpadded; unless only a
// reference kernel takes nhwc on this CPU (then `any` stays).
ImageLayouts TrainingImageLayouts(const Window2D& window,
                                  const dnnl::memory::desc& weights,
                                  const dnnl::memory::desc& bias,
                                  const Shape& input, const Shape& output,
                                  int64_t n) {
  const ImageLayouts blocked{ImageDesc(input, n, tag::any),
                             ImageDesc(output, n, tag::any)};
  const ImageLayouts nhwc{ImageDesc(input, n, tag::nhwc),
                          ImageDesc(output, n, tag::nhwc)};
  if (WeightsGradient(window, weights, bias, blocked.src, blocked.dst)
          .src_desc()
          .get_size() <= nhwc.src.get_size()) {
    return blocked;
  }
  const std::string impl =
      WeightsGradient(window, weights, bias, nhwc.src, nhwc.dst)
          .impl_info_str();
  return impl.rfind("ref", 0) == 0 ? blocked : nhwc;
}

// Inference's image layouts: format_tag::any, except that a one-channel
// input (the network's image) is taken as it is, plain: given the choice,
// oneDNN 2.6 on AVX-512 picks its brgemm kernel on nhwc for the tutorial
// CNN's first convolution, which ran at about half the speed of its direct
// kernel from plain input into nChw16c (bench/README.md, "Inference
// engine"); on AVX2 it picks that direct kernel either way.
ImageLayouts InferenceImageLayouts(const Shape& input, const Shape& output,
                                   int64_t n) {
  const int64_t channels = input.size() == 3 ? input[2] : 1;
  return {ImageDesc(input, n, channels == 1 ? tag::nchw : tag::any),
          ImageDesc(output, n, tag::any)};
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

absl::StatusOr<BackwardAppender> Conv2D::AppendForward(
    ForwardBuilder& b, absl::Span<const Activation> fused) const {
  const nnserve::v1::Conv2DLayer& conv = spec().conv2d();
  const int64_t n = b.batch_size();
  const int64_t channels = input_shape().size() == 3 ? input_shape()[2] : 1;
  const int64_t filters = conv.filters();
  const Activation act = ForwardActivation(b, conv.activation());
  ASSIGN_OR_RETURN(const Window2D window, ConvWindow(conv, input_shape()));
  // {N,C,H,W} (x) {filters,C,kh,kw} -> {N,filters,H',W'} in the layouts the
  // primitive picks (format_tag::any); the Keras kernel {kh,kw,C,filters}
  // is oneDNN's weights in `hwio` order, packed into the primitive's layout
  // once at inference, reordered once per batch in training (it is small).
  const dnnl::memory::dims weights_dims = {filters, channels,
                                           conv.kernel_height(),
                                           conv.kernel_width()};
  const dnnl::memory::desc kernel_md(weights_dims, dt::f32, tag::hwio);
  const dnnl::memory::desc weights_any_md(weights_dims, dt::f32, tag::any);
  const dnnl::memory::desc bias_md({filters}, dt::f32, tag::x);
  std::vector<Activation> activations = {act};
  activations.insert(activations.end(), fused.begin(), fused.end());
  if (bool relu = false; !b.training() && RunsOneChannelKernel(fused, &relu)) {
    AppendOneChannelForward(b, OneChannelGeometry(n), relu, /*pooled=*/false);
    return BackwardAppender();
  }
  const ImageLayouts layouts =
      b.training()
          ? TrainingImageLayouts(window, weights_any_md, bias_md,
                                 input_shape(), output_shape(), n)
          : InferenceImageLayouts(input_shape(), output_shape(), n);
  const dnnl::memory::desc& src_any_md = layouts.src;
  const dnnl::memory::desc& dst_any_md = layouts.dst;
  const dnnl::convolution_forward::primitive_desc pd(
      {b.forward_kind(), dnnl::algorithm::convolution_direct, src_any_md,
       weights_any_md, bias_md, dst_any_md, window.strides, window.pad_before,
       window.pad_after},
      PrimitiveAttr(activations), b.engine());
  const dnnl::memory src =
      b.Reorder(ImageInput(b, input_shape()), pd.src_desc());
  ASSIGN_OR_RETURN(const dnnl::memory weights,
                   AppendWeightedForward<dnnl::convolution_forward>(
                       b, pd, src, kernel_md));
  const dnnl::memory dst = b.current();
  if (!b.training()) return BackwardAppender();
  const bool relu = act == nnserve::v1::ACTIVATION_RELU && fused.empty();
  if (relu) b.training_builder()->MarkReluOutput(dst);

  return BackwardAppender([=, this](TrainingPlanBuilder& b) {
    // A max pooling after it folds the ReLU's backward into its own.
    if (!relu || !b.current_diff_relu_folded(dst)) {
      AppendActivationBackward(b, act, dst);
    }
    const dnnl::memory diff_dst = b.DiffAs(pd.dst_desc());
    const dnnl::convolution_backward_weights::primitive_desc weights_pd(
        {dnnl::algorithm::convolution_direct, src_any_md, weights_any_md,
         bias_md, dst_any_md, window.strides, window.pad_before,
         window.pad_after},
        PrimitiveAttr({}), b.engine(), pd);
    dnnl::memory diff_dst_for_weights;
    if (channels == 1 &&
        !absl::StartsWith(weights_pd.impl_info_str(), "jit:avx512")) {
      // One input channel below AVX-512: the host kernel is several times
      // faster (engine/layers/conv_weight_gradient.h).
      diff_dst_for_weights = AppendOneChannelWeightGradient(b, src, diff_dst);
    } else {
      diff_dst_for_weights = b.Reorder(diff_dst, weights_pd.diff_dst_desc());
      const dnnl::memory diff_kernel =
          b.GradientAs(0, kernel_md, weights_pd.diff_weights_desc());
      const dnnl::memory diff_bias =
          b.GradientAs(1, bias_md, weights_pd.diff_bias_desc());
      b.AddStep(dnnl::convolution_backward_weights(weights_pd),
                {{DNNL_ARG_SRC, b.Reorder(src, weights_pd.src_desc())},
                 {DNNL_ARG_DIFF_DST, diff_dst_for_weights},
                 {DNNL_ARG_DIFF_WEIGHTS, diff_kernel},
                 {DNNL_ARG_DIFF_BIAS, diff_bias}},
                weights_pd.scratchpad_desc());
      b.FinishGradient(0, kernel_md, diff_kernel);
      b.FinishGradient(1, bias_md, diff_bias);
    }
    if (b.needs_input_diff()) {
      const dnnl::convolution_backward_data::primitive_desc data_pd(
          {dnnl::algorithm::convolution_direct, src_any_md, weights_any_md,
           dst_any_md, window.strides, window.pad_before, window.pad_after},
          PrimitiveAttr({}), b.engine(), pd);
      const dnnl::memory diff_src = b.NewMemory(data_pd.diff_src_desc());
      b.AddStep(dnnl::convolution_backward_data(data_pd),
                {{DNNL_ARG_DIFF_DST,
                  b.Reorder(diff_dst_for_weights, data_pd.diff_dst_desc())},
                 // The forward's copy, reordered again only if
                 // backward_data wants another layout.
                 {DNNL_ARG_WEIGHTS, b.Reorder(weights, data_pd.weights_desc())},
                 {DNNL_ARG_DIFF_SRC, diff_src}},
                data_pd.scratchpad_desc());
      b.set_current_diff(ImageDiffForInput(b, diff_src, input_shape()));
    }
    return absl::OkStatus();
  });
}

OneChannelConvGeometry Conv2D::OneChannelGeometry(int64_t n) const {
  const nnserve::v1::Conv2DLayer& conv = spec().conv2d();
  const Window2D window = *ConvWindow(conv, input_shape());
  OneChannelConvGeometry g;
  g.images = n;
  g.height = input_shape()[0];
  g.width = input_shape()[1];
  g.out_height = window.height.output;
  g.out_width = window.width.output;
  g.filters = conv.filters();
  g.kernel_height = conv.kernel_height();
  g.kernel_width = conv.kernel_width();
  g.stride_height = window.strides[0];
  g.stride_width = window.strides[1];
  g.pad_top = window.pad_before[0];
  g.pad_left = window.pad_before[1];
  return g;
}

// Inference with one input channel on AVX-512 or AVX2, 3x3: the host kernel
// (engine/layers/conv_one_channel_forward.h says why), from the image in
// plain layout into nhwc (AVX-512) or nChw8c (AVX2), bias and ReLU included.
bool Conv2D::RunsOneChannelKernel(absl::Span<const Activation> fused,
                                  bool* relu) const {
  const int64_t channels = input_shape().size() == 3 ? input_shape()[2] : 1;
  if (channels != 1 ||
      !OneChannelConvForwardRunsHere(OneChannelGeometry(/*n=*/1))) {
    return false;
  }
  // ReLU or nothing, in any order: the host kernel applies it.
  std::vector<Activation> activations = {spec().conv2d().activation()};
  activations.insert(activations.end(), fused.begin(), fused.end());
  *relu = false;
  for (const Activation a : activations) {
    if (a == nnserve::v1::ACTIVATION_RELU) {
      *relu = true;
    } else if (a == nnserve::v1::ACTIVATION_SOFTMAX ||
               EltwiseAlgorithm(a).has_value()) {
      return false;
    }
  }
  return true;
}

// A MaxPooling2D of 2x2, stride 2, valid padding right after a convolution
// the host kernel runs: the kernel stores the pooled maxima straight from
// its sums (its four positions a pass are the pooling's window), and the
// 26x26x32 output of the tutorial's first convolution is never written.
bool Conv2D::AbsorbsAtInference(absl::Span<const Activation> fused,
                                const Layer& next) const {
  if (next.kind() != "MaxPooling2D") return false;
  const nnserve::v1::MaxPooling2DLayer& pool = next.spec().max_pooling2d();
  bool relu = false;
  return pool.pool_height() == 2 && pool.pool_width() == 2 &&
         (pool.stride_height() == 0 || pool.stride_height() == 2) &&
         (pool.stride_width() == 0 || pool.stride_width() == 2) &&
         pool.padding() != nnserve::v1::PADDING_SAME &&
         output_shape()[0] >= 2 && output_shape()[1] >= 2 &&
         RunsOneChannelKernel(fused, &relu);
}

absl::Status Conv2D::AppendForwardAbsorbing(ForwardBuilder& b,
                                            absl::Span<const Activation> fused,
                                            const Layer& next) const {
  bool relu = false;
  if (b.training() || !AbsorbsAtInference(fused, next) ||
      !RunsOneChannelKernel(fused, &relu)) {
    return Layer::AppendForwardAbsorbing(b, fused, next);
  }
  AppendOneChannelForward(b, OneChannelGeometry(b.batch_size()), relu,
                          /*pooled=*/true);
  return absl::OkStatus();
}

void Conv2D::AppendOneChannelForward(ForwardBuilder& b,
                                     const OneChannelConvGeometry& g,
                                     bool relu, bool pooled) const {
  const dnnl::memory::desc kernel_md({g.filters, 1, 3, 3}, dt::f32, tag::hwio);
  const dnnl::memory::desc bias_md({g.filters}, dt::f32, tag::x);
  // One channel: nhwc holds {N, H, W} row-major.
  const dnnl::memory src = b.Reorder(ImageInput(b, input_shape()),
                                     ImageDesc(input_shape(), g.images, tag::nhwc));
  // Packed once for the plan (inference): Keras' layout is the kernel's.
  const dnnl::memory kernel = *b.Parameter(0, kernel_md, kernel_md);
  const dnnl::memory bias = *b.Parameter(1, bias_md, bias_md);
  const Shape pooled_shape = {g.out_height / 2, g.out_width / 2, g.filters};
  const dnnl::memory dst = b.NewMemory(
      ImageDesc(pooled ? pooled_shape : output_shape(), g.images,
                OneChannelConvForwardWritesBlocked8(g) ? tag::nChw8c : tag::nhwc));
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src},
                                                {DNNL_ARG_WEIGHTS, kernel},
                                                {DNNL_ARG_BIAS, bias},
                                                {DNNL_ARG_DST, dst}};
  dnnl::memory work;
  if (const int64_t floats = OneChannelConvForwardWorkFloats(g); floats > 0) {
    work = b.NewMemory(dnnl::memory::desc({floats}, dt::f32, tag::x));
    args.emplace(DNNL_ARG_WORKSPACE, work);
  }
  b.AddHostStep(
      absl::StrCat("conv2d 1 channel 3x3 filters:", g.filters,
                   relu ? " relu" : "", pooled ? " max_pooling 2x2" : ""),
      args, [g, relu, pooled, src, kernel, bias, dst, work] {
        const auto data = [](const dnnl::memory& m) -> void* {
          void* handle = nullptr;
          if (m) dnnl_memory_get_data_handle(m.get(), &handle);
          return handle;
        };
        OneChannelConvForward(g, static_cast<const float*>(data(src)),
                              static_cast<const float*>(data(kernel)),
                              static_cast<const float*>(data(bias)), relu,
                              pooled, static_cast<float*>(data(work)),
                              static_cast<float*>(data(dst)));
      });
  b.set_current(dst);
}

// One input channel below AVX-512: the kernel's and bias's gradients by the
// host kernel (engine/layers/conv_weight_gradient.h says why), from the source and
// diff_dst in nhwc, straight into the gradient tensors (Keras' hwio is the
// kernel's layout). Returns diff_dst in nhwc, for backward_data.
dnnl::memory Conv2D::AppendOneChannelWeightGradient(
    TrainingPlanBuilder& b, const dnnl::memory& src,
    const dnnl::memory& diff_dst) const {
  const OneChannelConvGeometry g = OneChannelGeometry(b.batch_size());
  const dnnl::memory::desc kernel_md(
      {g.filters, 1, g.kernel_height, g.kernel_width}, dt::f32, tag::hwio);
  const dnnl::memory::desc bias_md({g.filters}, dt::f32, tag::x);
  // One channel: nhwc holds {N, H, W} row-major.
  const dnnl::memory plain_src =
      b.Reorder(src, ImageDesc(input_shape(), g.images, tag::nhwc));
  const dnnl::memory plain_diff_dst =
      b.Reorder(diff_dst, ImageDesc(output_shape(), g.images, tag::nhwc));
  const dnnl::memory work = b.NewMemory(dnnl::memory::desc(
      {OneChannelConvWorkFloats(g)}, dt::f32, tag::x));
  const dnnl::memory diff_kernel = b.GradientAs(0, kernel_md, kernel_md);
  const dnnl::memory diff_bias = b.GradientAs(1, bias_md, bias_md);
  const float* x = static_cast<const float*>(plain_src.get_data_handle());
  const float* dy = static_cast<const float*>(plain_diff_dst.get_data_handle());
  float* scratch = static_cast<float*>(work.get_data_handle());
  float* dw = static_cast<float*>(diff_kernel.get_data_handle());
  float* db = static_cast<float*>(diff_bias.get_data_handle());
  b.AddHostStep(
      [=] { OneChannelConvWeightGradient(g, x, dy, scratch, dw, db); });
  b.FinishGradient(0, kernel_md, diff_kernel);
  b.FinishGradient(1, bias_md, diff_bias);
  return plain_diff_dst;
}

namespace layers_internal {

absl::StatusOr<std::unique_ptr<Layer>> CreateConv2D(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return Conv2D::Create(spec, input_shape);
}

}  // namespace layers_internal
}  // namespace nn
