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

// A scheduled task, shared by its slices. Deleted by the worker that finishes
// its last slice.
struct TaskState {
  explicit TaskState(BatchTask t) : task(std::move(t)) {}

  // Records `status` as the task's result unless an error is already
  // recorded; returns whether it was recorded.
  bool Fail(absl::Status status) {
    MutexLock lock(mu);
    if (!result.ok()) return false;
    result = std::move(status);
    failed.store(true, std::memory_order_release);
    return true;
  }

  BatchTask task;
  absl::Time enqueued;
  // Slices not finished yet; the worker that takes it to 0 runs `done`.
  std::atomic<int64_t> pending_slices{0};
  // True once `result` holds an error: later slices are skipped.
  std::atomic<bool> failed{false};
  Mutex mu;
  absl::Status result ABSL_GUARDED_BY(mu);
};

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
  return buffers;
}

}  // namespace batcher_internal

class Batcher::Core : public std::enable_shared_from_this<Core> {
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
  const Options& options() const { return options_; }

 private:
  void WorkerMain(int index);
  // Blocks until a batch is queued, moves it into `batch` and returns true;
  // returns false once stopping with nothing queued.
  bool TakeBatch(std::vector<Slice>& batch);
  void ComputeBatch(BatchProcessor& processor, WorkerBuffers& buffers);
  // Whether the next slice must start a new batch rather than join the open
  // one (the last batch in the queue).
  bool MustStartBatch(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  void ComputeFollowers(BatchProcessor& processor);
  void WakeWorkers(int new_batches);
  // Adds `delta` to queued_images_ and tells the observer the new depth.
  void AddQueuedLocked(int64_t delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // kInvalid or kTooLarge (the task can never be queued), else accepted.
  Admission Check(const BatchTask& task) const;
  // Finishes one slice with `status` (OK: computed, or its task already
  // failed); runs `done` and deletes the task after the last slice.
  static void FinishSlice(const Slice& slice, absl::Status status);

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
  // queued_images_), and their images. Non-empty only while inline_runs_ > 0.
  std::vector<Slice> followers_ ABSL_GUARDED_BY(mu_);
  int64_t follower_images_ ABSL_GUARDED_BY(mu_) = 0;
  // Gather buffers for fast-path runs' follower batches, not in use: a run
  // takes one (or makes one) and gives it back.
  std::vector<std::unique_ptr<WorkerBuffers>> spare_buffers_
      ABSL_GUARDED_BY(mu_);
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
