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

absl::Status BatchNormalization::AppendInference(
    PlanBuilder& b, const LayerParameters& params,
    absl::Span<const Activation> fused) const {
  const int64_t n = b.batch_size();
  const int64_t features = input_shape().back();
  // Data {rows,features} for {F} and {T,F} (rows = N or N*T: the ntc bytes
  // are {N,T,F} row-major), or {N,C,H,W} in any layout for images.
  dnnl::memory src;
  if (input_shape().size() == 3) {
    src = b.current();
  } else {
    const int64_t rows = n * (input_shape().size() == 2 ? input_shape()[0] : 1);
    src = b.View(b.CurrentAs(PlainDesc(input_shape(), n)),
                 dnnl::memory::desc({rows, features}, dt::f32, tag::nc));
  }
  dnnl::normalization_flags flags = dnnl::normalization_flags::use_global_stats |
                                    dnnl::normalization_flags::use_scale |
                                    dnnl::normalization_flags::use_shift;
  if (!fused.empty()) flags |= dnnl::normalization_flags::fuse_norm_relu;
  const dnnl::batch_normalization_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_inference, src.get_desc(), epsilon(), flags},
      InferenceAttr({}), b.engine());
  const dnnl::memory::desc vector_md({features}, dt::f32, tag::x);
  static constexpr int kArgs[] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT,
                                  DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
  std::unordered_map<int, dnnl::memory> args;
  for (int i = 0; i < 4; ++i) {
    ASSIGN_OR_RETURN(args[kArgs[i]],
                     b.Parameter(params.first_id + i, params.values[i].data(),
                                 vector_md, vector_md));
  }
  const dnnl::memory dst = b.NewMemory(pd.dst_desc());
  args[DNNL_ARG_SRC] = src;
  args[DNNL_ARG_DST] = dst;
  b.AddStep(dnnl::batch_normalization_forward(pd), args,
            pd.scratchpad_desc());
  b.set_current(input_shape().size() == 3
                    ? dst
                    : b.View(dst, PlainDesc(input_shape(), n)));
  return absl::OkStatus();
}

}  // namespace nn
