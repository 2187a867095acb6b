// The trainer (engine/training/trainer.h) on real digits: convergence,
// determinism, save -> load -> continue, validation, early stopping,
// cancellation, progress and argument errors. Each test trains on at most a
// few hundred images for one or two epochs (seconds), except the overfit
// test (32 images, many epochs, also seconds).
#include "engine/training/trainer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/model_file.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"
#include "tests/engine/training/training_test_util.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::nn::testing::Mnist;
using ::nn::testing::ParseSpec;
using ::nn::testing::ReadSpecFile;
using ::nn::testing::SpreadSubset;
using ::nnserve::v1::ModelSpec;
using ::nnserve::v1::SavedModel;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A small MLP of the tutorial's shape.
ModelSpec SmallMlp() {
  return ParseSpec(R"pb(
    name: "small_mlp"
    layers { flatten {} }
    layers { dense { units: 32 activation: ACTIVATION_RELU } }
    layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }
  )pb");
}

// Every kind of layer that trains: conv, pool, BN, dropout, dense.
ModelSpec SmallCnnWithEverything() {
  return ParseSpec(R"pb(
    name: "small_cnn"
    layers {
      conv2d {
        filters: 8
        kernel_height: 3
        kernel_width: 3
        activation: ACTIVATION_RELU
      }
    }
    layers { max_pooling2d { pool_height: 2 pool_width: 2 } }
    layers { batch_normalization {} }
    layers { flatten {} }
    layers { dropout { rate: 0.25 } }
    layers { dense { units: 16 activation: ACTIVATION_RELU } }
    layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }
  )pb");
}

// Top-1 accuracy of a saved model on `images`, through the inference engine.
double Accuracy(const SavedModel& saved, const ImageSet& images) {
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(saved);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return 0;
  std::unique_ptr<InferenceContext> context = (*model)->NewInferenceContext();
  const int classes = (*model)->num_classes();
  std::vector<float> input(images.pixels.size());
  PixelsToUnit(images.pixels.data(), static_cast<int64_t>(input.size()),
               input.data());
  std::vector<float> output(static_cast<size_t>(images.count * classes));
  absl::Status status =
      context->Run(input, images.count, absl::MakeSpan(output));
  EXPECT_TRUE(status.ok()) << status;
  int64_t correct = 0;
  for (int64_t i = 0; i < images.count; ++i) {
    const float* p = output.data() + i * classes;
    if (std::max_element(p, p + classes) - p == images.labels[i]) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(images.count);
}

std::vector<std::vector<float>> Weights(const SavedModel& saved) {
  std::vector<std::vector<float>> weights;
  for (const auto& parameter : saved.parameters()) {
    weights.emplace_back(parameter.values().begin(), parameter.values().end());
  }
  return weights;
}

TEST(TrainerTest, TinyNetworkOverfitsThirtyTwoRealImagesToFullAccuracy) {
  const ImageSet images = SpreadSubset(Mnist().train, 32);
  TrainerOptions options;
  options.config.set_epochs(60);
  options.config.set_batch_size(32);  // one fixed batch
  options.config.set_learning_rate(0.01f);
  absl::StatusOr<SavedModel> saved =
      TrainNewModel(SmallMlp(), {.train = &images, .name = "inline"}, options);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const auto& epochs = saved->history(0).epochs();
  EXPECT_LT(epochs[epochs.size() - 1].loss(), 0.05 * epochs[0].loss());
  EXPECT_EQ(epochs[epochs.size() - 1].accuracy(), 1.0f);
  EXPECT_EQ(Accuracy(*saved, images), 1.0);
}

// Trains `spec` twice with one seed and once with another (2 threads): the
// first two must agree to the bit, the third must not.
void ExpectBitIdenticalForTheSameSeed(const ModelSpec& spec) {
  const ImageSet images = SpreadSubset(Mnist().train, 200);
  TrainerOptions options;
  options.config.set_epochs(1);
  options.config.set_batch_size(48);  // 4 full batches and one of 8
  options.config.set_seed(42);
  options.threads = 2;
  const TrainingData data{.train = &images, .name = "inline"};
  absl::StatusOr<SavedModel> first = TrainNewModel(spec, data, options);
  absl::StatusOr<SavedModel> second = TrainNewModel(spec, data, options);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  const auto a = Weights(*first), b = Weights(*second);
  ASSERT_EQ(a.size(), b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    ASSERT_EQ(a[t].size(), b[t].size());
    for (size_t i = 0; i < a[t].size(); ++i) {
      if (a[t][i] != b[t][i]) {
        ADD_FAILURE() << first->parameters(t).name() << "[" << i << "] "
                      << a[t][i] << " != " << b[t][i];
        break;
      }
    }
  }
  EXPECT_EQ(first->history(0).epochs(0).loss(),
            second->history(0).epochs(0).loss());

  options.config.set_seed(43);
  absl::StatusOr<SavedModel> other = TrainNewModel(spec, data, options);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(Weights(*first), Weights(*other));
}

TEST(TrainerTest, SameSeedAndThreadCountGiveBitIdenticalWeights) {
  ExpectBitIdenticalForTheSameSeed(SmallCnnWithEverything());
}

TEST(TrainerTest, SameSeedAndThreadCountGiveBitIdenticalRnnWeights) {
  // SimpleRNN trains on per-step matmuls (engine/layers/simple_rnn.cc).
  ExpectBitIdenticalForTheSameSeed(ParseSpec(R"pb(
    name: "small_rnn"
    layers { simple_rnn { units: 16 return_sequences: true } }
    layers { simple_rnn { units: 12 } }
    layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }
  )pb"));
}

TEST(TrainerTest, SavedModelLoadsAndContinuesTraining) {
  const ImageSet train = SpreadSubset(Mnist().train, 300);
  const ImageSet test = SpreadSubset(Mnist().test, 100);
  TrainerOptions options;
  options.config.set_epochs(1);
  const TrainingData data{.train = &train, .test = &test, .name = "mnist"};
  absl::StatusOr<SavedModel> first = TrainNewModel(SmallMlp(), data, options);
  ASSERT_TRUE(first.ok()) << first.status();

  testing::TempDir dir;
  const std::string path = dir.Join("model.nnm");
  ASSERT_TRUE(WriteModelFile(path, *first).ok());
  absl::StatusOr<std::shared_ptr<const Model>> loaded = LoadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  absl::StatusOr<SavedModel> second = FineTuneModel(**loaded, data, options);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->history_size(), 2);
  EXPECT_EQ(second->history(0).SerializeAsString(),
            first->history(0).SerializeAsString());
  // Continuing from trained weights: the second run starts where the first
  // ended, so its epoch loss is lower than the first run's first epoch.
  EXPECT_LT(second->history(1).epochs(0).loss(),
            first->history(0).epochs(0).loss());
  EXPECT_NE(Weights(*second), Weights(*first));
  EXPECT_EQ(second->spec().SerializeAsString(),
            first->spec().SerializeAsString());
  EXPECT_TRUE(Model::FromSavedModel(*second).ok());
}

