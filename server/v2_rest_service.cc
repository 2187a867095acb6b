#include "server/v2_rest_service.h"

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "inference/model_config.pb.h"
#include "inference/open_inference.pb.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "server/v2/metadata.h"

namespace nn {
namespace {

using Endpoint = v2::RestRoute::Endpoint;
using v2::RestResponse;

RestResponse Json(std::string body) {
  RestResponse r;
  r.content_type = std::string(v2::kJsonContentType);
  r.body = std::move(body);
  return r;
}

// A positive health answer: 200 and an empty body (the specification's
// form; a negative one is an error status with its JSON message).
RestResponse Health() {
  RestResponse r;
  r.content_type = std::string(v2::kJsonContentType);
  return r;
}

// What the handler thread waits for: the answer, set by the call's Finish.
struct Outcome {
  RestResponse response;
  std::promise<void> done;
};

// One /v2 infer in flight: the HTTP request's body around the V2 call.
// Lives until its Finish (inference_call.h); the handler thread that waits
// for `outcome` outlives it.
class RestInferCall final : public V2InferenceCall {
 public:
  RestInferCall(absl::Time start, std::string body,
                std::optional<std::string> json_size, Outcome* outcome)
      : V2InferenceCall(start, metrics::Protocol::kV2Http),
        body_(std::move(body)),
        json_size_(std::move(json_size)),
        outcome_(outcome) {}

 private:
  absl::StatusOr<v2::DecodedRequest> Decode(
      const v2::ModelSignature& signature,
      const v2::CodecLimits& limits) override {
    std::optional<absl::string_view> header;
    if (json_size_.has_value()) header = *json_size_;
    return v2::DecodeRestInferRequest(body_, header, signature, limits);
  }

  absl::Status WriteV2Reply(const v2::DecodedRequest& request,
                            const std::string& model_name,
                            const std::string& model_version,
                            absl::Span<const float> probabilities,
                            const v2::ModelSignature& signature) override {
    reply_ = v2::EncodeRestInferResponse(request, model_name, model_version,
                                         probabilities, signature);
    return absl::OkStatus();
  }

  // Runs once, maybe on a batch worker: hands the answer over, never blocks.
  void Finish(const absl::Status& status) override {
    outcome_->response =
        status.ok() ? std::move(reply_) : v2::EncodeRestError(status);
    outcome_->done.set_value();
  }

