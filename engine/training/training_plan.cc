#include "engine/training/training_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/layers/layers.h"
#include "engine/network.h"
#include "engine/onednn.h"
#include "engine/training/loss.h"
#include "engine/training/regularizer.h"

namespace nn {
namespace {

// Largest batch a plan accepts: the activations of the tutorial CNN take
// about 0.5 MB an image in training.
constexpr int64_t kMaxTrainingBatchSize = 4096;

float* DataOf(const dnnl::memory& memory) {
  return static_cast<float*>(memory.get_data_handle());
}

}  // namespace

// ---------------------------------------------------------------------------
// TrainingPlanBuilder

TrainingPlanBuilder::TrainingPlanBuilder(TrainingPlan* plan, Network* network,
                                         absl::Span<Tensor> gradients,
                                         int64_t batch_size)
    : ForwardBuilder(/*training=*/true, batch_size),
      plan_(plan),
      network_(network),
      gradients_(gradients) {}

dnnl::memory TrainingPlanBuilder::NewMemory(const dnnl::memory::desc& md) {
  dnnl::memory memory(md, CpuEngine());
  std::memset(memory.get_data_handle(), 0, md.get_size());
  plan_->memories_.push_back(memory);
  return memory;
}

dnnl::memory TrainingPlanBuilder::ViewAt(const dnnl::memory& value,
                                         const dnnl::memory::desc& md,
                                         size_t offset_bytes) {
  const size_t size = value.get_desc().get_size();
  if (offset_bytes > size || md.get_size() > size - offset_bytes) {
    throw dnnl::error(dnnl_invalid_arguments,
                      "a view must fit in the viewed buffer");
  }
  dnnl::memory memory(
      md, CpuEngine(),
      static_cast<char*>(value.get_data_handle()) + offset_bytes);
  plan_->memories_.push_back(memory);
  return memory;
}

dnnl::memory TrainingPlanBuilder::ParameterAs(
    int index, const dnnl::memory::desc& keras_md,
    const dnnl::memory::desc& want) {
  dnnl::memory keras(keras_md, CpuEngine(), parameter_data(index));
  plan_->memories_.push_back(keras);
  return Reorder(keras, want);
}

float* TrainingPlanBuilder::parameter_data(int index) {
  return network_->mutable_parameter(parameter_id(index))->data();
}

float* TrainingPlanBuilder::gradient_data(int index) {
  return gradients_[parameter_id(index)].data();
}

dnnl::memory TrainingPlanBuilder::GradientAs(
    int index, const dnnl::memory::desc& keras_md,
    const dnnl::memory::desc& have) {
  if (have == keras_md) {
    dnnl::memory memory(keras_md, CpuEngine(), gradient_data(index));
    plan_->memories_.push_back(memory);
    return memory;
  }
  return NewMemory(have);
}

void TrainingPlanBuilder::FinishGradient(int index,
                                         const dnnl::memory::desc& keras_md,
                                         const dnnl::memory& written) {
  if (written.get_data_handle() == gradient_data(index)) return;
  dnnl::memory keras(keras_md, CpuEngine(), gradient_data(index));
  plan_->memories_.push_back(keras);
  AddStep(dnnl::reorder(written, keras),
          {{DNNL_ARG_FROM, written}, {DNNL_ARG_TO, keras}});
}

void TrainingPlanBuilder::AddStep(
    const dnnl::primitive& primitive,
    const std::unordered_map<int, dnnl::memory>& args,
    const dnnl::memory::desc& scratchpad_md) {
  std::vector<TrainingPlan::Step>& steps =
      backward_ ? plan_->backward_ : plan_->forward_;
  TrainingPlan::Step step{primitive, {}, nullptr};
  step.args.reserve(args.size() + 1);
  for (const auto& [arg, memory] : args) {
    step.args.push_back({arg, memory.get()});
    plan_->memories_.push_back(memory);
  }
  if (scratchpad_md.get_size() > 0) {
    plan_->scratchpads_.push_back({backward_, steps.size(), scratchpad_md});
  }
  steps.push_back(std::move(step));
}

void TrainingPlanBuilder::AddHostStep(std::function<void()> step) {
  std::vector<TrainingPlan::Step>& steps =
      backward_ ? plan_->backward_ : plan_->forward_;
  steps.push_back({dnnl::primitive(), {}, std::move(step)});
}

void TrainingPlanBuilder::AddZeroStep(const dnnl::memory& buffer) {
  void* data = buffer.get_data_handle();
  const size_t bytes = buffer.get_desc().get_size();
  AddHostStep([data, bytes] { std::memset(data, 0, bytes); });
}

// ---------------------------------------------------------------------------
// TrainingPlan

TrainingPlan::~TrainingPlan() = default;

absl::StatusOr<std::unique_ptr<TrainingPlan>> TrainingPlan::Create(
    Network* network, absl::Span<Tensor> gradients, const Options& options) {
  if (options.batch_size < 1 || options.batch_size > kMaxTrainingBatchSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("training batch size must be in [1, ",
                     kMaxTrainingBatchSize, "], got ", options.batch_size));
  }
  if (static_cast<int>(gradients.size()) != network->num_parameter_tensors()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need one gradient tensor per parameter (",
        network->num_parameter_tensors(), "), got ", gradients.size()));
  }
  for (int id = 0; id < network->num_parameter_tensors(); ++id) {
    if (gradients[id].shape() != network->parameter(id).shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the gradient of ", network->parameter_name(id), " has shape ",
          ShapeToString(gradients[id].shape()), ", the parameter ",
          ShapeToString(network->parameter(id).shape())));
    }
  }
  const Layer& last = network->layer(network->num_layers() - 1);
  if (!last.ends_in_softmax()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training needs a classifier: the last layer \"", last.name(),
        "\" must end in a softmax"));
  }
  std::unique_ptr<TrainingPlan> plan(new TrainingPlan());
  RETURN_IF_ERROR(CatchOneDnn(
      absl::StrCat("building the training plan for batch size ",
                   options.batch_size),
      [&] { return plan->Build(network, gradients, options); }));
  return plan;
}

