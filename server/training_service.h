// Training jobs inside the server: the domain side of the Train,
// WatchTraining, CancelTraining and ListTrainingJobs RPCs.
//
// A job trains (a new architecture, or fine-tunes an existing version) on a
// server-side data set or on examples sent with the request, on its own
// thread with its own oneDNN thread budget and a lowered CPU priority
// (Options::nice, 19 by default), so serving stays responsive. When training
// ends it publishes the model through ModelRepository::Publish, which takes
// the next version number of the target model, writes the file atomically
// (temp file, fsync, rename) and loads it like any new version (validated,
// warmed up, swapped in). A job that fails or is cancelled publishes
// nothing and takes no number; concurrent jobs of one model get numbers in
// the order they finish.
//
// Decisions (see README "Training"):
// - Jobs belong to the server, not to the stream that started them: a client
//   that disconnects (or cancels its Train stream) only stops watching; the
//   job runs on and publishes. Reattach with WatchTraining(job_id), or just
//   watch the new version appear in ListModels. CancelTraining is the only
//   way to stop a job (it stops between two batches).
// - At most `max_jobs` jobs run at once; one more is RESOURCE_EXHAUSTED (no
//   queue: the caller decides when to retry).
// - Finished jobs are remembered (the newest `max_finished_jobs`) for
//   WatchTraining, ListTrainingJobs and ModelInfo.
// - Server shutdown cancels running jobs.
#ifndef NNSERVE_SERVER_TRAINING_SERVICE_H_
#define NNSERVE_SERVER_TRAINING_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/data/dataset.h"
#include "nnserve/v1/inference.pb.h"
#include "server/model_repository.h"
#include "common/mutex.h"

namespace nn {

class ServingMetrics;

// One training job. Thread-safe.
class TrainingJob {
 public:
  using Watcher = std::function<void()>;

  // The job's current state (a copy).
  nnserve::v1::TrainingJob Snapshot() const;
  const std::string& id() const { return id_; }
  const std::string& model() const { return model_; }

  // Every TrainProgress message with an event that must reach a watcher
  // (started, epoch ends, result), in order; the stream sends these from
  // `next` on. Batch progress is not logged: watchers read the latest
  // Snapshot() instead (rate-limited by the stream).
  std::vector<nnserve::v1::TrainProgress> EventsFrom(size_t next) const;
  // Monotonic count of Snapshot() changes, for rate-limited progress.
  int64_t progress_sequence() const;
  // Set once the job has ended (after its last event is logged): the
  // stream's final status (OK, CANCELLED, INVALID_ARGUMENT, INTERNAL, ...).
  bool ended(absl::Status* status) const;

  // Calls `watcher` (with no lock held) whenever something changes; until
  // RemoveWatcher(id) returns. Returns the id.
  int AddWatcher(Watcher watcher);
  void RemoveWatcher(int id);

 private:
  friend class TrainingService;
  TrainingJob(std::string id, std::string model);

  // Runs on the job's thread.
  void Notify();

  const std::string id_;
  const std::string model_;
  std::atomic<bool> cancel_requested_{false};

  mutable Mutex mu_;
  nnserve::v1::TrainingJob state_ ABSL_GUARDED_BY(mu_);
  std::vector<nnserve::v1::TrainProgress> events_ ABSL_GUARDED_BY(mu_);
  int64_t progress_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  std::map<int, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  int next_watcher_id_ ABSL_GUARDED_BY(mu_) = 0;
};

class TrainingService {
 public:
  struct Options {
    // Off: every training RPC answers FAILED_PRECONDITION.
    bool enabled = false;
    // If not empty, training RPCs need metadata
    // "authorization: Bearer <token>"; else UNAUTHENTICATED.
    std::string token;
    // Jobs running at once; more: RESOURCE_EXHAUSTED.
    int max_jobs = 1;
    // oneDNN threads of each job.
    int threads_per_job = 1;
    // Nice value of each job's threads (0..19; Linux nice is per thread and
    // inherited by the OpenMP threads the job starts): serving threads win
    // the cores when both want them. Higher: serving's tail latency suffers
    // less, and a job under full serving load gets less CPU (at 19 about
    // 1.5 % of a busy core's time against the serving threads' 98.5 %).
    int nice = 19;
    // Where the named data sets live: <data_dir>/<name>/ (IDX files).
    std::string data_dir = "data";
    // Limits on requests: epochs and inline examples per job.
    int max_epochs = 100;
    int64_t max_inline_examples = 60000;
    // Finished jobs remembered.
    int max_finished_jobs = 32;
  };

