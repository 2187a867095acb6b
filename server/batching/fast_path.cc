// The fast path of Batcher::Core (batcher.h, RunInlineOrFollow): a task
// computed on the thread that received it, and the followers that join
// such a run while it computes; plus Submit, which offers a task to it
// before the queue.
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/batching/batcher_core.h"
#include "common/mutex.h"

namespace nn {

using batcher_internal::kMaxFollowerBatches;
using batcher_internal::NewBuffers;
using batcher_internal::Slice;
using batcher_internal::TaskState;
using batcher_internal::WorkerBuffers;

Admission Batcher::Core::Submit(BatchTask&& task, BatchProcessor* fast_path) {
  // The messages the request path has always answered with.
  if (clock_->Now() >= task.deadline) {
    return Admission::Rejected(
        Rejection::kDeadlineExceeded,
        "deadline expired before the request was queued");
  }
  if (task.is_cancelled && task.is_cancelled()) {
    return Admission::Rejected(Rejection::kCancelled, "call cancelled");
  }
  if (fast_path != nullptr && RunInlineOrFollow(task, *fast_path)) {
    return Admission::Accepted();
  }
  return Admit(std::move(task));
}

bool Batcher::Core::RunInlineOrFollow(BatchTask& task,
                                    BatchProcessor& processor) {
  if (task.num_images > options_.max_inline_images ||
      !Check(task).accepted()) {
    return false;
  }
  // Asked before the lock: it may make a system call.
  const bool may_gather = gathering() &&
                          (!options_.caller_is_saturated ||
                           options_.caller_is_saturated());
  bool gathered = false;       // the task waits in a gather
  bool wake_a_worker = false;  // for the gather's deadline
  bool run_gather = false;     // the task completed a gather: compute it
  // The task's arrival; also the start of its compute if it runs.
  const absl::Time now = clock_->Now();
  {
    MutexLock lock(mu_);
    if (stopping_) return false;
    caller_saturated_ = may_gather;
    const int64_t n = task.num_images;
    const bool fits = !options_.inline_only_when_unloaded &&
                      follower_images_ + n <= options_.max_inline_images &&
                      queued_images_ + n <= options_.max_queue_size;
    if (gathering()) NoteArrivalLocked(now);
    if (inline_runs_ > 0 && fits) {
      // A run is computing: follow it (no worker to wake, no hand-off).
      AddFollowerLocked(std::move(task), now);
      return true;
    }
    if (gathering() && GatherPendingLocked() && fits) {
      // Join the gather; the task that completes it (or comes late) runs it.
      AddFollowerLocked(std::move(task), now);
      if (follower_images_ < options_.gather_images &&
          now - gather_start_ < options_.max_gather_delay) {
        return true;
      }
      ++inline_runs_;
      run_gather = true;
    } else if (!queue_.empty() || idle_workers_ < running_workers_ ||
               (options_.inline_only_when_unloaded &&
                (inline_runs_ > 0 || last_batch_images_ > 1))) {
      // Only when nothing is queued for or computing on the workers. Models
      // that batching speeds up a lot run one task at a time, and only
      // while the workers' latest batch was a single image (the load is
      // light): under load their tasks go to the workers' large batches.
      return false;
    } else if (may_gather && fits && followers_.empty() &&
               n < options_.gather_images && ArrivalsDenseLocked()) {
      // Heavy load: wait for others rather than compute alone. An idle
      // worker in a timed wait will see the gather's deadline; one in an
      // untimed wait must be told.
      AddFollowerLocked(std::move(task), now);
      gather_start_ = now;
      gathered = true;
      wake_a_worker = IdleWorkerMustKeepTimeLocked();
    } else {
      ++inline_runs_;
    }
  }
  if (run_gather) {
    ComputeFollowers(processor, may_gather);
    return true;
  }
  if (gathered) {
    if (wake_a_worker) work_cv_.notify_one();
    return true;
  }

  const absl::Time start = now;
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
  ComputeFollowers(processor, may_gather);
  return true;
}

void Batcher::Core::AddFollowerLocked(BatchTask&& task, absl::Time now) {
  const int64_t n = task.num_images;
  TaskState* state = NewStateLocked(std::move(task), now);
  state->pending_slices.store(1, std::memory_order_relaxed);
  followers_.push_back(Slice{state, 0, n, true});
  follower_images_ += n;
  AddQueuedLocked(n);
}

void Batcher::Core::NoteArrivalLocked(absl::Time now) {
  const int64_t interval = std::min(
      kLongInterval, absl::ToInt64Nanoseconds(now - last_arrival_));
  arrival_interval_ns_ += (interval - arrival_interval_ns_) / 8;
  last_arrival_ = now;
}

bool Batcher::Core::ArrivalsDenseLocked() const {
  return 2 * arrival_interval_ns_ * (options_.gather_images - 1) <=
         absl::ToInt64Nanoseconds(options_.max_gather_delay);
}

void Batcher::Core::TakeGatherLocked(std::vector<Slice>& batch) {
  batch.insert(batch.end(), followers_.begin(), followers_.end());
  followers_.clear();
  AddQueuedLocked(-follower_images_);
  follower_images_ = 0;
}

void Batcher::Core::ComputeFollowers(BatchProcessor& processor,
                                     bool may_gather) {
  std::unique_ptr<WorkerBuffers> buffers;
  // Task states the pool had no room for, freed after the lock (rare).
  std::vector<std::unique_ptr<TaskState>> excess;
  for (int round = 0;; ++round) {
    int new_batches = 0;
    bool ended = false;
    {
      MutexLock lock(mu_);
      if (buffers != nullptr) RecycleLocked(*buffers);
      if (followers_.empty()) {
        ended = true;
      } else if (may_gather && inline_runs_ == 1 && !stopping_ &&
                 follower_images_ < options_.gather_images &&
                 ArrivalsDenseLocked() &&
                 clock_->Now() - followers_.front().task->enqueued <
                     options_.max_gather_delay) {
        // Heavy load, and too few followers for a gather: they stay as
        // one, for the tasks that arrive next (or a worker) to complete.
        gather_start_ = followers_.front().task->enqueued;
        if (IdleWorkerMustKeepTimeLocked()) new_batches = 1;
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
          if (idle_workers_ == 0) new_batches = 0;  // nobody to wake
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
        if (buffers != nullptr) {
          for (auto& state : buffers->finished) {
            excess.push_back(std::move(state));
          }
          buffers->finished.clear();
          spare_buffers_.push_back(std::move(buffers));
        }
      }
    }
    if (ended) {
      WakeWorkers(new_batches);
      return;
    }
    buffers->finished.clear();  // beyond the pool's bound
    ComputeBatch(processor, *buffers);
    buffers->batch.clear();
  }
}

}  // namespace nn