absl::Status TrainingPlan::Build(Network* network,
                                 absl::Span<Tensor> gradients,
                                 const Options& options) {
  const int64_t n = options.batch_size;
  batch_size_ = n;
  network_ = network;
  gradients_ = gradients;
  num_classes_ = static_cast<int>(network->output_shape()[0]);
  labels_.assign(static_cast<size_t>(n), 0);
  stream_.emplace(CpuEngine());

  TrainingPlanBuilder b(this, network, gradients, n);
  b.step_seed_ = &step_seed_;
  const dnnl::memory::desc input_md = PlainDesc(network->input_shape(), n);
  const dnnl::memory input = b.NewMemory(input_md);
  input_ = absl::MakeSpan(DataOf(input),
                          n * NumElements(network->input_shape()));
  b.set_current(input);

  // Forward, in layer order (no fusion: each layer's output is kept for the
  // backward pass); each layer returns its backward half.
  std::vector<BackwardAppender> backward(network->num_layers());
  for (int i = 0; i < network->num_layers(); ++i) {
    b.BeginLayer(i, network->first_parameter_id(i));
    ASSIGN_OR_RETURN(backward[i], network->layer(i).AppendForward(b, {}));
    if (!backward[i]) {
      return absl::InternalError(absl::StrCat(
          "layer ", i, " (", network->layer(i).kind(),
          ") appended no backward half"));
    }
  }
  // {N, classes} logits; the loss (host code between the two directions)
  // writes their gradient.
  const dnnl::memory::desc logits_md = PlainDesc(network->output_shape(), n);
  logits_ = DataOf(b.CurrentAs(logits_md));
  const dnnl::memory diff_logits = b.NewMemory(logits_md);
  diff_logits_ = DataOf(diff_logits);

  // Backward, in reverse layer order. A layer computes the gradient of its
  // input only if a layer before it has trainable parameters (or the caller
  // asked for the input gradient): below the first such layer nothing needs
  // it, so e.g. the tutorial MLP's first Dense skips backward_data.
  std::vector<bool> needs_input_diff(network->num_layers(),
                                     options.input_gradient);
  bool trainable_before = false;
  for (int i = 0; i < network->num_layers(); ++i) {
    needs_input_diff[i] = needs_input_diff[i] || trainable_before;
    for (const ParameterSpec& parameter : network->layer(i).parameters()) {
      trainable_before = trainable_before || parameter.trainable;
    }
  }
  b.backward_ = true;
  b.set_current_diff(diff_logits);
  for (int i = network->num_layers() - 1; i >= 0; --i) {
    b.BeginLayer(i, network->first_parameter_id(i));
    b.needs_input_diff_ = needs_input_diff[i];
    RETURN_IF_ERROR(backward[i](b));
  }
  if (options.input_gradient) {
    input_gradient_ = absl::MakeConstSpan(DataOf(b.DiffAs(input_md)),
                                          input_.size());
  }

  // One scratchpad buffer for every step (user scratchpad mode).
  size_t scratchpad_bytes = 0;
  for (const PendingScratchpad& pending : scratchpads_) {
    scratchpad_bytes = std::max(scratchpad_bytes, pending.md.get_size());
  }
  if (scratchpad_bytes > 0) {
    const dnnl::memory buffer = b.NewMemory(dnnl::memory::desc(
        {static_cast<int64_t>(scratchpad_bytes)}, dnnl::memory::data_type::u8,
        dnnl::memory::format_tag::x));
    for (const PendingScratchpad& pending : scratchpads_) {
      const dnnl::memory scratchpad = b.View(buffer, pending.md);
      (pending.backward ? backward_ : forward_)[pending.step].args.push_back(
          {DNNL_ARG_SCRATCHPAD, scratchpad.get()});
    }
  }
  return absl::OkStatus();
}

