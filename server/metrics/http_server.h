// The HTTP endpoint for Prometheus and for Kubernetes HTTP probes, on
// civetweb (Debian's libcivetweb-dev, the server prometheus-cpp's Exposer is
// built on; the Exposer itself serves no other paths and adds its own
// exposer_* series, so nnserve keeps this one):
//
//   GET /metrics  200, every source's families in the text format 0.0.4
//                 (prometheus-cpp's TextSerializer; sources in the order
//                 given, samples in no particular order), Content-Type
//                 "text/plain; version=0.0.4; charset=utf-8"
//   GET /healthz  200 "ok" while the process serves HTTP at all (liveness)
//   GET /readyz   200 "ok" when the readiness callback returns OK, else 503
//                 with "not ready: <the status message>" (readiness)
//   other paths   404
//   other methods 405 with "Allow: GET, HEAD" (on the three paths above)
// HEAD is answered like GET without the body. Bodies are text/plain, never
// compressed; connections are not kept alive (a scrape every few seconds
// does not need it, and an idle keep-alive connection would pin one of the
// few worker threads).
//
//   ASSIGN_OR_RETURN(auto http, MetricsHttpServer::Create(
//       {.port = absl::GetFlag(FLAGS_http_port)}, {&registry, &process},
//       [&] { return server_state.Ready(); }));
//
// Nothing is served from disk.
#ifndef NNSERVE_SERVER_METRICS_HTTP_SERVER_H_
#define NNSERVE_SERVER_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/collectable.h"

struct mg_connection;
struct mg_context;

namespace nn::metrics {

// The Content-Type of a text exposition response.
inline constexpr char kTextFormatContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

class MetricsHttpServer {
 public:
  struct Options {
    // An IPv4 address to listen on ("0.0.0.0": every interface;
    // "127.0.0.1": loopback only). Debian 12's civetweb is built without
    // IPv6, so IPv6 addresses are rejected.
    std::string listen_address = "0.0.0.0";
    // TCP port, 0..65535; 0 picks a free port (read it with port()).
    int port = 8080;
    // civetweb worker threads, >= 1: the number of requests served at once.
    int num_threads = 2;
    // How long a request may take to arrive and be answered, > 0.
    int request_timeout_millis = 10000;
  };

  // OK when the process should receive traffic; otherwise a status whose
  // message says why not (e.g. "no model loaded", "draining"). Called from
  // civetweb's threads, possibly several at once: must be thread-safe and
  // quick.
  using ReadinessFn = std::function<absl::Status()>;

  // What /metrics serves: a registry, the process collector, ... Not
  // owned; each must outlive the server and be safe to Collect() from
  // several threads at once. The families of all sources must have distinct
  // names (nothing checks it at scrape time). Empty: /metrics is empty.
  using Sources = std::vector<const prometheus::Collectable*>;

  // Starts serving. A null `readiness` means always ready. InvalidArgument
  // for bad options or a null source; Unavailable if the address cannot be
  // bound (e.g. the port is in use).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      Options options, Sources sources, ReadinessFn readiness);

  // Stops accepting, waits for requests in progress and joins civetweb's
  // threads; returns within milliseconds when no request is in progress.
  ~MetricsHttpServer();

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The port actually bound (Options::port, or the one picked for port 0).
  int port() const { return port_; }

 private:
  MetricsHttpServer(Sources sources, ReadinessFn readiness,
                    std::string listen_address);

  // The exposition of every source (TextSerializer); may throw.
  std::string Exposition() const;

  // civetweb's request handler; `self` is the server. Returns the HTTP status
  // sent.
  static int HandleRequest(mg_connection* connection, void* self);
  int Handle(mg_connection* connection);

  const Sources sources_;
  const ReadinessFn readiness_;
  const std::string listen_address_;
  mg_context* context_ = nullptr;  // owned; mg_stop in the destructor
  int port_ = 0;
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_HTTP_SERVER_H_
