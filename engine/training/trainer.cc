#include "engine/training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/initializers.h"
#include "engine/network.h"
#include "engine/threading.h"
#include "engine/training/loss.h"
#include "engine/training/optimizer.h"
#include "engine/training/regularizer.h"
#include "engine/training/training_plan.h"

namespace nn {

using nnserve::v1::EpochRecord;
using nnserve::v1::SavedModel;
using nnserve::v1::TrainingConfig;
using nnserve::v1::TrainingHistory;

namespace {

// Streams of MixSeed(seed, stream): each use of the seed draws from its own.
constexpr uint64_t kSplitStream = 0x73706c6974;     // "split"
constexpr uint64_t kSubsetStream = 0x737562;        // "sub"
constexpr uint64_t kShuffleStream = 0x73687566;     // "shuf"
constexpr uint64_t kDropoutStream = 0x64726f70;     // "drop"
// Images per inference call when evaluating.
constexpr int64_t kEvaluationBatchSize = 256;
constexpr char kProducer[] = "nnserve trainer 0.1";

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sets the calling thread's oneDNN thread count for a scope.
class ScopedOneDnnThreads {
 public:
  explicit ScopedOneDnnThreads(int threads) : previous_(ThreadOneDnnThreads()) {
    SetThreadOneDnnThreads(threads);
  }
  ~ScopedOneDnnThreads() { SetThreadOneDnnThreads(previous_); }
  ScopedOneDnnThreads(const ScopedOneDnnThreads&) = delete;
  ScopedOneDnnThreads& operator=(const ScopedOneDnnThreads&) = delete;

 private:
  int previous_;
};

// Below this many pixels a batch is filled on one thread.
constexpr int64_t kParallelFillPixels = 32768;

// Converts the images `indices` of `images` into `out` (one row of
// PixelToUnit values per image). Spread over the calling thread's OpenMP
// team for large batches: the gather of scattered images and the 4x wider
// float rows cost about 10 % of an MLP batch on one thread, while the
// team's other threads wait for the next primitive anyway. Each image is
// converted alone, so the result does not depend on the split.
void ImagesToUnit(const ImageSet& images, absl::Span<const int64_t> indices,
                  float* out) {
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t image_size = images.image_size();
#pragma omp parallel for schedule(static) if (n * image_size > kParallelFillPixels)
  for (int64_t k = 0; k < n; ++k) {
    if (k + 1 < n) {
      // The next image is somewhere else: fetch it while this one converts
      // (a cold batch of 128 digits: 54 -> 31 us on one thread).
      const uint8_t* next = images.image(indices[k + 1]);
      for (int64_t at = 0; at < image_size; at += 64) {
        __builtin_prefetch(next + at);
      }
    }
    PixelsToUnit(images.image(indices[k]), image_size, out + k * image_size);
  }
}

// The plan's batch: the images `indices` of `images` and their labels.
void FillBatch(const ImageSet& images, absl::Span<const int64_t> indices,
               TrainingPlan& plan) {
  ImagesToUnit(images, indices, plan.input().data());
  for (size_t k = 0; k < indices.size(); ++k) {
    plan.labels()[k] = images.labels[indices[k]];
  }
}

// Fisher-Yates with the engine's own generator (std::shuffle's algorithm
// differs between standard libraries).
void Shuffle(std::vector<int64_t>& values, Random& random) {
  for (size_t i = values.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(random.Next() % i);
    std::swap(values[i - 1], values[j]);
  }
}

struct Metrics {
  double loss = 0;
  double accuracy = 0;
};

// One training run: the network being trained, its plans and optimiser.
class TrainingRun {
 public:
  TrainingRun(const Model& start, const TrainingData& data,
              const TrainerOptions& options, TrainingConfig config)
      : start_(start), data_(data), options_(options),
        config_(std::move(config)) {}

  absl::StatusOr<SavedModel> Run();

 private:
  absl::Status Prepare();
  // The plan for batch size n (built on first use).
  absl::StatusOr<TrainingPlan*> PlanFor(int64_t n);
  bool Cancelled() const {
    return options_.cancelled != nullptr &&
           options_.cancelled->load(std::memory_order_relaxed);
  }
  // Loss (+ regularisation penalty) and accuracy of the current weights on
  // `indices` of `images`, through the inference engine.
  absl::StatusOr<Metrics> Evaluate(const ImageSet& images,
                                   absl::Span<const int64_t> indices);
  double Penalty() const;

