// The Open Inference Protocol's gRPC service, inference.GRPCInferenceService
// (proto/inference/open_inference.proto), on nnserve's gRPC port beside
// nnserve.v1.InferenceService. A thin translation: each handler parses its
// request, asks V2Serving (v2_serving.h: the protocol-independent half,
// shared with REST) and writes the reply; ModelInfer goes through
// V2Serving::Infer, the same request path as Predict (callback API, no
// thread parked per request, the reply finished from the batch's
// completion).
//
// Methods: ServerLive, ServerReady, ModelReady, ServerMetadata,
// ModelMetadata, ModelInfer, ModelConfig, ModelStatistics, RepositoryIndex.
// Any other method of the protocol (model load/unload, shared memory, trace,
// log settings) is not in the service, so gRPC answers UNIMPLEMENTED.
//
// Every method is raw (bytes in and out, server/wire_messages.h): a request
// that does not parse is INVALID_ARGUMENT ("request could not be parsed as
// inference.ModelInferRequest ..."), not gRPC's UNIMPLEMENTED. Every call is
// counted in the request metrics with protocol="v2" and its method name.
//
// Status codes (absl -> gRPC one to one, common/grpc_status.h):
//   NOT_FOUND           unknown model, or a version it does not serve
//   INVALID_ARGUMENT    a malformed request (the message names the tensor,
//                       what was expected and what arrived)
//   RESOURCE_EXHAUSTED  more images than --max_images_per_request, or a
//                       message over the receive limit
//   UNAVAILABLE         not started yet (models loading), queue full, or
//                       the version is shutting down (retryable)
//   DEADLINE_EXCEEDED   the deadline passed before compute
//   CANCELLED           the client cancelled before compute
#ifndef NNSERVE_SERVER_V2_GRPC_SERVICE_H_
#define NNSERVE_SERVER_V2_GRPC_SERVICE_H_

#include "absl/status/status.h"
#include "grpcpp/support/byte_buffer.h"
#include "inference/open_inference.grpc.pb.h"
#include "server/metrics/metric_names.h"
#include "server/v2_serving.h"

namespace nn {

// The health status name of this service (besides "" and nnserve.v1's).
inline constexpr char kV2ServiceName[] = "inference.GRPCInferenceService";

using V2GrpcServiceBase = inference::GRPCInferenceService::
    WithRawCallbackMethod_ServerLive<inference::GRPCInferenceService::
    WithRawCallbackMethod_ServerReady<inference::GRPCInferenceService::
    WithRawCallbackMethod_ModelReady<inference::GRPCInferenceService::
    WithRawCallbackMethod_ServerMetadata<inference::GRPCInferenceService::
    WithRawCallbackMethod_ModelMetadata<inference::GRPCInferenceService::
    WithRawCallbackMethod_ModelInfer<inference::GRPCInferenceService::
    WithRawCallbackMethod_ModelConfig<inference::GRPCInferenceService::
    WithRawCallbackMethod_ModelStatistics<inference::GRPCInferenceService::
    WithRawCallbackMethod_RepositoryIndex<
        inference::GRPCInferenceService::Service>>>>>>>>>;

class V2GrpcService final : public V2GrpcServiceBase {
 public:
  // `serving` must outlive the service.
  explicit V2GrpcService(const V2Serving* serving) : serving_(serving) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;

 private:
  // A method that answers at once: parses the request, runs `handle`
  // (Request -> Response, absl::Status), serializes the reply, and counts
  // the call under `method` and the model the request names (`model`).
  template <typename Request, typename Response, typename Handle,
            typename ModelOf>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request_bytes,
                                  grpc::ByteBuffer* response_bytes,
                                  metrics::Method method, Handle handle,
                                  ModelOf model) const;

  const V2Serving* const serving_;
};

}  // namespace nn

#endif  // NNSERVE_SERVER_V2_GRPC_SERVICE_H_
