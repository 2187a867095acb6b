// The server side of a Train / WatchTraining stream: sends one job's progress
// to one client with gRPC flow control (one write in flight), every logged
// event (started, epoch ends, result) in order, the latest batch progress at
// most every `progress_interval`, then the job's final status.
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
  const absl::Duration progress_interval_;
  std::shared_ptr<Shared> shared_;
  int watcher_id_ = -1;
  // Guarded by shared_->mu:
  size_t next_event_;
  bool snapshot_pending_;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  int64_t sent_progress_sequence_ = -1;
  absl::Time last_progress_time_ = absl::InfinitePast();
  nnserve::v1::TrainProgress message_;
  grpc::ByteBuffer bytes_;  // message_ serialized, while it is written
};

}  // namespace nn

#endif  // NNSERVE_SERVER_TRAINING_STREAM_H_
