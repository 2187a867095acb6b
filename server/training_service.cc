#include "server/training_service.h"

#include <sys/resource.h>
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
#include "common/allocator.h"
#include "common/logging.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/model.h"
#include "engine/training/trainer.h"
#include "server/serving_metrics.h"
#include "server/training_request.h"
#include "common/mutex.h"

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

}  // namespace

// --- TrainingService -----------------------------------------------------------

TrainingService::TrainingService(Options options, ModelRepository* repository,
                                 ServingMetrics* metrics)
    : options_(std::move(options)), repository_(repository), metrics_(metrics) {}

TrainingService::~TrainingService() { Shutdown(); }

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

absl::StatusOr<std::shared_ptr<TrainingJob>> TrainingService::Start(
    const TrainRequest& request) {
  ASSIGN_OR_RETURN(std::unique_ptr<Prepared> prepared, Prepare(request));

  // --- Take a slot, start. (The version number is taken when the job
  // publishes: ModelRepository::Publish.) ---
  std::shared_ptr<TrainingJob> job;
  {
    MutexLock lock(mu_);
    if (shut_down_) {
      return absl::UnavailableError("server is shutting down");
    }
    if (running_ >= options_.max_jobs) {
      return absl::ResourceExhaustedError(absl::StrCat(
          running_, " training job(s) running; this server runs at most ",
          options_.max_jobs, " at once (--max_training_jobs); retry later"));
    }
    job.reset(new TrainingJob(absl::StrCat("job-", next_job_number_++),
                              request.model()));
    {
      MutexLock job_lock(job->mu_);
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
               << " on " << prepared->data_name;
  auto returned = std::make_shared<std::atomic<bool>>(false);
  {
    // Started and listed under mu_: the thread's --running_ (under mu_)
    // comes after, so Shutdown, which waits for running_ == 0, finds it.
    MutexLock lock(mu_);
    std::thread thread([this, job, p = std::move(prepared), returned]() mutable {
      Run(std::move(job), std::move(p));
      returned->store(true, std::memory_order_release);
    });
    // Join the threads that have returned (they take no lock any more).
    for (auto it = job_threads_.begin(); it != job_threads_.end();) {
      if (it->returned->load(std::memory_order_acquire)) {
        it->thread.join();
        it = job_threads_.erase(it);
      } else {
        ++it;
      }
    }
    job_threads_.push_back(JobThread{std::move(thread), std::move(returned)});
  }
  return job;
}

void TrainingService::SetState(TrainingJob& job, JobState state) {
  JobState old_state;
  {
    MutexLock lock(job.mu_);
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
      MutexLock lock(job->mu_);
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
      MutexLock lock(job->mu_);
      cancelled = job->cancel_requested_.load();
      if (!cancelled) {
        job->state_.set_state(nnserve::v1::JOB_STATE_PUBLISHING);
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
        nnserve::v1::TrainingHistory* run =
            trained->mutable_history(trained->history_size() - 1);
        run->set_base_version(prepared->base_version);
        // An imported base (model.onnx) publishes a model.nnm: the run
        // notes where the weights it started from came from.
        run->set_base_origin(prepared->base_origin);
      }
      absl::StatusOr<nnserve::v1::TrainResult> result = Publish(*job, *trained);
      if (!result.ok()) {
        Finish(*job, nnserve::v1::JOB_STATE_FAILED, result.status());
      } else {
        {
          MutexLock lock(job->mu_);
          job->state_.set_published_version(result->version());
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
  // on this thread, whose malloc arena (or tcmalloc's caches) would
  // otherwise keep them: hand them back to the system, or every job's thread
  // keeps its high-water mark.
  prepared.reset();
  ReleaseFreeMemory();

  MutexLock lock(mu_);
  --running_;
  idle_cv_.notify_all();
}

absl::StatusOr<nnserve::v1::TrainResult> TrainingService::Publish(
    TrainingJob& job, const nnserve::v1::SavedModel& trained) {
  ASSIGN_OR_RETURN(ModelRepository::PublishedVersion published,
                   repository_->Publish(job.model(), trained));
  NN_LOG(INFO) << "training " << job.id() << ": published version "
               << published.version << " (" << published.path << ")";
  nnserve::v1::TrainResult result;
  result.set_version(published.version);
  result.set_path(published.path);
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
    MutexLock lock(job.mu_);
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
    MutexLock lock(job.mu_);
    job.state_.set_progress_ratio(1.0);
  }
  NN_LOG(INFO) << "training " << job.id() << ": "
               << nnserve::v1::JobState_Name(state)
               << (status.ok() ? "" : absl::StrCat(": ", status.message()));
  job.Notify();
}

absl::StatusOr<std::shared_ptr<TrainingJob>> TrainingService::Find(
    const std::string& job_id) const {
  MutexLock lock(mu_);
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
    MutexLock lock(job->mu_);
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
  MutexLock lock(mu_);
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if (model.empty() || (*it)->model() == model) {
      out.push_back((*it)->Snapshot());
    }
  }
  return out;
}

void TrainingService::Shutdown() {
  MutexLock lock(mu_);
  shut_down_ = true;
  for (const auto& job : jobs_) job->cancel_requested_.store(true);
  lock.Wait(idle_cv_, [this] {
    mu_.AssertHeld();
    return running_ == 0;
  });
  std::vector<JobThread> threads;
  threads.swap(job_threads_);
  lock.Unlock();
  // Past --running_ a job thread takes no lock: joined without mu_ held.
  for (JobThread& job_thread : threads) job_thread.thread.join();
}

}  // namespace nn
