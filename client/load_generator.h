// A closed-loop load generator for Predict or the Open Inference Protocol's
// ModelInfer over gRPC, or its REST infer over HTTP/1.1 keep-alive
// connections (client/http_load.h; one connection and thread per call in
// flight) (nnctl bench --protocol): at each
// concurrency level it keeps exactly N calls in flight on the gRPC callback
// API (a finished call starts the next one), first for a warm-up period whose
// calls are not counted, then for the measured period.
//
// A level ends when its duration has passed or `max_requests` measured calls
// have started, whichever comes first; calls in flight then finish (each is
// bounded by `request_timeout`) and are counted. Every measured call is
// counted exactly once, so the server sees warmup_requests + requests calls.
//
// gRPC wires: the requests are serialized once per run and each call sends
// one as bytes (a generic stub; the slices are shared, not copied) and
// receives the reply as bytes it does not parse: the call's status is its
// outcome. So the client's work a call is the same whatever the wire.
//
// Channels: one per `calls_per_channel` in-flight calls (at least one), each
// with its own TCP connection. One HTTP/2 connection serialises its frames on
// one client and one server thread; spreading 64 calls over 4 connections
// lets both sides use every core. 16 calls a channel is the default: with
// 1-8 calls one connection suffices and a single connection keeps
// concurrency 1 comparable to other tools.
#ifndef NNSERVE_CLIENT_LOAD_GENERATOR_H_
#define NNSERVE_CLIENT_LOAD_GENERATOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/histogram.h"
#include "client/image_input.h"
#include "client/v2_requests.h"
#include "inference/open_inference.pb.h"
#include "nnserve/v1/inference.pb.h"

namespace nn {

struct LoadOptions {
  ChannelOptions channel;
  // The wire, and its requests to send, cycled through in order; at least
  // one for the chosen protocol. nnserve.v1: `requests` (Predict; build them
  // with BuildPredictRequests); v2: `v2_requests` (ModelInfer;
  // BuildModelInferRequests).
  WireProtocol protocol = WireProtocol::kNnserveV1;
  std::vector<nnserve::v1::PredictRequest> requests;
  std::vector<inference::ModelInferRequest> v2_requests;
  // v2-http: whole HTTP requests (BuildV2HttpRequests) for `http_target`
  // ("host:port", the server's --http_port).
  std::vector<std::string> http_requests;
  std::string http_target;
  // Images in each request (for images/s); the requests must agree.
  int images_per_request = 1;
  // Calls in flight at each level, in the order run; each >= 1.
  std::vector<int> concurrency_levels = {1};
  // Measured period of each level; > 0.
  absl::Duration duration = absl::Seconds(10);
  // Uncounted period before each level's measurement; >= 0.
  absl::Duration warmup = absl::Seconds(2);
  // Most measured calls a level starts; 0 = no limit.
  int64_t max_requests = 0;
  // Deadline of each call; a call past it counts as DEADLINE_EXCEEDED.
  absl::Duration request_timeout = absl::Seconds(10);
  // In-flight calls per channel (TCP connection); >= 1.
  int calls_per_channel = 16;
};

struct LevelResult {
  int concurrency = 0;
  int channels = 0;
  // Measured calls: all of them, and those that returned OK.
  int64_t requests = 0;
  int64_t ok_requests = 0;
  // Calls of the warm-up period (not otherwise counted).
  int64_t warmup_requests = 0;
  // From the start of the measured period to the end of its last call.
  absl::Duration elapsed;
  // Failed measured calls by gRPC code name ("UNAVAILABLE": 3).
  std::map<std::string, int64_t> errors_by_code;
  // The message of one failed call, to say why; empty if none failed.
  std::string first_error;
  // Latency of the successful measured calls, in nanoseconds.
  LogLinearHistogram latency_nanos;
  int images_per_request = 1;

  int64_t failed_requests() const { return requests - ok_requests; }
  // Successful calls (and their images) per second of `elapsed`.
  double requests_per_second() const;
  double images_per_second() const;
};

// Runs every level in order. INVALID_ARGUMENT for bad options; errors of
// individual calls are counted in the results, not returned.
absl::StatusOr<std::vector<LevelResult>> RunLoad(const LoadOptions& options);

// Builds up to `count` requests for `model` (version 0 = newest) of
// `images_per_request` images each, taking images in order and wrapping
// around. Fewer when `images` holds fewer than count * images_per_request
// (but at least one). INVALID_ARGUMENT if `images` is empty.
absl::StatusOr<std::vector<nnserve::v1::PredictRequest>> BuildPredictRequests(
    const std::vector<InputImage>& images, const std::string& model,
    int64_t version, int images_per_request, ImageEncoding encoding, int count);

}  // namespace nn

#endif  // NNSERVE_CLIENT_LOAD_GENERATOR_H_
