// The layers of a sequential network, in Keras' terms.
//
// A Layer is what the spec says plus its shape rule: it is built from a
// LayerSpec and its per-sample input shape, validates both, and knows its
// output shape, its parameters (in Keras layout) and how to append its
// primitives to a plan. It holds no parameter values and no oneDNN state:
// values live in the Network, primitives in per-batch-size plans, so one
// Layer serves every plan and thread.
//
// One forward description per layer: AppendForward appends the layer's
// forward pass to a ForwardBuilder (engine/forward_builder.h), which is an
// inference PlanBuilder (engine/plan.h) or a TrainingPlanBuilder
// (engine/training/training_plan.h). In training it also appends what only
// training needs and returns the function that later appends the layer's
// backward_data / backward_weights steps, with the same parameter layouts.
// Each kind is a class in its own file here (dense.cc, conv2d.cc, ...),
// known to the rest of the engine only through this interface and the kind
// table (layer.cc); engine/layers/README.md is the checklist for adding one.
//
// Shapes are per sample, Keras-style: {F}, {T, F}, {H, W} or {H, W, C}.
// Activations between layers use the layouts of PlainDesc (engine/onednn.h),
// except that 3-D images may be in any layout a primitive picks (e.g.
// nChw16c); a layer that needs a plain layout reorders (ForwardBuilder).
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
#include "engine/forward_builder.h"
#include "engine/tensor.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

using ::nnserve::v1::Activation;

class TrainingPlanBuilder;  // engine/training/training_plan.h

// The backward half of a layer's training steps (see Layer::AppendForward).
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

  // The activation the layer applies last to its output: its own activation
  // field (Dense, Conv2D, Activation), tanh for SimpleRNN, linear for the
  // others. Only the last layer of a network may end in softmax.
  virtual Activation final_activation() const;
  // final_activation() is softmax: a classifier's last layer, whose softmax
  // training leaves to the loss.
  bool ends_in_softmax() const {
    return final_activation() == nnserve::v1::ACTIVATION_SOFTMAX;
  }

  // Whether AppendForward can apply element-wise activation `next` as a
  // fused post-op at inference, after the activations in `fused` (already
  // accepted).
  virtual bool CanFuse(absl::Span<const Activation> fused,
                       Activation next) const;

  // Inference only: whether AppendForwardAbsorbing can compute this layer
  // (with the activations `fused`) and `next`, the layer after it, in one
  // step; the plan then skips `next`. None does unless it says so (a
  // Conv2D followed by a MaxPooling2D on AVX-512, conv2d.cc).
  virtual bool AbsorbsAtInference(absl::Span<const Activation> fused,
                                  const Layer& next) const;
  // Appends the forward pass of this layer and `next` (AbsorbsAtInference
  // said yes): consumes b.current() and leaves `next`'s output. An error
  // status if packing a parameter fails; INTERNAL if it cannot absorb it.
  virtual absl::Status AppendForwardAbsorbing(
      ForwardBuilder& b, absl::Span<const Activation> fused,
      const Layer& next) const;

  // Appends the layer's forward pass: consumes b.current() and leaves the
  // layer's output as b.current() (per-sample shape output_shape()); the
  // layer's parameters are b.Parameter(0), b.Parameter(1), ... in
  // parameters() order.
  //
  // At inference (b.training() false) it applies the element-wise
  // activations `fused` (accepted by CanFuse) last, and returns an empty
  // BackwardAppender.
  //
  // In training `fused` is empty; the primitives are forward_training ones
  // that keep their workspaces, and a softmax is left out (only a
  // classifier's last layer has one): the output is then the logits, which
  // the plan's fused softmax cross-entropy consumes. Returns the (non-empty)
  // function that appends the backward steps; the plan calls it after every
  // later layer's, with b.current_diff() = d loss / d output: it writes the
  // gradients of the layer's trainable parameters and, when
  // b.needs_input_diff(), sets b.current_diff() to d loss / d input.
  //
  // Either half throws dnnl::error on a oneDNN failure; an error status if
  // packing a parameter fails.
  virtual absl::StatusOr<BackwardAppender> AppendForward(
      ForwardBuilder& b, absl::Span<const Activation> fused) const = 0;

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

}  // namespace nn

#endif  // NNSERVE_ENGINE_LAYERS_LAYERS_H_
