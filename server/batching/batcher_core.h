// Private to nnbatching: the batcher's shared state (Batcher::Core) and the
// types its queue is made of, shared by batcher.cc (admission, workers,
// batch compute, shutdown) and fast_path.cc (RunInlineOrFollow and its
// followers). Not for use outside server/batching/.
#ifndef NNSERVE_SERVER_BATCHING_BATCHER_CORE_H_
#define NNSERVE_SERVER_BATCHING_BATCHER_CORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/batching/batcher.h"
#include "common/mutex.h"

namespace nn {
namespace batcher_internal {

// A scheduled task, shared by its slices. The batcher keeps a pool of them
// (Batcher::Core::free_states_): taken under the queue's lock when a task
// is queued or follows a fast-path run, returned by the thread that
// finished its last slice the next time that thread takes the queue's lock
// anyway (a worker's next TakeBatch, a run's next round), so the steady
// state allocates none and takes no lock of the state's own. A state is in
// exactly one place at a time: the pool, in use by one task (from its
// queueing to its last slice), or a computing thread's `finished` list.
struct TaskState {
  // Records `status` as the task's result unless an error is already
  // recorded; returns whether it was recorded. Only the call that sets
  // `failed` writes `result`, and it does so before its slice's
  // `pending_slices` decrement; the thread that takes that count to 0 reads
  // `result` after its own decrement (acq_rel on one atomic: it sees every
  // earlier decrement's writes). So `result` needs no lock.
  bool Fail(absl::Status status) {
    bool expected = false;
    if (!failed.compare_exchange_strong(expected, true,
                                        std::memory_order_acq_rel)) {
      return false;
    }
    result = std::move(status);
    return true;
  }

  // Makes a state from the pool (or a new one) hold `t`, queued at `now`.
  void Reset(BatchTask&& t, absl::Time now) {
    task = std::move(t);
    enqueued = now;
    failed.store(false, std::memory_order_relaxed);
    result = absl::OkStatus();
  }

  BatchTask task;
  absl::Time enqueued;
  // Slices not finished yet; the thread that takes it to 0 runs `done`.
  std::atomic<int64_t> pending_slices{0};
  // True once `result` holds an error: later slices are skipped.
  std::atomic<bool> failed{false};
  absl::Status result;  // see Fail()
};

// Most task states the pool keeps between bursts; more than that many
// tasks queued at once allocate the rest, freed when they finish.
constexpr size_t kMaxPooledTaskStates = 256;

// Images [offset, offset + count) of one task. The first slice of each batch
// in the queue has `starts_batch` set.
struct Slice {
  TaskState* task;
  int64_t offset;
  int64_t count;
  bool starts_batch;
};

// What a worker reuses from batch to batch; sized once, so the steady state
// allocates nothing.
struct WorkerBuffers {
  std::vector<Slice> batch;        // as taken from the queue
  std::vector<Slice> live;         // those not dropped
  std::vector<float> input;        // {max_batch_size, input_size}
  std::vector<float> output;       // {max_batch_size, output_size}
  // States of the tasks this thread finished, for the pool: returned at its
  // next lock of the queue (Core::RecycleLocked).
  std::vector<std::unique_ptr<TaskState>> finished;
};

// How many batches of followers a fast-path run computes after its own task
// before it hands what still joins it to the workers: bounds how long the
// receiving thread is kept from its other work.
constexpr int kMaxFollowerBatches = 4;

// Buffers for batches of up to `images` images.
inline std::unique_ptr<WorkerBuffers> NewBuffers(int64_t images,
                                                 int64_t input_size,
                                                 int64_t output_size) {
  auto buffers = std::make_unique<WorkerBuffers>();
  buffers->batch.reserve(images);  // a slice has >= 1 image
  buffers->live.reserve(images);
  buffers->input.resize(images * input_size);
  buffers->output.resize(images * output_size);
  buffers->finished.reserve(images);  // a task per slice at most
  return buffers;
}

}  // namespace batcher_internal

class Batcher::Core : public std::enable_shared_from_this<Core> {
  // The arrival interval assumed before any arrival, and the longest one
  // the average takes in: a pause counts as light load, not forever.
  static constexpr int64_t kLongInterval = 1'000'000'000;
  using Slice = batcher_internal::Slice;
  using TaskState = batcher_internal::TaskState;
  using WorkerBuffers = batcher_internal::WorkerBuffers;

 public:
  Core(Options options, BatchProcessorFactory factory, Clock* clock,
       BatchObserver* observer)
      : options_(std::move(options)),
        factory_(std::move(factory)),
        clock_(clock),
        observer_(observer) {}

  // Launches the workers and waits until each has built its processor or
  // failed to. On error every launched thread is joined.
  absl::Status Start();
  // Schedule's checks and queueing, typed (Batcher::Schedule, Submit).
  Admission Admit(BatchTask&& task);
  Admission Submit(BatchTask&& task, BatchProcessor* fast_path);
  bool RunInlineOrFollow(BatchTask& task, BatchProcessor& processor);
  void Shutdown();

  int64_t queued_images() const {
    MutexLock lock(mu_);
    return queued_images_;
  }
  int running_workers() const {
    MutexLock lock(mu_);
    return running_workers_;
  }
  int64_t task_states_made() const {
    MutexLock lock(mu_);
    return task_states_made_;
  }
  const Options& options() const { return options_; }