TEST(TrainerTest, HistoryRecordsTheRunWithDefaultsFilledIn) {
  const ImageSet train = SpreadSubset(Mnist().train, 100);
  const ImageSet test = SpreadSubset(Mnist().test, 50);
  TrainerOptions options;
  options.config.set_epochs(2);
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &train, .test = &test, .name = "mnist"}, options);
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->history_size(), 1);
  const nnserve::v1::TrainingHistory& history = saved->history(0);
  EXPECT_EQ(history.config().epochs(), 2);
  EXPECT_EQ(history.config().batch_size(), 32);
  EXPECT_EQ(history.config().optimizer(), nnserve::v1::OPTIMIZER_ADAM);
  EXPECT_FLOAT_EQ(history.config().learning_rate(), 0.001f);
  EXPECT_EQ(history.config().seed(), 1u);
  EXPECT_EQ(history.dataset(), "mnist");
  EXPECT_EQ(history.train_examples(), 100);
  EXPECT_EQ(history.threads(), 1);
  EXPECT_EQ(history.base_version(), 0);
  EXPECT_GT(history.total_seconds(), 0);
  ASSERT_EQ(history.epochs_size(), 2);
  for (int e = 0; e < 2; ++e) {
    const nnserve::v1::EpochRecord& epoch = history.epochs(e);
    EXPECT_EQ(epoch.epoch(), e + 1);
    EXPECT_GT(epoch.loss(), 0);
    EXPECT_GE(epoch.accuracy(), 0);
    EXPECT_LE(epoch.accuracy(), 1);
    // Without a validation split the test set is the validation data.
    EXPECT_TRUE(epoch.has_validation());
    EXPECT_GT(epoch.val_loss(), 0);
    EXPECT_GT(epoch.seconds(), 0);
    EXPECT_NEAR(epoch.images_per_second(), 100 / epoch.seconds(),
                1e-6 * epoch.images_per_second());
  }
  EXPECT_TRUE(history.has_test());
  EXPECT_EQ(history.test_loss(), history.epochs(1).val_loss());
  EXPECT_EQ(history.test_accuracy(), history.epochs(1).val_accuracy());
  EXPECT_EQ(saved->format_version(), kSavedModelFormatVersion);
  EXPECT_GT(saved->created_unix_seconds(), 0);
  EXPECT_EQ(saved->spec().layers(1).name(), "dense");
}

