#include "common/training_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "common/limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::testing::HasSubstr;

// Restores every training flag after a test that sets some.
class TrainingFlagsTest : public ::testing::Test {
 protected:
  ~TrainingFlagsTest() override {
    absl::SetFlag(&FLAGS_epochs, kDefaultTrainingEpochs);
    absl::SetFlag(&FLAGS_batch_size, kDefaultTrainingBatchSize);
    absl::SetFlag(&FLAGS_optimizer, "adam");
  }
};

TEST_F(TrainingFlagsTest, DefaultsAreTheRealValues) {
  absl::StatusOr<v1::TrainingConfig> config = TrainingConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->epochs(), 5);
  EXPECT_EQ(config->batch_size(), 32);
  EXPECT_EQ(config->optimizer(), v1::OPTIMIZER_ADAM);
  EXPECT_EQ(config->seed(), 1u);
  // The zero values that mean "the default" or "none" travel as 0.
  EXPECT_EQ(config->learning_rate(), 0.0f);
  EXPECT_EQ(config->momentum(), 0.0f);
  EXPECT_EQ(config->validation_split(), 0.0f);
  EXPECT_EQ(config->early_stopping_patience(), 0);
  EXPECT_EQ(config->max_train_examples(), 0);
}

TEST_F(TrainingFlagsTest, ZeroEpochsOrBatchSizeIsRefusedNamingTheFlag) {
  absl::SetFlag(&FLAGS_epochs, 0);
  absl::Status status = TrainingConfigFromFlags().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "--epochs: must be at least 1, got 0");
  absl::SetFlag(&FLAGS_epochs, 3);
  absl::SetFlag(&FLAGS_batch_size, -2);
  EXPECT_EQ(TrainingConfigFromFlags().status().message(),
            "--batch_size: must be at least 1, got -2");
  absl::SetFlag(&FLAGS_batch_size, 64);
  absl::StatusOr<v1::TrainingConfig> config = TrainingConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->epochs(), 3);
  EXPECT_EQ(config->batch_size(), 64);
}

TEST_F(TrainingFlagsTest, OptimizerNamesInAnyCase) {
  EXPECT_EQ(*ParseOptimizer("SGD"), v1::OPTIMIZER_SGD);
  EXPECT_EQ(*ParseOptimizer("momentum"), v1::OPTIMIZER_MOMENTUM);
  EXPECT_THAT(std::string(ParseOptimizer("adagrad").status().message()),
              HasSubstr("--optimizer: unknown optimizer \"adagrad\""));
  absl::SetFlag(&FLAGS_optimizer, "adagrad");
  EXPECT_EQ(TrainingConfigFromFlags().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TrainingFlagsTest, EveryNameIsAFlagOfTheSet) {
  EXPECT_EQ(TrainingFlagNames().size(), 10u);
  EXPECT_THAT(TrainingFlagNames(),
              ::testing::Contains("early_stopping_patience"));
}

}  // namespace
}  // namespace nn
