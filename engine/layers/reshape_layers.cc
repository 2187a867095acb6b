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

namespace {

// Any shape -> {product of dims}, row-major (channels-last) as Keras. A view:
// no copy unless the input is in a blocked layout, which is reordered to
// channels-last first.
class Flatten final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "Flatten"; }
  int64_t forward_flops() const override { return 0; }
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;

 private:
  using Layer::Layer;
};

// Identity at inference (any shape). No parameters.
class Dropout final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "Dropout"; }
  int64_t forward_flops() const override { return 0; }
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;
  float rate() const { return spec().dropout().rate(); }

 private:
  using Layer::Layer;
};

// Same shape out as in; an element-wise activation (oneDNN eltwise, in place
// when possible) or softmax over {F} (softmax primitive). No parameters. A
// network fuses it into a preceding layer that CanFuse it.
class ActivationLayer final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "Activation"; }
  int64_t forward_flops() const override;
  Activation final_activation() const override { return activation(); }
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;
  Activation activation() const { return spec().activation().activation(); }

 private:
  using Layer::Layer;
};

// A backward pass that leaves the gradient as it is (identity layers).
absl::Status PassGradient(TrainingPlanBuilder&) { return absl::OkStatus(); }

// `backward` in training, else the empty appender inference ignores.
template <typename F>
BackwardAppender BackwardFor(const ForwardBuilder& b, F backward) {
  return b.training() ? BackwardAppender(std::move(backward))
                      : BackwardAppender();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> Flatten::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return std::unique_ptr<Layer>(
      new Flatten(spec, input_shape, {NumElements(input_shape)}, {}));
}

absl::StatusOr<BackwardAppender> Flatten::AppendForward(
    ForwardBuilder& b, absl::Span<const Activation>) const {
  if (input_shape().size() == 1) return BackwardFor(b, PassGradient);
  // {N, dims...} in the canonical row-major layout, viewed as {N, prod}.
  const int64_t n = b.batch_size();
  b.set_current(b.View(b.CurrentAs(PlainDesc(input_shape(), n)),
                       PlainDesc(output_shape(), n)));
  return BackwardFor(b, [this, n](TrainingPlanBuilder& b) {
    if (b.needs_input_diff()) {
      b.set_current_diff(b.View(b.DiffAs(PlainDesc(output_shape(), n)),
                                PlainDesc(input_shape(), n)));
    }
    return absl::OkStatus();
  });
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

absl::StatusOr<BackwardAppender> Dropout::AppendForward(
    ForwardBuilder& forward, absl::Span<const Activation>) const {
  // The identity at inference (and for rate 0).
  TrainingPlanBuilder* t = forward.training_builder();
  if (t == nullptr) return BackwardAppender();
  if (rate() == 0.0f) return BackwardAppender(PassGradient);
  TrainingPlanBuilder& b = *t;
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

absl::StatusOr<BackwardAppender> ActivationLayer::AppendForward(
    ForwardBuilder& b, absl::Span<const Activation>) const {
  const Activation act = ForwardActivation(b, activation());
  // In training never in place (current_writable() is false there): the
  // layer before may still need its output for its own backward pass.
  AppendActivation(b, act);
  if (!EltwiseAlgorithm(act).has_value()) return BackwardFor(b, PassGradient);
  const dnnl::memory dst = b.current();
  return BackwardFor(b, [act, dst](TrainingPlanBuilder& b) {
    AppendActivationBackward(b, act, dst);
    return absl::OkStatus();
  });
}

namespace layers_internal {

absl::StatusOr<std::unique_ptr<Layer>> CreateFlatten(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return Flatten::Create(spec, input_shape);
}

absl::StatusOr<std::unique_ptr<Layer>> CreateDropout(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return Dropout::Create(spec, input_shape);
}

absl::StatusOr<std::unique_ptr<Layer>> CreateActivation(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return ActivationLayer::Create(spec, input_shape);
}

}  // namespace layers_internal
}  // namespace nn
