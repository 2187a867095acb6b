#include "server/batching/batcher.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace nn {
namespace {

// A scheduled task, shared by its slices. Deleted by the worker that finishes
// its last slice.
struct TaskState {
  explicit TaskState(BatchTask t) : task(std::move(t)) {}

  // Records `status` as the task's result unless an error is already
  // recorded; returns whether it was recorded.
  bool Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu);
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
  std::mutex mu;
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
std::unique_ptr<WorkerBuffers> NewBuffers(int64_t images, int64_t input_size,
                                          int64_t output_size) {
  auto buffers = std::make_unique<WorkerBuffers>();
  buffers->batch.reserve(images);  // a slice has >= 1 image
  buffers->live.reserve(images);
  buffers->input.resize(images * input_size);
  buffers->output.resize(images * output_size);
  return buffers;
}

// The Core whose worker the current thread is, if any.
thread_local const void* current_worker_core = nullptr;

absl::Status ValidateOptions(const Batcher::Options& options) {
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_size must be at least 1, got ", options.max_batch_size));
  }
  if (options.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_delay must not be negative, got ",
                     absl::FormatDuration(options.max_queue_delay)));
  }
  if (options.max_queue_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_size must be at least 1, got ", options.max_queue_size));
  }
  if (options.max_inline_images < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_inline_images must not be negative, got ",
        options.max_inline_images));
  }
  if (options.num_workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_workers must be at least 1, got ", options.num_workers));
  }
  if (options.input_size < 1 || options.output_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_size and output_size must be at least 1, got ",
        options.input_size, " and ", options.output_size));
  }
  return absl::OkStatus();
}

void SetThreadName(const std::string& batcher_name, int index) {
  // Linux limits thread names to 15 characters.
  std::string name = absl::StrCat("batch", index, " ", batcher_name);
  name.resize(std::min<size_t>(name.size(), 15));
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace

class Batcher::Core : public std::enable_shared_from_this<Core> {
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
  absl::Status Schedule(BatchTask task);
  bool RunInlineOrFollow(BatchTask& task, BatchProcessor& processor);
  void Shutdown();

  int64_t queued_images() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queued_images_;
  }
  int running_workers() const {
    std::lock_guard<std::mutex> lock(mu_);
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
  absl::Status Validate(const BatchTask& task) const;
  // Finishes one slice with `status` (OK: computed, or its task already
  // failed); runs `done` and deletes the task after the last slice.
  static void FinishSlice(const Slice& slice, absl::Status status);

  const Options options_;
  const BatchProcessorFactory factory_;
  Clock* const clock_;
  BatchObserver* const observer_;

  mutable std::mutex mu_;
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

absl::Status Batcher::Core::Start() {
  const int count = options_.num_workers;
  absl::Status launch_error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.reserve(count);
  }
  for (int i = 0; i < count; ++i) {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      threads_.emplace_back(
          [self = shared_from_this(), i] { self->WorkerMain(i); });
    } catch (const std::system_error& e) {
      launch_error = absl::ResourceExhaustedError(
          absl::StrCat("batcher '", options_.name,
                       "': cannot start a worker thread: ", e.what()));
      break;
    }
    ++live_threads_;
  }
  absl::Status error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    const int launched = static_cast<int>(threads_.size());
    state_cv_.wait(lock, [&] { return reported_workers_ == launched; });
    if (!launch_error.ok()) {
      error = launch_error;
    } else if (running_workers_ == 0) {
      error = absl::Status(
          first_factory_error_.code(),
          absl::StrCat("batcher '", options_.name,
                       "': no worker could start: ",
                       first_factory_error_.message()));
    } else if (running_workers_ < count) {
      NN_LOG(WARNING) << "batcher '" << options_.name << "' runs with "
                      << running_workers_ << " of " << count << " workers";
    }
  }
  if (!error.ok()) Shutdown();
  return error;
}

void Batcher::Core::WorkerMain(int index) {
  current_worker_core = this;
  SetThreadName(options_.name, index);
  absl::StatusOr<std::unique_ptr<BatchProcessor>> processor = factory_(index);
  absl::Status error = processor.status();
  if (error.ok() && *processor == nullptr) {
    error = absl::InternalError("the processor factory returned null");
  }
  if (!error.ok()) {
    NN_LOG(ERROR) << "batcher '" << options_.name << "' worker " << index
                  << " failed to start: " << error;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (first_factory_error_.ok()) first_factory_error_ = error;
      ++reported_workers_;
      --live_threads_;
    }
    state_cv_.notify_all();
    return;
  }

  std::unique_ptr<WorkerBuffers> buffers = NewBuffers(
      options_.max_batch_size, options_.input_size, options_.output_size);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++running_workers_;
    ++reported_workers_;
  }
  state_cv_.notify_all();

  while (TakeBatch(buffers->batch)) ComputeBatch(**processor, *buffers);

  processor->reset();  // destroyed on the thread that created it
  {
    std::lock_guard<std::mutex> lock(mu_);
    --running_workers_;
    --live_threads_;
  }
  state_cv_.notify_all();
}

