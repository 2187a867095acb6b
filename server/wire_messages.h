// Requests and replies as bytes: every nnserve.v1 method is registered raw
// (grpc::ByteBuffer in and out) and parses its own request here.
//
// Why: gRPC 1.51's callback API answers a request it cannot deserialize
// (random bytes, a string field that is not UTF-8) UNIMPLEMENTED with an
// empty message, and gives the handler no say (CallbackUnaryHandler::
// RunHandler ignores the deserialization status). Parsed here, such a
// request is INVALID_ARGUMENT with a message that says so.
//
// Cost: none over the typed path. ParseRequest reads the received slices in
// place through grpc::ProtoBufferReader, as gRPC's own deserializer does, and
// SerializeResponse writes the reply into one slice of its exact size
// (computing the size once, where gRPC's serializer computes it twice);
// gRPC then sends that ByteBuffer by reference (its slices are refcounted,
// no byte is copied).
#ifndef NNSERVE_SERVER_WIRE_MESSAGES_H_
#define NNSERVE_SERVER_WIRE_MESSAGES_H_

#include <chrono>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"

namespace nn {

// Parses `bytes` into `request` (cleared first). INVALID_ARGUMENT if they are
// not a serialized message of its type: "request could not be parsed as
// nnserve.v1.PredictRequest (...)".
absl::Status ParseRequest(const grpc::ByteBuffer& bytes,
                          google::protobuf::MessageLite* request);

// Serializes `response` into `bytes`, replacing what they held. INTERNAL
// only if protobuf cannot (a message over 2 GB).
absl::Status SerializeResponse(const google::protobuf::MessageLite& response,
                               grpc::ByteBuffer* bytes);

// A call's deadline (grpc::ServerContext::deadline()) as absl::Time:
// absl::InfiniteFuture() for none.
absl::Time ToAbslDeadline(std::chrono::system_clock::time_point deadline);

}  // namespace nn

#endif  // NNSERVE_SERVER_WIRE_MESSAGES_H_