TEST(TrainerTest, TestMetricsMatchTheServedModel) {
  const ImageSet train = SpreadSubset(Mnist().train, 200);
  const ImageSet test = SpreadSubset(Mnist().test, 120);
  TrainerOptions options;
  options.config.set_epochs(1);
  options.config.set_validation_split(0.2f);
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &train, .test = &test, .name = "mnist"}, options);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_FLOAT_EQ(saved->history(0).test_accuracy(),
                  static_cast<float>(Accuracy(*saved, test)));
}

TEST(TrainerTest, ValidationSplitHoldsOutASeededSampleOfKerasSize) {
  const ImageSet train = SpreadSubset(Mnist().train, 203);
  TrainerOptions options;
  options.config.set_epochs(1);
  options.config.set_validation_split(0.25f);
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &train, .name = "inline"}, options);
  ASSERT_TRUE(saved.ok()) << saved.status();
  // Keras: the training part is floor(203 * 0.75) = 152, 51 held out.
  EXPECT_EQ(saved->history(0).train_examples(), 152);
  EXPECT_TRUE(saved->history(0).epochs(0).has_validation());
  EXPECT_FALSE(saved->history(0).has_test());
}

TEST(TrainerTest, ValidationSplitIsNotTheLastImagesOfADigitOrderedSet) {
  // The real-digit training file lists the nines last. Keras' "last 10%"
  // would validate on nines only, which a model trained on the rest never
  // predicts; a random sample validates on every digit.
  const ImageSet train = SpreadSubset(Mnist().train, 400);
  TrainerOptions options;
  options.config.set_epochs(3);
  options.config.set_validation_split(0.1f);
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &train, .name = "inline"}, options);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_GT(saved->history(0).epochs(2).val_accuracy(), 0.5f);
}

TEST(TrainerTest, MaxTrainExamplesSamplesEveryClassOfADigitOrderedSet) {
  // The real digits are stored by class: the first 400 images are all zeros,
  // so a model trained on them alone would score about 10 %.
  const Dataset& digits = Mnist();
  const ImageSet test = SpreadSubset(digits.test, 400);
  TrainerOptions options;
  options.config.set_max_train_examples(400);
  options.config.set_epochs(4);
  options.config.set_seed(5);
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &digits.train, .name = "mnist"}, options);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->history(0).train_examples(), 400);
  EXPECT_GT(Accuracy(*saved, test), 0.6);
}

TEST(TrainerTest, EarlyStoppingStopsWhenValidationLossStopsImproving) {
  const ImageSet train = SpreadSubset(Mnist().train, 200);
  // Validation labels that disagree with the images: the better the model
  // learns the digits, the worse its val_loss.
  ImageSet misleading = SpreadSubset(Mnist().test, 100);
  for (uint8_t& label : misleading.labels) label = (label + 5) % 10;
  TrainerOptions options;
  options.config.set_epochs(10);
  options.config.set_early_stopping_patience(1);
  options.config.set_learning_rate(0.005f);
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &train, .test = &misleading, .name = "inline"},
      options);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_LT(saved->history(0).epochs_size(), 10);
  EXPECT_GE(saved->history(0).epochs_size(), 2);
}

TEST(TrainerTest, CancellationStopsBetweenBatches) {
  const ImageSet train = SpreadSubset(Mnist().train, 320);
  std::atomic<bool> cancelled = false;
  int batches = 0;
  TrainerOptions options;
  options.config.set_epochs(3);
  options.cancelled = &cancelled;
  options.on_progress = [&](const TrainingProgress& progress) {
    if (progress.epoch_end != nullptr) return;
    ++batches;
    if (batches == 3) cancelled = true;
  };
  absl::StatusOr<SavedModel> saved =
      TrainNewModel(SmallMlp(), {.train = &train, .name = "inline"}, options);
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(batches, 3);
}

