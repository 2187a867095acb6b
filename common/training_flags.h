// The training flag set of nnctl train and nntrain: one definition of each
// hyper-parameter flag, its default and what 0 means, and one conversion to
// a TrainingConfig.
//
// What 0 means (the same in both tools, and as TrainingConfig's fields):
//   --epochs, --batch_size   counts with real defaults (5 and 32,
//                            common/limits.h); 0 or less is refused.
//   --learning_rate          0 = the optimizer's default (0.001 for adam,
//                            0.01 for sgd and momentum).
//   --momentum               0 = 0.9 (--optimizer=momentum only).
//   --validation_split       0 = no split: validate on the test set.
//   --seed                   default 1; 0 also means 1 (TrainingConfig).
//   --early_stopping_patience 0 = never stop early.
//   --max_train_examples     0 = every training image.
// Ranges beyond these (a negative rate, a split of 1) are the trainer's to
// refuse (ValidateTrainingConfig; the server's Train runs it too).
#ifndef NNSERVE_COMMON_TRAINING_FLAGS_H_
#define NNSERVE_COMMON_TRAINING_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nnserve/v1/model.pb.h"

ABSL_DECLARE_FLAG(int32_t, epochs);
ABSL_DECLARE_FLAG(int32_t, batch_size);
ABSL_DECLARE_FLAG(std::string, optimizer);
ABSL_DECLARE_FLAG(double, learning_rate);
ABSL_DECLARE_FLAG(double, momentum);
ABSL_DECLARE_FLAG(bool, nesterov);
ABSL_DECLARE_FLAG(double, validation_split);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(int32_t, early_stopping_patience);
ABSL_DECLARE_FLAG(int32_t, max_train_examples);

namespace nn {

// The names of the flags above, for a command's flag list.
const std::vector<std::string>& TrainingFlagNames();

// "adam", "sgd", "momentum" (any case) -> the enum; INVALID_ARGUMENT
// "--optimizer: unknown optimizer \"NAME\" (adam, sgd or momentum)".
absl::StatusOr<nnserve::v1::Optimizer> ParseOptimizer(absl::string_view name);

// The TrainingConfig the flags describe. INVALID_ARGUMENT naming the flag
// ("--epochs: must be at least 1, got 0") for --epochs or --batch_size
// below 1 and for an unknown --optimizer.
absl::StatusOr<nnserve::v1::TrainingConfig> TrainingConfigFromFlags();

}  // namespace nn

#endif  // NNSERVE_COMMON_TRAINING_FLAGS_H_
