#include "server/training_service.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "engine/training/trainer.h"
#include "server/image_decoding.h"
#include "server/serving_metrics.h"

namespace nn {
namespace {

using ::nnserve::v1::JobState;
using ::nnserve::v1::TrainProgress;
using ::nnserve::v1::TrainRequest;

bool IsFinal(JobState state) {
  return state == nnserve::v1::JOB_STATE_SUCCEEDED ||
         state == nnserve::v1::JOB_STATE_FAILED ||
         state == nnserve::v1::JOB_STATE_CANCELLED;
}

// Compares without an early exit, so the time taken does not reveal how much
// of a guessed token was right (the length may leak; it is not the secret).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

// Lowers the calling thread's CPU priority to `nice` (Linux: nice is per
// thread), so serving threads win the cores when both want them.
void LowerThreadPriority(int nice) {
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, tid, nice) != 0) {
    NN_LOG(WARNING) << "training: cannot lower thread priority: "
                    << std::strerror(errno);
  }
}

// Inline examples -> an ImageSet of bytes, each label in [0, num_classes).
// Float pixels are quantised to bytes (round(v * 255)), the form every data
// set has.
absl::StatusOr<ImageSet> DecodeInlineExamples(
    const nnserve::v1::InlineExamples& examples, const TrainingDataShape& shape,
    int64_t max_examples) {
  ImageDecodingOptions options;
  options.height = shape.height;
  options.width = shape.width;
  options.max_images = max_examples;
  std::vector<float> floats;
  absl::StatusOr<int64_t> n =
      DecodeImages(examples.images(), options, &floats);
  if (!n.ok()) {
    return absl::Status(n.status().code(),
                        absl::StrCat("examples.", n.status().message()));
  }
  if (examples.labels_size() != *n) {
    return absl::InvalidArgumentError(
        absl::StrCat("examples.labels: ", examples.labels_size(),
                     " labels for ", *n, " images"));
  }
  ImageSet set;
  set.count = *n;
  set.height = shape.height;
  set.width = shape.width;
  set.pixels.resize(floats.size());
  for (size_t i = 0; i < floats.size(); ++i) {
    set.pixels[i] = static_cast<uint8_t>(std::lround(floats[i] * 255.0f));
  }
  for (int i = 0; i < examples.labels_size(); ++i) {
    const int label = examples.labels(i);
    if (label < 0 || label >= shape.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "examples.labels[", i, "]: ", label,
          " is not one of the model's classes [0, ", shape.num_classes, ")"));
    }
    set.labels.push_back(static_cast<uint8_t>(label));
  }
  return set;
}

}  // namespace

// --- TrainingJob ---------------------------------------------------------------

TrainingJob::TrainingJob(std::string id, std::string model)
    : id_(std::move(id)), model_(std::move(model)) {
  state_.set_job_id(id_);
  state_.set_model(model_);
  state_.set_state(nnserve::v1::JOB_STATE_QUEUED);
  state_.set_started_unix_seconds(absl::ToUnixSeconds(absl::Now()));
}

nnserve::v1::TrainingJob TrainingJob::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

std::vector<TrainProgress> TrainingJob::EventsFrom(size_t next) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (next >= events_.size()) return {};
  return std::vector<TrainProgress>(events_.begin() + next, events_.end());
}

int64_t TrainingJob::progress_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_sequence_;
}

bool TrainingJob::ended(absl::Status* status) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_ && status != nullptr) *status = final_status_;
  return ended_;
}

int TrainingJob::AddWatcher(Watcher watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  const int id = next_watcher_id_++;
  watchers_[id] = std::move(watcher);
  return id;
}

void TrainingJob::RemoveWatcher(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.erase(id);
}

void TrainingJob::Notify() {
  // Watchers are called without the job's lock (they read the job back), but
  // under a copy: one removed meanwhile may get one last call, which the
  // stream tolerates (see training stream in inference_service.cc).
  std::vector<Watcher> watchers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, watcher] : watchers_) watchers.push_back(watcher);
  }
  for (const Watcher& watcher : watchers) watcher();
}

