#include "server/v2_grpc_service.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/arena.h"
#include "common/grpc_status.h"
#include "server/v2/grpc_codec.h"
#include "server/wire_messages.h"

namespace nn {
namespace {

using metrics::Method;
constexpr metrics::Protocol kProtocol = metrics::Protocol::kV2Grpc;

// One ModelInfer in flight: the wire request and reply around the
// protocol-independent call (v2_serving.h, inference_call.h).
//
// The request and the reply each live on a protobuf arena whose first
// block is part of the call: the call, its messages and their
// sub-messages, strings' headers and repeated fields are one allocation,
// freed at once. Two arenas because an arena takes a new block for each
// thread that allocates from it, and the reply may be written on a batch
// worker: the reply's arena is made where the reply is written. Only
// string bytes past the small-string size (raw_input_contents, the
// probabilities' raw bytes) and whatever outgrows a block (e.g. the
// strings of a large classification reply) are allocated apart.
class GrpcInferCall final : public V2InferenceCall {
 public:
  GrpcInferCall(absl::Time start, grpc::ServerUnaryReactor* reactor,
                grpc::ByteBuffer* response_bytes)
      : V2InferenceCall(start, kProtocol),
        reactor_(reactor),
        response_bytes_(response_bytes),
        request_arena_(request_block_, sizeof request_block_),
        request_(google::protobuf::Arena::CreateMessage<
                 inference::ModelInferRequest>(&request_arena_)) {}

  inference::ModelInferRequest& request() { return *request_; }

 private:
  // Measured (SpaceUsed, 1 or 64 images, default outputs): the request uses
  // 640 bytes of its arena, the reply 952; a block also holds the arena's
  // header and cleanup list (the reply did not fit in 1024 bytes).
  static constexpr size_t kRequestBlockBytes = 1024;
  static constexpr size_t kResponseBlockBytes = 2048;

  absl::StatusOr<v2::DecodedRequest> Decode(
      const v2::ModelSignature& signature,
      const v2::CodecLimits& limits) override {
    return v2::DecodeGrpcInferRequest(*request_, signature, limits);
  }

  absl::Status WriteV2Reply(const v2::DecodedRequest& decoded,
                            const std::string& model_name,
                            const std::string& model_version,
                            absl::Span<const float> probabilities,
                            const v2::ModelSignature& signature) override {
    response_arena_.emplace(response_block_, sizeof response_block_);
    auto* response = google::protobuf::Arena::CreateMessage<
        inference::ModelInferResponse>(&*response_arena_);
    v2::EncodeGrpcInferResponse(decoded, model_name, model_version,
                                probabilities, signature, response);
    return SerializeResponse(*response, response_bytes_);
  }

  void Finish(const absl::Status& status) override {
    reactor_->Finish(ToGrpcStatus(status));
  }

