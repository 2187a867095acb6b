// Training a model: the contract behind `nntrain` and the server's Train RPC.
//
//   TrainingData data{.train = &dataset.train, .test = &dataset.test,
//                     .name = "mnist"};
//   TrainerOptions options;
//   options.config.set_epochs(5);                  // zero fields: defaults
//   options.threads = 2;
//   options.on_progress = [](const TrainingProgress& p) { ... };
//   ASSIGN_OR_RETURN(nnserve::v1::SavedModel saved,
//                    TrainNewModel(spec, data, options));
//   RETURN_IF_ERROR(WriteModelFile(path, saved));  // engine/model_file.h
//
// What a run does (the recipe of Keras' model.fit):
// - Starts from Keras-style seeded weights (TrainNewModel) or from a model's
//   weights (FineTuneModel); optimiser state starts at zero either way.
// - Holds out validation images when config.validation_split > 0: a seeded
//   random sample of that fraction (Keras' count, n - floor(n * (1 -
//   split))), not Keras' last images (model.proto says why). Otherwise the
//   test set, if given, is the validation data.
// - Each epoch visits the training images once in a seeded shuffled order,
//   in mini-batches of config.batch_size (the last one smaller when the
//   count is not a multiple), each a forward pass, the fused softmax
//   cross-entropy (+ L1/L2 terms), a backward pass and one optimiser step
//   (engine/training/training_plan.h, optimizer.h).
// - After each epoch: loss and accuracy on the validation data, computed by
//   the inference engine exactly as the model will be served (moving
//   BatchNormalization statistics, no Dropout); val_loss includes the
//   regularisation penalty, as Keras'. Early stopping (patience > 0) stops
//   when val_loss has not improved for that many epochs; the weights are the
//   last epoch's (Keras' restore_best_weights=False).
// - At the end: loss and accuracy on the test set, if given.
// Deterministic: the same spec, data, config (seed included), thread count
// and CPU (oneDNN's ISA) give bit-identical weights; on another thread count
// or CPU, a run of the same recipe (engine/model.h, "Numerical contract"). The seed drives the initial weights,
// the validation sample, the shuffling and the Dropout masks, each from its
// own stream.
//
// Timing: EpochRecord.seconds is the training pass of the epoch (batches
// only, not validation); images_per_second = training images / seconds.
#ifndef NNSERVE_ENGINE_TRAINING_TRAINER_H_
#define NNSERVE_ENGINE_TRAINING_TRAINER_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/limits.h"
#include "engine/data/dataset.h"
#include "engine/model.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

// Defaults of TrainingConfig's zero fields (model.proto); epochs and batch
// size are the client's and the tools' defaults too (common/limits.h).
inline constexpr int kDefaultEpochs = kDefaultTrainingEpochs;
inline constexpr int kDefaultBatchSize = kDefaultTrainingBatchSize;
inline constexpr float kDefaultAdamLearningRate = 0.001f;
inline constexpr float kDefaultSgdLearningRate = 0.01f;
inline constexpr float kDefaultMomentum = 0.9f;
// Limits ValidateTrainingConfig enforces (the server may set lower ones).
inline constexpr int kMaxEpochs = 10000;
inline constexpr int kMaxBatchSize = 4096;

struct TrainingData {
  // Required, count >= 1; every image of the spec's input size and every
  // label in [0, classes).
  const ImageSet* train = nullptr;
  // Optional held-out set: val_* (when validation_split == 0) and test_*
  // metrics. Same checks as `train` when given (count 0 = none).
  const ImageSet* test = nullptr;
  // Recorded in TrainingHistory.dataset ("mnist", "fashion-mnist",
  // "inline").
  std::string name;
};