// --- TrainingService -----------------------------------------------------------

struct TrainingService::Prepared {
  nnserve::v1::ModelSpec spec;              // a new architecture, or
  std::shared_ptr<const Model> base;        // the version to fine-tune
  int64_t base_version = 0;
  std::shared_ptr<const Dataset> dataset;   // a named data set, or
  ImageSet inline_examples;                 // examples from the request
  std::string data_name;
  nnserve::v1::TrainingConfig config;
  int64_t version = 0;                      // reserved for publishing

  // The data as the trainer takes it (pointers into this).
  TrainingData data() const {
    TrainingData data;
    if (dataset != nullptr) {
      data.train = &dataset->train;
      data.test = dataset->test.count > 0 ? &dataset->test : nullptr;
    } else {
      data.train = &inline_examples;
    }
    data.name = data_name;
    return data;
  }
};

TrainingService::TrainingService(Options options, ModelRepository* repository,
                                 ServingMetrics* metrics)
    : options_(std::move(options)), repository_(repository), metrics_(metrics) {}

TrainingService::~TrainingService() { Shutdown(); }

const std::vector<std::string>& TrainingService::DatasetNames() {
  static const std::vector<std::string>* names =
      new std::vector<std::string>{"mnist", "fashion-mnist"};
  return *names;
}

absl::Status TrainingService::Authorize(const std::string& authorization) const {
  if (!options_.enabled) {
    return absl::FailedPreconditionError(
        "training is disabled on this server (start nnserve with "
        "--enable_training)");
  }
  if (options_.token.empty()) return absl::OkStatus();
  // RFC 7235: the scheme is case-insensitive and one or more spaces
  // separate it from the credentials.
  constexpr absl::string_view kBearer = "Bearer";
  absl::string_view credentials = authorization;
  const bool bearer = absl::StartsWithIgnoreCase(credentials, kBearer) &&
                      credentials.size() > kBearer.size() &&
                      credentials[kBearer.size()] == ' ';
  if (bearer) {
    credentials.remove_prefix(kBearer.size());
    while (absl::ConsumePrefix(&credentials, " ")) {
    }
  }
  if (!bearer || !ConstantTimeEquals(credentials, options_.token)) {
    return absl::UnauthenticatedError(
        "training needs metadata 'authorization: Bearer <token>' with the "
        "server's --training_token");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Dataset>> TrainingService::LoadNamedDataset(
    const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = datasets_.find(name);
    if (it != datasets_.end()) return it->second;
  }
  std::lock_guard<std::mutex> load_lock(dataset_load_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = datasets_.find(name);
    if (it != datasets_.end()) return it->second;
  }
  absl::StatusOr<Dataset> loaded =
      LoadDataset(absl::StrCat(options_.data_dir, "/", name), name);
  if (!loaded.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data set '", name, "' is not available on the server (",
        loaded.status().message(), ")"));
  }
  auto shared = std::make_shared<const Dataset>(*std::move(loaded));
  std::lock_guard<std::mutex> lock(mu_);
  datasets_[name] = shared;
  return shared;
}