  // The decoded request's views point into body_, which lives as long.
  const std::string body_;
  const std::optional<std::string> json_size_;
  Outcome* const outcome_;
  RestResponse reply_;
};

}  // namespace

V2RestService::V2RestService(const V2Serving* v2, ReadinessFn readiness)
    : v2_(v2), readiness_(std::move(readiness)) {}

void V2RestService::Handle(metrics::HttpExchange& exchange) {
  const absl::Time start = absl::Now();
  RestResponse response;
  metrics::HttpExchange::Headers extra;
  absl::StatusOr<v2::RestRoute> route = v2::ParseRestRoute(exchange.path());
  if (!route.ok()) {
    response = v2::EncodeRestError(route.status());
  } else if (exchange.method() != route->method) {
    response = v2::MethodNotAllowed(exchange.method(), exchange.path(), *route);
    extra.emplace_back("Allow", std::string(route->method));
  } else if (route->endpoint == Endpoint::kModelInfer) {
    response = Infer(*route, exchange, start);  // counted by the adapter
  } else {
    metrics::Method method = metrics::Method::kServerMetadata;
    absl::StatusOr<RestResponse> answer = Answer(*route, exchange, &method);
    v2_->RecordRequest(metrics::Protocol::kV2Http, method, route->model,
                       answer.status().code(), start);
    response = answer.ok() ? *std::move(answer)
                           : v2::EncodeRestError(answer.status());
  }
  if (response.json_size.has_value()) {
    extra.emplace_back(std::string(v2::kInferenceHeaderContentLength),
                       absl::StrCat(*response.json_size));
  }
  exchange.Respond(response.http_status, response.content_type, response.body,
                   extra);
}

absl::StatusOr<RestResponse> V2RestService::Answer(
    const v2::RestRoute& route, metrics::HttpExchange& exchange,
    metrics::Method* method) const {
  using metrics::Method;
  switch (route.endpoint) {
    case Endpoint::kServerLive:
      *method = Method::kServerLive;
      return Health();
    case Endpoint::kServerReady: {
      *method = Method::kServerReady;
      const absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
      if (!ready.ok()) {
        return absl::UnavailableError(
            absl::StrCat("not ready: ", ready.message()));
      }
      return Health();
    }
    case Endpoint::kServerMetadata: {
      *method = Method::kServerMetadata;
      inference::ServerMetadataResponse metadata;
      v2_->ServerMetadata(&metadata);
      return Json(v2::MessageToJson(metadata));
    }
    case Endpoint::kRepositoryIndex: {
      *method = Method::kRepositoryIndex;
      // {"repository_name": ..., "ready": ...}: a few bytes; 64 KB is
      // ample and bounds what a client can make the server read.
      ASSIGN_OR_RETURN(const std::string body,
                       exchange.ReadBody(int64_t{64} << 10));
      ASSIGN_OR_RETURN(const bool ready_only,
                       v2::ParseRepositoryIndexReady(body));
      inference::RepositoryIndexResponse index;
      v2_->RepositoryIndex(ready_only, &index);
      // The REST answer is the list itself (Triton's model repository
      // extension: [{"name", "version", "state", "reason"}, ...]).
      std::string list = "[";
      for (const auto& model : index.models()) {
        if (list.size() > 1) list += ',';
        list += v2::MessageToJson(model);
      }
      return Json(list + "]");
    }
    case Endpoint::kModelStats: {
      *method = Method::kModelStatistics;
      inference::ModelStatisticsResponse stats;
      const absl::Status s =
          v2_->ModelStatistics(route.model, route.version, &stats);
      RETURN_IF_ERROR(s);
      return Json(v2::MessageToJson(stats));
    }
    case Endpoint::kModelReady: {
      *method = Method::kModelReady;
      ASSIGN_OR_RETURN(const bool ready,
                       v2_->ModelReady(route.model, route.version));
      if (!ready) {
        return absl::UnavailableError(
            absl::StrCat("model ", Quote(route.model), " has no version ready",
                         route.version.empty() ? "" : " of that number"));
      }
      return Health();
    }
    case Endpoint::kModelConfig: {
      *method = Method::kModelConfig;
      inference::ModelConfigResponse config;
      const absl::Status s = v2_->ModelConfig(route.model, route.version, &config);
      RETURN_IF_ERROR(s);
      // Triton's REST answer is the configuration itself, not the wrapper.
      return Json(v2::MessageToJson(config.config()));
    }
    default: {
      *method = Method::kModelMetadata;
      inference::ModelMetadataResponse metadata;
      const absl::Status s =
          v2_->ModelMetadata(route.model, route.version, &metadata);
      RETURN_IF_ERROR(s);
      return Json(v2::MessageToJson(metadata));
    }
  }
}

RestResponse V2RestService::Infer(const v2::RestRoute& route,
                                  metrics::HttpExchange& exchange,
                                  absl::Time start) {
  // Counted before the drain flag is read: StopAccepting() then WaitIdle()
  // sees every request that got past the check.
  in_flight_.fetch_add(1);
  struct Leave {
    V2RestService* self;
    ~Leave() { self->in_flight_.fetch_sub(1); }
  } leave{this};
  auto refuse = [&](const absl::Status& status) {
    v2_->RecordRequest(metrics::Protocol::kV2Http, metrics::Method::kModelInfer,
                       route.model, status.code(), start);
    return v2::EncodeRestError(status);
  };
  if (stopping_.load()) {
    return refuse(
        absl::UnavailableError("server is draining: not accepting requests"));
  }
  admitted_.fetch_add(1);
  struct Answered {
    V2RestService* self;
    ~Answered() { self->answered_.fetch_add(1); }
  } answered{this};

  absl::StatusOr<std::string> body =
      exchange.ReadBody(v2_->options().max_request_bytes);
  if (!body.ok()) return refuse(body.status());
  std::optional<std::string> json_size;
  if (auto h = exchange.header(v2::kInferenceHeaderContentLength.data())) {
    json_size = std::string(*h);
  }
  Outcome outcome;
  std::future<void> done = outcome.done.get_future();
  v2_->Infer(std::make_unique<RestInferCall>(start, *std::move(body),
                                             std::move(json_size), &outcome),
             route.model, route.version, absl::InfiniteFuture(), nullptr);
  // Finish has run or will run exactly once (v2_serving.h).
  done.wait();
  return std::move(outcome.response);
}

bool V2RestService::WaitIdle(absl::Time deadline) const {
  while (in_flight_.load() > 0) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace nn
