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
// bias {units}.
//
// Inference: oneDNN's vanilla_rnn over the whole sequence.
//
// Training: oneDNN 2.6's vanilla_rnn forward_training and backward run its
// "ref" implementation (~70-100 GFLOP/s on 2 AVX-512 threads, where a
// matmul reaches ~200), so training spells the recurrence out in inner
// products and matmuls, with the sequence time-major (tnc: row t * N + n,
// each step's {N, units} block contiguous). T steps, N samples, F
// features, U units; X {T*N, F}, H {T*N, U}, W = kernel, R =
// recurrent_kernel, D = 1 - H^2, G = d loss / d (pre-activation of H):
//   forward   H = X . W + b                      one inner product, all steps
//             H_0 = tanh(H_0)                    eltwise, in place
//             H_t = tanh(H_t + H_{t-1} . R)      t = 1..T-1: matmul, post-ops
//                                                sum then tanh, in place
//   backward  D = 1 - H . H                      binary mul, post-op linear
//             G_{T-1} = dH_{T-1} * D_{T-1}       binary
//             G_t = (dH_t + G_{t+1} . R^T) * D_t t = T-2..0: matmul, post-ops
//                                                sum (only with
//                                                return_sequences: else
//                                                dH_t = 0) then binary mul
//             dW = X^T . G, db = column sums of G   one inner product
//             dR = H_{0..T-2}^T . G_{1..T-1}        backward_weights each
//             dX = G . W^T (only when needs_input_diff)  backward_data
// The output stays time-major ({T, N, U} in tnc, or the last block as
// {N, U}): a SimpleRNN above reads it in place, anything else reorders it
// (CurrentAs); likewise dX is left time-major for the layer below.
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
  // The training forward and its backward half (see above).
  BackwardAppender AppendTraining(TrainingPlanBuilder& b) const;
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
  if (b.training()) return AppendTraining(*b.training_builder());
  const int64_t n = b.batch_size();
  const int64_t steps = input_shape()[0];
  const int64_t features = input_shape()[1];
  const int64_t units = spec().simple_rnn().units();
  const bool sequences = spec().simple_rnn().return_sequences();
  // src_layer {T,N,F} (ntc: sample-major, as the images arrive), one layer,
  // one direction, one gate: Keras' kernel {F,units} is weights_layer
  // {1,1,F,1,units} (ldigo), recurrent_kernel weights_iter {1,1,units,1,units},
  // bias {1,1,1,units} (ldgo), each packed once in the layout the primitive
  // picks. Output dst_layer {T,N,units} (ntc) for return_sequences, else the
  // last state dst_iter {1,1,N,units} = {N,units}.
  const dnnl::memory src = b.CurrentAs(PlainDesc(input_shape(), n));
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
       dnnl::rnn_direction::unidirectional_left2right, src.get_desc(),
       dnnl::memory::desc(), kernel_any_md, recurrent_any_md, bias_md,
       dst_layer_md, dst_iter_md},
      PrimitiveAttr({}), b.engine());
  std::unordered_map<int, dnnl::memory> args;
  ASSIGN_OR_RETURN(args[DNNL_ARG_WEIGHTS_LAYER],
                   b.Parameter(0, kernel_md, pd.weights_layer_desc()));
  ASSIGN_OR_RETURN(args[DNNL_ARG_WEIGHTS_ITER],
                   b.Parameter(1, recurrent_md, pd.weights_iter_desc()));
  ASSIGN_OR_RETURN(args[DNNL_ARG_BIAS], b.Parameter(2, bias_md, pd.bias_desc()));
  const dnnl::memory dst_layer = b.NewMemory(pd.dst_layer_desc());
  args[DNNL_ARG_SRC_LAYER] = src;
  args[DNNL_ARG_DST_LAYER] = dst_layer;
  dnnl::memory dst_iter;
  if (!sequences) {
    dst_iter = b.NewMemory(pd.dst_iter_desc());
    args[DNNL_ARG_DST_ITER] = dst_iter;
  }
  b.AddStep(dnnl::vanilla_rnn_forward(pd), args, pd.scratchpad_desc());
  b.set_current(sequences ? dst_layer
                          : b.View(dst_iter, PlainDesc(output_shape(), n)));
  return BackwardAppender();
}