  grpc::ServerUnaryReactor* const reactor_;
  grpc::ByteBuffer* const response_bytes_;  // gRPC's, for the reply
  // Declared in this order: each block before the arena that uses it, an
  // arena before the message it owns (which it frees, not their
  // destructors).
  alignas(8) char request_block_[kRequestBlockBytes];
  alignas(8) char response_block_[kResponseBlockBytes];
  google::protobuf::Arena request_arena_;
  inference::ModelInferRequest* const request_;
  std::optional<google::protobuf::Arena> response_arena_;  // WriteV2Reply's
};

// The model a request names, for the metrics ("" for server-wide calls).
template <typename Request>
std::string NoModel(const Request& /*request*/) {
  return "";
}
template <typename Request>
std::string NamedModel(const Request& request) {
  return request.name();
}

}  // namespace

template <typename Request, typename Response, typename Handle,
          typename ModelOf>
grpc::ServerUnaryReactor* V2GrpcService::Unary(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes, Method method, Handle handle,
    ModelOf model) const {
  const absl::Time start = absl::Now();
  Request request;
  Response response;
  absl::Status status = ParseRequest(*request_bytes, &request);
  const bool parsed = status.ok();
  if (parsed) status = handle(request, &response);
  serving_->RecordRequest(kProtocol, method, parsed ? model(request) : "",
                          status.code(), start);
  if (status.ok()) status = SerializeResponse(response, response_bytes);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* V2GrpcService::ServerLive(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::ServerLiveRequest, inference::ServerLiveResponse>(
      context, request, response, Method::kServerLive,
      [this](const auto&, inference::ServerLiveResponse* r) {
        r->set_live(serving_->ServerLive());
        return absl::OkStatus();
      },
      NoModel<inference::ServerLiveRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::ServerReady(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::ServerReadyRequest, inference::ServerReadyResponse>(
      context, request, response, Method::kServerReady,
      [this](const auto&, inference::ServerReadyResponse* r) {
        r->set_ready(serving_->ServerReady());
        return absl::OkStatus();
      },
      NoModel<inference::ServerReadyRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::ModelReady(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::ModelReadyRequest, inference::ModelReadyResponse>(
      context, request, response, Method::kModelReady,
      [this](const inference::ModelReadyRequest& q,
             inference::ModelReadyResponse* r) {
        absl::StatusOr<bool> ready = serving_->ModelReady(q.name(), q.version());
        if (!ready.ok()) return ready.status();
        r->set_ready(*ready);
        return absl::OkStatus();
      },
      NamedModel<inference::ModelReadyRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::ServerMetadata(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::ServerMetadataRequest,
               inference::ServerMetadataResponse>(
      context, request, response, Method::kServerMetadata,
      [this](const auto&, inference::ServerMetadataResponse* r) {
        serving_->ServerMetadata(r);
        return absl::OkStatus();
      },
      NoModel<inference::ServerMetadataRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::ModelMetadata(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::ModelMetadataRequest,
               inference::ModelMetadataResponse>(
      context, request, response, Method::kModelMetadata,
      [this](const inference::ModelMetadataRequest& q,
             inference::ModelMetadataResponse* r) {
        return serving_->ModelMetadata(q.name(), q.version(), r);
      },
      NamedModel<inference::ModelMetadataRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::ModelConfig(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::ModelConfigRequest, inference::ModelConfigResponse>(
      context, request, response, Method::kModelConfig,
      [this](const inference::ModelConfigRequest& q,
             inference::ModelConfigResponse* r) {
        return serving_->ModelConfig(q.name(), q.version(), r);
      },
      NamedModel<inference::ModelConfigRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::ModelStatistics(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::ModelStatisticsRequest,
               inference::ModelStatisticsResponse>(
      context, request, response, Method::kModelStatistics,
      [this](const inference::ModelStatisticsRequest& q,
             inference::ModelStatisticsResponse* r) {
        return serving_->ModelStatistics(q.name(), q.version(), r);
      },
      NamedModel<inference::ModelStatisticsRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::RepositoryIndex(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary<inference::RepositoryIndexRequest,
               inference::RepositoryIndexResponse>(
      context, request, response, Method::kRepositoryIndex,
      [this](const inference::RepositoryIndexRequest& q,
             inference::RepositoryIndexResponse* r) {
        serving_->RepositoryIndex(q.ready(), r);
        return absl::OkStatus();
      },
      NoModel<inference::RepositoryIndexRequest>);
}

grpc::ServerUnaryReactor* V2GrpcService::ModelInfer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_unique<GrpcInferCall>(start, reactor, response_bytes);
  if (absl::Status parsed = ParseRequest(*request_bytes, &call->request());
      !parsed.ok()) {
    serving_->RecordRequest(kProtocol, Method::kModelInfer, "", parsed.code(),
                            start);
    reactor->Finish(ToGrpcStatus(parsed));
    return reactor;
  }
  // Copied: the call (and its request) may be gone when Infer returns.
  const std::string model = call->request().model_name();
  const std::string version = call->request().model_version();
  serving_->Infer(std::move(call), model, version,
                  ToAbslDeadline(context->deadline()),
                  [context] { return context->IsCancelled(); });
  return reactor;
}

}  // namespace nn
