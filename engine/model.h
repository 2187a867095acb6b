// A servable image classifier: a validated ModelSpec with its weights, and
// per-thread inference contexts.
//
//   ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
//                    LoadModel("repo/mnist_cnn/1/model.nnm"));  // model_file.h
//   // On each worker thread:
//   SetThreadOneDnnThreads(1);                                  // threading.h
//   std::unique_ptr<InferenceContext> context = model->NewInferenceContext();
//   RETURN_IF_ERROR(context->Run(pixels, n, probabilities));
//
// Classifier rules on top of Network's (engine/network.h): the input is one
// grayscale image {height, width} (kDefaultImageSide a side when the spec
// leaves it 0, engine/defaults.h); the last layer ends in a softmax
// (Layer::ends_in_softmax: a Dense with softmax activation or an Activation
// softmax layer) over a 1-D output whose width is the number of classes;
// labels are empty or one per class.
//
// Numerical contract (what tests assert, tests/support/numerical_contract.h):
// - Bit-identical: the same input, model version, batch size (the n of one
//   Run), oneDNN thread count of the calling thread and CPU (the ISA oneDNN
//   dispatches to) give the same bits, in one context or in another, after a
//   plan was evicted and rebuilt or not.
// - Close, not identical, as soon as one of those differs: another batch size
//   (oneDNN 2.6 picks kernels and blockings per shape; on AVX2 the same CNN
//   image differs in the last bits between batch 5 and 12), another thread
//   count, another CPU or ONEDNN_MAX_CPU_ISA cap. Every output is within
//   1e-5 of a double-precision reference forward pass (absolute for
//   probabilities; relative for values above 1), so two runs differ by at
//   most 2e-5 per probability, and their argmax agrees unless the two top
//   probabilities are within 2e-5 of each other. A server's answer depends on
//   how its batcher grouped the request, so only this holds between calls.
// - Training (engine/training/trainer.h): the same spec, data, seed, config,
//   oneDNN thread count and CPU give bit-identical weights and history;
//   anything else gives another run of the same recipe (the accuracy goals
//   hold, the bits do not).
#ifndef NNSERVE_ENGINE_MODEL_H_
#define NNSERVE_ENGINE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/network.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

// Version of the SavedModel payload (SavedModel.format_version) and of the
// .nnm file header this engine writes and reads.
inline constexpr uint32_t kSavedModelFormatVersion = 1;

// One row of a Keras-style model summary.
struct LayerSummary {
  std::string name;   // e.g. "conv2d"
  std::string kind;   // Keras class name: "Dense", "Conv2D", ...
  std::vector<int64_t> output_shape;  // per image, no batch dimension
  int64_t parameters = 0;             // scalar parameters ("Param #")
};

// Runs one model on one thread. Not thread-safe: use it only on the thread
// that created it (oneDNN primitives are thread-confined; Run elsewhere is
// FAILED_PRECONDITION). Caches one execution plan per plan batch size
// (1, 2, 3, 4, 6, 8, 12, ...; other sizes run as chunks, engine/network.h;
// building a plan takes milliseconds; later calls add no allocation to what
// oneDNN's primitives do themselves).
// The thread's oneDNN thread count (SetThreadOneDnnThreads) must be set
// before the context is created and not changed while it is used.
class InferenceContext {
 public:
  virtual ~InferenceContext() = default;
  // input: n images of input_height()*input_width() floats each, row-major,
  // values in [0,1] (not checked: other values are computed as given);
  // output: n * num_classes() probabilities (rows sum to 1).
  // INVALID_ARGUMENT on a size mismatch or n outside [1, max_batch_size].
  // input and output must not overlap.
  virtual absl::Status Run(absl::Span<const float> input, int64_t n,
                           absl::Span<float> output) = 0;
  // Builds the plans a Run with n images uses now (warm-up: the engine's
  // contexts run a batch as chunks of plan batch sizes, engine/network.h),
  // so that the first Run with n is as fast as the others. Optional.
  virtual absl::Status Prepare(int64_t n) {
    (void)n;
    return absl::OkStatus();
  }
};

