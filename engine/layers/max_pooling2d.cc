#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/layers/internal.h"
#include "engine/layers/layers.h"
#include "engine/layers/max_pool_kernels.h"
#include "engine/onednn.h"

namespace nn {

using namespace layers_internal;  // NOLINT(build/namespaces)
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

// {H, W} or {H, W, C} -> {H', W', C} (C = 1 for {H, W}); sizes as Conv2D
// with the pool as kernel, stride 0 meaning the pool size. Padded positions
// never win the max. No parameters. oneDNN pooling (max) for inference
// where it is an AVX-512 kernel; host kernels in training and below AVX-512
// (max_pool_kernels.h says why).
class MaxPooling2D final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "MaxPooling2D"; }
  int64_t forward_flops() const override;
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;

 private:
  using Layer::Layer;
};

// The validated spec's window; cannot fail once Create succeeded.
absl::StatusOr<Window2D> PoolWindow(const nnserve::v1::MaxPooling2DLayer& pool,
                                    const Shape& input) {
  return ComputeWindow2D(
      input, pool.pool_height(), pool.pool_width(),
      pool.stride_height() == 0 ? pool.pool_height() : pool.stride_height(),
      pool.stride_width() == 0 ? pool.pool_width() : pool.stride_width(),
      pool.padding());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MaxPooling2D::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  const nnserve::v1::MaxPooling2DLayer& pool = spec.max_pooling2d();
  RETURN_IF_ERROR(CheckRange(pool.pool_height(), 1, kMaxWindow, "pool_height"));
  RETURN_IF_ERROR(CheckRange(pool.pool_width(), 1, kMaxWindow, "pool_width"));
  RETURN_IF_ERROR(
      CheckRange(pool.stride_height(), 0, kMaxWindow, "stride_height"));
  RETURN_IF_ERROR(CheckRange(pool.stride_width(), 0, kMaxWindow, "stride_width"));
  if (input_shape.size() != 2 && input_shape.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("needs an image input {height,width} or "
                     "{height,width,channels}, got ",
                     ShapeToString(input_shape)));
  }
  ASSIGN_OR_RETURN(Window2D window, PoolWindow(pool, input_shape));
  const int64_t channels = input_shape.size() == 3 ? input_shape[2] : 1;
  return std::unique_ptr<Layer>(new MaxPooling2D(
      spec, input_shape,
      {window.height.output, window.width.output, channels}, {}));
}

int64_t MaxPooling2D::forward_flops() const {
  const nnserve::v1::MaxPooling2DLayer& pool = spec().max_pooling2d();
  return NumElements(output_shape()) * pool.pool_height() * pool.pool_width();
}