BackwardAppender SimpleRNN::AppendTraining(TrainingPlanBuilder& b) const {
  const int64_t n = b.batch_size();
  const int64_t steps = input_shape()[0];
  const int64_t features = input_shape()[1];
  const int64_t units = spec().simple_rnn().units();
  const bool sequences = spec().simple_rnn().return_sequences();
  const int64_t rows = steps * n;                 // of X, H and G
  const size_t block_bytes = n * units * sizeof(float);  // one step of H, G
  // Keras layouts, as oneDNN reads them: the inner products' weights
  // {out, in} in `io` order are the row-major kernels {in, out}; the matmul
  // reads recurrent_kernel {U, U} as it is (ab) and its transpose as `ba`.
  const dnnl::memory::desc kernel_md({units, features}, dt::f32, tag::io);
  const dnnl::memory::desc recurrent_ip_md({units, units}, dt::f32, tag::io);
  const dnnl::memory::desc recurrent_md({units, units}, dt::f32, tag::ab);
  const dnnl::memory::desc recurrent_t_md({units, units}, dt::f32, tag::ba);
  const dnnl::memory::desc bias_md({units}, dt::f32, tag::x);
  const dnnl::memory::desc seq_md({rows, units}, dt::f32, tag::ab);
  const dnnl::memory::desc block_md({n, units}, dt::f32, tag::ab);
  const dnnl::memory::desc time_major_md({steps, n, units}, dt::f32, tag::tnc);

  // X {T,N,F} time-major (a reorder from the images' ntc; free after a
  // SimpleRNN), as {T*N, F}.
  const dnnl::memory x = b.View(
      b.CurrentAs(dnnl::memory::desc({steps, n, features}, dt::f32, tag::tnc)),
      dnnl::memory::desc({rows, features}, dt::f32, tag::ab));
  // H = X . W + b over all steps at once.
  const dnnl::inner_product_forward::primitive_desc input_pd(
      {dnnl::prop_kind::forward_training, x.get_desc(), kernel_md, bias_md,
       seq_md},
      PrimitiveAttr({}), b.engine());
  const dnnl::memory h = b.NewMemory(seq_md);
  b.AddStep(dnnl::inner_product_forward(input_pd),
            {{DNNL_ARG_SRC, x},
             {DNNL_ARG_WEIGHTS, b.ParameterAs(0, kernel_md, kernel_md)},
             {DNNL_ARG_BIAS, b.ParameterAs(2, bias_md, bias_md)},
             {DNNL_ARG_DST, h}},
            input_pd.scratchpad_desc());
  auto block = [&](const dnnl::memory& sequence, int64_t t) {
    return b.ViewAt(sequence, block_md, t * block_bytes);
  };
  // H_0 = tanh(H_0), in place.
  const dnnl::eltwise_forward::primitive_desc tanh_pd(
      {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_tanh,
       block_md, 0.0f, 0.0f},
      PrimitiveAttr({}), b.engine());
  const dnnl::memory h0 = block(h, 0);
  b.AddStep(dnnl::eltwise_forward(tanh_pd),
            {{DNNL_ARG_SRC, h0}, {DNNL_ARG_DST, h0}},
            tanh_pd.scratchpad_desc());
  // H_t = tanh(H_t + H_{t-1} . R): one primitive for every step.
  const dnnl::memory recurrent = b.ParameterAs(1, recurrent_md, recurrent_md);
  if (steps > 1) {
    dnnl::primitive_attr attr = PrimitiveAttr({});
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_tanh, 0.0f, 0.0f);
    attr.set_post_ops(ops);
    const dnnl::matmul::primitive_desc step_pd(
        {block_md, recurrent_md, block_md}, attr, b.engine());
    const dnnl::matmul step(step_pd);
    for (int64_t t = 1; t < steps; ++t) {
      b.AddStep(step,
                {{DNNL_ARG_SRC, block(h, t - 1)},
                 {DNNL_ARG_WEIGHTS, recurrent},
                 {DNNL_ARG_DST, block(h, t)}},
                step_pd.scratchpad_desc());
    }
  }
  b.set_current(sequences ? b.View(h, time_major_md)
                          : b.ViewAt(h, PlainDesc(output_shape(), n),
                                     (steps - 1) * block_bytes));

  return BackwardAppender([=, this](TrainingPlanBuilder& b) {
    auto block = [&](const dnnl::memory& sequence, int64_t t) {
      return b.ViewAt(sequence, block_md, t * block_bytes);
    };
    // D = 1 - H . H, the derivative of tanh at every step.
    dnnl::primitive_attr d_attr = PrimitiveAttr({});
    dnnl::post_ops d_ops;
    d_ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, -1.0f, 1.0f);
    d_attr.set_post_ops(d_ops);
    const dnnl::binary::primitive_desc d_pd(
        {dnnl::algorithm::binary_mul, seq_md, seq_md, seq_md}, d_attr,
        b.engine());
    const dnnl::memory d = b.NewMemory(seq_md);
    b.AddStep(dnnl::binary(d_pd),
              {{DNNL_ARG_SRC_0, h}, {DNNL_ARG_SRC_1, h}, {DNNL_ARG_DST, d}},
              d_pd.scratchpad_desc());
    // G starts as dH: with return_sequences the whole diff, time-major (in
    // place: nothing else reads it); else only the last step has one, and
    // the steps before are written, not added to.
    const dnnl::memory g = sequences ? b.View(b.DiffAs(time_major_md), seq_md)
                                     : b.NewMemory(seq_md);
    const dnnl::memory diff_last =
        sequences ? block(g, steps - 1)
                  : b.View(b.DiffAs(PlainDesc(output_shape(), n)), block_md);
    const dnnl::binary::primitive_desc last_pd(
        {dnnl::algorithm::binary_mul, block_md, block_md, block_md},
        PrimitiveAttr({}), b.engine());
    b.AddStep(dnnl::binary(last_pd),
              {{DNNL_ARG_SRC_0, diff_last},
               {DNNL_ARG_SRC_1, block(d, steps - 1)},
               {DNNL_ARG_DST, block(g, steps - 1)}},
              last_pd.scratchpad_desc());
    // G_t = (dH_t + G_{t+1} . R^T) * D_t, t = T-2 .. 0.
    if (steps > 1) {
      dnnl::primitive_attr attr = PrimitiveAttr({});
      dnnl::post_ops ops;
      if (sequences) ops.append_sum(1.0f);
      ops.append_binary(dnnl::algorithm::binary_mul, block_md);
      attr.set_post_ops(ops);
      const int d_arg =
          DNNL_ARG_ATTR_MULTIPLE_POST_OP(sequences ? 1 : 0) | DNNL_ARG_SRC_1;
      const dnnl::matmul::primitive_desc step_pd(
          {block_md, recurrent_t_md, block_md}, attr, b.engine());
      const dnnl::matmul step(step_pd);
      const dnnl::memory recurrent_t =
          b.View(b.ParameterAs(1, recurrent_md, recurrent_md), recurrent_t_md);
      for (int64_t t = steps - 2; t >= 0; --t) {
        b.AddStep(step,
                  {{DNNL_ARG_SRC, block(g, t + 1)},
                   {DNNL_ARG_WEIGHTS, recurrent_t},
                   {DNNL_ARG_DST, block(g, t)},
                   {d_arg, block(d, t)}},
                  step_pd.scratchpad_desc());
      }
    }
    // dW = X^T . G and db = column sums of G, straight into the gradients.
    const dnnl::inner_product_backward_weights::primitive_desc input_weights_pd(
        {x.get_desc(), kernel_md, bias_md, seq_md}, PrimitiveAttr({}),
        b.engine(), input_pd);
    const dnnl::memory diff_kernel =
        b.GradientAs(0, kernel_md, input_weights_pd.diff_weights_desc());
    const dnnl::memory diff_bias =
        b.GradientAs(2, bias_md, input_weights_pd.diff_bias_desc());
    b.AddStep(dnnl::inner_product_backward_weights(input_weights_pd),
              {{DNNL_ARG_SRC, x},
               {DNNL_ARG_DIFF_DST, g},
               {DNNL_ARG_DIFF_WEIGHTS, diff_kernel},
               {DNNL_ARG_DIFF_BIAS, diff_bias}},
              input_weights_pd.scratchpad_desc());
    b.FinishGradient(0, kernel_md, diff_kernel);
    b.FinishGradient(2, bias_md, diff_bias);
    // dR = H_{0..T-2}^T . G_{1..T-1} (zero for a single step).
    const dnnl::memory diff_recurrent =
        b.GradientAs(1, recurrent_ip_md, recurrent_ip_md);
    if (steps > 1) {
      const dnnl::memory::desc pairs_md({rows - n, units}, dt::f32, tag::ab);
      const dnnl::inner_product_forward::primitive_desc hint(
          {dnnl::prop_kind::forward_training, pairs_md, recurrent_ip_md,
           pairs_md},
          PrimitiveAttr({}), b.engine());
      const dnnl::inner_product_backward_weights::primitive_desc
          recurrent_weights_pd({pairs_md, recurrent_ip_md, pairs_md},
                               PrimitiveAttr({}), b.engine(), hint);
      b.AddStep(dnnl::inner_product_backward_weights(recurrent_weights_pd),
                {{DNNL_ARG_SRC, b.View(h, pairs_md)},
                 {DNNL_ARG_DIFF_DST, b.ViewAt(g, pairs_md, block_bytes)},
                 {DNNL_ARG_DIFF_WEIGHTS, diff_recurrent}},
                recurrent_weights_pd.scratchpad_desc());
    } else {
      b.AddZeroStep(diff_recurrent);
    }
    b.FinishGradient(1, recurrent_ip_md, diff_recurrent);
    if (b.needs_input_diff()) {
      // dX = G . W^T, left time-major.
      const dnnl::inner_product_backward_data::primitive_desc data_pd(
          {x.get_desc(), kernel_md, seq_md}, PrimitiveAttr({}), b.engine(),
          input_pd);
      const dnnl::memory diff_x = b.NewMemory(data_pd.diff_src_desc());
      b.AddStep(dnnl::inner_product_backward_data(data_pd),
                {{DNNL_ARG_DIFF_DST, g},
                 {DNNL_ARG_WEIGHTS, b.ParameterAs(0, kernel_md, kernel_md)},
                 {DNNL_ARG_DIFF_SRC, diff_x}},
                data_pd.scratchpad_desc());
      b.set_current_diff(b.View(
          diff_x,
          dnnl::memory::desc({steps, n, features}, dt::f32, tag::tnc)));
    }
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