absl::Status TrainingPlan::Execute(std::vector<Step>& steps) {
  for (Step& step : steps) {
    if (step.host) {
      RETURN_IF_ERROR(CheckDnnl(dnnl_stream_wait(stream_->get()),
                                "waiting for the stream"));
      step.host();
      continue;
    }
    RETURN_IF_ERROR(CheckDnnl(
        dnnl_primitive_execute(step.primitive.get(), stream_->get(),
                               static_cast<int>(step.args.size()),
                               step.args.data()),
        "executing a training primitive"));
  }
  return CheckDnnl(dnnl_stream_wait(stream_->get()), "waiting for the stream");
}

absl::StatusOr<TrainingPlan::Result> TrainingPlan::Run(uint64_t step_seed) {
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] < 0 || labels_[i] >= num_classes_) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", labels_[i], " of sample ", i,
                       " is outside [0, ", num_classes_, ")"));
    }
  }
  step_seed_ = step_seed;
  RETURN_IF_ERROR(Execute(forward_));
  const SoftmaxCrossEntropyResult loss = SoftmaxCrossEntropy(
      logits_, labels_, num_classes_, diff_logits_);
  RETURN_IF_ERROR(Execute(backward_));
  Result result;
  result.correct = loss.correct;
  for (int id = 0; id < network_->num_parameter_tensors(); ++id) {
    const ParameterSpec& spec = network_->parameter_spec(id);
    if (!spec.trainable) continue;
    result.regularization +=
        ApplyRegularizer(spec.regularizer, network_->parameter(id).span(),
                         gradients_[id].span());
  }
  result.loss = loss.mean_loss + result.regularization;
  return result;
}

}  // namespace nn
