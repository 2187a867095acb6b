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

  // A streamed answer (server-sent events) instead of Respond(): sends the
  // status, Content-Type, Cache-Control: no-store and `extra` headers with
  // no Content-Length; the body is what Write() sends, and it ends when the
  // handler returns and the connection closes (a streamed answer is never
  // kept alive). Returns false if this exchange cannot stream (then it has
  // answered 501). Respond() after it does nothing.
  virtual bool StartStream(int status, absl::string_view content_type,
                           const Headers& extra) {
    (void)status;
    (void)content_type;
    (void)extra;
    Respond(501, "text/plain; charset=utf-8", "cannot stream\n", {});
    return false;
  }
  // Sends `data` of a streamed answer at once; false once the client has
  // gone (the write failed, or did not finish within the server's request
  // timeout).
  virtual bool Write(absl::string_view data) {
    (void)data;
    return false;
  }
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
  bool StartStream(int status, absl::string_view content_type,
                   const Headers& extra) override;
  bool Write(absl::string_view data) override;

  // The status sent (0 before Respond).
  int status() const { return status_; }

 private:
  mg_connection* const connection_;
  absl::string_view method_;
  absl::string_view path_;
  bool body_unread_ = false;  // a refused body: close after answering
  bool streaming_ = false;    // StartStream() has sent the headers
  int status_ = 0;
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_HTTP_EXCHANGE_H_
