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

// {T, F} -> {T, units} with return_sequences, else {units} (h_T).
// h_t = tanh(x_t . kernel + h_{t-1} . recurrent_kernel + bias), h_0 = 0.
// Parameters: kernel {F, units}, recurrent_kernel {units, units},
// bias {units}. oneDNN vanilla_rnn over the whole sequence.
class SimpleRNN final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "SimpleRNN"; }
  int64_t forward_flops() const override;
  Activation final_activation() const override {
    return nnserve::v1::ACTIVATION_TANH;
  }
  absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const override;

 private:
  using Layer::Layer;
};

}  // namespace

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

absl::StatusOr<BackwardAppender> SimpleRNN::AppendForward(
    ForwardBuilder& b, absl::Span<const Activation>) const {
  const int64_t n = b.batch_size();
  const int64_t steps = input_shape()[0];
  const int64_t features = input_shape()[1];
  const int64_t units = spec().simple_rnn().units();
  const bool sequences = spec().simple_rnn().return_sequences();
  // src_layer {T,N,F} (ntc: sample-major, as the images arrive), one layer,
  // one direction, one gate: Keras' kernel {F,units} is weights_layer
  // {1,1,F,1,units} (ldigo), recurrent_kernel weights_iter {1,1,units,1,units},
  // bias {1,1,1,units} (ldgo), each read in the layout the primitive picks.
  // Output dst_layer {T,N,units} (ntc) for return_sequences, else the last
  // state dst_iter {1,1,N,units} = {N,units}. Training keeps the workspace
  // that backward reads.
  const dnnl::memory src = b.CurrentAs(PlainDesc(input_shape(), n));
  const dnnl::memory::desc src_md = src.get_desc();
  const dnnl::memory::dims kernel_dims = {1, 1, features, 1, units};
  const dnnl::memory::dims recurrent_dims = {1, 1, units, 1, units};
  const dnnl::memory::desc kernel_md(kernel_dims, dt::f32, tag::ldigo);
  const dnnl::memory::desc recurrent_md(recurrent_dims, dt::f32, tag::ldigo);
  const dnnl::memory::desc kernel_any_md(kernel_dims, dt::f32, tag::any);
  const dnnl::memory::desc recurrent_any_md(recurrent_dims, dt::f32, tag::any);
  const dnnl::memory::desc bias_md({1, 1, 1, units}, dt::f32, tag::ldgo);
  const dnnl::memory::desc dst_layer_md({steps, n, units}, dt::f32, tag::ntc);
  const dnnl::memory::desc dst_iter_md =
      sequences ? dnnl::memory::desc()
                : dnnl::memory::desc({1, 1, n, units}, dt::f32, tag::ldnc);
  const dnnl::vanilla_rnn_forward::primitive_desc pd(
      {b.forward_kind(), dnnl::algorithm::eltwise_tanh,
       dnnl::rnn_direction::unidirectional_left2right, src_md,
       dnnl::memory::desc(), kernel_any_md, recurrent_any_md, bias_md,
       dst_layer_md, dst_iter_md},
      PrimitiveAttr({}), b.engine());
  dnnl::memory workspace;
  if (b.training()) workspace = b.NewMemory(pd.workspace_desc());
  std::unordered_map<int, dnnl::memory> args;
  ASSIGN_OR_RETURN(args[DNNL_ARG_WEIGHTS_LAYER],
                   b.Parameter(0, kernel_md, pd.weights_layer_desc()));
  ASSIGN_OR_RETURN(args[DNNL_ARG_WEIGHTS_ITER],
                   b.Parameter(1, recurrent_md, pd.weights_iter_desc()));
  ASSIGN_OR_RETURN(args[DNNL_ARG_BIAS], b.Parameter(2, bias_md, pd.bias_desc()));
  const dnnl::memory dst_layer = b.NewMemory(pd.dst_layer_desc());
  args[DNNL_ARG_SRC_LAYER] = src;
  args[DNNL_ARG_DST_LAYER] = dst_layer;
  if (b.training()) args[DNNL_ARG_WORKSPACE] = workspace;
  dnnl::memory dst_iter;
  if (!sequences) {
    dst_iter = b.NewMemory(pd.dst_iter_desc());
    args[DNNL_ARG_DST_ITER] = dst_iter;
  }
  b.AddStep(dnnl::vanilla_rnn_forward(pd), args, pd.scratchpad_desc());
  b.set_current(sequences ? dst_layer
                          : b.View(dst_iter, PlainDesc(output_shape(), n)));
  if (!b.training()) return BackwardAppender();

  return BackwardAppender([=, this](TrainingPlanBuilder& b) {
    // Back-propagation through time over the whole sequence in one
    // primitive. Without return_sequences only the last state received a
    // gradient: diff_dst_iter is it, diff_dst_layer zeros (set once, never
    // written).
    const dnnl::vanilla_rnn_backward::primitive_desc backward_pd(
        {dnnl::prop_kind::backward, dnnl::algorithm::eltwise_tanh,
         dnnl::rnn_direction::unidirectional_left2right, src_md,
         dnnl::memory::desc(), kernel_any_md, recurrent_any_md, bias_md,
         dst_layer_md, dst_iter_md, src_md, dnnl::memory::desc(),
         kernel_any_md, recurrent_any_md, bias_md, dst_layer_md, dst_iter_md},
        PrimitiveAttr({}), b.engine(), pd);
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC_LAYER, src},
        {DNNL_ARG_DST_LAYER, dst_layer},
        {DNNL_ARG_WORKSPACE, workspace},
        {DNNL_ARG_WEIGHTS_LAYER,
         b.ParameterAs(0, kernel_md, backward_pd.weights_layer_desc())},
        {DNNL_ARG_WEIGHTS_ITER,
         b.ParameterAs(1, recurrent_md, backward_pd.weights_iter_desc())},
        {DNNL_ARG_BIAS, b.ParameterAs(2, bias_md, backward_pd.bias_desc())}};
    if (sequences) {
      args[DNNL_ARG_DIFF_DST_LAYER] =
          b.DiffAs(backward_pd.diff_dst_layer_desc());
    } else {
      args[DNNL_ARG_DST_ITER] = dst_iter;
      args[DNNL_ARG_DIFF_DST_LAYER] =
          b.NewMemory(backward_pd.diff_dst_layer_desc());
      args[DNNL_ARG_DIFF_DST_ITER] =
          b.View(b.DiffAs(PlainDesc(output_shape(), n)),
                 backward_pd.diff_dst_iter_desc());
    }
    const dnnl::memory diff_src = b.NewMemory(backward_pd.diff_src_layer_desc());
    args[DNNL_ARG_DIFF_SRC_LAYER] = diff_src;
    // oneDNN 2.6 adds the weight gradients to what the buffers hold: zero
    // them first.
    const dnnl::memory diff_kernel =
        b.GradientAs(0, kernel_md, backward_pd.diff_weights_layer_desc());
    const dnnl::memory diff_recurrent =
        b.GradientAs(1, recurrent_md, backward_pd.diff_weights_iter_desc());
    const dnnl::memory diff_bias =
        b.GradientAs(2, bias_md, backward_pd.diff_bias_desc());
    for (const dnnl::memory& diff : {diff_kernel, diff_recurrent, diff_bias}) {
      b.AddZeroStep(diff);
    }
    args[DNNL_ARG_DIFF_WEIGHTS_LAYER] = diff_kernel;
    args[DNNL_ARG_DIFF_WEIGHTS_ITER] = diff_recurrent;
    args[DNNL_ARG_DIFF_BIAS] = diff_bias;
    b.AddStep(dnnl::vanilla_rnn_backward(backward_pd), args,
              backward_pd.scratchpad_desc());
    b.FinishGradient(0, kernel_md, diff_kernel);
    b.FinishGradient(1, recurrent_md, diff_recurrent);
    b.FinishGradient(2, bias_md, diff_bias);
    b.set_current_diff(diff_src);
    return absl::OkStatus();
  });
}

namespace layers_internal {

absl::StatusOr<std::unique_ptr<Layer>> CreateSimpleRNN(
    const nnserve::v1::LayerSpec& spec, const Shape& input_shape) {
  return SimpleRNN::Create(spec, input_shape);
}

}  // namespace layers_internal
}  // namespace nn
