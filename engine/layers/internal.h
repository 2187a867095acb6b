// Helpers shared by the layer implementations (not a public header).
#ifndef NNSERVE_ENGINE_LAYERS_INTERNAL_H_
#define NNSERVE_ENGINE_LAYERS_INTERNAL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/layers/layers.h"
#include "engine/forward_builder.h"
#include "engine/onednn.h"
#include "engine/training/training_plan.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nn::layers_internal {

// Limits on spec fields, so that a hostile spec cannot ask for absurd sizes
// before the network's overall limits apply.
inline constexpr int64_t kMaxUnits = int64_t{1} << 20;
inline constexpr int64_t kMaxWindow = 4096;

// INVALID_ARGUMENT unless `activation` is a known enum value (proto3 enums
// accept unknown numbers).
absl::Status CheckActivation(Activation activation, absl::string_view field);
// INVALID_ARGUMENT unless l1 and l2 are finite and >= 0.
absl::Status CheckRegularizer(const nnserve::v1::Regularizer& regularizer,
                              absl::string_view field);
// INVALID_ARGUMENT unless 1 <= value <= max.
absl::Status CheckRange(int64_t value, int64_t min, int64_t max,
                        absl::string_view field);

// One spatial dimension of a window op (Conv2D, MaxPooling2D): output size
// and oneDNN's padding before/after, as Keras computes them.
struct SpatialDim {
  int64_t output = 0;
  int64_t pad_before = 0;
  int64_t pad_after = 0;
};
// `what` names the dimension in errors ("height"). `stride` >= 1. Valid
// padding needs window <= input.
absl::StatusOr<SpatialDim> ComputeSpatialDim(int64_t input, int64_t window,
                                             int64_t stride,
                                             nnserve::v1::Padding padding,
                                             absl::string_view what);

// The window geometry of a 2-D window op over an image {H, W, ...}:
// both spatial dimensions, and oneDNN's {height, width} vectors.
struct Window2D {
  SpatialDim height;
  SpatialDim width;
  dnnl::memory::dims strides;
  dnnl::memory::dims pad_before;
  dnnl::memory::dims pad_after;
};
// Strides must be >= 1 (defaults already applied).
absl::StatusOr<Window2D> ComputeWindow2D(const Shape& input, int64_t window_h,
                                         int64_t window_w, int64_t stride_h,
                                         int64_t stride_w,
                                         nnserve::v1::Padding padding);

// A primitive attribute with the user scratchpad and `activations` (each
// element-wise, see EltwiseAlgorithm; others are ignored) as eltwise
// post-ops, in order. For inference and training primitives alike.
dnnl::primitive_attr PrimitiveAttr(absl::Span<const Activation> activations);

// `activation` as the forward pass of `b` applies it: in training, softmax
// is left to the loss (the identity here); everything else as given.
Activation ForwardActivation(const ForwardBuilder& b, Activation activation);

// Appends `activation` applied to b.current(): nothing for linear, an eltwise
// step (b.forward_kind()), or a softmax over dimension 1 of a {N, F} value
// (inference only: training leaves softmax to the loss). In place when the
// current value is writable.
void AppendActivation(ForwardBuilder& b, Activation activation);

// Appends a forward primitive that takes src, weights and bias (inner
// product, convolution) and makes its new destination the current value.
// Parameter 0 is the kernel in Keras layout `kernel_md`, 1 the bias {units};
// both are read in the layouts `pd` asks for (ForwardBuilder::Parameter).
// Returns the kernel memory the primitive reads.
template <typename Primitive>
absl::StatusOr<dnnl::memory> AppendWeightedForward(
    ForwardBuilder& b, const typename Primitive::primitive_desc& pd,
    const dnnl::memory& src, const dnnl::memory::desc& kernel_md) {
  absl::StatusOr<dnnl::memory> kernel =
      b.Parameter(0, kernel_md, pd.weights_desc());
  if (!kernel.ok()) return kernel.status();
  absl::StatusOr<dnnl::memory> bias =
      b.Parameter(1,
                  dnnl::memory::desc(pd.bias_desc().dims(),
                                     dnnl::memory::data_type::f32,
                                     dnnl::memory::format_tag::x),
                  pd.bias_desc());
  if (!bias.ok()) return bias.status();
  const dnnl::memory dst = b.NewMemory(pd.dst_desc());
  b.AddStep(Primitive(pd),
            {{DNNL_ARG_SRC, src},
             {DNNL_ARG_WEIGHTS, *kernel},
             {DNNL_ARG_BIAS, *bias},
             {DNNL_ARG_DST, dst}},
            pd.scratchpad_desc());
  b.set_current(dst);
  return kernel;
}

// b.current() as oneDNN's 4-D image {N, C, H, W} for a per-sample input
// `sample` of {H, W} (a no-copy view, C = 1) or {H, W, C} (as it is).
dnnl::memory ImageInput(ForwardBuilder& b, const Shape& sample);

// --- Training helpers ---

// Appends the backward of element-wise `activation` whose forward output is
// `dst`: turns b.current_diff() (d loss / d dst, reordered to dst's layout)
// into d loss / d (its input), in place, with oneDNN's eltwise backward that
// reads dst (relu, tanh, logistic "use_dst_for_bwd"). Nothing for linear.
void AppendActivationBackward(TrainingPlanBuilder& b, Activation activation,
                              const dnnl::memory& dst);

// The gradient `diff` ({N, C, H, W}, any layout) of an image-consuming
// layer's input, in the form the layer before expects: as it is for a
// {H, W, C} input, the canonical PlainDesc bytes for a {H, W} one.
dnnl::memory ImageDiffForInput(TrainingPlanBuilder& b,
                               const dnnl::memory& diff, const Shape& sample);

}  // namespace nn::layers_internal

#endif  // NNSERVE_ENGINE_LAYERS_INTERNAL_H_