bool Batcher::Core::MustStartBatch(absl::Time now) const {
  return queue_.empty() || open_batch_images_ >= options_.max_batch_size ||
         (idle_workers_ == 0 &&
          now - open_batch_start_ >= options_.max_queue_delay);
}

absl::Status Batcher::Core::Validate(const BatchTask& task) const {
  if (task.num_images <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a task needs at least one image, got ", task.num_images));
  }
  if (!task.done) {
    return absl::InvalidArgumentError("a task needs a done callback");
  }
  const auto size_matches = [&](size_t size, int64_t row) {
    return size % row == 0 &&
           static_cast<int64_t>(size / row) == task.num_images;
  };
  if (!size_matches(task.input.size(), options_.input_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task input has ", task.input.size(), " floats; ", task.num_images,
        " images of ", options_.input_size, " need ",
        task.num_images * options_.input_size));
  }
  if (!size_matches(task.output.size(), options_.output_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task output has ", task.output.size(), " floats; ", task.num_images,
        " images of ", options_.output_size, " need ",
        task.num_images * options_.output_size));
  }
  if (task.num_images > options_.max_queue_size) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "task of ", task.num_images, " images exceeds the queue size of ",
        options_.max_queue_size, " images"));
  }
  return absl::OkStatus();
}

int Batcher::Core::EnqueueLocked(TaskState* state, absl::Time now) {
  const int64_t n = state->task.num_images;
  int new_batches = 0;
  int64_t slices = 0;
  for (int64_t offset = 0; offset < n;) {
    const bool starts_batch = MustStartBatch(now);
    if (starts_batch) {
      open_batch_images_ = 0;
      open_batch_start_ = now;
      ++new_batches;
    }
    const int64_t count =
        std::min(n - offset, options_.max_batch_size - open_batch_images_);
    queue_.push_back(Slice{state, offset, count, starts_batch});
    open_batch_images_ += count;
    offset += count;
    ++slices;
  }
  // Workers read it only after taking a slice under mu_.
  state->pending_slices.store(slices, std::memory_order_relaxed);
  return new_batches;
}

void Batcher::Core::AddQueuedLocked(int64_t delta) {
  queued_images_ += delta;
  if (observer_ != nullptr) observer_->OnQueueDepthChanged(queued_images_);
}

void Batcher::Core::WakeWorkers(int new_batches) {
  if (new_batches == 1) {
    work_cv_.notify_one();
  } else if (new_batches > 1) {
    work_cv_.notify_all();
  }
}

absl::Status Batcher::Core::Schedule(BatchTask task) {
  if (absl::Status valid = Validate(task); !valid.ok()) return valid;
  auto state = std::make_unique<TaskState>(std::move(task));
  const int64_t n = state->task.num_images;
  int new_batches = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::UnavailableError(
          absl::StrCat("batcher '", options_.name, "' is shutting down"));
    }
    if (queued_images_ + n > options_.max_queue_size) {
      return absl::UnavailableError(
          absl::StrCat("queue full (", queued_images_, " images queued, limit ",
                       options_.max_queue_size, ")"));
    }
    const absl::Time now = clock_->Now();
    state->enqueued = now;
    new_batches = EnqueueLocked(state.release(), now);
    AddQueuedLocked(n);
  }
  WakeWorkers(new_batches);
  return absl::OkStatus();
}

