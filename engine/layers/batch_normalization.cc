#include <cmath>
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

// Same shape out as in; normalises the last dimension (F features or C
// channels) with the moving statistics at inference:
// y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta.
// Parameters: gamma, beta, moving_mean, moving_variance, each {features}
// (the moving ones not trainable). oneDNN batch_normalization with global
// statistics; a following relu is fused.
class BatchNormalization final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "BatchNormalization"; }
  int64_t forward_flops() const override;
  bool CanFuse(absl::Span<const Activation> fused,
               Activation next) const override;
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;
  // With Keras' defaults applied (0.99 and 0.001 for zero).
  float momentum() const;
  float epsilon() const;

 private:
  using Layer::Layer;
};
constexpr float kDefaultMomentum = 0.99f;
constexpr float kDefaultEpsilon = 0.001f;
}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> BatchNormalization::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  const nnserve::v1::BatchNormalizationLayer& bn = spec.batch_normalization();
  if (!(bn.momentum() >= 0.0f && bn.momentum() < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("momentum must be in [0, 1), got ", bn.momentum()));
  }
  if (!(bn.epsilon() >= 0.0f && std::isfinite(bn.epsilon()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "epsilon must be finite and >= 0, got ", bn.epsilon()));
  }
  if (input_shape.empty() || input_shape.size() > 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "needs a 1-D to 3-D input, got ", ShapeToString(input_shape)));
  }
  const int64_t features = input_shape.back();
  std::vector<ParameterSpec> parameters = {
      {"gamma", {features}, Initializer::kOnes, true, {}},
      {"beta", {features}, Initializer::kZeros, true, {}},
      {"moving_mean", {features}, Initializer::kZeros, false, {}},
      {"moving_variance", {features}, Initializer::kOnes, false, {}},
  };
  return std::unique_ptr<Layer>(new BatchNormalization(
      spec, input_shape, input_shape, std::move(parameters)));
}

float BatchNormalization::momentum() const {
  const float momentum = spec().batch_normalization().momentum();
  return momentum == 0.0f ? kDefaultMomentum : momentum;
}

float BatchNormalization::epsilon() const {
  const float epsilon = spec().batch_normalization().epsilon();
  return epsilon == 0.0f ? kDefaultEpsilon : epsilon;
}

int64_t BatchNormalization::forward_flops() const {
  return 2 * NumElements(input_shape());
}

bool BatchNormalization::CanFuse(absl::Span<const Activation> fused,
                                 Activation next) const {
  return fused.empty() && next == nnserve::v1::ACTIVATION_RELU;
}

