// The server side of a Train / WatchTraining stream: sends one job's progress
// to one client with gRPC flow control (one write in flight), what
// TrainingProgressCursor says in its order: every logged event (started,
// epoch ends, result), the latest batch progress at most every
// `progress_interval`, then the job's final status.
//
// Messages go out as bytes (the method is raw: server/wire_messages.h).
//
// The stream only watches: when the client goes away (disconnect or
// cancellation), the stream ends and the job runs on.
#ifndef NNSERVE_SERVER_TRAINING_STREAM_H_
#define NNSERVE_SERVER_TRAINING_STREAM_H_

#include <cstddef>
#include <memory>
#include <mutex>

#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "nnserve/v1/inference.pb.h"
#include "server/training_service.h"
#include "common/mutex.h"

namespace nn {

// TrainRequest.progress_interval_millis as a duration: 0 (or less) is the
// documented default, 250 ms.
inline absl::Duration ProgressIntervalFromMillis(int millis) {
  return absl::Milliseconds(millis > 0 ? millis : 250);
}

// What a watcher of one job sends next, for the gRPC stream below and for
// the server-sent events of the HTTP view (v1_training_rest.h), so both
// send the same messages in the same order: the job's current state first
// (with `snapshot_first`, marked `started`, for clients that reattach),
// every logged event (started, epoch ends, result) from `first_event` on,
// the latest batch progress at most every `progress_interval`, then the
// job's final status. Not thread-safe: its owner serialises the calls.
class TrainingProgressCursor {
 public:
  enum class Step {
    kMessage,  // *message is the next one to send
    kEnded,    // nothing more: *final_status is the job's final status
    kWait,     // nothing now: call again after the job changes, or at
               // *retry_at for rate-limited batch progress (InfiniteFuture
               // when only a change of the job can bring something)
  };

  TrainingProgressCursor(std::shared_ptr<TrainingJob> job, size_t first_event,
                         bool snapshot_first, absl::Duration progress_interval);

  // The next step at time `now` (see Step). kMessage consumes it.
  Step Next(absl::Time now, nnserve::v1::TrainProgress* message,
            absl::Status* final_status, absl::Time* retry_at);

  const std::shared_ptr<TrainingJob>& job() const { return job_; }

 private:
  const std::shared_ptr<TrainingJob> job_;
  const absl::Duration progress_interval_;
  size_t next_event_;
  bool snapshot_pending_;
  int64_t sent_progress_sequence_ = -1;
  absl::Time last_progress_time_ = absl::InfinitePast();
};

class TrainingStream final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Streams `job` from its logged event `first_event` on. With
  // `snapshot_first`, the first message is the job's current state (marked
  // `started`), for clients that reattach. Deletes itself when done.
  static TrainingStream* Start(std::shared_ptr<TrainingJob> job,
                               size_t first_event, bool snapshot_first,
                               absl::Duration progress_interval);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // State shared with the job's watcher callback, which may outlive the
  // reactor by one call.
  struct Shared {
    Mutex mu;
    TrainingStream* stream = nullptr;  // null once the reactor is done
  };

  TrainingStream(std::shared_ptr<TrainingJob> job, size_t first_event,
                 bool snapshot_first, absl::Duration progress_interval);
  // Starts the next write or finishes. Called with shared_->mu held.
  void Pump();
  void FinishOnce(const grpc::Status& status);
  // Serializes message_ and starts writing it.
  void WriteMessage();

  const std::shared_ptr<TrainingJob> job_;
  std::shared_ptr<Shared> shared_;
  int watcher_id_ = -1;
  // Guarded by shared_->mu:
  TrainingProgressCursor cursor_;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  nnserve::v1::TrainProgress message_;
  grpc::ByteBuffer bytes_;  // message_ serialized, while it is written
};

}  // namespace nn

#endif  // NNSERVE_SERVER_TRAINING_STREAM_H_