bool Batcher::Core::RunInlineOrFollow(BatchTask& task,
                                    BatchProcessor& processor) {
  if (task.num_images > options_.max_inline_images || !Validate(task).ok()) {
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    const int64_t n = task.num_images;
    if (inline_runs_ > 0 && !options_.inline_only_when_unloaded &&
        follower_images_ + n <= options_.max_inline_images &&
        queued_images_ + n <= options_.max_queue_size) {
      // A run is computing: follow it (no worker to wake, no hand-off).
      auto state = std::make_unique<TaskState>(std::move(task));
      state->enqueued = clock_->Now();
      state->pending_slices.store(1, std::memory_order_relaxed);
      followers_.push_back(Slice{state.release(), 0, n, true});
      follower_images_ += n;
      AddQueuedLocked(n);
      return true;
    }
    // Only when nothing is queued for or computing on the workers. Models
    // that batching speeds up a lot run one task at a time, and only while
    // the workers' latest batch was a single image (the load is light): under
    // load their tasks go to the workers' large batches.
    if (!queue_.empty() || idle_workers_ < running_workers_ ||
        (options_.inline_only_when_unloaded &&
         (inline_runs_ > 0 || last_batch_images_ > 1))) {
      return false;
    }
    ++inline_runs_;
  }
  const absl::Time start = clock_->Now();
  absl::Status status;
  if (start >= task.deadline) {
    status = absl::DeadlineExceededError(
        absl::StrCat("deadline exceeded before compute in '", options_.name,
                     "'"));
  } else if (task.is_cancelled && task.is_cancelled()) {
    status = absl::CancelledError("request cancelled");
  }
  if (!status.ok()) {
    if (observer_ != nullptr) observer_->OnTaskDropped(status.code());
  } else {
    if (observer_ != nullptr) observer_->OnTaskStarted(absl::ZeroDuration());
    status = processor.Process(task.input, task.num_images, task.output);
    if (status.ok() && observer_ != nullptr) {
      observer_->OnBatchComputed(task.num_images, clock_->Now() - start);
    }
  }
  task.done(std::move(status));
  ComputeFollowers(processor);
  return true;
}

void Batcher::Core::ComputeFollowers(BatchProcessor& processor) {
  std::unique_ptr<WorkerBuffers> buffers;
  for (int round = 0;; ++round) {
    int new_batches = 0;
    bool ended = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (followers_.empty()) {
        ended = true;
      } else if (round >= kMaxFollowerBatches && !stopping_) {
        // A run that keeps being joined leaves the rest to another run, or,
        // if it is the last, to the workers (unless they are stopping: they
        // may have drained the queue and exited).
        if (inline_runs_ == 1) {
          const absl::Time now = clock_->Now();
          for (const Slice& follower : followers_) {
            new_batches += EnqueueLocked(follower.task, now);
          }
          followers_.clear();
          follower_images_ = 0;
        }
        ended = true;
      } else {
        if (buffers == nullptr) {
          if (spare_buffers_.empty()) {
            buffers = NewBuffers(options_.max_inline_images,
                                 options_.input_size, options_.output_size);
          } else {
            buffers = std::move(spare_buffers_.back());
            spare_buffers_.pop_back();
          }
        }
        // buffers->batch is empty (cleared after each batch): the swap
        // leaves followers_ empty.
        buffers->batch.swap(followers_);
        AddQueuedLocked(-follower_images_);
        follower_images_ = 0;
      }
      if (ended) {
        --inline_runs_;
        if (buffers != nullptr) spare_buffers_.push_back(std::move(buffers));
      }
    }
    if (ended) {
      WakeWorkers(new_batches);
      return;
    }
    ComputeBatch(processor, *buffers);
    buffers->batch.clear();
  }
}

bool Batcher::Core::TakeBatch(std::vector<Slice>& batch) {
  bool more_queued;
  {
    std::unique_lock<std::mutex> lock(mu_);
    ++idle_workers_;
    work_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    --idle_workers_;
    if (queue_.empty()) return false;
    batch.clear();
    int64_t images = 0;
    do {
      batch.push_back(queue_.front());
      images += queue_.front().count;
      queue_.pop_front();
    } while (!queue_.empty() && !queue_.front().starts_batch);
    AddQueuedLocked(-images);
    last_batch_images_ = images;
    more_queued = !queue_.empty() && idle_workers_ > 0;
  }
  // Another batch is waiting and a worker is idle: make sure it wakes even if
  // this worker consumed the notification meant for it.
  if (more_queued) work_cv_.notify_one();
  return true;
}

