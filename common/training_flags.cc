#include "common/training_flags.h"

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/limits.h"

ABSL_FLAG(int32_t, epochs, nn::kDefaultTrainingEpochs,
          "Passes over the training set; at least 1.");
ABSL_FLAG(int32_t, batch_size, nn::kDefaultTrainingBatchSize,
          "Images per mini-batch; at least 1.");
ABSL_FLAG(std::string, optimizer, "adam", "adam, sgd or momentum.");
ABSL_FLAG(double, learning_rate, 0,
          "Step size; 0 = 0.001 for adam, 0.01 for sgd and momentum.");
ABSL_FLAG(double, momentum, 0, "Momentum of --optimizer=momentum; 0 = 0.9.");
ABSL_FLAG(bool, nesterov, false, "Nesterov momentum (--optimizer=momentum).");
ABSL_FLAG(double, validation_split, 0,
          "Fraction of the training images held out for validation (a "
          "seeded sample); 0 = validate on the test set.");
ABSL_FLAG(uint64_t, seed, nn::kDefaultTrainingSeed,
          "Seed of weights, shuffling, dropout and the split; 0 means 1.");
ABSL_FLAG(int32_t, early_stopping_patience, 0,
          "Stop after this many epochs without a lower val_loss; 0 = never.");
ABSL_FLAG(int32_t, max_train_examples, 0,
          "Train on a seeded random sample of N training images; 0 = all.");

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

absl::Status AtLeastOne(absl::string_view flag, int32_t value) {
  if (value >= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": must be at least 1, got ", value));
}

}  // namespace

const std::vector<std::string>& TrainingFlagNames() {
  static const auto* names =
      new std::vector<std::string>{"epochs",
                                   "batch_size",
                                   "optimizer",
                                   "learning_rate",
                                   "momentum",
                                   "nesterov",
                                   "validation_split",
                                   "seed",
                                   "early_stopping_patience",
                                   "max_train_examples"};
  return *names;
}

absl::StatusOr<v1::Optimizer> ParseOptimizer(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "adam") return v1::OPTIMIZER_ADAM;
  if (lower == "sgd") return v1::OPTIMIZER_SGD;
  if (lower == "momentum") return v1::OPTIMIZER_MOMENTUM;
  return absl::InvalidArgumentError(absl::StrCat(
      "--optimizer: unknown optimizer \"", name, "\" (adam, sgd or momentum)"));
}

absl::StatusOr<v1::TrainingConfig> TrainingConfigFromFlags() {
  v1::TrainingConfig config;
  const int32_t epochs = absl::GetFlag(FLAGS_epochs);
  const int32_t batch_size = absl::GetFlag(FLAGS_batch_size);
  if (absl::Status s = AtLeastOne("epochs", epochs); !s.ok()) return s;
  if (absl::Status s = AtLeastOne("batch_size", batch_size); !s.ok()) return s;
  absl::StatusOr<v1::Optimizer> optimizer =
      ParseOptimizer(absl::GetFlag(FLAGS_optimizer));
  if (!optimizer.ok()) return optimizer.status();
  config.set_epochs(epochs);
  config.set_batch_size(batch_size);
  config.set_optimizer(*optimizer);
  config.set_learning_rate(
      static_cast<float>(absl::GetFlag(FLAGS_learning_rate)));
  config.set_momentum(static_cast<float>(absl::GetFlag(FLAGS_momentum)));
  config.set_nesterov(absl::GetFlag(FLAGS_nesterov));
  config.set_validation_split(
      static_cast<float>(absl::GetFlag(FLAGS_validation_split)));
  config.set_seed(absl::GetFlag(FLAGS_seed));
  config.set_early_stopping_patience(
      absl::GetFlag(FLAGS_early_stopping_patience));
  config.set_max_train_examples(absl::GetFlag(FLAGS_max_train_examples));
  return config;
}

}  // namespace nn
