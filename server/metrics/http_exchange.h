// One HTTP request and its answer as a route handler of MetricsHttpServer
// sees them (http_server.h: Options::routes), without civetweb in sight, so
// a protocol adapter (the Open Inference Protocol's /v2 REST endpoints) is
// written and tested against this interface alone.
//
// Valid only during the handler call, on the thread that called it (a
// civetweb worker). The handler answers with exactly one Respond(); a
// handler that returns without one gets a 500.
//
// Bodies: ReadBody(max_bytes) reads the whole request body into memory, but
// checks the size first: a Content-Length over max_bytes is refused before
// a byte is read (RESOURCE_EXHAUSTED), and a body without Content-Length
// (chunked) is read only up to max_bytes + 1. A body that ends before its
// Content-Length (the client lied or went away) is INVALID_ARGUMENT after
// the server's request timeout at most. After a refusal the unread rest of
// the body makes the connection unusable, so Respond() then closes it.
#ifndef NNSERVE_SERVER_METRICS_HTTP_EXCHANGE_H_
#define NNSERVE_SERVER_METRICS_HTTP_EXCHANGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct mg_connection;

namespace nn::metrics {

class HttpExchange {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  virtual ~HttpExchange() = default;

  // "GET", "POST", ... as sent.
  virtual absl::string_view method() const = 0;
  // The request path without the query string (civetweb has URL-decoded
  // it once).
  virtual absl::string_view path() const = 0;
  // The value of header `name` (case-insensitive), if the request has it.
  virtual std::optional<absl::string_view> header(const char* name) const = 0;
  // The whole body, at most `max_bytes` of it (see the header comment).
  virtual absl::StatusOr<std::string> ReadBody(int64_t max_bytes) = 0;
  // Sends the answer: status, Content-Type, Content-Length from `body`,
  // Cache-Control: no-store, then `extra` headers and the body.
  virtual void Respond(int status, absl::string_view content_type,
                       absl::string_view body, const Headers& extra) = 0;
};

// The exchange over a civetweb connection (http_exchange.cc).
class CivetwebExchange final : public HttpExchange {
 public:
  explicit CivetwebExchange(mg_connection* connection);

  absl::string_view method() const override { return method_; }
  absl::string_view path() const override { return path_; }
  std::optional<absl::string_view> header(const char* name) const override;
  absl::StatusOr<std::string> ReadBody(int64_t max_bytes) override;
  void Respond(int status, absl::string_view content_type,
               absl::string_view body, const Headers& extra) override;

  // The status sent (0 before Respond).
  int status() const { return status_; }

 private:
  mg_connection* const connection_;
  absl::string_view method_;
  absl::string_view path_;
  bool body_unread_ = false;  // a refused body: close after answering
  int status_ = 0;
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_HTTP_EXCHANGE_H_
