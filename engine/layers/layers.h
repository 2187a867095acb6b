// The layers of a sequential network, in Keras' terms.
//
// A Layer is what the spec says plus its shape rule: it is built from a
// LayerSpec and its per-sample input shape, validates both, and knows its
// output shape, its parameters (in Keras layout) and how to append its
// inference primitives to a PlanBuilder. It holds no parameter values and no
// oneDNN state: values live in the Network, primitives in per-batch-size
// plans, so one Layer serves every plan and thread.
//
// Training sits next to inference in each layer: AppendTraining appends the
// layer's forward_training steps to a TrainingPlanBuilder and returns the
// function that later appends its backward_data / backward_weights steps
// (engine/training/training_plan.h), with the same parameter layout.
//
// Shapes are per sample, Keras-style: {F}, {T, F}, {H, W} or {H, W, C}.
// Activations between layers use the layouts of PlainDesc (engine/onednn.h),
// except that 3-D images may be in any layout a primitive picks (e.g.
// nChw16c); a layer that needs a plain layout reorders (PlanBuilder).
#ifndef NNSERVE_ENGINE_LAYERS_LAYERS_H_
#define NNSERVE_ENGINE_LAYERS_LAYERS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/plan.h"
#include "engine/tensor.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

using ::nnserve::v1::Activation;

class TrainingPlanBuilder;  // engine/training/training_plan.h

// The backward half of a layer's training steps (see Layer::AppendTraining).
using BackwardAppender = std::function<absl::Status(TrainingPlanBuilder&)>;

// How a parameter starts in a new model, as Keras initialises it.
enum class Initializer {
  kZeros,
  kOnes,
  kGlorotUniform,  // U(-l, l), l = sqrt(6 / (fan_in + fan_out)), Keras' fans
  kOrthogonal,     // a random orthogonal matrix (gain 1)
};

// One parameter tensor of a layer.
struct ParameterSpec {
  std::string name;  // "kernel", "bias", "recurrent_kernel", "gamma", "beta",
                     // "moving_mean" or "moving_variance"
  Shape shape;       // Keras layout, row-major
  Initializer initializer = Initializer::kZeros;
  bool trainable = true;  // false for the moving statistics
  nnserve::v1::Regularizer regularizer;  // zero: none
};

// The parameter values a layer's plan uses: the layer's parameters in
// parameters() order, and the network-wide id of the first (ids are
// consecutive; they key the WeightCache).
struct LayerParameters {
  int first_id = 0;
  absl::Span<const Tensor> values;
};

class Layer {
 public:
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  // The spec this layer was built from; its name is never empty.
  const nnserve::v1::LayerSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name(); }
  // Keras' class name: "Dense", "Conv2D", "MaxPooling2D", "Flatten",
  // "SimpleRNN", "Dropout", "BatchNormalization" or "Activation".
  virtual absl::string_view kind() const = 0;
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }
  const std::vector<ParameterSpec>& parameters() const { return parameters_; }
  // Number of scalar parameters (Keras' "Param #").
  int64_t parameter_count() const;
  // Floating-point operations of one sample's forward pass (a multiply-add
  // counts 2); element-wise work is counted once per element.
  virtual int64_t forward_flops() const = 0;

  // Whether AppendInference can apply element-wise activation `next` as a
  // fused post-op, after the activations in `fused` (already accepted).
  virtual bool CanFuse(absl::Span<const Activation> fused,
                       Activation next) const;
  // Appends the inference steps: consumes b.current(), leaves this layer's
  // output as b.current() (per-sample shape output_shape()), applying the
  // element-wise activations `fused` (accepted by CanFuse) last. Throws
  // dnnl::error on a oneDNN failure; returns an error status if packing a
  // parameter fails.
  virtual absl::Status AppendInference(PlanBuilder& b,
                                       const LayerParameters& params,
                                       absl::Span<const Activation> fused)
      const = 0;

  // Appends the training-mode forward steps (oneDNN forward_training, with
  // workspaces kept for the backward pass): consumes b.current() and leaves
  // the output as b.current(). A softmax is left out (only the classifier's
  // last layer has one): its output is then the logits, which the plan's
  // fused softmax cross-entropy consumes. `first_parameter_id` is the
  // network-wide id of the layer's first parameter (see
  // TrainingPlanBuilder::ParameterAs). Returns the function that appends the
  // backward steps; the plan calls it after every later layer's, with
  // b.current_diff() = d loss / d output: it writes the gradients of the
  // layer's trainable parameters and, when b.needs_input_diff(), sets
  // b.current_diff() to d loss / d input. Either half throws dnnl::error on
  // a oneDNN failure.
  virtual absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const = 0;

 protected:
  Layer(nnserve::v1::LayerSpec spec, Shape input_shape, Shape output_shape,
        std::vector<ParameterSpec> parameters);

 private:
  nnserve::v1::LayerSpec spec_;
  Shape input_shape_;
  Shape output_shape_;
  std::vector<ParameterSpec> parameters_;
};