absl::StatusOr<std::shared_ptr<TrainingJob>> TrainingService::Start(
    const TrainRequest& request) {
  // --- Validate everything before taking a slot. ---
  RETURN_IF_ERROR(ValidateModelName(request.model()));
  auto prepared = std::make_unique<Prepared>();
  prepared->config = request.config();
  RETURN_IF_ERROR(ValidateTrainingConfig(prepared->config));
  if (prepared->config.epochs() > options_.max_epochs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.epochs: ", prepared->config.epochs(),
        " exceeds this server's limit of ", options_.max_epochs,
        " (--max_training_epochs)"));
  }

  TrainingDataShape shape;  // what the data must fit
  switch (request.architecture_case()) {
    case TrainRequest::kSpec: {
      prepared->spec = request.spec();
      absl::StatusOr<ModelSpecSummary> summary = CheckModelSpec(prepared->spec);
      if (!summary.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("spec: ", summary.status().message()));
      }
      shape = {summary->input_height, summary->input_width,
               summary->num_classes};
      break;
    }
    case TrainRequest::kBaseVersion: {
      RETURN_IF_ERROR(
          ValidateVersionNumber("base_version", request.base_version()));
      ASSIGN_OR_RETURN(std::shared_ptr<ServableVersion> base,
                       repository_->Get(request.model(), request.base_version()));
      prepared->base = base->shared_model();
      prepared->base_version = base->version();
      shape = {prepared->base->input_height(), prepared->base->input_width(),
               prepared->base->num_classes()};
      break;
    }
    case TrainRequest::ARCHITECTURE_NOT_SET:
      return absl::InvalidArgumentError(
          "architecture: set spec (train a new network) or base_version "
          "(fine-tune an existing version)");
  }

  switch (request.data_case()) {
    case TrainRequest::kDataset: {
      const auto& names = DatasetNames();
      if (std::find(names.begin(), names.end(), request.dataset()) ==
          names.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("dataset: ", Quote(request.dataset()),
                         " is unknown; use one of ", absl::StrJoin(names, ", ")));
      }
      ASSIGN_OR_RETURN(prepared->dataset, LoadNamedDataset(request.dataset()));
      prepared->data_name = request.dataset();
      if (prepared->dataset->train.height != shape.height ||
          prepared->dataset->train.width != shape.width) {
        return absl::InvalidArgumentError(absl::StrCat(
            "dataset: ", Quote(request.dataset()), " has ",
            prepared->dataset->train.height, "x",
            prepared->dataset->train.width, " images; the model takes ",
            shape.height, "x", shape.width));
      }
      if (request.has_spec() && prepared->spec.labels().empty()) {
        for (const std::string& label : DatasetLabels(request.dataset())) {
          prepared->spec.add_labels(label);
        }
      }
      break;
    }
    case TrainRequest::kExamples: {
      ASSIGN_OR_RETURN(prepared->inline_examples,
                       DecodeInlineExamples(request.examples(), shape,
                                            options_.max_inline_examples));
      prepared->data_name = "inline";
      break;
    }
    case TrainRequest::DATA_NOT_SET:
      return absl::InvalidArgumentError(absl::StrCat(
          "data: set dataset (", absl::StrJoin(DatasetNames(), ", "),
          ") or examples"));
  }

  // What the trainer would refuse at its first batch is refused here, before
  // a job exists: labels outside the model's classes, a split that leaves
  // nothing to train on, early stopping without validation data.
  if (absl::Status s =
          ValidateTrainingData(prepared->data(), prepared->config, shape);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        request.has_dataset()
            ? absl::StrCat("dataset: ", Quote(request.dataset()), ": ")
            : std::string("examples: "),
        s.message()));
  }

  // --- Take a slot, reserve a version, start. ---
  std::shared_ptr<TrainingJob> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) {
      return absl::UnavailableError("server is shutting down");
    }
    if (running_ >= options_.max_jobs) {
      return absl::ResourceExhaustedError(absl::StrCat(
          running_, " training job(s) running; this server runs at most ",
          options_.max_jobs, " at once (--max_training_jobs); retry later"));
    }
    int64_t& reserved = reserved_versions_[request.model()];
    reserved = std::max(reserved, repository_->HighestVersion(request.model())) + 1;
    prepared->version = reserved;
    job.reset(new TrainingJob(absl::StrCat("job-", next_job_number_++),
                              request.model()));
    {
      std::lock_guard<std::mutex> job_lock(job->mu_);
      job->state_.set_epochs(prepared->config.epochs() > 0
                                 ? prepared->config.epochs()
                                 : kDefaultEpochs);
      TrainProgress started;
      *started.mutable_job() = job->state_;
      started.set_started(true);
      job->events_.push_back(std::move(started));
    }
    jobs_.push_back(job);
    ++running_;
    // Forget the oldest finished jobs beyond the limit.
    int finished = 0;
    for (const auto& j : jobs_) finished += j->ended(nullptr) ? 1 : 0;
    for (auto it = jobs_.begin(); it != jobs_.end() &&
                                  finished > options_.max_finished_jobs;) {
      if ((*it)->ended(nullptr)) {
        if (metrics_ != nullptr) {
          metrics_->ForgetTrainingJob((*it)->id(), (*it)->Snapshot().state());
        }
        it = jobs_.erase(it);
        --finished;
      } else {
        ++it;
      }
    }
  }
  if (metrics_ != nullptr) {
    metrics_->OnTrainingJobState(job->id(), job->model(),
                                 nnserve::v1::JOB_STATE_UNSPECIFIED,
                                 nnserve::v1::JOB_STATE_QUEUED);
  }
  NN_LOG(INFO) << "training " << job->id() << ": " << request.model()
               << (prepared->base ? absl::StrCat(" fine-tuning version ",
                                                 prepared->base_version)
                                  : " from scratch")
               << " on " << prepared->data_name << ", publishing as version "
               << prepared->version;
  std::thread([this, job, p = std::move(prepared)]() mutable {
    Run(job, std::move(p));
  }).detach();
  return job;
}

