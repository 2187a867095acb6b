// A minimal HTTP/1.0 client over a loopback TCP socket, for tests only: one
// request per connection, the whole response read until the server closes.
#ifndef NNSERVE_TESTS_SUPPORT_HTTP_CLIENT_H_
#define NNSERVE_TESTS_SUPPORT_HTTP_CLIENT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

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

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_HTTP_CLIENT_H_