  const Model& start_;
  const TrainingData& data_;
  const TrainerOptions& options_;
  const TrainingConfig config_;
  std::shared_ptr<Network> network_;
  std::vector<Tensor> gradients_;
  absl::flat_hash_map<int64_t, std::unique_ptr<TrainingPlan>> plans_;
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<int64_t> train_indices_;
  std::vector<int64_t> validation_indices_;  // into data_.train
  std::vector<int64_t> test_indices_;        // all of data_.test
};

absl::Status TrainingRun::Prepare() {
  RETURN_IF_ERROR(ValidateTrainingData(
      data_, config_,
      {start_.input_height(), start_.input_width(), start_.num_classes()}));
  if (data_.test != nullptr && data_.test->count > 0) {
    test_indices_.resize(static_cast<size_t>(data_.test->count));
    for (int64_t i = 0; i < data_.test->count; ++i) test_indices_[i] = i;
  }
  std::vector<int64_t> all(static_cast<size_t>(data_.train->count));
  for (int64_t i = 0; i < data_.train->count; ++i) all[i] = i;
  if (config_.max_train_examples() > 0 &&
      config_.max_train_examples() < data_.train->count) {
    // A seeded random sample, in data set order: the first N of a set stored
    // by class (the real digits) would hold one class only.
    Random random(MixSeed(config_.seed(), kSubsetStream));
    Shuffle(all, random);
    all.resize(static_cast<size_t>(config_.max_train_examples()));
    std::sort(all.begin(), all.end());
  }
  const int64_t available = static_cast<int64_t>(all.size());
  if (config_.validation_split() > 0) {
    // ValidateTrainingData checked that both parts hold images.
    const int64_t train_count =
        SplitTrainCount(available, config_.validation_split());
    Random random(MixSeed(config_.seed(), kSplitStream));
    Shuffle(all, random);
    validation_indices_.assign(all.begin() + train_count, all.end());
    all.resize(static_cast<size_t>(train_count));
    std::sort(validation_indices_.begin(), validation_indices_.end());
    std::sort(all.begin(), all.end());
  }
  train_indices_ = std::move(all);

  // A private copy of the starting weights, trained in place.
  const Network& source = *start_.network();
  ASSIGN_OR_RETURN(std::unique_ptr<Network> network,
                   Network::Create(source.input_shape(), source.layer_specs()));
  for (int id = 0; id < network->num_parameter_tensors(); ++id) {
    *network->mutable_parameter(id) = source.parameter(id);
    gradients_.emplace_back(source.parameter(id).shape());
  }
  network_ = std::move(network);
  ASSIGN_OR_RETURN(optimizer_, Optimizer::Create(config_, network_.get()));
  return absl::OkStatus();
}

absl::StatusOr<TrainingPlan*> TrainingRun::PlanFor(int64_t n) {
  auto it = plans_.find(n);
  if (it != plans_.end()) return it->second.get();
  ASSIGN_OR_RETURN(std::unique_ptr<TrainingPlan> plan,
                   TrainingPlan::Create(network_.get(),
                                        absl::MakeSpan(gradients_),
                                        {.batch_size = n}));
  TrainingPlan* result = plan.get();
  plans_[n] = std::move(plan);
  return result;
}

double TrainingRun::Penalty() const {
  double penalty = 0;
  for (int id = 0; id < network_->num_parameter_tensors(); ++id) {
    const ParameterSpec& spec = network_->parameter_spec(id);
    if (spec.trainable) {
      penalty += RegularizationPenalty(spec.regularizer,
                                       network_->parameter(id).span());
    }
  }
  return penalty;
}

absl::StatusOr<Metrics> TrainingRun::Evaluate(
    const ImageSet& images, absl::Span<const int64_t> indices) {
  // The weights changed in place since any earlier context: drop the packed
  // copies, and let the context go before training resumes.
  network_->ParametersChanged();
  NetworkContext::Options context_options;
  context_options.max_cached_plans = 2;
  context_options.max_batch_size = kEvaluationBatchSize;
  std::unique_ptr<NetworkContext> context =
      NetworkContext::Create(network_, context_options);
  const int64_t image_size = images.image_size();
  const int classes = start_.num_classes();
  std::vector<float> input(
      static_cast<size_t>(kEvaluationBatchSize * image_size));
  std::vector<float> output(static_cast<size_t>(kEvaluationBatchSize * classes));
  double loss = 0;
  int64_t correct = 0;
  const int64_t count = static_cast<int64_t>(indices.size());
  for (int64_t begin = 0; begin < count; begin += kEvaluationBatchSize) {
    if (Cancelled()) return absl::CancelledError("training cancelled");
    const int64_t n = std::min(kEvaluationBatchSize, count - begin);
    ImagesToUnit(images, indices.subspan(begin, n), input.data());
    RETURN_IF_ERROR(context->Run(
        absl::MakeConstSpan(input.data(), static_cast<size_t>(n * image_size)),
        n, absl::MakeSpan(output.data(), static_cast<size_t>(n * classes))));
    for (int64_t k = 0; k < n; ++k) {
      const float* p = output.data() + k * classes;
      const int label = images.labels[indices[begin + k]];
      loss += ProbabilityCrossEntropy(p[label]);
      if (std::max_element(p, p + classes) - p == label) ++correct;
    }
  }
  Metrics metrics;
  metrics.loss = loss / static_cast<double>(count) + Penalty();
  metrics.accuracy = static_cast<double>(correct) / static_cast<double>(count);
  return metrics;
}

absl::StatusOr<SavedModel> TrainingRun::Run() {
  const Clock::time_point run_start = Clock::now();
  RETURN_IF_ERROR(Prepare());
  const ImageSet& train = *data_.train;
  const int64_t train_count = static_cast<int64_t>(train_indices_.size());
  const int64_t batch_size =
      std::min<int64_t>(config_.batch_size(), train_count);
  const int batches_per_epoch =
      static_cast<int>((train_count + batch_size - 1) / batch_size);
  const int epochs = config_.epochs();
  const int64_t total_batches = int64_t{epochs} * batches_per_epoch;
  // Both plans up front, so the first epoch's timing has no build in it.
  RETURN_IF_ERROR(PlanFor(batch_size).status());
  if (train_count % batch_size != 0) {
    RETURN_IF_ERROR(PlanFor(train_count % batch_size).status());
  }

  TrainingHistory history;
  *history.mutable_config() = config_;
  history.set_dataset(data_.name);
  history.set_train_examples(train_count);
  history.set_threads(options_.threads);

  Random shuffle_random(MixSeed(config_.seed(), kShuffleStream));
  const uint64_t dropout_seed = MixSeed(config_.seed(), kDropoutStream);
  std::vector<int64_t> order = train_indices_;
  double training_seconds = 0;  // batches only, for the ETA
  int64_t batches_done = 0;
  double best_val_loss = std::numeric_limits<double>::infinity();
  int epochs_without_improvement = 0;
  Metrics last_validation;

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    Shuffle(order, shuffle_random);
    const Clock::time_point epoch_start = Clock::now();
    double loss_sum = 0;  // sum over images of the batch mean loss
    int64_t correct = 0;
    int64_t seen = 0;
    for (int batch = 1; batch <= batches_per_epoch; ++batch) {
      if (Cancelled()) return absl::CancelledError("training cancelled");
      const int64_t begin = int64_t{batch - 1} * batch_size;
      const int64_t n = std::min(batch_size, train_count - begin);
      ASSIGN_OR_RETURN(TrainingPlan * plan, PlanFor(n));
      FillBatch(train, absl::MakeConstSpan(order).subspan(begin, n), *plan);
      ASSIGN_OR_RETURN(const TrainingPlan::Result result,
                       plan->Run(MixSeed(dropout_seed, batches_done)));
      if (!std::isfinite(result.loss)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "training diverged: the loss became ", result.loss, " at epoch ",
            epoch, ", batch ", batch,
            "; try a smaller config.learning_rate"));
      }
      optimizer_->Apply(gradients_);
      ++batches_done;
      loss_sum += result.loss * static_cast<double>(n);
      correct += result.correct;
      seen += n;
      if (options_.on_progress) {
        const double epoch_seconds = SecondsSince(epoch_start);
        const double elapsed = training_seconds + epoch_seconds;
        TrainingProgress progress;
        progress.epoch = epoch;
        progress.epochs = epochs;
        progress.batch = batch;
        progress.batches_per_epoch = batches_per_epoch;
        progress.loss = loss_sum / static_cast<double>(seen);
        progress.accuracy =
            static_cast<double>(correct) / static_cast<double>(seen);
        progress.images_per_second =
            epoch_seconds > 0 ? static_cast<double>(seen) / epoch_seconds : 0;
        progress.eta_seconds = elapsed / static_cast<double>(batches_done) *
                               static_cast<double>(total_batches - batches_done);
        progress.progress_ratio = static_cast<double>(batches_done) /
                                  static_cast<double>(total_batches);
        options_.on_progress(progress);
      }
    }
    const double epoch_seconds = SecondsSince(epoch_start);
    training_seconds += epoch_seconds;