void Batcher::Core::ComputeBatch(BatchProcessor& processor,
                                 WorkerBuffers& buffers) {
  const int64_t in_size = options_.input_size;
  const int64_t out_size = options_.output_size;
  const absl::Time start = clock_->Now();
  buffers.live.clear();
  int64_t n = 0;
  for (const Slice& slice : buffers.batch) {
    TaskState& state = *slice.task;
    if (slice.offset == 0 && observer_ != nullptr) {
      observer_->OnTaskStarted(start - state.enqueued);
    }
    if (state.failed.load(std::memory_order_acquire)) {
      FinishSlice(slice, absl::OkStatus());
      continue;
    }
    // The deadline first: gRPC also cancels a call whose deadline passed,
    // and such a drop is a deadline, not a client's cancellation.
    absl::Status drop;
    if (start >= state.task.deadline) {
      drop = absl::DeadlineExceededError(
          absl::StrCat("deadline exceeded after ",
                       absl::FormatDuration(start - state.enqueued),
                       " in the batch queue of '", options_.name, "'"));
    } else if (state.task.is_cancelled && state.task.is_cancelled()) {
      drop = absl::CancelledError("request cancelled while queued");
    }
    if (!drop.ok()) {
      const absl::StatusCode why = drop.code();
      if (state.Fail(std::move(drop)) && observer_ != nullptr) {
        observer_->OnTaskDropped(why);
      }
      FinishSlice(slice, absl::OkStatus());
      continue;
    }
    buffers.live.push_back(slice);
    n += slice.count;
  }
  if (n == 0) return;

  absl::Status status;
  const absl::Time compute_start = clock_->Now();
  if (buffers.live.size() == 1) {
    // One task's contiguous images: compute in place.
    const Slice& slice = buffers.live.front();
    const BatchTask& task = slice.task->task;
    status = processor.Process(
        task.input.subspan(slice.offset * in_size, slice.count * in_size),
        slice.count,
        task.output.subspan(slice.offset * out_size, slice.count * out_size));
  } else {
    float* in = buffers.input.data();
    for (const Slice& slice : buffers.live) {
      const float* from = slice.task->task.input.data() + slice.offset * in_size;
      in = std::copy_n(from, slice.count * in_size, in);
    }
    status = processor.Process(
        absl::MakeConstSpan(buffers.input.data(), n * in_size), n,
        absl::MakeSpan(buffers.output.data(), n * out_size));
    if (status.ok()) {
      const float* out = buffers.output.data();
      for (const Slice& slice : buffers.live) {
        float* to = slice.task->task.output.data() + slice.offset * out_size;
        std::copy_n(out, slice.count * out_size, to);
        out += slice.count * out_size;
      }
    }
  }
  if (status.ok() && observer_ != nullptr) {
    observer_->OnBatchComputed(n, clock_->Now() - compute_start);
  }
  for (const Slice& slice : buffers.live) FinishSlice(slice, status);
}

void Batcher::Core::FinishSlice(const Slice& slice, absl::Status status) {
  TaskState* state = slice.task;
  if (!status.ok()) state->Fail(std::move(status));
  if (state->pending_slices.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  absl::Status result;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    result = std::move(state->result);
  }
  absl::AnyInvocable<void(absl::Status)> done = std::move(state->task.done);
  delete state;  // releases input, output and is_cancelled before `done`
  done(std::move(result));
}

void Batcher::Core::Shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  work_cv_.notify_all();
  if (current_worker_core == this) {
    // On one of our own workers (a `done` callback): waiting for ourselves
    // would deadlock, and joining the others could deadlock with whatever the
    // caller holds. The workers drain the queue on their own and keep this
    // Core alive through their shared_ptr until they exit.
    for (std::thread& thread : threads) thread.detach();
    return;
  }
  for (std::thread& thread : threads) thread.join();
  // A concurrent Shutdown() (or one from a worker) may have taken some
  // threads: wait for those too.
  std::unique_lock<std::mutex> lock(mu_);
  state_cv_.wait(lock, [&] { return live_threads_ == 0; });
}

Batcher::Batcher(std::shared_ptr<Core> core) : core_(std::move(core)) {}

Batcher::~Batcher() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Batcher>> Batcher::Create(
    Options options, BatchProcessorFactory factory, Clock* clock,
    BatchObserver* observer) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) {
    return valid;
  }
  if (!factory) return absl::InvalidArgumentError("no processor factory");
  if (clock == nullptr) return absl::InvalidArgumentError("no clock");
  auto core = std::make_shared<Core>(std::move(options), std::move(factory),
                                     clock, observer);
  if (absl::Status started = core->Start(); !started.ok()) return started;
  return std::unique_ptr<Batcher>(new Batcher(std::move(core)));
}

absl::Status Batcher::Schedule(BatchTask task) {
  // Keeps the core alive through Schedule's last step (waking a worker
  // after unlocking): by then a worker may have finished the task, and its
  // `done` may have dropped the last owner of this Batcher.
  std::shared_ptr<Core> core = core_;
  return core->Schedule(std::move(task));
}

bool Batcher::RunInlineOrFollow(BatchTask& task, BatchProcessor& processor) {
  std::shared_ptr<Core> core = core_;  // as in Schedule
  return core->RunInlineOrFollow(task, processor);
}

void Batcher::Shutdown() { core_->Shutdown(); }

int64_t Batcher::queued_images() const { return core_->queued_images(); }

int Batcher::num_workers() const { return core_->running_workers(); }

const Batcher::Options& Batcher::options() const { return core_->options(); }

}  // namespace nn
