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

// {F} -> {units}. Parameters: kernel {F, units}, bias {units}.
// oneDNN inner_product; its activation (and following element-wise
// Activation layers) fused as post-ops, softmax as a softmax primitive.
class Dense final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "Dense"; }
  int64_t forward_flops() const override;
  bool CanFuse(absl::Span<const Activation> fused,
               Activation next) const override;
  Activation final_activation() const override { return activation(); }
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;
  Activation activation() const { return spec().dense().activation(); }

 private:
  using Layer::Layer;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> Dense::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  const nnserve::v1::DenseLayer& dense = spec.dense();
  RETURN_IF_ERROR(CheckRange(dense.units(), 1, kMaxUnits, "units"));
  RETURN_IF_ERROR(CheckActivation(dense.activation(), "activation"));
  RETURN_IF_ERROR(
      CheckRegularizer(dense.kernel_regularizer(), "kernel_regularizer"));
  if (input_shape.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "needs a 1-D input {features}, got ", ShapeToString(input_shape),
        "; add a Flatten layer before it"));
  }
  const int64_t units = dense.units();
  std::vector<ParameterSpec> parameters = {
      {"kernel", {input_shape[0], units}, Initializer::kGlorotUniform, true,
       dense.kernel_regularizer()},
      {"bias", {units}, Initializer::kZeros, true, {}},
  };
  return std::unique_ptr<Layer>(
      new Dense(spec, input_shape, {units}, std::move(parameters)));
}

int64_t Dense::forward_flops() const {
  return 2 * input_shape()[0] * output_shape()[0] + 2 * output_shape()[0];
}

bool Dense::CanFuse(absl::Span<const Activation>, Activation next) const {
  return activation() != nnserve::v1::ACTIVATION_SOFTMAX &&
         EltwiseAlgorithm(next).has_value();
}

absl::StatusOr<BackwardAppender> Dense::AppendForward(
    ForwardBuilder& b, absl::Span<const Activation> fused) const {
  const int64_t n = b.batch_size();
  const int64_t features = input_shape()[0];
  const int64_t units = output_shape()[0];
  const Activation act = ForwardActivation(b, activation());
  // {N,F} (x) {units,F} -> {N,units}; the Keras kernel {F,units} is oneDNN's
  // weights {units,F} in `io` order. Inference packs it once into the layout
  // the primitive picks; training reads it in place at every run (gemm-based
  // inner products take either order): no weight reorder per batch.
  const dnnl::memory src = b.CurrentAs(PlainDesc(input_shape(), n));
  const dnnl::memory::desc src_md = src.get_desc();
  const dnnl::memory::desc kernel_md({units, features}, dt::f32, tag::io);
  const dnnl::memory::desc bias_md({units}, dt::f32, tag::x);
  const dnnl::memory::desc dst_md = PlainDesc(output_shape(), n);
  const dnnl::memory::desc weights_md =
      b.packs_parameters()
          ? dnnl::memory::desc({units, features}, dt::f32, tag::any)
          : kernel_md;
  // The activation and the fused ones as post-ops; softmax (not
  // element-wise) as its own step below.
  std::vector<Activation> activations = {act};
  activations.insert(activations.end(), fused.begin(), fused.end());
  const dnnl::inner_product_forward::primitive_desc pd(
      {b.forward_kind(), src_md, weights_md, bias_md, dst_md},
      PrimitiveAttr(activations), b.engine());
  RETURN_IF_ERROR(
      AppendWeightedForward<dnnl::inner_product_forward>(b, pd, src, kernel_md)
          .status());
  const dnnl::memory dst = b.current();
  if (act == nnserve::v1::ACTIVATION_SOFTMAX) AppendActivation(b, act);
  if (!b.training()) return BackwardAppender();

  return BackwardAppender([=](TrainingPlanBuilder& b) {
    AppendActivationBackward(b, act, dst);
    const dnnl::memory diff_dst = b.DiffAs(dst_md);
    // d kernel = src^T . diff_dst, d bias = column sums of diff_dst.
    const dnnl::inner_product_backward_weights::primitive_desc weights_pd(
        {src_md, kernel_md, bias_md, dst_md}, PrimitiveAttr({}), b.engine(),
        pd);
    const dnnl::memory diff_kernel =
        b.GradientAs(0, kernel_md, weights_pd.diff_weights_desc());
    const dnnl::memory diff_bias =
        b.GradientAs(1, bias_md, weights_pd.diff_bias_desc());
    b.AddStep(dnnl::inner_product_backward_weights(weights_pd),
              {{DNNL_ARG_SRC, b.Reorder(src, weights_pd.src_desc())},
               {DNNL_ARG_DIFF_DST,
                b.Reorder(diff_dst, weights_pd.diff_dst_desc())},
               {DNNL_ARG_DIFF_WEIGHTS, diff_kernel},
               {DNNL_ARG_DIFF_BIAS, diff_bias}},
              weights_pd.scratchpad_desc());
    b.FinishGradient(0, kernel_md, diff_kernel);
    b.FinishGradient(1, bias_md, diff_bias);
    if (b.needs_input_diff()) {
      // d src = diff_dst . kernel^T
      const dnnl::inner_product_backward_data::primitive_desc data_pd(
          {src_md, kernel_md, dst_md}, PrimitiveAttr({}), b.engine(), pd);
      const dnnl::memory diff_src = b.NewMemory(data_pd.diff_src_desc());
      b.AddStep(dnnl::inner_product_backward_data(data_pd),
                {{DNNL_ARG_DIFF_DST,
                  b.Reorder(diff_dst, data_pd.diff_dst_desc())},
                 {DNNL_ARG_WEIGHTS,
                  b.ParameterAs(0, kernel_md, data_pd.weights_desc())},
                 {DNNL_ARG_DIFF_SRC, diff_src}},
                data_pd.scratchpad_desc());
      b.set_current_diff(diff_src);
    }
    return absl::OkStatus();
  });
}

namespace layers_internal {

absl::StatusOr<std::unique_ptr<Layer>> CreateDense(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return Dense::Create(spec, input_shape);
}

}  // namespace layers_internal
}  // namespace nn