    EpochRecord* record = history.add_epochs();
    record->set_epoch(epoch);
    record->set_loss(static_cast<float>(loss_sum / static_cast<double>(seen)));
    record->set_accuracy(
        static_cast<float>(static_cast<double>(correct) / static_cast<double>(seen)));
    record->set_seconds(epoch_seconds);
    record->set_images_per_second(
        epoch_seconds > 0 ? static_cast<double>(seen) / epoch_seconds : 0);
    if (!validation_indices_.empty() || !test_indices_.empty()) {
      const bool split = !validation_indices_.empty();
      ASSIGN_OR_RETURN(last_validation,
                       Evaluate(split ? train : *data_.test,
                                split ? validation_indices_ : test_indices_));
      record->set_has_validation(true);
      record->set_val_loss(static_cast<float>(last_validation.loss));
      record->set_val_accuracy(static_cast<float>(last_validation.accuracy));
    }
    bool stop = false;
    if (config_.early_stopping_patience() > 0) {
      if (last_validation.loss < best_val_loss) {
        best_val_loss = last_validation.loss;
        epochs_without_improvement = 0;
      } else if (++epochs_without_improvement >=
                 config_.early_stopping_patience()) {
        stop = true;
      }
    }
    if (options_.on_progress) {
      TrainingProgress progress;
      progress.epoch = epoch;
      progress.epochs = epochs;
      progress.batch = batches_per_epoch;
      progress.batches_per_epoch = batches_per_epoch;
      progress.loss = record->loss();
      progress.accuracy = record->accuracy();
      progress.images_per_second = record->images_per_second();
      progress.eta_seconds =
          stop ? 0
               : training_seconds / static_cast<double>(batches_done) *
                     static_cast<double>(total_batches - batches_done);
      progress.progress_ratio =
          stop ? 1.0
               : static_cast<double>(batches_done) /
                     static_cast<double>(total_batches);
      progress.epoch_end = record;
      options_.on_progress(progress);
    }
    if (stop) break;
  }

  if (!test_indices_.empty()) {
    Metrics test = last_validation;  // the test set was the validation data
    if (!validation_indices_.empty()) {
      ASSIGN_OR_RETURN(test, Evaluate(*data_.test, test_indices_));
    }
    history.set_has_test(true);
    history.set_test_loss(static_cast<float>(test.loss));
    history.set_test_accuracy(static_cast<float>(test.accuracy));
  }
  history.set_total_seconds(SecondsSince(run_start));

  SavedModel saved = start_.ToSavedModel();
  saved.clear_parameters();
  network_->ExportParameters(saved.mutable_parameters());
  *saved.add_history() = std::move(history);
  saved.set_producer(kProducer);
  saved.set_created_unix_seconds(static_cast<int64_t>(std::time(nullptr)));
  return saved;
}

absl::StatusOr<SavedModel> Train(const Model& start, const TrainingData& data,
                                 const TrainerOptions& options) {
  RETURN_IF_ERROR(ValidateTrainingConfig(options.config));
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be >= 1, got ", options.threads));
  }
  const ScopedOneDnnThreads threads(options.threads);
  TrainingRun run(start, data, options,
                  TrainingConfigWithDefaults(options.config));
  return run.Run();
}

}  // namespace

absl::StatusOr<SavedModel> TrainNewModel(const nnserve::v1::ModelSpec& spec,
                                         const TrainingData& data,
                                         const TrainerOptions& options) {
  RETURN_IF_ERROR(ValidateTrainingConfig(options.config));
  const uint64_t seed = TrainingConfigWithDefaults(options.config).seed();
  ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
                   Model::Create(spec, seed));
  return Train(*model, data, options);
}

absl::StatusOr<SavedModel> FineTuneModel(const Model& base,
                                         const TrainingData& data,
                                         const TrainerOptions& options) {
  return Train(base, data, options);
}

}  // namespace nn