void TrainingService::SetState(TrainingJob& job, JobState state) {
  JobState old_state;
  {
    std::lock_guard<std::mutex> lock(job.mu_);
    old_state = job.state_.state();
    // A cancelled job stays cancelled whatever its thread is doing.
    if (IsFinal(old_state)) return;
    job.state_.set_state(state);
    ++job.progress_sequence_;
  }
  if (metrics_ != nullptr) {
    metrics_->OnTrainingJobState(job.id(), job.model(), old_state, state);
  }
  job.Notify();
}

void TrainingService::Run(std::shared_ptr<TrainingJob> job,
                          std::unique_ptr<Prepared> prepared) {
  LowerThreadPriority(options_.nice);
  SetState(*job, nnserve::v1::JOB_STATE_RUNNING);

  const TrainingData data = prepared->data();

  TrainerOptions trainer;
  trainer.config = prepared->config;
  trainer.threads = options_.threads_per_job;
  trainer.cancelled = &job->cancel_requested_;
  trainer.on_progress = [this, &job](const TrainingProgress& p) {
    {
      std::lock_guard<std::mutex> lock(job->mu_);
      nnserve::v1::TrainingJob& s = job->state_;
      s.set_epoch(p.epoch);
      s.set_epochs(p.epochs);
      s.set_batch(p.batch);
      s.set_batches_per_epoch(p.batches_per_epoch);
      s.set_loss(static_cast<float>(p.loss));
      s.set_accuracy(static_cast<float>(p.accuracy));
      s.set_images_per_second(p.images_per_second);
      s.set_eta_seconds(p.eta_seconds);
      s.set_progress_ratio(p.progress_ratio);
      ++job->progress_sequence_;
      if (p.epoch_end != nullptr) {
        TrainProgress event;
        *event.mutable_job() = s;
        *event.mutable_epoch_end() = *p.epoch_end;
        job->events_.push_back(std::move(event));
      }
    }
    if (metrics_ != nullptr) {
      metrics_->OnTrainingProgress(job->id(), p.progress_ratio, p.loss,
                                   p.accuracy);
    }
    job->Notify();
  };

  absl::StatusOr<nnserve::v1::SavedModel> trained =
      prepared->base != nullptr
          ? FineTuneModel(*prepared->base, data, trainer)
          : TrainNewModel(prepared->spec, data, trainer);
  prepared->dataset.reset();

  if (!trained.ok()) {
    const bool cancelled = job->cancel_requested_.load() ||
                           trained.status().code() == absl::StatusCode::kCancelled;
    Finish(*job,
           cancelled ? nnserve::v1::JOB_STATE_CANCELLED
                     : nnserve::v1::JOB_STATE_FAILED,
           cancelled ? absl::CancelledError("training job cancelled")
                     : trained.status());
  } else {
    // Cancel and publish exclude each other: once PUBLISHING is set, a
    // cancel request is too late and gets this state back instead.
    bool cancelled = false;
    {
      std::lock_guard<std::mutex> lock(job->mu_);
      cancelled = job->cancel_requested_.load();
      if (!cancelled) {
        job->state_.set_state(nnserve::v1::JOB_STATE_PUBLISHING);
        job->state_.set_published_version(prepared->version);
        ++job->progress_sequence_;
      }
    }
    if (cancelled) {
      Finish(*job, nnserve::v1::JOB_STATE_CANCELLED,
             absl::CancelledError("training job cancelled"));
    } else {
      if (metrics_ != nullptr) {
        metrics_->OnTrainingJobState(job->id(), job->model(),
                                     nnserve::v1::JOB_STATE_RUNNING,
                                     nnserve::v1::JOB_STATE_PUBLISHING);
      }
      job->Notify();
      if (prepared->base_version > 0 && trained->history_size() > 0) {
        trained->mutable_history(trained->history_size() - 1)
            ->set_base_version(prepared->base_version);
      }
      absl::StatusOr<nnserve::v1::TrainResult> result = Publish(*job, *trained);
      if (!result.ok()) {
        {
          std::lock_guard<std::mutex> lock(job->mu_);
          job->state_.clear_published_version();
        }
        Finish(*job, nnserve::v1::JOB_STATE_FAILED, result.status());
      } else {
        {
          std::lock_guard<std::mutex> lock(job->mu_);
          TrainProgress event;
          *event.mutable_job() = job->state_;
          event.mutable_job()->set_state(nnserve::v1::JOB_STATE_SUCCEEDED);
          event.mutable_job()->set_progress_ratio(1.0);
          *event.mutable_result() = *std::move(result);
          job->events_.push_back(std::move(event));
        }
        Finish(*job, nnserve::v1::JOB_STATE_SUCCEEDED, absl::OkStatus());
      }
    }
  }

  // The job's buffers (training plans, activations, gradients) were freed
  // on this thread, whose malloc arena would otherwise keep them: hand them
  // back to the system, or every job's thread keeps its high-water mark.
  prepared.reset();
  ::malloc_trim(0);

  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  idle_cv_.notify_all();
}