// Immutable after creation; share it (std::shared_ptr<const Model>) between
// threads. Parameters are packed once into oneDNN's preferred layouts and
// shared read-only by all contexts. A context keeps what it needs alive, so
// it may outlive the Model.
class Model {
 public:
  // The options of NewInferenceContext.
  using ContextOptions = NetworkContext::Options;

  // New model with Keras-style seeded initialisation (Glorot uniform kernels,
  // orthogonal recurrent kernels, zero biases, BN gamma=1 beta=0 mean=0
  // var=1); the same spec and seed give the same weights.
  // INVALID_ARGUMENT (naming the layer) for an invalid spec.
  static absl::StatusOr<std::shared_ptr<const Model>> Create(
      const nnserve::v1::ModelSpec& spec, uint64_t seed);
  // Validates everything: format_version, the spec, and every parameter's
  // name, shape, size and values (no NaN/Inf). INVALID_ARGUMENT with a
  // message naming the layer otherwise. Keeps the history and producer.
  static absl::StatusOr<std::shared_ptr<const Model>> FromSavedModel(
      nnserve::v1::SavedModel saved);

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // The spec as given, with every layer's name filled in (Keras defaults).
  const nnserve::v1::ModelSpec& spec() const { return spec_; }
  int input_height() const { return input_height_; }
  int input_width() const { return input_width_; }
  int num_classes() const { return num_classes_; }
  // The spec's labels, or "0" .. "<num_classes - 1>".
  std::vector<std::string> labels() const;
  std::vector<LayerSummary> Summary() const;
  int64_t total_parameters() const { return network_->total_parameters(); }
  // Floating-point operations of one image's forward pass (for GFLOP/s).
  int64_t flops_per_image() const { return network_->forward_flops(); }
  // Training runs that produced the weights (empty for Create), oldest first.
  const google::protobuf::RepeatedPtrField<nnserve::v1::TrainingHistory>&
  history() const {
    return history_;
  }

  // format_version, spec(), parameters in Keras layout and layer order,
  // history, producer and creation time as loaded: FromSavedModel of the
  // result gives a model with identical outputs, and ToSavedModel of that
  // an identical message.
  nnserve::v1::SavedModel ToSavedModel() const;

  // Call on the thread that will use the context.
  std::unique_ptr<InferenceContext> NewInferenceContext() const {
    return NewInferenceContext(ContextOptions());
  }
  std::unique_ptr<InferenceContext> NewInferenceContext(
      const ContextOptions& options) const;

  // The network below (layers, parameters), e.g. for training or tests.
  const std::shared_ptr<const Network>& network() const { return network_; }

 private:
  Model() = default;
  // Validates `spec` and builds the network with zero parameters.
  static absl::StatusOr<std::unique_ptr<Model>> Build(
      const nnserve::v1::ModelSpec& spec, std::unique_ptr<Network>* network);

  nnserve::v1::ModelSpec spec_;
  int input_height_ = 0;
  int input_width_ = 0;
  int num_classes_ = 0;
  std::shared_ptr<const Network> network_;
  google::protobuf::RepeatedPtrField<nnserve::v1::TrainingHistory> history_;
  std::string producer_;
  int64_t created_unix_seconds_ = 0;
};

// What a valid spec takes and gives.
struct ModelSpecSummary {
  int input_height = 0;
  int input_width = 0;
  int num_classes = 0;  // the last layer's units
};

// Checks a spec as Model::Create would, without allocating its weights.
absl::StatusOr<ModelSpecSummary> CheckModelSpec(
    const nnserve::v1::ModelSpec& spec);
absl::Status ValidateModelSpec(const nnserve::v1::ModelSpec& spec);

}  // namespace nn

#endif  // NNSERVE_ENGINE_MODEL_H_
