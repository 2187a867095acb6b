#include "server/training_stream.h"

#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "server/wire_messages.h"
#include "common/mutex.h"

namespace nn {

TrainingStream* TrainingStream::Start(std::shared_ptr<TrainingJob> job,
                                      size_t first_event, bool snapshot_first,
                                      absl::Duration progress_interval) {
  auto* stream = new TrainingStream(std::move(job), first_event, snapshot_first,
                                    progress_interval);
  std::shared_ptr<Shared> shared = stream->shared_;
  // Lock order: shared->mu, then the job's (inside AddWatcher). The watcher
  // runs without the job's lock held, so it may take shared->mu.
  MutexLock lock(shared->mu);
  stream->watcher_id_ = stream->job_->AddWatcher([shared] {
    MutexLock watcher_lock(shared->mu);
    if (shared->stream != nullptr) shared->stream->Pump();
  });
  stream->Pump();
  return stream;
}

TrainingStream::TrainingStream(std::shared_ptr<TrainingJob> job,
                               size_t first_event, bool snapshot_first,
                               absl::Duration progress_interval)
    : job_(std::move(job)),
      progress_interval_(progress_interval),
      shared_(std::make_shared<Shared>()),
      next_event_(first_event),
      snapshot_pending_(snapshot_first) {
  shared_->stream = this;
}

void TrainingStream::FinishOnce(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

void TrainingStream::WriteMessage() {
  if (absl::Status s = SerializeResponse(message_, &bytes_); !s.ok()) {
    FinishOnce(ToGrpcStatus(s));
    return;
  }
  writing_ = true;
  StartWrite(&bytes_);
}

void TrainingStream::Pump() {
  if (writing_ || finished_) return;
  if (cancelled_) {
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED,
                            "stream cancelled; the job keeps running"));
    return;
  }
  if (snapshot_pending_) {
    snapshot_pending_ = false;
    message_.Clear();
    *message_.mutable_job() = job_->Snapshot();
    message_.set_started(true);
    WriteMessage();
    return;
  }
  // Read "ended" before the events: every event is logged before the job
  // ends, so none can slip between the two reads.
  absl::Status final_status;
  const bool ended = job_->ended(&final_status);
  std::vector<nnserve::v1::TrainProgress> events = job_->EventsFrom(next_event_);
  if (!events.empty()) {
    ++next_event_;
    message_ = std::move(events.front());
    WriteMessage();
    return;
  }
  if (ended) {
    FinishOnce(ToGrpcStatus(final_status));
    return;
  }
  const int64_t sequence = job_->progress_sequence();
  const absl::Time now = absl::Now();
  if (sequence != sent_progress_sequence_ &&
      now - last_progress_time_ >= progress_interval_) {
    sent_progress_sequence_ = sequence;
    last_progress_time_ = now;
    message_.Clear();
    *message_.mutable_job() = job_->Snapshot();
    message_.set_batch(true);
    WriteMessage();
  }
}

void TrainingStream::OnWriteDone(bool ok) {
  MutexLock lock(shared_->mu);
  writing_ = false;
  if (!ok) {
    // The client is gone; the job is not affected.
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    return;
  }
  Pump();
}

void TrainingStream::OnCancel() {
  MutexLock lock(shared_->mu);
  cancelled_ = true;
  Pump();  // finishes now unless a write is in flight (then after it)
}

void TrainingStream::OnDone() {
  int watcher_id;
  {
    MutexLock lock(shared_->mu);
    watcher_id = watcher_id_;
    shared_->stream = nullptr;
  }
  job_->RemoveWatcher(watcher_id);
  delete this;
}

}  // namespace nn
