#include "server/wire_messages.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/impl/codegen/proto_utils.h"  // SerializationTraits for protobuf
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace nn {

absl::Status ParseRequest(const grpc::ByteBuffer& bytes,
                          google::protobuf::MessageLite* request) {
  // The reader only reads the buffer's slices; ByteBuffer's accessor for
  // them is not const. (gRPC's deserializer would also Clear() the buffer:
  // not needed, the call owns and frees it.)
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&bytes));
  if (reader.status().ok() && request->ParseFromZeroCopyStream(&reader)) {
    return absl::OkStatus();
  }
  request->Clear();
  return absl::InvalidArgumentError(absl::StrCat(
      "request could not be parsed as ", request->GetTypeName(), " (",
      bytes.Length(),
      " bytes that are not a serialized message of this type: a malformed "
      "or truncated field, or a string field that is not valid UTF-8)"));
}

absl::Status SerializeResponse(const google::protobuf::MessageLite& response,
                               grpc::ByteBuffer* bytes) {
  // gRPC's writer requires an empty buffer (a stream reuses one).
  bytes->Clear();
  bool own_buffer = false;
  const grpc::Status status =
      grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
          response, bytes, &own_buffer);
  if (status.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cannot serialize the ",
                                          response.GetTypeName(), " reply: ",
                                          status.error_message()));
}

absl::Time ToAbslDeadline(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace nn
