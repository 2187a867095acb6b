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
#include "server/inference_call.h"
#include "server/v2/metadata.h"
#include "server/v2_rest_adapter.h"

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

// A health answer: the status alone, empty body (the specification's form).
RestResponse Health(const absl::Status& status) {
  if (!status.ok()) return v2::EncodeRestError(status);
  RestResponse r;
  r.content_type = std::string(v2::kJsonContentType);
  return r;
}

// What the handler thread waits for: the answer, set by the call's Finish.
struct Outcome {
  RestResponse response;
  std::promise<void> done;
};

// One /v2 infer in flight: the decoded request around the protocol-
// independent call. Lives from Attach to its Finish (inference_call.h);
// the handler thread that waits for `outcome` outlives it.
class RestInferCall final : public InferenceCall {
 public:
  RestInferCall(absl::Time start, Outcome* outcome)
      : InferenceCall(start), outcome_(outcome) {}

  v2::DecodedRequest request;
  v2::ModelSignature signature;

 private:
  absl::Status WriteReply() override {
    reply_ = v2::EncodeRestInferResponse(
        request, servable().model_name(), absl::StrCat(servable().version()),
        probabilities(), signature);
    return absl::OkStatus();
  }

  // Runs once, maybe on a batch worker: hands the answer over, never blocks.
  void Finish(const absl::Status& status) override {
    outcome_->response =
        status.ok() ? std::move(reply_) : v2::EncodeRestError(status);
    outcome_->done.set_value();
  }

  Outcome* const outcome_;
  RestResponse reply_;
};

}  // namespace

V2RestService::V2RestService(Options options, ModelRepository* repository,
                             ReadinessFn readiness)
    : options_(std::move(options)),
      repository_(repository),
      readiness_(std::move(readiness)) {}

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
    response = Infer(*route, exchange, start);
  } else {
    response = Dispatch(*route, exchange);
  }
  if (response.json_size.has_value()) {
    extra.emplace_back(std::string(v2::kInferenceHeaderContentLength),
                       absl::StrCat(*response.json_size));
  }
  exchange.Respond(response.http_status, response.content_type, response.body,
                   extra);
}

RestResponse V2RestService::Dispatch(const v2::RestRoute& route,
                                     metrics::HttpExchange& exchange) {
  switch (route.endpoint) {
    case Endpoint::kServerLive:
      return Health(absl::OkStatus());
    case Endpoint::kServerReady: {
      const absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
      return Health(ready.ok() ? ready
                               : absl::UnavailableError(absl::StrCat(
                                     "not ready: ", ready.message())));
    }
    case Endpoint::kServerMetadata:
      return ServerMetadata();
    case Endpoint::kRepositoryIndex:
      // The body (repository name, "ready") is optional; it is not read.
      (void)exchange;
      return RepositoryIndex();
    case Endpoint::kModelStats:
      return v2::EncodeRestError(absl::UnimplementedError(
          "statistics are not served over REST yet"));
    default:
      return ModelAnswer(route);
  }
}

RestResponse V2RestService::ServerMetadata() const {
  inference::ServerMetadataResponse metadata;
  metadata.set_name("nnserve");
  metadata.set_version(options_.server_version);
  for (const std::string& e : v2::V2Extensions(false)) {
    metadata.add_extensions(e);
  }
  return Json(v2::MessageToJson(metadata));
}

RestResponse V2RestService::ModelAnswer(const v2::RestRoute& route) const {
  absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
      v2rest::ResolveV2(*repository_, route.model, route.version);
  if (route.endpoint == Endpoint::kModelReady) {
    if (servable.ok()) return Health(absl::OkStatus());
    // A known model without a servable version is not ready (503); an
    // unknown name is 404.
    if (repository_->HasModel(route.model) && route.version.empty()) {
      return v2::EncodeRestError(absl::UnavailableError(absl::StrCat(
          "model '", route.model, "' has no version ready: ",
          servable.status().message())));
    }
    return v2::EncodeRestError(servable.status());
  }
  if (!servable.ok()) return v2::EncodeRestError(servable.status());
  const v2::ModelDescription description =
      v2rest::DescribeV2(*repository_, **servable);
  if (route.endpoint == Endpoint::kModelConfig) {
    inference::ModelConfig config;
    v2::FillModelConfig(description, &config);
    return Json(v2::MessageToJson(config));
  }
  inference::ModelMetadataResponse metadata;
  v2::FillModelMetadata(description, &metadata);
  return Json(v2::MessageToJson(metadata));
}

RestResponse V2RestService::RepositoryIndex() const {
  inference::RepositoryIndexResponse index;
  for (const nnserve::v1::ModelStatus& model : repository_->ListModels()) {
    for (const nnserve::v1::VersionInfo& v : model.versions()) {
      inference::RepositoryIndexResponse::ModelIndex* entry =
          index.add_models();
      entry->set_name(model.name());
      entry->set_version(absl::StrCat(v.version()));
      const bool ready = v.state() == nnserve::v1::VERSION_STATE_AVAILABLE;
      entry->set_state(ready ? "READY" : "UNAVAILABLE");
      if (!ready) entry->set_reason(v.error());
    }
  }
  return Json(v2::MessageToJson(index));
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
  if (stopping_.load()) {
    return v2::EncodeRestError(
        absl::UnavailableError("server is draining: not accepting requests"));
  }
  if (!started_.load()) {
    return v2::EncodeRestError(
        absl::UnavailableError("server is starting: models are loading"));
  }
  admitted_.fetch_add(1);
  struct Answered {
    V2RestService* self;
    ~Answered() { self->answered_.fetch_add(1); }
  } answered{this};

  absl::StatusOr<std::string> body =
      exchange.ReadBody(options_.max_request_bytes);
  if (!body.ok()) return v2::EncodeRestError(body.status());
  absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
      v2rest::ResolveV2(*repository_, route.model, route.version);
  if (!servable.ok()) return v2::EncodeRestError(servable.status());

  Outcome outcome;
  std::future<void> done = outcome.done.get_future();
  auto call = std::make_unique<RestInferCall>(start, &outcome);
  call->Attach(*std::move(servable));
  v2::ModelSignature& signature = call->signature;
  signature.height = call->servable().model().input_height();
  signature.width = call->servable().model().input_width();
  signature.labels = call->servable().labels();
  v2::CodecLimits limits;
  limits.max_images = options_.max_images_per_request;
  limits.max_request_bytes = options_.max_request_bytes;
  absl::StatusOr<v2::DecodedRequest> decoded = v2::DecodeRestInferRequest(
      *body, exchange.header(v2::kInferenceHeaderContentLength.data()),
      signature, limits);
  if (!decoded.ok()) {
    InferenceCall::Fail(std::move(call), decoded.status());
  } else {
    const int64_t images = decoded->images.count;
    call->input() = std::move(decoded->images.pixels);
    const absl::Time deadline =
        decoded->timeout_micros.has_value()
            ? start + absl::Microseconds(*decoded->timeout_micros)
            : absl::InfiniteFuture();
    call->request = *std::move(decoded);
    InferenceCall::Submit(std::move(call), images, deadline, nullptr);
  }
  // Finish has run or will run exactly once (inference_call.h).
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