absl::StatusOr<BackwardAppender> BatchNormalization::AppendForward(
    ForwardBuilder& b, absl::Span<const Activation> fused) const {
  const int64_t n = b.batch_size();
  const int64_t features = input_shape().back();
  const bool image = input_shape().size() == 3;
  // Rows normalised together: N, N*T or N*H*W.
  const int64_t rows = n * NumElements(input_shape()) / features;
  // Data {rows,features} for {F} and {T,F} (rows = N or N*T: the ntc bytes
  // are {N,T,F} row-major), or {N,C,H,W} in any layout for images.
  const dnnl::memory::desc rows_md({rows, features}, dt::f32, tag::nc);
  const dnnl::memory src =
      image ? b.current()
            : b.View(b.CurrentAs(PlainDesc(input_shape(), n)), rows_md);
  // Inference normalises with the moving statistics (use_global_stats);
  // training with the batch's mean and (biased) variance, which the
  // primitive outputs for the backward pass and the moving statistics.
  dnnl::normalization_flags flags = dnnl::normalization_flags::use_scale |
                                    dnnl::normalization_flags::use_shift;
  if (!b.training()) flags |= dnnl::normalization_flags::use_global_stats;
  if (!fused.empty()) flags |= dnnl::normalization_flags::fuse_norm_relu;
  const dnnl::batch_normalization_forward::primitive_desc pd(
      {b.forward_kind(), src.get_desc(), epsilon(), flags}, PrimitiveAttr({}),
      b.engine());
  const dnnl::memory::desc vector_md({features}, dt::f32, tag::x);
  ASSIGN_OR_RETURN(const dnnl::memory gamma,
                   b.Parameter(0, vector_md, vector_md));
  ASSIGN_OR_RETURN(const dnnl::memory beta,
                   b.Parameter(1, vector_md, vector_md));
  dnnl::memory mean;
  dnnl::memory variance;
  if (b.training()) {
    mean = b.NewMemory(pd.mean_desc());
    variance = b.NewMemory(pd.variance_desc());
  } else {
    ASSIGN_OR_RETURN(mean, b.Parameter(2, vector_md, vector_md));
    ASSIGN_OR_RETURN(variance, b.Parameter(3, vector_md, vector_md));
  }
  const dnnl::memory dst = b.NewMemory(pd.dst_desc());
  b.AddStep(dnnl::batch_normalization_forward(pd),
            {{DNNL_ARG_SRC, src},
             {DNNL_ARG_SCALE, gamma},
             {DNNL_ARG_SHIFT, beta},
             {DNNL_ARG_MEAN, mean},
             {DNNL_ARG_VARIANCE, variance},
             {DNNL_ARG_DST, dst}},
            pd.scratchpad_desc());
  b.set_current(image ? dst : b.View(dst, PlainDesc(input_shape(), n)));
  TrainingPlanBuilder* t = b.training_builder();
  if (t == nullptr) return BackwardAppender();

  // Keras' moving averages: moving = moving * momentum + batch * (1 -
  // momentum). The variance is made unbiased (x rows / (rows - 1)) first,
  // as TensorFlow's fused batch norm and PyTorch do.
  {
    const float* batch_mean = static_cast<const float*>(mean.get_data_handle());
    const float* batch_variance =
        static_cast<const float*>(variance.get_data_handle());
    float* moving_mean = t->parameter_data(2);
    float* moving_variance = t->parameter_data(3);
    const float momentum = this->momentum();
    const float unbias =
        rows > 1 ? static_cast<float>(rows) / static_cast<float>(rows - 1)
                 : 1.0f;
    t->AddHostStep([=] {
      for (int64_t f = 0; f < features; ++f) {
        moving_mean[f] =
            moving_mean[f] * momentum + batch_mean[f] * (1.0f - momentum);
        moving_variance[f] = moving_variance[f] * momentum +
                             batch_variance[f] * unbias * (1.0f - momentum);
      }
    });
  }

  return BackwardAppender([=, this](TrainingPlanBuilder& b) {
    const dnnl::memory diff_dst =
        image ? b.DiffAs(pd.dst_desc())
              : b.View(b.DiffAs(PlainDesc(input_shape(), n)), rows_md);
    // prop_kind::backward: d src, d gamma and d beta, through the batch
    // statistics.
    const dnnl::batch_normalization_backward::primitive_desc backward_pd(
        {dnnl::prop_kind::backward, pd.dst_desc(), src.get_desc(), epsilon(),
         flags},
        PrimitiveAttr({}), b.engine(), pd);
    const dnnl::memory diff_gamma = b.GradientAs(0, vector_md, vector_md);
    const dnnl::memory diff_beta = b.GradientAs(1, vector_md, vector_md);
    const dnnl::memory diff_src = b.NewMemory(backward_pd.diff_src_desc());
    b.AddStep(dnnl::batch_normalization_backward(backward_pd),
              {{DNNL_ARG_SRC, src},
               {DNNL_ARG_MEAN, mean},
               {DNNL_ARG_VARIANCE, variance},
               {DNNL_ARG_SCALE, gamma},
               {DNNL_ARG_SHIFT, beta},
               {DNNL_ARG_DIFF_DST,
                b.Reorder(diff_dst, backward_pd.diff_dst_desc())},
               {DNNL_ARG_DIFF_SRC, diff_src},
               {DNNL_ARG_DIFF_SCALE, diff_gamma},
               {DNNL_ARG_DIFF_SHIFT, diff_beta}},
              backward_pd.scratchpad_desc());
    if (b.needs_input_diff()) {
      b.set_current_diff(
          image ? diff_src : b.View(diff_src, PlainDesc(input_shape(), n)));
    }
    return absl::OkStatus();
  });
}

namespace layers_internal {

absl::StatusOr<std::unique_ptr<Layer>> CreateBatchNormalization(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return BatchNormalization::Create(spec, input_shape);
}

}  // namespace layers_internal
}  // namespace nn