// Builds and validates the layer `spec` on per-sample input `input_shape`.
// `spec.name` must be set (see ResolveLayerNames). INVALID_ARGUMENT, with a
// message starting `layer <index> "<name>" (<Kind>): `, for any invalid field
// or a shape the layer cannot take (e.g. Dense on a 3-D input, a kernel
// larger than its input).
absl::StatusOr<std::unique_ptr<Layer>> CreateLayer(
    const nnserve::v1::LayerSpec& spec, int index, const Shape& input_shape);

// Keras' class name of `spec`'s kind ("Dense"), or "" when no kind is set.
absl::string_view LayerKind(const nnserve::v1::LayerSpec& spec);

// Gives every unnamed layer Keras' default name: the k-th unnamed layer of a
// kind is "<prefix>" for k = 0 and "<prefix>_<k>" after ("dense", "dense_1",
// ...), skipping names taken by other layers. Then checks that every name is
// unique, at most 128 bytes, without '/' (it separates a parameter's layer and
// name) and without whitespace or control characters. INVALID_ARGUMENT
// naming the layer otherwise.
absl::Status ResolveLayerNames(
    google::protobuf::RepeatedPtrField<nnserve::v1::LayerSpec>* layers);

// ---------------------------------------------------------------------------
// The layer kinds. Shape rules use Keras' per-sample shapes.

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
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;
  Activation activation() const { return spec().dense().activation(); }

 private:
  using Layer::Layer;
};

// {H, W} (one channel) or {H, W, C} -> {H', W', filters}; valid padding:
// H' = floor((H - kh) / stride) + 1; same: H' = ceil(H / stride).
// Parameters: kernel {kh, kw, C, filters}, bias {filters}.
// oneDNN convolution with format_tag::any layouts; activation fused.
class Conv2D final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "Conv2D"; }
  int64_t forward_flops() const override;
  bool CanFuse(absl::Span<const Activation> fused,
               Activation next) const override;
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;

 private:
  using Layer::Layer;
};

// {H, W} or {H, W, C} -> {H', W', C} (C = 1 for {H, W}); sizes as Conv2D
// with the pool as kernel, stride 0 meaning the pool size. Padded positions
// never win the max. No parameters. oneDNN pooling (max) for inference;
// training uses host kernels (max_pool_kernels.h says why).
class MaxPooling2D final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "MaxPooling2D"; }
  int64_t forward_flops() const override;
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;

 private:
  using Layer::Layer;
};

// Any shape -> {product of dims}, row-major (channels-last) as Keras. A view:
// no copy unless the input is in a blocked layout, which is reordered to
// channels-last first.
class Flatten final : public Layer {
 public:
  static absl::StatusOr<std::unique_ptr<Layer>> Create(
      const nnserve::v1::LayerSpec& spec, const Shape& input_shape);
  absl::string_view kind() const override { return "Flatten"; }
  int64_t forward_flops() const override { return 0; }
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;

 private:
  using Layer::Layer;
};

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
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;

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
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;
  float rate() const { return spec().dropout().rate(); }

 private:
  using Layer::Layer;
};

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
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;
  // With Keras' defaults applied (0.99 and 0.001 for zero).
  float momentum() const;
  float epsilon() const;

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
  absl::Status AppendInference(PlanBuilder& b, const LayerParameters& params,
                               absl::Span<const Activation> fused)
      const override;
  absl::StatusOr<BackwardAppender> AppendTraining(
      TrainingPlanBuilder& b, int first_parameter_id) const override;
  Activation activation() const { return spec().activation().activation(); }

 private:
  using Layer::Layer;
};

}  // namespace nn

#endif  // NNSERVE_ENGINE_LAYERS_LAYERS_H_
