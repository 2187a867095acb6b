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
//   a route's prefix (Options::routes, e.g. "/v2" and "/v2/...", or "/"
//                 for "/" alone): its
//                 handler answers, on the civetweb thread (http_exchange.h)
//   other paths   404
//   other methods 405 with "Allow: GET, HEAD" (on the three paths above)
// HEAD is answered like GET without the body. Bodies are text/plain, never
// compressed. Connections are kept alive only with Options::keep_alive:
// civetweb serves a connection on one worker thread from its first request
// to its close, so each open keep-alive connection (idle ones too, until
// keep_alive_timeout_millis) holds one of num_threads; a scrape every few
// seconds does not need it, a REST client sending many requests does.
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
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "server/metrics/http_exchange.h"

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
    // Keep connections open between requests (HTTP/1.1 keep-alive), closing
    // one idle for keep_alive_timeout_millis (> 0).
    bool keep_alive = false;
    int keep_alive_timeout_millis = 5000;
    // Paths served by another component: a request whose path is `prefix`
    // or starts with `prefix` + "/" goes to `handler`, whatever its method;
    // the prefix "/" routes the path "/" alone (the console's page).
    // The handler runs on a civetweb thread, may block it (it holds that
    // thread and its connection only), must answer once, and must return
    // before the server is destroyed. Exceptions become a 500.
    struct Route {
      std::string prefix;
      std::function<void(HttpExchange&)> handler;
    };
    std::vector<Route> routes = {};
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
                    std::string listen_address,
                    std::vector<Options::Route> routes);

  // The route serving `path`, or null.
  const Options::Route* RouteFor(std::string_view path) const;

  // The exposition of every source (TextSerializer); may throw.
  std::string Exposition() const;

  // civetweb's request handler; `self` is the server. Returns the HTTP status
  // sent.
  static int HandleRequest(mg_connection* connection, void* self);
  int Handle(mg_connection* connection);

  const Sources sources_;
  const ReadinessFn readiness_;
  const std::string listen_address_;
  const std::vector<Options::Route> routes_;
  mg_context* context_ = nullptr;  // owned; mg_stop in the destructor
  int port_ = 0;
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_HTTP_SERVER_H_
