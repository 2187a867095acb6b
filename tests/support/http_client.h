// A minimal HTTP client over a loopback TCP socket, for tests only: one
// request per connection (HTTP/1.0, or HTTP/1.1 with "Connection: close"),
// the whole response read until the server closes.
#ifndef NNSERVE_TESTS_SUPPORT_HTTP_CLIENT_H_
#define NNSERVE_TESTS_SUPPORT_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nn::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers = {};  // names lower-cased
  std::string body = {};
};

// Sends `method path` to 127.0.0.1:`port` and reads the response (5 s
// timeout). Unavailable if the connection fails.
absl::StatusOr<HttpResponse> HttpRequest(int port, const std::string& method,
                                         const std::string& path);

// An HTTP/1.1 request with a body. Content-Length is added from `body`
// unless `headers` has one (a test may lie with it); "Connection: close"
// and Host are always added.
struct HttpMessage {
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers = {};
  std::string body = {};
};
absl::StatusOr<HttpResponse> SendHttp(int port, const HttpMessage& message);

// Sends `bytes` as they are (a hand-made, possibly malformed request) and
// reads the response until the server closes (`timeout`). DataLoss if what
// came back is not an HTTP response (e.g. nothing: the server closed).
// `close_write_side`: shut the sending side down once all is sent (so a body
// cut short ends there). Off for ordinary requests: some servers (Go's
// net/http, so Prometheus) take a half-closed connection for a client gone
// and cancel the request.
absl::StatusOr<HttpResponse> SendRawHttp(
    int port, const std::string& bytes,
    absl::Duration timeout = absl::Seconds(5),
    bool close_write_side = true);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_HTTP_CLIENT_H_
