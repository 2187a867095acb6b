// Training plans: the forward_training and backward primitives of one network
// at one batch size, built once and run for every mini-batch of that size.
//
//   TrainingPlan::Options options{.batch_size = 32};
//   ASSIGN_OR_RETURN(auto plan, TrainingPlan::Create(network, gradients, options));
//   // per batch:
//   fill plan->input() (PixelToUnit) and plan->labels();
//   ASSIGN_OR_RETURN(TrainingPlan::Result r, plan->Run(step_seed));
//   optimizer.Apply(...);   // gradients -> parameters, in place
//
// What Run computes, for the n samples x_i with labels y_i:
//   logits z_i = network(x_i) without its final softmax (training mode:
//   batch statistics in BatchNormalization, seeded masks in Dropout),
//   loss = (1/n) sum_i [logsumexp(z_i) - z_i[y_i]]           (fused, stable)
//        + sum over kernels of l1 * sum|w| + l2 * sum w^2     (regularisers)
//   and writes d loss / d parameter into `gradients` (Keras layout, one
//   tensor per parameter id; zero for non-trainable ones). Side effect:
//   BatchNormalization's moving statistics are updated (momentum as Keras).
//
// Parameters are read in place from the Network's tensors (Keras layout) at
// every Run, so the optimiser updates them in place between runs; where a
// primitive prefers another layout (convolutions), one reorder step per
// parameter and direction copies them (small: the weights, not the
// activations). Activations, workspaces and gradient buffers are allocated
// once, when the plan is built; Run allocates nothing itself.
//
// Thread-confined like inference plans: built and run on one thread, whose
// oneDNN thread count (SetThreadOneDnnThreads) the primitives adopt.
#ifndef NNSERVE_ENGINE_TRAINING_TRAINING_PLAN_H_
#define NNSERVE_ENGINE_TRAINING_TRAINING_PLAN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/forward_builder.h"
#include "engine/tensor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nn {

class Network;
class TrainingPlan;

// Appends the steps of a TrainingPlan: the training implementation of
// ForwardBuilder (engine/forward_builder.h) plus what only training needs.
// Layers describe their forward pass once, in Layer::AppendForward, and
// append through training_builder() their training-only steps (host code,
// saved statistics) and the function that appends their backward half.
// Forward steps are appended while the layers are appended in order, then
// each layer's backward steps, in reverse order. Every memory it makes is a
// buffer of its own that lives as long as the plan, so values a forward step
// writes are still there when the backward pass reads them. Any method may
// throw dnnl::error; TrainingPlan::Create catches it.
class TrainingPlanBuilder final : public ForwardBuilder {
 public:
  TrainingPlanBuilder* training_builder() override { return this; }

  // --- Values (ForwardBuilder) ---
  // Never: the layer before may read its output in its backward half.
  bool current_writable() const override { return false; }
  // A new zero-filled buffer of layout `md`, owned by the plan.
  dnnl::memory NewMemory(const dnnl::memory::desc& md) override;
  // `md` must not be larger than `value`'s layout.
  dnnl::memory View(const dnnl::memory& value,
                    const dnnl::memory::desc& md) override {
    return ViewAt(value, md, 0);
  }
  // `value`'s bytes from `offset_bytes` on, reinterpreted as `md` (no copy):
  // e.g. one time step's {N, units} block of a time-major sequence. `md`
  // must fit in what is left of `value`'s buffer (dnnl::error otherwise).
  dnnl::memory ViewAt(const dnnl::memory& value, const dnnl::memory::desc& md,
                      size_t offset_bytes);
  // ParameterAs; never an error status.
  absl::StatusOr<dnnl::memory> Parameter(
      int index, const dnnl::memory::desc& keras_md,
      const dnnl::memory::desc& want) override {
    return ParameterAs(index, keras_md, want);
  }

