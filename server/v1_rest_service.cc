#include "server/v1_rest_service.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "nnserve/v1/inference.pb.h"
#include "server/v1_json.h"
#include "server/v1_training_rest.h"
#include "server/v2/rest_codec.h"

namespace nn {
namespace {

constexpr char kJson[] = "application/json";

absl::Status NoSuchEndpoint(absl::string_view path) {
  return absl::NotFoundError(absl::StrCat(
      "no endpoint ", Quote(path),
      " (GET /v1/models, /v1/models/{model}, "
      "/v1/models/{model}/versions/{version})"));
}

}  // namespace

void V1RestService::Handle(metrics::HttpExchange& exchange) {
  if (training_ != nullptr && (exchange.path() == "/v1/training" ||
                               absl::StartsWith(exchange.path(), "/v1/training/"))) {
    training_->Handle(exchange);
    return;
  }
  const absl::string_view method = exchange.method();
  if (method != "GET" && method != "HEAD") {
    exchange.Respond(
        405, kJson,
        v2::JsonErrorBody(absl::StrCat("method ", Quote(method), " on ",
                                       Quote(exchange.path()),
                                       ": the /v1 view is read-only (GET)")),
        {{"Allow", "GET, HEAD"}});
    return;
  }
  absl::StatusOr<std::string> answer = Answer(exchange.path());
  if (answer.ok()) {
    exchange.Respond(200, kJson, *answer, {});
  } else {
    exchange.Respond(v2::HttpStatusFor(answer.status().code()), kJson,
                     v2::JsonErrorBody(answer.status().message()), {});
  }
}

absl::StatusOr<std::string> V1RestService::Answer(absl::string_view path) {
  // "/v1/models/m/versions/3" -> {"", "v1", "models", "m", "versions", "3"}
  const std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  if (parts.size() < 3 || parts[1] != "v1" || parts[2] != "models") {
    return NoSuchEndpoint(path);
  }
  if (parts.size() == 3) {
    nnserve::v1::ListModelsResponse response;
    RETURN_IF_ERROR(
        service_->AnswerListModels(nnserve::v1::ListModelsRequest(), &response));
    return ToJson(response);
  }
  nnserve::v1::ModelInfoRequest request;
  request.set_model(std::string(parts[3]));
  if (parts.size() == 6 && parts[4] == "versions") {
    int64_t version = 0;
    if (!absl::SimpleAtoi(parts[5], &version) || version < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("version ", Quote(parts[5]),
                       " is not a version number (1, 2, ...)"));
    }
    request.set_version(version);
  } else if (parts.size() != 4) {
    return NoSuchEndpoint(path);
  }
  nnserve::v1::ModelInfoResponse response;
  RETURN_IF_ERROR(service_->AnswerModelInfo(request, &response));
  return ToJson(response);
}

}  // namespace nn
