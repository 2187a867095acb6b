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

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "server/batching/batcher_core.h"
#include "common/mutex.h"

namespace nn {

using batcher_internal::NewBuffers;
using batcher_internal::Slice;
using batcher_internal::TaskState;
using batcher_internal::WorkerBuffers;

namespace {

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
  if (options.gather_images < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gather_images must not be negative, got ", options.gather_images));
  }
  if (options.max_gather_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_gather_delay must not be negative, got ",
                     absl::FormatDuration(options.max_gather_delay)));
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

Admission Admission::Rejected(Rejection why, std::string message) {
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  switch (why) {
    case Rejection::kInvalid:
      break;
    case Rejection::kTooLarge:
      code = absl::StatusCode::kResourceExhausted;
      break;
    case Rejection::kQueueFull:
    case Rejection::kDraining:
      code = absl::StatusCode::kUnavailable;
      break;
    case Rejection::kDeadlineExceeded:
      code = absl::StatusCode::kDeadlineExceeded;
      break;
    case Rejection::kCancelled:
      code = absl::StatusCode::kCancelled;
      break;
  }
  Admission admission;
  admission.rejection_ = why;
  admission.status_ = absl::Status(code, message);
  return admission;
}


absl::Status Batcher::Core::Start() {
  const int count = options_.num_workers;
  absl::Status launch_error;
  {
    MutexLock lock(mu_);
    threads_.reserve(count);
  }
  for (int i = 0; i < count; ++i) {
    MutexLock lock(mu_);
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
    MutexLock lock(mu_);
    const int launched = static_cast<int>(threads_.size());
    lock.Wait(state_cv_, [&] {
      mu_.AssertHeld();
      return reported_workers_ == launched;
    });
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
      MutexLock lock(mu_);
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
    MutexLock lock(mu_);
    ++running_workers_;
    ++reported_workers_;
  }
  state_cv_.notify_all();

  while (TakeBatch(*buffers)) ComputeBatch(**processor, *buffers);

  processor->reset();  // destroyed on the thread that created it
  {
    MutexLock lock(mu_);
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

Admission Batcher::Core::Check(const BatchTask& task) const {
  if (task.num_images <= 0) {
    return Admission::Rejected(
        Rejection::kInvalid,
        absl::StrCat("a task needs at least one image, got ", task.num_images));
  }
  if (!task.done) {
    return Admission::Rejected(Rejection::kInvalid,
                               "a task needs a done callback");
  }
  const auto size_matches = [&](size_t size, int64_t row) {
    return size % row == 0 &&
           static_cast<int64_t>(size / row) == task.num_images;
  };
  if (!size_matches(task.input.size(), options_.input_size)) {
    return Admission::Rejected(Rejection::kInvalid, absl::StrCat(
        "task input has ", task.input.size(), " floats; ", task.num_images,
        " images of ", options_.input_size, " need ",
        task.num_images * options_.input_size));
  }
  if (!size_matches(task.output.size(), options_.output_size)) {
    return Admission::Rejected(Rejection::kInvalid, absl::StrCat(
        "task output has ", task.output.size(), " floats; ", task.num_images,
        " images of ", options_.output_size, " need ",
        task.num_images * options_.output_size));
  }
  if (task.num_images > options_.max_queue_size) {
    return Admission::Rejected(
        Rejection::kTooLarge,
        absl::StrCat("task of ", task.num_images,
                     " images exceeds the queue size of ",
                     options_.max_queue_size, " images"));
  }
  return Admission::Accepted();
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

TaskState* Batcher::Core::NewStateLocked(BatchTask&& task, absl::Time now) {
  std::unique_ptr<TaskState> state;
  if (free_states_.empty()) {
    state = std::make_unique<TaskState>();
    ++task_states_made_;
  } else {
    state = std::move(free_states_.back());
    free_states_.pop_back();
  }
  state->Reset(std::move(task), now);
  return state.release();  // back in a unique_ptr in FinishSlice
}

void Batcher::Core::RecycleLocked(WorkerBuffers& buffers) {
  std::vector<std::unique_ptr<TaskState>>& finished = buffers.finished;
  while (!finished.empty() &&
         free_states_.size() < batcher_internal::kMaxPooledTaskStates) {
    free_states_.push_back(std::move(finished.back()));
    finished.pop_back();
  }
}

Admission Batcher::Core::Admit(BatchTask&& task) {
  if (Admission valid = Check(task); !valid.accepted()) return valid;
  const int64_t n = task.num_images;
  int new_batches = 0;
  {
    MutexLock lock(mu_);
    if (stopping_) {
      return Admission::Rejected(
          Rejection::kDraining,
          absl::StrCat("batcher '", options_.name, "' is shutting down"));
    }
    if (queued_images_ + n > options_.max_queue_size) {
      return Admission::Rejected(
          Rejection::kQueueFull,
          absl::StrCat("queue full (", queued_images_, " images queued, limit ",
                       options_.max_queue_size, ")"));
    }
    const absl::Time now = clock_->Now();
    new_batches = EnqueueLocked(NewStateLocked(std::move(task), now), now);
    AddQueuedLocked(n);
    if (idle_workers_ == 0) new_batches = 0;  // nobody to wake
  }
  WakeWorkers(new_batches);
  return Admission::Accepted();
}


bool Batcher::Core::TakeBatch(WorkerBuffers& buffers) {
  std::vector<Slice>& batch = buffers.batch;
  bool more_queued;
  {
    MutexLock lock(mu_);
    RecycleLocked(buffers);
    ++idle_workers_;
    const auto queued_or_stopping = [&] {
      mu_.AssertHeld();
      return !queue_.empty() || stopping_;
    };
    bool take_gather = false;
    for (;;) {
      if (!queue_.empty()) break;
      const absl::Time now = clock_->Now();
      if (GatherPendingLocked() &&
          (stopping_ || now >= gather_start_ + options_.max_gather_delay)) {
        take_gather = true;  // nobody completed it in time
        break;
      }
      if (stopping_) break;
      // One idle worker keeps time for the gathers (a wake-up costs about
      // 10 µs of CPU on a 2-core VM); the others sleep until told.
      if (GatherPendingLocked() && timed_waiters_ == 0) {
        ++timed_waiters_;
        clock_->WaitUntil(lock, work_cv_,
                          gather_start_ + options_.max_gather_delay,
                          queued_or_stopping);
        --timed_waiters_;
      } else if (gathering() && timed_waiters_ == 0 && caller_saturated_ &&
                 ArrivalsDenseLocked() &&
                 now - last_arrival_ < options_.max_gather_delay) {
        // Heavy load: gathers begin all the time. Waking up once a
        // max_gather_delay to look is cheaper than being woken for each.
        ++timed_waiters_;
        clock_->WaitUntil(lock, work_cv_, now + options_.max_gather_delay,
                          queued_or_stopping);
        --timed_waiters_;
      } else {
        // Woken by a queued batch, or by a gather that begins while no
        // worker keeps time; with one keeping time, a pending gather is not
        // this worker's to watch.
        lock.Wait(work_cv_, [&] {
          mu_.AssertHeld();
          return queued_or_stopping() ||
                 (GatherPendingLocked() && timed_waiters_ == 0);
        });
      }
    }
    --idle_workers_;
    batch.clear();
    if (take_gather) {
      TakeGatherLocked(batch);
    } else if (queue_.empty()) {
      return false;
    } else {
      int64_t images = 0;
      do {
        batch.push_back(queue_.front());
        images += queue_.front().count;
        queue_.pop_front();
      } while (!queue_.empty() && !queue_.front().starts_batch);
      AddQueuedLocked(-images);
      last_batch_images_ = images;
    }
    // Another batch is waiting, or a gather nobody keeps time for, and a
    // worker is idle: make sure it wakes even if this worker consumed the
    // notification meant for it.
    more_queued = (!queue_.empty() && idle_workers_ > 0) ||
                  (GatherPendingLocked() && IdleWorkerMustKeepTimeLocked());
  }
  buffers.finished.clear();  // beyond the pool's bound
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
      FinishSlice(slice, absl::OkStatus(), buffers);
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
      FinishSlice(slice, absl::OkStatus(), buffers);
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
  for (const Slice& slice : buffers.live) FinishSlice(slice, status, buffers);
}

void Batcher::Core::FinishSlice(const Slice& slice, absl::Status status,
                                WorkerBuffers& buffers) {
  TaskState* state = slice.task;
  if (!status.ok()) state->Fail(std::move(status));
  if (state->pending_slices.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  // The last slice: no other thread refers to the state any more.
  absl::Status result = std::move(state->result);
  absl::AnyInvocable<void(absl::Status)> done = std::move(state->task.done);
  state->task = BatchTask();  // releases input, output and is_cancelled
  buffers.finished.emplace_back(state);  // reserved: no allocation
  done(std::move(result));
}

void Batcher::Core::Shutdown() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(mu_);
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
  MutexLock lock(mu_);
  lock.Wait(state_cv_, [&] {
    mu_.AssertHeld();
    return live_threads_ == 0;
  });
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
  return core->Admit(std::move(task)).status();
}

Admission Batcher::Submit(BatchTask&& task, BatchProcessor* fast_path) {
  std::shared_ptr<Core> core = core_;  // as in Schedule
  return core->Submit(std::move(task), fast_path);
}

bool Batcher::RunInlineOrFollow(BatchTask& task, BatchProcessor& processor) {
  std::shared_ptr<Core> core = core_;  // as in Schedule
  return core->RunInlineOrFollow(task, processor);
}

void Batcher::Shutdown() { core_->Shutdown(); }

int64_t Batcher::queued_images() const { return core_->queued_images(); }

int Batcher::num_workers() const { return core_->running_workers(); }

int64_t Batcher::task_states_made() const {
  return core_->task_states_made();
}

const Batcher::Options& Batcher::options() const { return core_->options(); }

}  // namespace nn