  // --- Gradients of values (backward) ---
  // d loss / d (output of the layer being differentiated), in whatever layout
  // the layer after it produced.
  const dnnl::memory& current_diff() const { return current_diff_; }
  // Leaves d loss / d (this layer's input) for the layer before.
  void set_current_diff(const dnnl::memory& diff) {
    current_diff_ = diff;
    relu_folded_ = nullptr;
  }
  // The same, for a layer whose backward already applied the backward of
  // the ReLU that produced its input `relu_output` (zeros wherever it is not
  // positive): the layer before then skips its ReLU's backward step.
  void set_current_diff_relu_folded(const dnnl::memory& diff,
                                    const dnnl::memory& relu_output) {
    current_diff_ = diff;
    relu_folded_ = relu_output.get_data_handle();
  }
  bool current_diff_relu_folded(const dnnl::memory& relu_output) const {
    return relu_folded_ != nullptr &&
           relu_folded_ == relu_output.get_data_handle();
  }
  // Forward: `output` is a ReLU's output in full (no other op after it), so
  // the next layer's backward may fold the ReLU's backward in
  // (set_current_diff_relu_folded). One value: the latest marked.
  void MarkReluOutput(const dnnl::memory& output) {
    relu_output_ = output.get_data_handle();
  }
  bool IsReluOutput(const dnnl::memory& value) const {
    return relu_output_ != nullptr && relu_output_ == value.get_data_handle();
  }
  dnnl::memory DiffAs(const dnnl::memory::desc& md) {
    return Reorder(current_diff_, md);
  }
  // Whether the layer being differentiated must set current_diff() to the
  // gradient of its input: only when a layer before it has trainable
  // parameters or the plan was asked for the input gradient (so the first
  // Dense or Conv2D skips backward_data).
  bool needs_input_diff() const { return needs_input_diff_; }

  // --- Parameters (`index` in the current layer's parameters() order) ---
  // The parameter (values in Keras layout `keras_md`) in layout `want`: a
  // memory over the Network's tensor itself when the layouts are equal, else
  // a buffer refreshed by a reorder step appended now in the current
  // direction (so every run sees the latest values).
  dnnl::memory ParameterAs(int index, const dnnl::memory::desc& keras_md,
                           const dnnl::memory::desc& want);
  // The Network's values of the parameter (e.g. for host-side updates of
  // BatchNormalization's moving statistics).
  float* parameter_data(int index);
  // Where a backward step writes the gradient of the parameter when it
  // produces layout `have`: the gradient tensor itself when `have` equals the
  // Keras layout `keras_md`, else a new buffer; after adding the step, call
  // FinishGradient with the returned memory.
  dnnl::memory GradientAs(int index, const dnnl::memory::desc& keras_md,
                          const dnnl::memory::desc& have);
  // Appends the reorder into the gradient tensor if `written` is not it.
  void FinishGradient(int index, const dnnl::memory::desc& keras_md,
                      const dnnl::memory& written);
  // Appends a step that sets `buffer` to zeros (for primitives that add to
  // their output, or a gradient no step writes, such as the recurrent
  // kernel's of a one-step SimpleRNN).
  void AddZeroStep(const dnnl::memory& buffer);

  // --- Steps (in the current direction: forward, then backward) ---
  void AddStep(const dnnl::primitive& primitive,
               const std::unordered_map<int, dnnl::memory>& args,
               const dnnl::memory::desc& scratchpad_md = {}) override;
  // Appends host code; it runs after every step before it has finished. It
  // must not throw.
  void AddHostStep(std::function<void()> step);
  // ForwardBuilder's: the memories are buffers of their own, whose handles
  // never change.
  void AddHostStep(std::string /*name*/,
                   const std::unordered_map<int, dnnl::memory>& /*args*/,
                   std::function<void()> run) override {
    AddHostStep(std::move(run));
  }
  // The seed Run was given (read it when the step runs, not when built):
  // layers that draw random numbers (Dropout) mix it with layer_index().
  const uint64_t* step_seed() const { return step_seed_; }

 private:
  friend class TrainingPlan;
  TrainingPlanBuilder(TrainingPlan* plan, Network* network,
                      absl::Span<Tensor> gradients, int64_t batch_size);
  float* gradient_data(int index);

  TrainingPlan* plan_;
  Network* network_;
  absl::Span<Tensor> gradients_;
  bool backward_ = false;
  bool needs_input_diff_ = false;
  dnnl::memory current_diff_;
  const void* relu_folded_ = nullptr;  // see set_current_diff_relu_folded
  const void* relu_output_ = nullptr;  // see MarkReluOutput
  const uint64_t* step_seed_ = nullptr;
};

