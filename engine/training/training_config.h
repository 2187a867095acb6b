// A training run's inputs, checked before the run starts: the
// hyper-parameters (TrainingConfig, model.proto) with their defaults and
// limits, and the data (engine/training/trainer.h runs them).
#ifndef NNSERVE_ENGINE_TRAINING_TRAINING_CONFIG_H_
#define NNSERVE_ENGINE_TRAINING_TRAINING_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/data/dataset.h"
#include "engine/defaults.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

// Limits ValidateTrainingConfig enforces (the server may set lower ones).
// The defaults of the zero fields are in engine/defaults.h.
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
// optimizer only) and seed (engine/defaults.h).
nnserve::v1::TrainingConfig TrainingConfigWithDefaults(
    nnserve::v1::TrainingConfig config);

// Keras' count of a validation split: the training part is
// floor(available * (1 - validation_split)) images, the rest validates.
int64_t SplitTrainCount(int64_t available, double validation_split);

}  // namespace nn

#endif  // NNSERVE_ENGINE_TRAINING_TRAINING_CONFIG_H_
