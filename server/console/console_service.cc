#include "server/console/console_service.h"

#include "server/console/console_assets.h"

namespace nn::console {

void ConsoleService::Handle(metrics::HttpExchange& exchange) const {
  const metrics::HttpExchange::Headers headers = {
      {"Content-Security-Policy", kContentSecurityPolicy},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"}};
  constexpr char kText[] = "text/plain; charset=utf-8";
  if (exchange.method() != "GET" && exchange.method() != "HEAD") {
    metrics::HttpExchange::Headers allow = headers;
    allow.emplace_back("Allow", "GET, HEAD");
    exchange.Respond(405, kText, "method not allowed\n", allow);
    return;
  }
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    if (asset.path == exchange.path()) {
      exchange.Respond(200, asset.content_type, asset.body, headers);
      return;
    }
  }
  exchange.Respond(404, kText, "not found\n", headers);
}

}  // namespace nn::console