absl::StatusOr<nnserve::v1::TrainResult> TrainingService::Publish(
    TrainingJob& job, const nnserve::v1::SavedModel& trained) {
  int64_t version;
  {
    std::lock_guard<std::mutex> lock(job.mu_);
    version = job.state_.published_version();
  }
  const std::string model_dir = absl::StrCat(repository_->root(), "/", job.model());
  const std::string version_dir = absl::StrCat(model_dir, "/", version);
  for (const std::string& dir : {model_dir, version_dir}) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::UnavailableError(absl::StrCat(
          "publishing version ", version, ": cannot create ", dir, ": ",
          std::strerror(errno)));
    }
  }
  const std::string path = absl::StrCat(version_dir, "/model.nnm");
  if (absl::Status written = WriteModelFile(path, trained); !written.ok()) {
    ::rmdir(version_dir.c_str());  // only if empty: never removes a model
    return absl::Status(written.code(),
                        absl::StrCat("publishing version ", version, " to ",
                                     path, ": ", written.message()));
  }
  NN_LOG(INFO) << "training " << job.id() << ": wrote " << path;
  // Load it now rather than at the next poll. Errors of other models in the
  // same scan do not concern this job.
  (void)repository_->PollOnce();
  absl::StatusOr<nnserve::v1::ModelStatus> info =
      repository_->ModelInfo(job.model(), version);
  if (info.ok() && info->versions_size() == 1 &&
      info->versions(0).state() == nnserve::v1::VERSION_STATE_FAILED) {
    return absl::InternalError(absl::StrCat(
        "version ", version, " was written to ", path,
        " but failed to load: ", info->versions(0).error()));
  }
  nnserve::v1::TrainResult result;
  result.set_version(version);
  result.set_path(path);
  if (trained.history_size() > 0) {
    const nnserve::v1::TrainingHistory& run =
        trained.history(trained.history_size() - 1);
    result.set_has_test(run.has_test());
    result.set_test_loss(run.test_loss());
    result.set_test_accuracy(run.test_accuracy());
    *result.mutable_history() = run;
  }
  return result;
}

