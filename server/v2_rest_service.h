// The Open Inference Protocol (KServe V2) over HTTP/REST: the /v2 endpoints
// on nnserve's HTTP port (MetricsHttpServer route "/v2"). Paths are parsed by
// nnv2's rest_routes.h, bodies by rest_codec.h, answers written as JSON by
// metadata.h; everything else is the protocol-independent adapter
// (v2_serving.h, shared with the gRPC service: version resolution, limits,
// batcher, deadlines, statistics and metrics as nnserve.v1 Predict, with
// protocol label "v2-http"). This class adds the HTTP side: routing, bodies,
// headers, statuses, and the wait for the batcher (below).
//
//   GET  /v2/health/live                   200 (empty body) while HTTP serves
//   GET  /v2/health/ready                  200 when ready (as /readyz), else
//                                          503 {"error": "not ready: ..."}
//   GET  /v2                               server metadata
//   GET  /v2/models/{m}[/versions/{v}]     model metadata
//   GET  .../ready                         200 if that version serves, else
//                                          404 (unknown) / 503 (not ready)
//   GET  .../config                        Triton's model configuration
//   GET  .../stats, GET /v2/models/stats   statistics (ModelStatistics)
//   POST /v2/repository/index              every model version with its state
//                                          (a body {"ready": true} is not
//                                          read: every version is listed)
//   POST .../infer                         inference (rest_codec.h)
// Errors: {"error": "<message>"}, application/json, with the status of
// rest_codec.h's table (400, 404, 405 + Allow, 413, 503, 504, ...).
// Deadline: the request parameter "timeout" (microseconds, Triton's);
// without it none (HTTP has no standard deadline header).
// Metrics: every request to a known endpoint is counted under the V2 RPC of
// the same name (metric_names.h); a path outside the table or a wrong
// method is answered but not counted (it names no RPC).
//
// Threads. civetweb serves each connection on one of its worker threads and
// has no way to answer a request after its handler returns, so Handle()
// blocks that thread while the request is batched and computed: it submits
// the call and waits for the call's Finish, which runs on a batch worker (or
// on this thread, for the fast path and for rejections). Concurrency over
// REST is thus bounded by the HTTP server's threads (--http_threads). The
// wait never deadlocks: an accepted task's `done` always runs (computed,
// dropped at its deadline, or failed when its batcher shuts down), and the
// server is drained in this order: readiness off, the pre-drain window,
// StopAccepting() (new requests: 503 "draining"), WaitIdle() (the admitted
// ones finish), the repository's shutdown, and only then the HTTP server's
// stop, which joins the (by then idle) worker threads.
//
// Body size: a body over V2Serving::Options::max_request_bytes (nnserve
// --max_http_body_bytes) is refused with 413
// before it is read (from Content-Length) or as soon as reading passes the
// limit (chunked); then the connection is closed.
#ifndef NNSERVE_SERVER_V2_REST_SERVICE_H_
#define NNSERVE_SERVER_V2_REST_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/limits.h"
#include "server/metrics/http_exchange.h"
#include "server/metrics/metric_names.h"
#include "server/v2/rest_codec.h"
#include "server/v2/rest_routes.h"
#include "server/v2_serving.h"

namespace nn {

class V2RestService {
 public:
  // OK when the server takes traffic; else why not ("loading models",
  // "draining"). Thread-safe and quick.
  using ReadinessFn = std::function<absl::Status()>;

  // `v2` must outlive this object. `readiness`: the server's (/readyz),
  // whose message says why /v2/health/ready is 503. Body size limit:
  // v2->options().max_request_bytes.
  V2RestService(const V2Serving* v2, ReadinessFn readiness);

  // Serves one /v2 request (see the header comment); blocks the calling
  // civetweb thread until its answer is sent.
  void Handle(metrics::HttpExchange& exchange);

  // Drain: from now on every /v2/.../infer is answered 503 at once.
  void StopAccepting() { stopping_.store(true); }
  // Waits until no admitted infer request is in progress, or `deadline`;
  // true if none is.
  bool WaitIdle(absl::Time deadline) const;
  // Infer requests admitted so far and those answered, for the drain log.
  int64_t infers_admitted() const { return admitted_.load(); }
  int64_t infers_answered() const { return answered_.load(); }

 private:
  // Every endpoint but infer: the answer, or the error to answer; `method`
  // is set to the RPC it counts as. Reads the body of `exchange` only for
  // the repository index (its `ready`; at most 64 KB).
  absl::StatusOr<v2::RestResponse> Answer(const v2::RestRoute& route,
                                          metrics::HttpExchange& exchange,
                                          metrics::Method* method) const;
  v2::RestResponse Infer(const v2::RestRoute& route,
                         metrics::HttpExchange& exchange, absl::Time start);

  const V2Serving* const v2_;
  const ReadinessFn readiness_;
  std::atomic<bool> stopping_{false};
  // Infer requests between admission and their answer (see Infer()).
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> admitted_{0};
  std::atomic<int64_t> answered_{0};
};

}  // namespace nn

#endif  // NNSERVE_SERVER_V2_REST_SERVICE_H_
