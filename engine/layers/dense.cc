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

absl::Status Dense::AppendInference(PlanBuilder& b,
                                    const LayerParameters& params,
                                    absl::Span<const Activation> fused) const {
  const int64_t n = b.batch_size();
  const int64_t features = input_shape()[0];
  const int64_t units = output_shape()[0];
  // {N,F} (x) {units,F} -> {N,units}; the Keras kernel {F,units} is oneDNN's
  // weights {units,F} in `io` order.
  const dnnl::memory src = b.CurrentAs(PlainDesc(input_shape(), n));
  const dnnl::memory::desc kernel_md({units, features}, dt::f32, tag::io);
  const dnnl::memory::desc bias_md({units}, dt::f32, tag::x);
  const dnnl::memory::desc weights_any_md({units, features}, dt::f32, tag::any);
  std::vector<Activation> activations = {activation()};
  activations.insert(activations.end(), fused.begin(), fused.end());
  const dnnl::inner_product_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_inference, src.get_desc(), weights_any_md,
       bias_md, PlainDesc(output_shape(), n)},
      InferenceAttr(activations), b.engine());
  RETURN_IF_ERROR(AppendWeightedForward<dnnl::inner_product_forward>(
      b, pd, src, params, kernel_md));
  if (activation() == nnserve::v1::ACTIVATION_SOFTMAX) {
    AppendActivation(b, activation());
  }
  return absl::OkStatus();
}

}  // namespace nn
