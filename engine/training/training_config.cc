#include "engine/training/training_config.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nn {

using nnserve::v1::TrainingConfig;

namespace {

absl::Status FieldError(absl::string_view field, absl::string_view what,
                        double value) {
  return absl::InvalidArgumentError(
      absl::StrCat("config.", field, ": ", what, ", got ", value));
}

absl::Status CheckImages(const ImageSet& images, absl::string_view what,
                         const TrainingDataShape& shape) {
  if (images.height != shape.height || images.width != shape.width) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", what, " images are ", images.height, "x", images.width,
        ", the model takes ", shape.height, "x", shape.width));
  }
  if (static_cast<int64_t>(images.pixels.size()) !=
          images.count * images.image_size() ||
      static_cast<int64_t>(images.labels.size()) != images.count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", what, " set holds ", images.pixels.size(), " pixels and ",
        images.labels.size(), " labels for ", images.count, " images"));
  }
  for (int64_t i = 0; i < images.count; ++i) {
    if (images.labels[i] >= shape.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", what, " label of image ", i, " is ",
          static_cast<int>(images.labels[i]), ", outside the model's classes "
          "[0, ", shape.num_classes, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int64_t SplitTrainCount(int64_t available, double validation_split) {
  return static_cast<int64_t>(std::floor(static_cast<double>(available) *
                                         (1.0 - validation_split)));
}

absl::Status ValidateTrainingData(const TrainingData& data,
                                  const TrainingConfig& config,
                                  const TrainingDataShape& shape) {
  if (data.train == nullptr || data.train->count < 1) {
    return absl::InvalidArgumentError("no training images");
  }
  RETURN_IF_ERROR(CheckImages(*data.train, "training", shape));
  const bool has_test = data.test != nullptr && data.test->count > 0;
  if (has_test) RETURN_IF_ERROR(CheckImages(*data.test, "test", shape));
  const int64_t available =
      config.max_train_examples() > 0
          ? std::min<int64_t>(config.max_train_examples(), data.train->count)
          : data.train->count;
  if (config.validation_split() > 0) {
    const int64_t train_count =
        SplitTrainCount(available, config.validation_split());
    if (train_count < 1 || train_count >= available) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config.validation_split: ", config.validation_split(), " of ",
          available, " images leaves ", train_count, " for training and ",
          available - train_count, " for validation; both need at least 1"));
    }
  }
  if (config.early_stopping_patience() > 0 &&
      config.validation_split() <= 0 && !has_test) {
    return absl::InvalidArgumentError(
        "config.early_stopping_patience: needs validation data (a "
        "validation_split or a test set)");
  }
  return absl::OkStatus();
}

absl::Status ValidateTrainingConfig(const TrainingConfig& config) {
  if (config.epochs() < 0 || config.epochs() > kMaxEpochs) {
    return FieldError("epochs",
                      absl::StrCat("must be in [1, ", kMaxEpochs,
                                   "] (0 means ", kDefaultEpochs, ")"),
                      config.epochs());
  }
  if (config.batch_size() < 0 || config.batch_size() > kMaxBatchSize) {
    return FieldError("batch_size",
                      absl::StrCat("must be in [1, ", kMaxBatchSize,
                                   "] (0 means ", kDefaultBatchSize, ")"),
                      config.batch_size());
  }
  if (!nnserve::v1::Optimizer_IsValid(config.optimizer())) {
    return FieldError("optimizer", "unknown optimizer", config.optimizer());
  }
  if (!std::isfinite(config.learning_rate()) || config.learning_rate() < 0) {
    return FieldError("learning_rate",
                      "must be > 0 (0 means the optimizer's default)",
                      config.learning_rate());
  }
  const bool momentum_optimizer =
      config.optimizer() == nnserve::v1::OPTIMIZER_MOMENTUM;
  if (!(config.momentum() >= 0 && config.momentum() < 1)) {
    return FieldError("momentum", "must be in [0, 1)", config.momentum());
  }
  if (config.momentum() != 0 && !momentum_optimizer) {
    return FieldError("momentum", "only OPTIMIZER_MOMENTUM uses it",
                      config.momentum());
  }
  if (config.nesterov() && !momentum_optimizer) {
    return absl::InvalidArgumentError(
        "config.nesterov: only OPTIMIZER_MOMENTUM uses it");
  }
  if (!(config.validation_split() >= 0 && config.validation_split() < 1)) {
    return FieldError("validation_split", "must be in [0, 1)",
                      config.validation_split());
  }
  if (config.early_stopping_patience() < 0) {
    return FieldError("early_stopping_patience",
                      "must be >= 0 (0 = never stop early)",
                      config.early_stopping_patience());
  }
  if (config.max_train_examples() < 0) {
    return FieldError("max_train_examples", "must be >= 0 (0 = all)",
                      config.max_train_examples());
  }
  return absl::OkStatus();
}

TrainingConfig TrainingConfigWithDefaults(TrainingConfig config) {
  if (config.epochs() == 0) config.set_epochs(kDefaultEpochs);
  if (config.batch_size() == 0) config.set_batch_size(kDefaultBatchSize);
  if (config.optimizer() == nnserve::v1::OPTIMIZER_UNSPECIFIED) {
    config.set_optimizer(nnserve::v1::OPTIMIZER_ADAM);
  }
  if (config.learning_rate() == 0) {
    config.set_learning_rate(config.optimizer() == nnserve::v1::OPTIMIZER_ADAM
                                 ? kDefaultAdamLearningRate
                                 : kDefaultSgdLearningRate);
  }
  if (config.optimizer() == nnserve::v1::OPTIMIZER_MOMENTUM &&
      config.momentum() == 0) {
    config.set_momentum(kDefaultMomentum);
  }
  if (config.seed() == 0) config.set_seed(kDefaultSeed);
  return config;
}

}  // namespace nn