TEST(TrainerTest, ProgressReportsEveryBatchAndEachEpochEndOnce) {
  const ImageSet train = SpreadSubset(Mnist().train, 100);
  const ImageSet test = SpreadSubset(Mnist().test, 40);
  std::vector<TrainingProgress> reports;
  // epoch_end is valid during the call only: read it there.
  std::vector<bool> had_validation;
  std::vector<int> end_epoch;
  TrainerOptions options;
  options.config.set_epochs(2);
  options.config.set_batch_size(32);  // 4 batches: 32, 32, 32, 4
  options.on_progress = [&](const TrainingProgress& progress) {
    reports.push_back(progress);
    end_epoch.push_back(progress.epoch_end != nullptr
                            ? progress.epoch_end->epoch()
                            : 0);
    had_validation.push_back(progress.epoch_end != nullptr &&
                             progress.epoch_end->has_validation());
  };
  ASSERT_TRUE(TrainNewModel(SmallMlp(),
                            {.train = &train, .test = &test, .name = "mnist"},
                            options)
                  .ok());
  ASSERT_EQ(reports.size(), 10u);  // 2 x (4 batches + 1 epoch end)
  double last_ratio = 0;
  for (size_t i = 0; i < reports.size(); ++i) {
    const TrainingProgress& p = reports[i];
    const bool epoch_end = i % 5 == 4;
    EXPECT_EQ(p.epoch_end != nullptr, epoch_end) << i;
    EXPECT_EQ(p.epoch, static_cast<int>(i / 5) + 1);
    EXPECT_EQ(p.epochs, 2);
    EXPECT_EQ(p.batches_per_epoch, 4);
    EXPECT_EQ(p.batch, epoch_end ? 4 : static_cast<int>(i % 5) + 1);
    EXPECT_GT(p.loss, 0);
    EXPECT_GE(p.accuracy, 0);
    EXPECT_LE(p.accuracy, 1);
    EXPECT_GE(p.progress_ratio, last_ratio);
    EXPECT_GE(p.eta_seconds, 0);
    last_ratio = p.progress_ratio;
    if (epoch_end) {
      EXPECT_TRUE(had_validation[i]);
      EXPECT_EQ(end_epoch[i], p.epoch);
    }
  }
  EXPECT_EQ(reports.back().progress_ratio, 1.0);
  EXPECT_EQ(reports.back().eta_seconds, 0.0);
}

TEST(TrainerTest, TutorialModelsLearnFromAFewHundredDigitsInOneEpoch) {
  const ImageSet train = SpreadSubset(Mnist().train, 640);
  const ImageSet test = SpreadSubset(Mnist().test, 200);
  for (const char* name : {"mnist_mlp", "mnist_cnn", "mnist_rnn"}) {
    SCOPED_TRACE(name);
    TrainerOptions options;
    options.config.set_epochs(1);
    absl::StatusOr<SavedModel> saved = TrainNewModel(
        ReadSpecFile(std::string("models/") + name + ".textproto"),
        {.train = &train, .test = &test, .name = "mnist"}, options);
    ASSERT_TRUE(saved.ok()) << saved.status();
    // Chance is 10 %; 20 Adam steps take each well above it.
    EXPECT_GT(saved->history(0).test_accuracy(), 0.3f);
    EXPECT_LT(saved->history(0).epochs(0).loss(), 2.3f);
  }
}

TEST(TrainerTest, RejectsLabelsOutsideTheClasses) {
  ImageSet train = SpreadSubset(Mnist().train, 10);
  train.labels[7] = 10;
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &train, .name = "inline"}, TrainerOptions());
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(saved.status().message()), HasSubstr("label of image 7 is 10"));
}

TEST(TrainerTest, RejectsImagesOfAnotherSize) {
  ImageSet train;
  train.count = 2;
  train.height = 14;
  train.width = 14;
  train.pixels.assign(2 * 14 * 14, 0);
  train.labels = {1, 2};
  absl::StatusOr<SavedModel> saved = TrainNewModel(
      SmallMlp(), {.train = &train, .name = "inline"}, TrainerOptions());
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(saved.status().message()), HasSubstr("14x14"));
  const ImageSet good = SpreadSubset(Mnist().train, 10);
  saved = TrainNewModel(SmallMlp(),
                        {.train = &good, .test = &train, .name = "inline"},
                        TrainerOptions());
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(saved.status().message()), HasSubstr("test images"));
}

