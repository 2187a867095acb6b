// Training a model: the contract behind `nntrain` and the server's Train RPC.
// The checks on a run's config and data are in training_config.h, the
// defaults of the config's zero fields in engine/defaults.h.
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/defaults.h"
#include "engine/model.h"
#include "engine/training/training_config.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

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