namespace {

// The host kernels' plan (engine/layers/max_pool_kernels.h): the input in
// its own layout when it is channels-innermost (nhwc, a convolution's
// nChw<B>c, or nchw for one channel), else reordered to nhwc; the output in
// the same layout.
struct HostPool {
  dnnl::memory src;
  dnnl::memory::desc dst_md;
  MaxPoolGeometry g;
};

HostPool PlanHostPool(ForwardBuilder& b, dnnl::memory src,
                      const Window2D& window,
                      const nnserve::v1::MaxPooling2DLayer& pool,
                      const Shape& input_shape, const Shape& output_shape) {
  const int64_t n = b.batch_size();
  const int64_t channels = output_shape[2];
  const dnnl::memory::dims in_dims = src.get_desc().dims();
  tag layout = tag::nhwc;
  int64_t inner = channels;
  for (const auto& [blocked, block] :
       {std::pair{tag::aBcd16b, 16}, {tag::aBcd8b, 8}, {tag::aBcd4b, 4}}) {
    if (src.get_desc() == dnnl::memory::desc(in_dims, dt::f32, blocked)) {
      layout = blocked;
      inner = block;
    }
  }
  // One channel: nchw is nhwc.
  if (channels == 1 &&
      src.get_desc() == dnnl::memory::desc(in_dims, dt::f32, tag::nchw)) {
    layout = tag::nchw;
  }
  HostPool plan;
  plan.src = b.Reorder(src, dnnl::memory::desc(in_dims, dt::f32, layout));
  plan.dst_md = dnnl::memory::desc(
      {n, channels, output_shape[0], output_shape[1]}, dt::f32, layout);
  MaxPoolGeometry& g = plan.g;
  g.inner = inner;
  g.outer = n * ((channels + inner - 1) / inner);
  g.height = input_shape[0];
  g.width = input_shape[1];
  g.out_height = output_shape[0];
  g.out_width = output_shape[1];
  g.pool_height = pool.pool_height();
  g.pool_width = pool.pool_width();
  g.stride_height = window.strides[0];
  g.stride_width = window.strides[1];
  g.pad_top = window.pad_before[0];
  g.pad_left = window.pad_before[1];
  return plan;
}

// Training's forward: host kernels (engine/layers/max_pool_kernels.h says
// why not oneDNN's training pooling). Records the winning input cell of
// every output for the backward half.
BackwardAppender AppendTrainingPool(TrainingPlanBuilder& b, dnnl::memory src,
                                    const Window2D& window,
                                    const nnserve::v1::MaxPooling2DLayer& pool,
                                    const Shape& input_shape,
                                    const Shape& output_shape) {
  const HostPool plan =
      PlanHostPool(b, src, window, pool, input_shape, output_shape);
  src = plan.src;
  const dnnl::memory::desc dst_md = plan.dst_md;
  const MaxPoolGeometry g = plan.g;
  const dnnl::memory dst = b.NewMemory(dst_md);
  // The winning input cell of every output element, as int32.
  const dnnl::memory argmax = b.NewMemory(dnnl::memory::desc(
      {static_cast<int64_t>(dst_md.get_size() / sizeof(float))}, dt::s32,
      tag::x));
  const float* x = static_cast<const float*>(src.get_data_handle());
  float* y = static_cast<float*>(dst.get_data_handle());
  int32_t* index = static_cast<int32_t*>(argmax.get_data_handle());
  b.AddHostStep([=] { MaxPoolForward(g, x, y, index); });
  b.set_current(dst);
  // The input is a ReLU's output (a Conv2D's, in this buffer): the backward
  // applies the ReLU's backward too, and the Conv2D skips its eltwise step.
  const bool fold_relu = input_shape.size() == 3 && b.IsReluOutput(src);

  return BackwardAppender([=](TrainingPlanBuilder& b) {
    if (!b.needs_input_diff()) return absl::OkStatus();
    // Each output's gradient goes to the input cell that won the max.
    const dnnl::memory diff_dst = b.DiffAs(dst_md);
    const dnnl::memory diff_src = b.NewMemory(src.get_desc());
    const float* dy = static_cast<const float*>(diff_dst.get_data_handle());
    float* dx = static_cast<float*>(diff_src.get_data_handle());
    const float* relu_dst = fold_relu ? y : nullptr;
    b.AddHostStep([=] { MaxPoolBackward(g, dy, index, relu_dst, dx); });
    if (fold_relu) {
      b.set_current_diff_relu_folded(diff_src, src);
    } else {
      b.set_current_diff(ImageDiffForInput(b, diff_src, input_shape));
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<BackwardAppender> MaxPooling2D::AppendForward(
    ForwardBuilder& b, absl::Span<const Activation>) const {
  const nnserve::v1::MaxPooling2DLayer& pool = spec().max_pooling2d();
  ASSIGN_OR_RETURN(const Window2D window, PoolWindow(pool, input_shape()));
  // {N,C,H,W} -> {N,C,H',W'}, in the input's layout.
  const dnnl::memory src = ImageInput(b, input_shape());
  if (TrainingPlanBuilder* t = b.training_builder()) {
    return AppendTrainingPool(*t, src, window, pool, input_shape(),
                              output_shape());
  }
  const dnnl::pooling_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
       src.get_desc(), ImageDesc(output_shape(), b.batch_size(), tag::any),
       window.strides, {pool.pool_height(), pool.pool_width()},
       window.pad_before, window.pad_after},
      PrimitiveAttr({}), b.engine());
  if (!absl::StartsWith(pd.impl_info_str(), "jit:avx512")) {
    // Below AVX-512, oneDNN 2.6's pooling is several times slower than the
    // host loops (max_pool_kernels.h): run those.
    const HostPool plan =
        PlanHostPool(b, src, window, pool, input_shape(), output_shape());
    const dnnl::memory dst = b.NewMemory(plan.dst_md);
    const dnnl::memory x = plan.src;
    b.AddHostStep(
        absl::StrCat("max_pooling inner:", plan.g.inner),
        {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}}, [g = plan.g, x, dst] {
          void* from = nullptr;
          void* to = nullptr;
          dnnl_memory_get_data_handle(x.get(), &from);
          dnnl_memory_get_data_handle(dst.get(), &to);
          MaxPoolForward(g, static_cast<const float*>(from),
                         static_cast<float*>(to), nullptr);
        });
    b.set_current(dst);
    return BackwardAppender();
  }
  const dnnl::memory dst = b.NewMemory(pd.dst_desc());
  b.AddStep(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
            pd.scratchpad_desc());
  b.set_current(dst);
  return BackwardAppender();
}

namespace layers_internal {

absl::StatusOr<std::unique_ptr<Layer>> CreateMaxPooling2D(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return MaxPooling2D::Create(spec, input_shape);
}

}  // namespace layers_internal
}  // namespace nn
