// Layers without parameters that do not compute (Flatten, Dropout at
// inference) or only apply a function (Activation).
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
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