void TrainingService::Finish(TrainingJob& job, JobState state,
                             const absl::Status& status) {
  JobState old_state;
  {
    std::lock_guard<std::mutex> lock(job.mu_);
    old_state = job.state_.state();
    job.state_.set_state(state);
    if (!status.ok()) job.state_.set_error(std::string(status.message()));
    job.ended_ = true;
    job.final_status_ = status;
    ++job.progress_sequence_;
  }
  if (metrics_ != nullptr && old_state != state) {
    metrics_->OnTrainingJobState(job.id(), job.model(), old_state, state);
  }
  if (state == nnserve::v1::JOB_STATE_SUCCEEDED) {
    std::lock_guard<std::mutex> lock(job.mu_);
    job.state_.set_progress_ratio(1.0);
  }
  NN_LOG(INFO) << "training " << job.id() << ": "
               << nnserve::v1::JobState_Name(state)
               << (status.ok() ? "" : absl::StrCat(": ", status.message()));
  job.Notify();
}

absl::StatusOr<std::shared_ptr<TrainingJob>> TrainingService::Find(
    const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& job : jobs_) {
    if (job->id() == job_id) return job;
  }
  return absl::NotFoundError(absl::StrCat(
      "training job ", Quote(job_id), " not found (finished jobs are forgotten "
      "after ", options_.max_finished_jobs, " newer ones)"));
}

absl::StatusOr<nnserve::v1::TrainingJob> TrainingService::Cancel(
    const std::string& job_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<TrainingJob> job, Find(job_id));
  JobState old_state;
  bool cancelled = false;
  {
    std::lock_guard<std::mutex> lock(job->mu_);
    old_state = job->state_.state();
    if (old_state == nnserve::v1::JOB_STATE_QUEUED ||
        old_state == nnserve::v1::JOB_STATE_RUNNING) {
      job->cancel_requested_.store(true);
      // Reported at once; the job thread stops at its next batch and
      // publishes nothing.
      job->state_.set_state(nnserve::v1::JOB_STATE_CANCELLED);
      job->state_.set_error("cancelled by CancelTraining");
      ++job->progress_sequence_;
      cancelled = true;
    }
  }
  if (cancelled) {
    NN_LOG(INFO) << "training " << job_id << ": cancel requested";
    if (metrics_ != nullptr) {
      metrics_->OnTrainingJobState(job->id(), job->model(), old_state,
                                   nnserve::v1::JOB_STATE_CANCELLED);
    }
    job->Notify();
  }
  return job->Snapshot();
}

std::vector<nnserve::v1::TrainingJob> TrainingService::List(
    const std::string& model) const {
  std::vector<nnserve::v1::TrainingJob> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if (model.empty() || (*it)->model() == model) {
      out.push_back((*it)->Snapshot());
    }
  }
  return out;
}

void TrainingService::Shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  shut_down_ = true;
  for (const auto& job : jobs_) job->cancel_requested_.store(true);
  idle_cv_.wait(lock, [this] { return running_ == 0; });
}

}  // namespace nn
