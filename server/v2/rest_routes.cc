#include "server/v2/rest_routes.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/quote.h"

namespace nn::v2 {
namespace {

using Endpoint = RestRoute::Endpoint;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view segment) {
  std::string out;
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    const bool whole = i + 2 < segment.size();
    const int hi = whole ? HexValue(segment[i + 1]) : -1;
    const int lo = whole ? HexValue(segment[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "path segment ", Quote(segment), " has a bad percent escape"));
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

absl::Status NotFound(absl::string_view path) {
  return absl::NotFoundError(absl::StrCat(
      "no endpoint ", Quote(path), "; the V2 endpoints are /v2, "
      "/v2/health/{live,ready}, /v2/models/{m}[/versions/{v}]"
      "[/ready|/config|/stats|/infer], /v2/models/stats, /v2/repository/index"));
}

}  // namespace

absl::StatusOr<RestRoute> ParseRestRoute(absl::string_view path) {
  const absl::string_view full = path;
  path = path.substr(0, path.find('?'));
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  // A leading "/" gives an empty first part; a trailing "/" is tolerated.
  if (parts.size() < 2 || !parts[0].empty() || parts[1] != "v2") {
    return NotFound(full);
  }
  if (parts.back().empty() && parts.size() > 2) parts.pop_back();
  parts.erase(parts.begin(), parts.begin() + 2);  // now after "/v2"
  RestRoute route;
  if (parts.empty()) return route;  // /v2
  if (parts[0] == "health" && parts.size() == 2) {
    if (parts[1] == "live") route.endpoint = Endpoint::kServerLive;
    else if (parts[1] == "ready") route.endpoint = Endpoint::kServerReady;
    else return NotFound(full);
    return route;
  }
  if (parts[0] == "repository" && parts.size() == 2 && parts[1] == "index") {
    route.endpoint = Endpoint::kRepositoryIndex;
    route.method = "POST";
    return route;
  }
  if (parts[0] != "models" || parts.size() < 2) return NotFound(full);
  if (parts.size() == 2 && parts[1] == "stats") {
    route.endpoint = Endpoint::kModelStats;
    return route;
  }
  if (parts[1].empty()) return NotFound(full);
  absl::StatusOr<std::string> model = PercentDecode(parts[1]);
  if (!model.ok()) return model.status();
  route.model = *std::move(model);
  size_t next = 2;
  if (parts.size() >= 4 && parts[2] == "versions") {
    if (parts[3].empty()) return NotFound(full);
    absl::StatusOr<std::string> version = PercentDecode(parts[3]);
    if (!version.ok()) return version.status();
    route.version = *std::move(version);
    next = 4;
  }
  if (parts.size() == next) {
    route.endpoint = Endpoint::kModelMetadata;
    return route;
  }
  if (parts.size() != next + 1) return NotFound(full);
  const absl::string_view action = parts[next];
  if (action == "ready") route.endpoint = Endpoint::kModelReady;
  else if (action == "config") route.endpoint = Endpoint::kModelConfig;
  else if (action == "stats") route.endpoint = Endpoint::kModelStats;
  else if (action == "infer") {
    route.endpoint = Endpoint::kModelInfer;
    route.method = "POST";
  } else {
    return NotFound(full);
  }
  return route;
}

RestResponse MethodNotAllowed(absl::string_view method, absl::string_view path,
                              const RestRoute& route) {
  RestResponse response;
  response.http_status = 405;
  response.content_type = std::string(kJsonContentType);
  response.body = JsonErrorBody(absl::StrCat(
      Quote(method), " ", Quote(path), ": this endpoint takes ", route.method));
  return response;
}

}  // namespace nn::v2
