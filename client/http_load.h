// The Open Inference Protocol over REST for the load generator (nnctl bench
// --protocol=v2-http): infer requests as whole HTTP/1.1 messages, and a
// keep-alive connection that sends them one at a time.
//
// Requests: POST /v2/models/{model}[/versions/{v}]/infer of FP32
// [N,28,28], by default in the binary tensor data extension (the JSON head,
// then the raw little-endian floats; Inference-Header-Content-Length; the
// answer's outputs binary too: "binary_data_output": true), which is what
// tritonclient's HTTP client sends; or, with `json`, the pixels as JSON
// numbers and the answer in JSON.
//
// Connection (HttpLoadCall): one TCP connection to the HTTP target, kept
// alive, with a thread of its own that blocks on it: Start() hands the
// thread a request; when the answer has been read, `done` runs on that
// thread with the outcome as a gRPC status (HTTP 200: OK; 400
// INVALID_ARGUMENT, 404 NOT_FOUND, 413 RESOURCE_EXHAUSTED, 503 UNAVAILABLE,
// 504 or no answer before the deadline DEADLINE_EXCEEDED, a broken
// connection UNAVAILABLE, anything else UNKNOWN). A connection the server
// closed is reopened for the next request. Loopback or a trusted network:
// plain HTTP, no TLS.
#ifndef NNSERVE_CLIENT_HTTP_LOAD_H_
#define NNSERVE_CLIENT_HTTP_LOAD_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "client/image_input.h"
#include "grpcpp/support/status.h"
#include "common/mutex.h"

namespace nn {

// Up to `count` requests of `images_per_request` images each (images in
// order, wrapping around, as BuildPredictRequests), for `host_port` (the
// Host header) and `model` ("" version: newest). INVALID_ARGUMENT if
// `images` is empty, a count is below 1, or an image is not 28x28.
absl::StatusOr<std::vector<std::string>> BuildV2HttpRequests(
    const std::vector<InputImage>& images, const std::string& host_port,
    const std::string& model, const std::string& version,
    int images_per_request, int count, bool json);

class HttpLoadCall {
 public:
  using DoneFn = std::function<void(const grpc::Status&)>;

  // `target`: "host:port" (IPv4 address or name); `requests` must outlive
  // this object.
  HttpLoadCall(std::string target, const std::vector<std::string>* requests,
               DoneFn done);
  // Waits for the call in flight, if any, then closes the connection.
  ~HttpLoadCall();
  HttpLoadCall(const HttpLoadCall&) = delete;
  HttpLoadCall& operator=(const HttpLoadCall&) = delete;

  // Sends request number `sequence` (cycled through the requests); at most
  // one in flight; may be called from `done`.
  void Start(uint64_t sequence,
             std::chrono::system_clock::time_point deadline);

 private:
  void Loop();
  // One request and its answer on the connection (reopened if needed).
  grpc::Status Exchange(const std::string& request,
                        std::chrono::system_clock::time_point deadline);
  grpc::Status ExchangeOnce(const std::string& request,
                            std::chrono::system_clock::time_point deadline,
                            bool* retry);
  void Close();

  const std::string target_;
  const std::vector<std::string>* const requests_;
  const DoneFn done_;
  int fd_ = -1;  // touched by the loop thread only

  Mutex mu_;
  std::condition_variable cv_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::system_clock::time_point deadline_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: started once the rest is set
};

}  // namespace nn

#endif  // NNSERVE_CLIENT_HTTP_LOAD_H_
