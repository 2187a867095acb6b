// The training RPCs of nnserve.v1 over HTTP, under the /v1 view
// (v1_rest_service.h), for the web console and for curl. Each endpoint
// calls what its gRPC method calls (InferenceServiceImpl::AnswerTrain,
// AnswerWatchTraining, AnswerCancelTraining, AnswerListTrainingJobs: same
// checks in the same order, counted as the same RPCs), with the HTTP
// header "Authorization: Bearer <token>" as the gRPC metadata
// "authorization"; bodies and answers are protobuf's JSON mapping
// (v1_json.h).
//
//   GET  /v1/training/jobs                ListTrainingJobsResponse
//   POST /v1/training/jobs                body: a TrainRequest; answer: the
//                                         Train stream's first message
//                                         (TrainProgress, `started`), or,
//                                         with "Accept: text/event-stream",
//                                         the whole Train stream as events
//   GET  /v1/training/jobs/{id}/events    the WatchTraining stream as events
//   POST /v1/training/jobs/{id}/cancel    CancelTrainingResponse (no body)
//
// Streams are server-sent events (text/event-stream), each TrainProgress
// message one "event: progress" with its JSON on one "data:" line, and at
// the end one "event: end" whose data is {"code", "httpStatus", "error"}
// (v1_json.h SseEndData): the status the gRPC stream ends with (OK,
// CANCELLED, ...), or UNAVAILABLE when the server drains. A comment line
// (": keep-alive") goes out after `heartbeat` without a message, so a
// client that has gone is noticed (its write fails) while a job is quiet.
//
// Errors, before any event: {"error": "<message>"} (JSON-escaped) with the
// status of rest_codec.h HttpStatusFor for the gRPC code: 400 for a bad
// body (INVALID_ARGUMENT) or training disabled (FAILED_PRECONDITION), 401
// for a missing or wrong token, 404 for an unknown job or base model, 413
// for a body over `max_body_bytes` or when --max_training_jobs are running
// (RESOURCE_EXHAUSTED), 405 + Allow for another method, and 503 when
// `max_streams` streams are open or the server drains.
//
// Threads: a stream holds its civetweb worker thread until it ends (the
// job ends, the client goes, or StopStreams()); at most `max_streams` at
// once, so the other workers keep serving. Thread-safe.
#ifndef NNSERVE_SERVER_V1_TRAINING_REST_H_
#define NNSERVE_SERVER_V1_TRAINING_REST_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "server/inference_service.h"
#include "server/metrics/http_exchange.h"
#include "server/training_stream.h"

namespace nn {

class V1TrainingRest {
 public:
  struct Options {
    // Event streams open at once, >= 1; one more is 503.
    int max_streams = 4;
    // Largest request body, bytes; more: 413.
    int64_t max_body_bytes = int64_t{64} << 20;
    // Quiet time after which a stream sends a keep-alive comment.
    absl::Duration heartbeat = absl::Seconds(5);
  };

  // `service` must outlive this object.
  V1TrainingRest(Options options, InferenceServiceImpl* service);

  // Serves one request whose path starts with /v1/training (see the
  // header comment), on the calling thread.
  void Handle(metrics::HttpExchange& exchange);

  // Ends every open stream (with an "end" event, UNAVAILABLE) and refuses
  // new ones with 503; returns at once (the streams' threads end within
  // one write). For the server's drain. Idempotent.
  void StopStreams();

  // Streams open now (for tests and the drain log).
  int open_streams() const;

 private:
  void Train(metrics::HttpExchange& exchange);
  // Sends `cursor`'s messages as events until the job ends, the client
  // goes or StopStreams(); the slot is taken already.
  void Stream(metrics::HttpExchange& exchange, TrainingProgressCursor cursor);
  // Takes a stream slot, or answers 503 and returns false.
  bool AdmitStream(metrics::HttpExchange& exchange);

  const Options options_;
  InferenceServiceImpl* const service_;

  // Shared with the jobs' watcher callbacks, which may run once more after
  // a stream removed its watcher (TrainingJob::Notify).
  struct Shared {
    Mutex mu;
    // Woken by every change of a watched job and by StopStreams().
    std::condition_variable changed;
    int64_t changes ABSL_GUARDED_BY(mu) = 0;
    int streams ABSL_GUARDED_BY(mu) = 0;
    bool stopping ABSL_GUARDED_BY(mu) = false;
  };
  const std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace nn

#endif  // NNSERVE_SERVER_V1_TRAINING_REST_H_
