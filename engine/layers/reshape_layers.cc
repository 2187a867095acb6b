// Layers without parameters that do not compute (Flatten, Dropout at
// inference) or only apply a function (Activation).
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/initializers.h"
#include "engine/layers/internal.h"
#include "engine/layers/layers.h"
#include "engine/onednn.h"

namespace nn {

using namespace layers_internal;  // NOLINT(build/namespaces)

absl::StatusOr<std::unique_ptr<Layer>> Flatten::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return std::unique_ptr<Layer>(
      new Flatten(spec, input_shape, {NumElements(input_shape)}, {}));
}

absl::Status Flatten::AppendInference(PlanBuilder& b, const LayerParameters&,
                                      absl::Span<const Activation>) const {
  if (input_shape().size() == 1) return absl::OkStatus();
  // {N, dims...} in the canonical row-major layout, viewed as {N, prod}.
  const int64_t n = b.batch_size();
  b.set_current(b.View(b.CurrentAs(PlainDesc(input_shape(), n)),
                       PlainDesc(output_shape(), n)));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Layer>> Dropout::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  const float rate = spec.dropout().rate();
  if (!(rate >= 0.0f && rate < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate must be in [0, 1), got ", rate));
  }
  return std::unique_ptr<Layer>(new Dropout(spec, input_shape, input_shape, {}));
}

absl::Status Dropout::AppendInference(PlanBuilder&, const LayerParameters&,
                                      absl::Span<const Activation>) const {
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Layer>> ActivationLayer::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  RETURN_IF_ERROR(
      CheckActivation(spec.activation().activation(), "activation"));
  return std::unique_ptr<Layer>(
      new ActivationLayer(spec, input_shape, input_shape, {}));
}

int64_t ActivationLayer::forward_flops() const {
  return EltwiseAlgorithm(activation()).has_value() ||
                 activation() == nnserve::v1::ACTIVATION_SOFTMAX
             ? NumElements(input_shape())
             : 0;
}

absl::Status ActivationLayer::AppendInference(
    PlanBuilder& b, const LayerParameters&,
    absl::Span<const Activation>) const {
  AppendActivation(b, activation());
  return absl::OkStatus();
}

}  // namespace nn

// --- Training ---

namespace nn {
namespace {

// A backward pass that leaves the gradient as it is (identity layers).
absl::Status PassGradient(TrainingPlanBuilder&) { return absl::OkStatus(); }

}  // namespace

absl::StatusOr<BackwardAppender> Flatten::AppendTraining(
    TrainingPlanBuilder& b, int) const {
  if (input_shape().size() == 1) return BackwardAppender(PassGradient);
  const int64_t n = b.batch_size();
  b.set_current(b.View(b.CurrentAs(PlainDesc(input_shape(), n)),
                       PlainDesc(output_shape(), n)));
  return BackwardAppender([this, n](TrainingPlanBuilder& b) {
    if (b.needs_input_diff()) {
      b.set_current_diff(b.View(b.DiffAs(PlainDesc(output_shape(), n)),
                                PlainDesc(input_shape(), n)));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<BackwardAppender> Dropout::AppendTraining(
    TrainingPlanBuilder& b, int) const {
  if (rate() == 0.0f) return BackwardAppender(PassGradient);
  // y = x * mask, mask = 0 with probability `rate`, else 1 / (1 - rate).
  // Element i of the mask is decided by MixSeed(layer seed, i): a counter-
  // based draw, so the mask depends on the seed only, not on the thread
  // split. The layout does not matter (any layout's padding stays zero).
  const dnnl::memory src = b.current();
  const dnnl::memory::desc md = src.get_desc();
  const int64_t count = static_cast<int64_t>(md.get_size() / sizeof(float));
  const dnnl::memory dst = b.NewMemory(md);
  const dnnl::memory mask = b.NewMemory(md);
  const float* x = static_cast<const float*>(src.get_data_handle());
  float* y = static_cast<float*>(dst.get_data_handle());
  float* m = static_cast<float*>(mask.get_data_handle());
  // Dropped when the top 32 bits of the draw are below rate * 2^32.
  const uint64_t threshold =
      static_cast<uint64_t>(static_cast<double>(rate()) * 4294967296.0);
  const float scale = 1.0f / (1.0f - rate());
  const uint64_t* step_seed = b.step_seed();
  const uint64_t layer = static_cast<uint64_t>(b.layer_index());
  b.AddHostStep([=] {
    const uint64_t seed = MixSeed(*step_seed, layer);
#pragma omp parallel for schedule(static) if (count > 65536)
    for (int64_t i = 0; i < count; ++i) {
      const bool keep =
          (MixSeed(seed, static_cast<uint64_t>(i)) >> 32) >= threshold;
      m[i] = keep ? scale : 0.0f;
      y[i] = x[i] * m[i];
    }
  });
  b.set_current(dst);
  return BackwardAppender([=](TrainingPlanBuilder& b) {
    if (!b.needs_input_diff()) return absl::OkStatus();
    const dnnl::memory diff = b.DiffAs(md);
    float* d = static_cast<float*>(diff.get_data_handle());
    b.AddHostStep([=] {
#pragma omp parallel for schedule(static) if (count > 65536)
      for (int64_t i = 0; i < count; ++i) d[i] *= m[i];
    });
    b.set_current_diff(diff);
    return absl::OkStatus();
  });
}

absl::StatusOr<BackwardAppender> ActivationLayer::AppendTraining(
    TrainingPlanBuilder& b, int) const {
  using namespace layers_internal;  // NOLINT(build/namespaces)
  const Activation act = TrainingActivation(activation());
  const std::optional<dnnl::algorithm> algorithm = EltwiseAlgorithm(act);
  if (!algorithm.has_value()) return BackwardAppender(PassGradient);
  // Not in place: the layer before may still need its output for its own
  // backward pass.
  const dnnl::memory src = b.current();
  const dnnl::eltwise_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_training, *algorithm, src.get_desc(), 0.0f,
       0.0f},
      PrimitiveAttr({}), b.engine());
  const dnnl::memory dst = b.NewMemory(pd.dst_desc());
  b.AddStep(dnnl::eltwise_forward(pd),
            {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}, pd.scratchpad_desc());
  b.set_current(dst);
  return BackwardAppender([act, dst](TrainingPlanBuilder& b) {
    AppendActivationBackward(b, act, dst);
    return absl::OkStatus();
  });
}

}  // namespace nn
