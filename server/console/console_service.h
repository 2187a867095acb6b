// The web console's page on the HTTP port (MetricsHttpServer routes "/" and
// "/console"): serves the embedded files of console_assets.h and nothing
// else. The page itself reads the JSON view of nnserve.v1 (/v1, server/
// v1_rest_service.h) and infers through the Open Inference Protocol's REST
// endpoint (/v2/models/{m}/infer); it holds no state on the server.
//
//   GET /                 index.html
//   GET /console/<file>   app.js, app.css (the embedded table)
//   other paths below /console: 404; other methods: 405 + "Allow: GET, HEAD"
// HEAD is answered like GET without the body.
//
// Every answer carries a strict Content-Security-Policy (kContentSecurity
// Policy: scripts and styles only from the server's own files, no inline
// script or style, no eval, no frames, requests only to the same origin),
// "X-Content-Type-Options: nosniff", "Referrer-Policy: no-referrer" and
// "X-Frame-Options: DENY". nnserve --enable_console=false leaves both
// routes out, so "/" is a 404.
#ifndef NNSERVE_SERVER_CONSOLE_CONSOLE_SERVICE_H_
#define NNSERVE_SERVER_CONSOLE_CONSOLE_SERVICE_H_

#include "server/metrics/http_exchange.h"

namespace nn::console {

inline constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

class ConsoleService {
 public:
  // Serves one request for "/" or below "/console"; never blocks.
  void Handle(metrics::HttpExchange& exchange) const;
};

}  // namespace nn::console

#endif  // NNSERVE_SERVER_CONSOLE_CONSOLE_SERVICE_H_
