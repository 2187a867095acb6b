#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/layers/internal.h"
#include "engine/layers/layers.h"
#include "engine/onednn.h"

namespace nn {

using namespace layers_internal;  // NOLINT(build/namespaces)
using tag = dnnl::memory::format_tag;

namespace {

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

absl::Status MaxPooling2D::AppendInference(PlanBuilder& b,
                                           const LayerParameters&,
                                           absl::Span<const Activation>) const {
  ASSIGN_OR_RETURN(Window2D window,
                   PoolWindow(spec().max_pooling2d(), input_shape()));
  const nnserve::v1::MaxPooling2DLayer& pool = spec().max_pooling2d();
  // {N,C,H,W} -> {N,C,H',W'}, in the input's layout.
  const dnnl::memory src = ImageInput(b, input_shape());
  const dnnl::pooling_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
       src.get_desc(), ImageDesc(output_shape(), b.batch_size(), tag::any),
       window.strides, {pool.pool_height(), pool.pool_width()},
       window.pad_before, window.pad_after},
      PrimitiveAttr({}), b.engine());
  const dnnl::memory dst = b.NewMemory(pd.dst_desc());
  b.AddStep(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
            pd.scratchpad_desc());
  b.set_current(dst);
  return absl::OkStatus();
}

}  // namespace nn

namespace nn {

absl::StatusOr<BackwardAppender> MaxPooling2D::AppendTraining(
    TrainingPlanBuilder& b, int) const {
  using namespace layers_internal;  // NOLINT(build/namespaces)
  const nnserve::v1::MaxPooling2DLayer& pool = spec().max_pooling2d();
  ASSIGN_OR_RETURN(const Window2D window, PoolWindow(pool, input_shape()));
  const dnnl::memory::dims kernel = {pool.pool_height(), pool.pool_width()};
  // {N,C,H,W} -> {N,C,H',W'} in the input's layout; the workspace records
  // where each maximum came from, for the backward pass.
  const dnnl::memory src = ImageInput(b, input_shape());
  const dnnl::pooling_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max,
       src.get_desc(), ImageDesc(output_shape(), b.batch_size(), tag::any),
       window.strides, kernel, window.pad_before, window.pad_after},
      PrimitiveAttr({}), b.engine());
  const dnnl::memory dst = b.NewMemory(pd.dst_desc());
  const dnnl::memory workspace = b.NewMemory(pd.workspace_desc());
  b.AddStep(dnnl::pooling_forward(pd),
            {{DNNL_ARG_SRC, src},
             {DNNL_ARG_DST, dst},
             {DNNL_ARG_WORKSPACE, workspace}},
            pd.scratchpad_desc());
  b.set_current(dst);

  return BackwardAppender([=, this](TrainingPlanBuilder& b) {
    if (!b.needs_input_diff()) return absl::OkStatus();
    // Each output's gradient goes to the input position that won the max.
    const dnnl::pooling_backward::primitive_desc backward_pd(
        {dnnl::algorithm::pooling_max, src.get_desc(), pd.dst_desc(),
         window.strides, kernel, window.pad_before, window.pad_after},
        PrimitiveAttr({}), b.engine(), pd);
    const dnnl::memory diff_src = b.NewMemory(backward_pd.diff_src_desc());
    b.AddStep(dnnl::pooling_backward(backward_pd),
              {{DNNL_ARG_DIFF_DST, b.DiffAs(backward_pd.diff_dst_desc())},
               {DNNL_ARG_WORKSPACE, workspace},
               {DNNL_ARG_DIFF_SRC, diff_src}},
              backward_pd.scratchpad_desc());
    b.set_current_diff(ImageDiffForInput(b, diff_src, input_shape()));
    return absl::OkStatus();
  });
}

}  // namespace nn
