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

TrainingProgressCursor::TrainingProgressCursor(
    std::shared_ptr<TrainingJob> job, size_t first_event, bool snapshot_first,
    absl::Duration progress_interval)
    : job_(std::move(job)),
      progress_interval_(progress_interval),
      next_event_(first_event),
      snapshot_pending_(snapshot_first) {}

TrainingProgressCursor::Step TrainingProgressCursor::Next(
    absl::Time now, nnserve::v1::TrainProgress* message,
    absl::Status* final_status, absl::Time* retry_at) {
  *retry_at = absl::InfiniteFuture();
  if (snapshot_pending_) {
    snapshot_pending_ = false;
    message->Clear();
    *message->mutable_job() = job_->Snapshot();
    message->set_started(true);
    return Step::kMessage;
  }
  // Read "ended" before the events: every event is logged before the job
  // ends, so none can slip between the two reads.
  const bool ended = job_->ended(final_status);
  std::vector<nnserve::v1::TrainProgress> events = job_->EventsFrom(next_event_);
  if (!events.empty()) {
    ++next_event_;
    *message = std::move(events.front());
    return Step::kMessage;
  }
  if (ended) return Step::kEnded;
  const int64_t sequence = job_->progress_sequence();
  if (sequence == sent_progress_sequence_) return Step::kWait;
  if (now - last_progress_time_ < progress_interval_) {
    *retry_at = last_progress_time_ + progress_interval_;
    return Step::kWait;
  }
  sent_progress_sequence_ = sequence;
  last_progress_time_ = now;
  message->Clear();
  *message->mutable_job() = job_->Snapshot();
  message->set_batch(true);
  return Step::kMessage;
}

TrainingStream::TrainingStream(std::shared_ptr<TrainingJob> job,
                               size_t first_event, bool snapshot_first,
                               absl::Duration progress_interval)
    : job_(job),
      shared_(std::make_shared<Shared>()),
      cursor_(std::move(job), first_event, snapshot_first, progress_interval) {
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
  absl::Status final_status;
  absl::Time retry_at;
  switch (cursor_.Next(absl::Now(), &message_, &final_status, &retry_at)) {
    case TrainingProgressCursor::Step::kMessage:
      WriteMessage();
      return;
    case TrainingProgressCursor::Step::kEnded:
      FinishOnce(ToGrpcStatus(final_status));
      return;
    case TrainingProgressCursor::Step::kWait:
      // The job's next change pumps again (a rate-limited batch progress
      // is superseded by the next one).
      return;
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