// Passed to the progress callback; plain values.
struct TrainingProgress {
  int epoch = 0, epochs = 0;  // 1-based current epoch
  // 1-based batch within the epoch (== batches_per_epoch at epoch end).
  int batch = 0, batches_per_epoch = 0;
  double loss = 0, accuracy = 0;  // running means over the current epoch
  double images_per_second = 0;   // this epoch so far
  double eta_seconds = 0;         // to the end of training
  double progress_ratio = 0;      // batches done / all batches, in [0, 1]
  // Non-null exactly once per epoch, at its end (with validation); valid
  // during the call only.
  const nnserve::v1::EpochRecord* epoch_end = nullptr;
};

struct TrainerOptions {
  // Zero fields = defaults documented in model.proto.
  nnserve::v1::TrainingConfig config;
  // oneDNN threads; Train sets them on the calling thread (and restores the
  // previous count when it returns).
  int threads = 1;
  // Called on the training thread after every batch and at every epoch end;
  // must be cheap (the server rate-limits what it sends). May be empty.
  std::function<void(const TrainingProgress&)> on_progress;
  // Checked between batches; when true, training stops and returns
  // CANCELLED. May be null.
  const std::atomic<bool>* cancelled = nullptr;
};

// INVALID_ARGUMENT naming the field ("config.learning_rate: must be > 0",
// "config.validation_split: ...") for bad hyper-parameters: negative or
// non-finite numbers, epochs above kMaxEpochs, batch_size above
// kMaxBatchSize, an unknown optimizer, validation_split outside [0, 1),
// momentum outside [0, 1), momentum or nesterov with an optimizer other than
// OPTIMIZER_MOMENTUM.
absl::Status ValidateTrainingConfig(const nnserve::v1::TrainingConfig& config);

// What the data must fit: the model's input size and number of classes.
struct TrainingDataShape {
  int height = 0;
  int width = 0;
  int num_classes = 0;
};

// The checks a training run makes on its data before its first batch, for
// callers that refuse a job before starting it (the server's Train):
// INVALID_ARGUMENT for no training images, images of another size than
// `shape`, labels outside [0, shape.num_classes) ("the training label of
// image 3 is 10, outside the model's classes [0, 10)"), a
// config.validation_split that leaves no image on either side (counted
// after config.max_train_examples), config.early_stopping_patience without
// validation data. Linear in the number of images (reads every label).
absl::Status ValidateTrainingData(const TrainingData& data,
                                  const nnserve::v1::TrainingConfig& config,
                                  const TrainingDataShape& shape);

// `config` with the defaults of its zero fields filled in: epochs,
// batch_size, optimizer, learning_rate (per optimizer), momentum (momentum
// optimizer only) and seed (1).
nnserve::v1::TrainingConfig TrainingConfigWithDefaults(
    nnserve::v1::TrainingConfig config);

// Trains a new model of `spec` from Keras-style seeded initialisation, on
// the calling thread. Returns the trained model as a SavedModel whose history
// has one more TrainingHistory (config with defaults filled in, dataset
// name, train_examples, per-epoch records, test metrics if `test` was given,
// total_seconds, threads, base_version 0).
// Errors: INVALID_ARGUMENT for an invalid spec, config or data (labels
// outside [0, num_classes), images whose size differs from the spec's input,
// early stopping without validation data, a split that leaves no images on
// either side, a loss that became NaN or infinite); CANCELLED when
// options.cancelled became true; INTERNAL for a oneDNN failure.
absl::StatusOr<nnserve::v1::SavedModel> TrainNewModel(
    const nnserve::v1::ModelSpec& spec, const TrainingData& data,
    const TrainerOptions& options);

// Continues training (fine-tunes) `base` (its weights and spec; optimiser
// state starts fresh). History: base's runs + the new one (base_version set
// by the caller in the returned message). Errors as TrainNewModel.
absl::StatusOr<nnserve::v1::SavedModel> FineTuneModel(
    const Model& base, const TrainingData& data, const TrainerOptions& options);

}  // namespace nn

#endif  // NNSERVE_ENGINE_TRAINING_TRAINER_H_
