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

absl::StatusOr<std::unique_ptr<Layer>> SimpleRNN::Create(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  const nnserve::v1::SimpleRNNLayer& rnn = spec.simple_rnn();
  RETURN_IF_ERROR(CheckRange(rnn.units(), 1, kMaxUnits, "units"));
  RETURN_IF_ERROR(
      CheckRegularizer(rnn.kernel_regularizer(), "kernel_regularizer"));
  RETURN_IF_ERROR(
      CheckRegularizer(rnn.recurrent_regularizer(), "recurrent_regularizer"));
  if (rnn.activation() != nnserve::v1::ACTIVATION_UNSPECIFIED &&
      rnn.activation() != nnserve::v1::ACTIVATION_TANH) {
    return absl::InvalidArgumentError(
        absl::StrCat("only the tanh activation is supported, got ",
                     nnserve::v1::Activation_Name(rnn.activation())));
  }
  if (input_shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "needs a sequence input {steps,features}, got ",
        ShapeToString(input_shape),
        input_shape.size() == 1 ? "; a SimpleRNN below it needs "
                                  "return_sequences"
                                : ""));
  }
  const int64_t units = rnn.units();
  std::vector<ParameterSpec> parameters = {
      {"kernel", {input_shape[1], units}, Initializer::kGlorotUniform, true,
       rnn.kernel_regularizer()},
      {"recurrent_kernel", {units, units}, Initializer::kOrthogonal, true,
       rnn.recurrent_regularizer()},
      {"bias", {units}, Initializer::kZeros, true, {}},
  };
  Shape output = rnn.return_sequences() ? Shape{input_shape[0], units}
                                        : Shape{units};
  return std::unique_ptr<Layer>(
      new SimpleRNN(spec, input_shape, std::move(output), std::move(parameters)));
}

int64_t SimpleRNN::forward_flops() const {
  const int64_t steps = input_shape()[0];
  const int64_t features = input_shape()[1];
  const int64_t units = spec().simple_rnn().units();
  return steps * (2 * (features + units) * units + 2 * units);
}

absl::Status SimpleRNN::AppendInference(PlanBuilder& b,
                                        const LayerParameters& params,
                                        absl::Span<const Activation>) const {
  const int64_t n = b.batch_size();
  const int64_t steps = input_shape()[0];
  const int64_t features = input_shape()[1];
  const int64_t units = spec().simple_rnn().units();
  const bool sequences = spec().simple_rnn().return_sequences();
  // src_layer {T,N,F} (ntc: sample-major, as the images arrive), one layer,
  // one direction, one gate: Keras' kernel {F,units} is weights_layer
  // {1,1,F,1,units} (ldigo), recurrent_kernel weights_iter {1,1,units,1,units},
  // bias {1,1,1,units} (ldgo). Output dst_layer {T,N,units} (ntc) for
  // return_sequences, else the last state dst_iter {1,1,N,units} = {N,units}.
  const dnnl::memory src = b.CurrentAs(PlainDesc(input_shape(), n));
  const dnnl::memory::dims kernel_dims = {1, 1, features, 1, units};
  const dnnl::memory::dims recurrent_dims = {1, 1, units, 1, units};
  const dnnl::memory::desc bias_md({1, 1, 1, units}, dt::f32, tag::ldgo);
  const dnnl::memory::desc dst_layer_md({steps, n, units}, dt::f32, tag::ntc);
  const dnnl::memory::desc dst_iter_md =
      sequences ? dnnl::memory::desc()
                : dnnl::memory::desc({1, 1, n, units}, dt::f32, tag::ldnc);
  const dnnl::vanilla_rnn_forward::primitive_desc pd(
      {dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_tanh,
       dnnl::rnn_direction::unidirectional_left2right, src.get_desc(),
       dnnl::memory::desc(), dnnl::memory::desc(kernel_dims, dt::f32, tag::any),
       dnnl::memory::desc(recurrent_dims, dt::f32, tag::any), bias_md,
       dst_layer_md, dst_iter_md},
      InferenceAttr({}), b.engine());
  ASSIGN_OR_RETURN(
      dnnl::memory kernel,
      b.Parameter(params.first_id, params.values[0].data(),
                  dnnl::memory::desc(kernel_dims, dt::f32, tag::ldigo),
                  pd.weights_layer_desc()));
  ASSIGN_OR_RETURN(
      dnnl::memory recurrent_kernel,
      b.Parameter(params.first_id + 1, params.values[1].data(),
                  dnnl::memory::desc(recurrent_dims, dt::f32, tag::ldigo),
                  pd.weights_iter_desc()));
  ASSIGN_OR_RETURN(dnnl::memory bias,
                   b.Parameter(params.first_id + 2, params.values[2].data(),
                               bias_md, pd.bias_desc()));
  const dnnl::memory dst_layer = b.NewMemory(pd.dst_layer_desc());
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC_LAYER, src},
      {DNNL_ARG_WEIGHTS_LAYER, kernel},
      {DNNL_ARG_WEIGHTS_ITER, recurrent_kernel},
      {DNNL_ARG_BIAS, bias},
      {DNNL_ARG_DST_LAYER, dst_layer}};
  if (sequences) {
    b.AddStep(dnnl::vanilla_rnn_forward(pd), args, pd.scratchpad_desc());
    b.set_current(dst_layer);
  } else {
    const dnnl::memory dst_iter = b.NewMemory(pd.dst_iter_desc());
    args[DNNL_ARG_DST_ITER] = dst_iter;
    b.AddStep(dnnl::vanilla_rnn_forward(pd), args, pd.scratchpad_desc());
    b.set_current(b.View(dst_iter, PlainDesc(output_shape(), n)));
  }
  return absl::OkStatus();
}

}  // namespace nn