TEST(TrainerTest, RejectsMissingTrainingData) {
  EXPECT_EQ(TrainNewModel(SmallMlp(), {.name = "inline"}, TrainerOptions())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TrainerTest, RejectsEarlyStoppingWithoutValidationData) {
  const ImageSet train = SpreadSubset(Mnist().train, 10);
  TrainerOptions options;
  options.config.set_early_stopping_patience(2);
  absl::StatusOr<SavedModel> saved =
      TrainNewModel(SmallMlp(), {.train = &train, .name = "inline"}, options);
  EXPECT_THAT(std::string(saved.status().message()),
              StartsWith("config.early_stopping_patience"));
}

TEST(TrainerTest, RejectsAnInvalidSpec) {
  const ImageSet train = SpreadSubset(Mnist().train, 10);
  ModelSpec spec = SmallMlp();
  spec.mutable_layers(2)->mutable_dense()->set_activation(
      nnserve::v1::ACTIVATION_RELU);  // no softmax at the end
  EXPECT_EQ(TrainNewModel(spec, {.train = &train, .name = "inline"},
                          TrainerOptions())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

struct ConfigCase {
  const char* name;
  const char* config;  // TrainingConfig text
  const char* field;   // the error's prefix
};

class ValidateTrainingConfigTest : public ::testing::TestWithParam<ConfigCase> {
};

TEST_P(ValidateTrainingConfigTest, NamesTheBadField) {
  nnserve::v1::TrainingConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(GetParam().config,
                                                            &config));
  const absl::Status status = ValidateTrainingConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith(GetParam().field));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ValidateTrainingConfigTest,
    ::testing::Values(
        ConfigCase{"NegativeEpochs", "epochs: -1", "config.epochs: "},
        ConfigCase{"TooManyEpochs", "epochs: 100000", "config.epochs: "},
        ConfigCase{"NegativeBatch", "batch_size: -4", "config.batch_size: "},
        ConfigCase{"HugeBatch", "batch_size: 100000", "config.batch_size: "},
        ConfigCase{"UnknownOptimizer", "optimizer: 17", "config.optimizer: "},
        ConfigCase{"NegativeLearningRate", "learning_rate: -0.1",
                   "config.learning_rate: must be > 0"},
        ConfigCase{"NanLearningRate", "learning_rate: nan",
                   "config.learning_rate: "},
        ConfigCase{"MomentumOfOne",
                   "optimizer: OPTIMIZER_MOMENTUM momentum: 1",
                   "config.momentum: "},
        ConfigCase{"MomentumWithAdam", "momentum: 0.9", "config.momentum: "},
        ConfigCase{"NesterovWithSgd", "optimizer: OPTIMIZER_SGD nesterov: true",
                   "config.nesterov: "},
        ConfigCase{"SplitOfOne", "validation_split: 1",
                   "config.validation_split: "},
        ConfigCase{"NegativeSplit", "validation_split: -0.1",
                   "config.validation_split: "},
        ConfigCase{"NegativePatience", "early_stopping_patience: -1",
                   "config.early_stopping_patience: "},
        ConfigCase{"NegativeLimit", "max_train_examples: -5",
                   "config.max_train_examples: "}),
    [](const auto& info) { return info.param.name; });

TEST(ValidateTrainingConfigTest, AcceptsDefaultsAndEveryOptimizer) {
  EXPECT_TRUE(ValidateTrainingConfig({}).ok());
  nnserve::v1::TrainingConfig config;
  config.set_optimizer(nnserve::v1::OPTIMIZER_MOMENTUM);
  config.set_momentum(0.5f);
  config.set_nesterov(true);
  config.set_validation_split(0.5f);
  EXPECT_TRUE(ValidateTrainingConfig(config).ok());
  config = {};
  config.set_optimizer(nnserve::v1::OPTIMIZER_SGD);
  config.set_learning_rate(0.1f);
  EXPECT_TRUE(ValidateTrainingConfig(config).ok());
}

TEST(TrainingConfigWithDefaultsTest, FillsZeroFieldsPerOptimizer) {
  nnserve::v1::TrainingConfig config;
  config = TrainingConfigWithDefaults(config);
  EXPECT_EQ(config.epochs(), 5);
  EXPECT_EQ(config.batch_size(), 32);
  EXPECT_EQ(config.optimizer(), nnserve::v1::OPTIMIZER_ADAM);
  EXPECT_FLOAT_EQ(config.learning_rate(), 0.001f);
  EXPECT_EQ(config.momentum(), 0.0f);
  EXPECT_EQ(config.seed(), 1u);
  nnserve::v1::TrainingConfig momentum;
  momentum.set_optimizer(nnserve::v1::OPTIMIZER_MOMENTUM);
  momentum = TrainingConfigWithDefaults(momentum);
  EXPECT_FLOAT_EQ(momentum.learning_rate(), 0.01f);
  EXPECT_FLOAT_EQ(momentum.momentum(), 0.9f);
}

}  // namespace
}  // namespace nn