  // `repository` (and `metrics`, which may be null) must outlive the service.
  TrainingService(Options options, ModelRepository* repository,
                  ServingMetrics* metrics);
  ~TrainingService();

  // The data set names Train accepts.
  static const std::vector<std::string>& DatasetNames();

  // FAILED_PRECONDITION if disabled, UNAUTHENTICATED if the token is
  // required and `authorization` (the metadata value, "" if absent) does
  // not carry it as "Bearer <token>" (the scheme in any case, RFC 7235).
  absl::Status Authorize(const std::string& authorization) const;

  // Validates `request` and starts its job; whatever can be known before
  // the job runs is checked first (spec, config, labels against the
  // model's classes, the data against the model's input, the split), so a
  // refused request creates no job. INVALID_ARGUMENT (naming the field)
  // for a bad request, NOT_FOUND for an unknown base model/version,
  // FAILED_PRECONDITION for a data set that is not prepared,
  // RESOURCE_EXHAUSTED when max_jobs are running, UNAVAILABLE after
  // Shutdown.
  absl::StatusOr<std::shared_ptr<TrainingJob>> Start(
      const nnserve::v1::TrainRequest& request);

  // NOT_FOUND if the service does not know `job_id`.
  absl::StatusOr<std::shared_ptr<TrainingJob>> Find(
      const std::string& job_id) const;

  // Requests cancellation; returns the job's state after it (CANCELLED, or
  // its final state if it had ended or was already publishing).
  absl::StatusOr<nnserve::v1::TrainingJob> Cancel(const std::string& job_id);

  // Running and remembered jobs, newest first; only `model`'s if not empty.
  std::vector<nnserve::v1::TrainingJob> List(const std::string& model = "") const;

  // Cancels every running job and waits for their threads. Idempotent.
  void Shutdown();

 private:
  struct Prepared;  // a validated request, ready to run (training_request.h)

  // Validates `request` into a Prepared job (Start's errors, but for the
  // slot and shutdown ones); training_request.cc.
  absl::StatusOr<std::unique_ptr<Prepared>> Prepare(
      const nnserve::v1::TrainRequest& request);
  absl::StatusOr<std::shared_ptr<const Dataset>> LoadNamedDataset(
      const std::string& name);
  void Run(std::shared_ptr<TrainingJob> job, std::unique_ptr<Prepared> prepared);
  // Publishes the trained model through the repository; returns the result
  // message with the published version.
  absl::StatusOr<nnserve::v1::TrainResult> Publish(
      TrainingJob& job, const nnserve::v1::SavedModel& trained);
  void Finish(TrainingJob& job, nnserve::v1::JobState state,
              const absl::Status& status);
  void SetState(TrainingJob& job, nnserve::v1::JobState state);

  const Options options_;
  ModelRepository* const repository_;
  ServingMetrics* const metrics_;

  mutable Mutex mu_;
  // Shutdown waits on this for running_ == 0, then joins every job thread.
  std::condition_variable idle_cv_;
  // One per job started and not yet joined. A thread sets `returned` as
  // its last act (after --running_ and after dropping the job and its
  // buffers), so Start joins those at once and the rest wait for
  // Shutdown: no job thread outlives the service (a detached one could
  // still be tearing down while the process exits).
  struct JobThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> returned;
  };
  std::vector<JobThread> job_threads_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int64_t next_job_number_ ABSL_GUARDED_BY(mu_) = 1;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  // Newest last.
  std::deque<std::shared_ptr<TrainingJob>> jobs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const Dataset>> datasets_
      ABSL_GUARDED_BY(mu_);
  Mutex dataset_load_mu_;  // one data set load at a time
};

}  // namespace nn

#endif  // NNSERVE_SERVER_TRAINING_SERVICE_H_
