// The builder interface a layer describes its forward pass against, once,
// for inference and training alike.
//
//   // in Layer::AppendForward (engine/layers/layers.h):
//   const dnnl::memory src = b.CurrentAs(PlainDesc(input_shape(), n));
//   pd = ...({b.forward_kind(), src.get_desc(), ...}, attr, b.engine());
//   ASSIGN_OR_RETURN(dnnl::memory kernel, b.Parameter(0, kernel_md, pd.weights_desc()));
//   const dnnl::memory dst = b.NewMemory(pd.dst_desc());
//   b.AddStep(primitive(pd), {{DNNL_ARG_SRC, src}, ...}, pd.scratchpad_desc());
//   b.set_current(dst);
//
// Two builders implement it, each with its own memory model:
// - PlanBuilder (engine/plan.h) assembles an inference ExecutionPlan. Its
//   memories are offsets in one arena that all plans of a context share
//   (bound at Execute), its input is the caller's buffer read in place, and
//   parameters are packed once into a shared read-only WeightCache.
// - TrainingPlanBuilder (engine/training/training_plan.h) assembles a
//   TrainingPlan. Its memories are buffers of their own that live as long as
//   the plan, because the backward pass reads forward values (saved
//   activations, workspaces); parameters are the Network's tensors, read in
//   place at every run or refreshed by a reorder step per run.
// What a layer does only in training (workspaces, batch statistics, masks,
// its backward half) it appends through b.training_builder(), which is null
// at inference.
//
// Built once per (network, batch size): nothing here runs per request. Any
// method may throw dnnl::error; the plan's creator catches it (CatchOneDnn).
#ifndef NNSERVE_ENGINE_FORWARD_BUILDER_H_
#define NNSERVE_ENGINE_FORWARD_BUILDER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nn {

class TrainingPlanBuilder;  // engine/training/training_plan.h

class ForwardBuilder {
 public:
  ForwardBuilder(const ForwardBuilder&) = delete;
  ForwardBuilder& operator=(const ForwardBuilder&) = delete;
  virtual ~ForwardBuilder() = default;

  int64_t batch_size() const { return batch_size_; }
  const dnnl::engine& engine() const;
  // The training builder when this builds a training plan, else null.
  virtual TrainingPlanBuilder* training_builder() { return nullptr; }
  bool training() const { return training_; }
  // The prop_kind of every forward primitive: forward_training (which keeps
  // what the backward pass reads) or forward_inference.
  dnnl::prop_kind forward_kind() const {
    return training_ ? dnnl::prop_kind::forward_training
                     : dnnl::prop_kind::forward_inference;
  }

  // Called by the plan's driver before each layer's forward (and, in
  // training, backward) half: the layer's index in the network and the
  // network-wide id of its first parameter.
  void BeginLayer(int layer_index, int first_parameter_id) {
    layer_index_ = layer_index;
    first_parameter_id_ = first_parameter_id;
  }
  int layer_index() const { return layer_index_; }

  // --- Values ---
  // The value the next layer consumes (at first the plan's input, a batch in
  // PlainDesc(input_shape) layout).
  const dnnl::memory& current() const { return current_; }
  // Makes `value` (a memory made by this builder) the current value.
  void set_current(const dnnl::memory& value) { current_ = value; }
  // Whether the current layer may overwrite current() in place: never in
  // training (the layer before may read its output backward), and not at
  // inference while current() is (a view of) the caller's input.
  virtual bool current_writable() const = 0;
  // A new buffer of layout `md` (zero-filled in training).
  virtual dnnl::memory NewMemory(const dnnl::memory::desc& md) = 0;
  // `value` reinterpreted as `md` over the same bytes (no copy). `md` must be
  // no larger than `value`'s buffer (dnnl::error otherwise).
  virtual dnnl::memory View(const dnnl::memory& value,
                            const dnnl::memory::desc& md) = 0;
  // `value` in layout `md`: `value` itself if it already is, else a new
  // buffer filled by a reorder step appended now.
  dnnl::memory Reorder(const dnnl::memory& value,
                       const dnnl::memory::desc& md);
  dnnl::memory CurrentAs(const dnnl::memory::desc& md) {
    return Reorder(current_, md);
  }

  // --- Parameters ---
  // Parameter `index` (in Layer::parameters() order) of the current layer,
  // whose values are in Keras layout `keras_md`, as a memory of layout
  // `want` that primitives only read. Inference: the values themselves or
  // their packed copy (WeightCache; an error status if packing fails).
  // Training: a memory over the Network's tensor itself when the layouts are
  // equal, else a buffer refreshed by a reorder step appended now (every run
  // sees the latest values; never an error status).
  virtual absl::StatusOr<dnnl::memory> Parameter(
      int index, const dnnl::memory::desc& keras_md,
      const dnnl::memory::desc& want) = 0;
  // Whether parameters are packed once for the plan's life (inference), so
  // letting a primitive pick their layout (format_tag::any) costs nothing
  // per run; in training a layout other than Keras' costs a reorder per run.
  bool packs_parameters() const { return !training_; }

  // --- Steps ---
  // Appends a primitive. Every memory in `args` comes from this builder.
  // `scratchpad_md`, when not empty, is the primitive's user scratchpad
  // (primitive_attr::set_scratchpad_mode(user)); all steps share one buffer.
  virtual void AddStep(const dnnl::primitive& primitive,
                       const std::unordered_map<int, dnnl::memory>& args,
                       const dnnl::memory::desc& scratchpad_md = {}) = 0;
  // Appends host code, for work a oneDNN primitive does slowly: `run` reads
  // and writes the memories `args` (from this builder), taking their data
  // handles when it runs (an inference plan binds its buffers per call). It
  // runs after every step before it has finished and must not throw.
  // `name` says what it does in ExecutionPlan::Describe.
  virtual void AddHostStep(std::string name,
                           const std::unordered_map<int, dnnl::memory>& args,
                           std::function<void()> run) = 0;

 protected:
  ForwardBuilder(bool training, int64_t batch_size)
      : training_(training), batch_size_(batch_size) {}
  // Network-wide id of the current layer's parameter `index`.
  int parameter_id(int index) const { return first_parameter_id_ + index; }

 private:
  const bool training_;
  const int64_t batch_size_;
  int layer_index_ = 0;
  int first_parameter_id_ = 0;
  dnnl::memory current_;
};

}  // namespace nn

#endif  // NNSERVE_ENGINE_FORWARD_BUILDER_H_
