// The Open Inference Protocol's REST paths, parsed: which endpoint a
// request names, for which model and version. (Serving them is the HTTP
// endpoint's job; this is the part that can be tested without one.)
//
//   GET  /v2                                          server metadata
//   GET  /v2/health/live | /v2/health/ready           server health
//   GET  /v2/models/stats                             statistics, all models
//   POST /v2/repository/index                         repository index
//   GET  /v2/models/{m}[/versions/{v}]                model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready          model readiness
//   GET  /v2/models/{m}[/versions/{v}]/config         model configuration
//   GET  /v2/models/{m}[/versions/{v}]/stats          model statistics
//   POST /v2/models/{m}[/versions/{v}]/infer          inference
// A query string is ignored; {m} and {v} are percent-decoded and must not be
// empty. Errors: NOT_FOUND (404) for a path outside this table (the message
// names the path); INVALID_ARGUMENT for a bad percent escape. The method is
// not checked here: RestRoute::method says which one the endpoint takes,
// and the caller answers MethodNotAllowed (405) otherwise.
#ifndef NNSERVE_SERVER_V2_REST_ROUTES_H_
#define NNSERVE_SERVER_V2_REST_ROUTES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/v2/rest_codec.h"

namespace nn::v2 {

struct RestRoute {
  enum class Endpoint {
    kServerMetadata,
    kServerLive,
    kServerReady,
    kRepositoryIndex,
    kModelMetadata,
    kModelReady,
    kModelConfig,
    kModelStats,  // model empty: every model
    kModelInfer,
  };
  Endpoint endpoint = Endpoint::kServerMetadata;
  std::string model;    // empty for server endpoints
  std::string version;  // empty: the newest (the server's choice)
  absl::string_view method = "GET";  // "GET" or "POST"
};

absl::StatusOr<RestRoute> ParseRestRoute(absl::string_view path);

// 405 with {"error": ...} naming the method the endpoint takes (send it in
// an Allow header too).
RestResponse MethodNotAllowed(absl::string_view method, absl::string_view path,
                              const RestRoute& route);

}  // namespace nn::v2

#endif  // NNSERVE_SERVER_V2_REST_ROUTES_H_