class TrainingPlan {
 public:
  struct Options {
    // Images per run; >= 1.
    int64_t batch_size = 32;
    // Also compute d loss / d input (input_gradient()); only tests need it.
    bool input_gradient = false;
  };
  // What one Run measured, before the parameters change.
  struct Result {
    // Mean cross-entropy over the batch plus the regularisation penalty.
    double loss = 0;
    // The penalty alone (included in loss).
    double regularization = 0;
    // Samples whose largest logit is at their label (first one on ties).
    int64_t correct = 0;
  };

  // Builds the plan for `network`, which must end in a softmax classifier
  // (its last layer ends_in_softmax(), on a 1-D output) and must outlive the plan; its parameter tensors must not be
  // replaced (only their values change) while the plan exists. `gradients`
  // has one tensor per parameter id, shaped as the parameter; the plan
  // writes them and they must outlive it. INVALID_ARGUMENT for a network
  // without a softmax at the end or a bad option, INTERNAL when oneDNN
  // refuses a primitive.
  static absl::StatusOr<std::unique_ptr<TrainingPlan>> Create(
      Network* network, absl::Span<Tensor> gradients, const Options& options);

  TrainingPlan(const TrainingPlan&) = delete;
  TrainingPlan& operator=(const TrainingPlan&) = delete;
  ~TrainingPlan();

  int64_t batch_size() const { return batch_size_; }
  int num_classes() const { return num_classes_; }
  // The batch to train on: batch_size() samples of the network's per-sample
  // input shape, row-major. Filled by the caller before Run.
  absl::Span<float> input() { return input_; }
  // One label per sample, each in [0, num_classes()) (checked by Run).
  absl::Span<int32_t> labels() { return absl::MakeSpan(labels_); }
  // d loss / d input, row-major like input(); empty unless
  // Options::input_gradient.
  absl::Span<const float> input_gradient() const { return input_gradient_; }
  // The logits {batch_size(), num_classes()} of the latest Run (the
  // training forward pass without the final softmax), row-major.
  absl::Span<const float> logits() const {
    return absl::MakeConstSpan(logits_, batch_size_ * num_classes_);
  }
  int num_steps() const {
    return static_cast<int>(forward_.size() + backward_.size());
  }

  // Forward (training mode), loss, backward and regularisation on the
  // current input and labels; writes every gradient. `step_seed` seeds
  // Dropout's masks (same seed and input: same result).
  // INVALID_ARGUMENT for a label outside [0, num_classes()); INTERNAL if
  // oneDNN reports an error.
  absl::StatusOr<Result> Run(uint64_t step_seed);

 private:
  friend class TrainingPlanBuilder;
  TrainingPlan() = default;

  struct Step {
    dnnl::primitive primitive;            // empty for a host step
    std::vector<dnnl_exec_arg_t> args;    // handles kept alive by memories_
    std::function<void()> host;
  };
  struct PendingScratchpad {
    bool backward;
    size_t step;
    dnnl::memory::desc md;
  };
  absl::Status Build(Network* network, absl::Span<Tensor> gradients,
                     const Options& options);
  absl::Status Execute(std::vector<Step>& steps);

  int64_t batch_size_ = 0;
  int num_classes_ = 0;
  Network* network_ = nullptr;
  absl::Span<Tensor> gradients_;
  std::vector<Step> forward_;
  std::vector<Step> backward_;
  std::vector<PendingScratchpad> scratchpads_;
  std::vector<dnnl::memory> memories_;  // keeps every buffer alive
  std::optional<dnnl::stream> stream_;
  absl::Span<float> input_;
  std::vector<int32_t> labels_;
  absl::Span<const float> input_gradient_;
  const float* logits_ = nullptr;       // {batch, classes}
  float* diff_logits_ = nullptr;        // {batch, classes}
  uint64_t step_seed_ = 0;
};

}  // namespace nn

#endif  // NNSERVE_ENGINE_TRAINING_TRAINING_PLAN_H_