 private:
  void WorkerMain(int index);
  // Returns `buffers.finished` to the pool, then blocks until a batch is
  // queued, moves it into `buffers.batch` and returns true; returns false
  // once stopping with nothing queued.
  bool TakeBatch(WorkerBuffers& buffers);
  void ComputeBatch(BatchProcessor& processor, WorkerBuffers& buffers);
  // Whether the next slice must start a new batch rather than join the open
  // one (the last batch in the queue).
  bool MustStartBatch(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A state for `task` queued at `now`: one from the pool, else a new one.
  TaskState* NewStateLocked(BatchTask&& task, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the states in `buffers.finished` to the pool (up to
  // kMaxPooledTaskStates; the rest stay there for the caller to free
  // outside the lock).
  void RecycleLocked(WorkerBuffers& buffers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `state`'s images to the queue as slices (joining the open batch
  // where it has room) and sets its pending slice count; returns how many
  // batches it started. The caller accounts queued_images_.
  int EnqueueLocked(TaskState* state, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A fast-path run's follow-up: computes the followers (tasks that joined
  // while it computed) on the calling thread in batches of at most
  // max_inline_images, then ends the run. After kMaxFollowerBatches, what
  // still joins is left to another run in progress or, by the last run, to
  // the workers' queue.
  // `may_gather`: too few followers for a gather may be left as one (the
  // caller's thread is saturated; see RunInlineOrFollow).
  void ComputeFollowers(BatchProcessor& processor, bool may_gather);
  bool gathering() const {
    return options_.gather_images > 0 &&
           options_.max_gather_delay > absl::ZeroDuration() &&
           options_.max_inline_images > 0 &&
           !options_.inline_only_when_unloaded;
  }
  // Followers that no run computes (see followers_).
  bool GatherPendingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return inline_runs_ == 0 && !followers_.empty();
  }
  // Whether a gather that begins (or is left) now must wake an idle worker
  // to keep time for it: none is in a timed wait, and one is idle.
  bool IdleWorkerMustKeepTimeLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return timed_waiters_ == 0 && idle_workers_ > 0;
  }
  // Adds `task` to followers_ (a run's or a gather's), queued at `now`.
  void AddFollowerLocked(BatchTask&& task, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Updates the arrival average with a task seen at `now`.
  void NoteArrivalLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether gather_images images are expected within half of
  // max_gather_delay at the current arrival rate.
  bool ArrivalsDenseLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the pending gather into `batch` (a worker takes it).
  void TakeGatherLocked(std::vector<Slice>& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes workers for `new_batches` batches queued by the caller, who
  // counted them under mu_ only if a worker was idle then (0 otherwise: a
  // busy worker looks at the queue before it sleeps again).
  void WakeWorkers(int new_batches);
  // Adds `delta` to queued_images_ and tells the observer the new depth.
  void AddQueuedLocked(int64_t delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // kInvalid or kTooLarge (the task can never be queued), else accepted.
  Admission Check(const BatchTask& task) const;
  // Finishes one slice with `status` (OK: computed, or its task already
  // failed); after the last slice, releases the task's fields, puts its
  // state on `buffers.finished` and runs `done`.
  static void FinishSlice(const Slice& slice, absl::Status status,
                          WorkerBuffers& buffers);

  const Options options_;
  const BatchProcessorFactory factory_;
  Clock* const clock_;
  BatchObserver* const observer_;

  mutable Mutex mu_;
  std::condition_variable work_cv_;   // queue_ non-empty, or stopping_
  std::condition_variable state_cv_;  // a worker started, failed or exited
  std::deque<Slice> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_images_ ABSL_GUARDED_BY(mu_) = 0;
  // The open batch: the last one in queue_ (meaningless when queue_ is
  // empty). Its image count and when its first slice was queued.
  int64_t open_batch_images_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time open_batch_start_ ABSL_GUARDED_BY(mu_);
  int idle_workers_ ABSL_GUARDED_BY(mu_) = 0;     // blocked in TakeBatch
  int inline_runs_ ABSL_GUARDED_BY(mu_) = 0;      // fast-path runs computing
  // Tasks that joined the running fast-path run (one slice each, counted in
  // queued_images_), and their images. Non-empty while inline_runs_ > 0, or
  // while no run computes them: a gather (Options::gather_images), begun at
  // gather_start_.
  std::vector<Slice> followers_ ABSL_GUARDED_BY(mu_);
  int64_t follower_images_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time gather_start_ ABSL_GUARDED_BY(mu_);
  // Gathering's load estimate: when the fast path last saw a task, and the
  // moving average of the intervals between such arrivals, nanoseconds.
  absl::Time last_arrival_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t arrival_interval_ns_ ABSL_GUARDED_BY(mu_) = kLongInterval;
  // Idle workers in a timed wait (a gather's deadline, or lingering while
  // arrivals are dense): a gather that begins needs to wake none of them.
  int timed_waiters_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether the latest task to reach the fast path found its thread
  // saturated (Options::caller_is_saturated): only then do gathers begin,
  // and only then does an idle worker keep time for them in advance.
  bool caller_saturated_ ABSL_GUARDED_BY(mu_) = false;
  // Gather buffers for fast-path runs' follower batches, not in use: a run
  // takes one (or makes one) and gives it back.
  std::vector<std::unique_ptr<WorkerBuffers>> spare_buffers_
      ABSL_GUARDED_BY(mu_);
  // Task states not in use (TaskState); how many were ever allocated.
  std::vector<std::unique_ptr<TaskState>> free_states_ ABSL_GUARDED_BY(mu_);
  int64_t task_states_made_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_batch_images_ ABSL_GUARDED_BY(mu_) = 0;  // taken by a worker
  int running_workers_ ABSL_GUARDED_BY(mu_) = 0;  // have a processor
  int reported_workers_ ABSL_GUARDED_BY(mu_) = 0; // started or failed
  int live_threads_ ABSL_GUARDED_BY(mu_) = 0;     // not yet exited
  absl::Status first_factory_error_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nn

#endif  // NNSERVE_SERVER_BATCHING_BATCHER_CORE_H_
