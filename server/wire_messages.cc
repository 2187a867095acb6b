#include "server/wire_messages.h"

#include <climits>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/proto_buffer_reader.h"

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
  // One size computation and one slice of exactly that size, serialized
  // into in place (gRPC's own serializer computes the size twice for a
  // message over the inline size: once itself, once in
  // SerializeToZeroCopyStream).
  const size_t size = response.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return absl::InternalError(absl::StrCat(
        "cannot serialize the ", response.GetTypeName(), " reply: ", size,
        " bytes is over protobuf's 2 GB limit"));
  }
  grpc::Slice slice(size);
  uint8_t* const begin = const_cast<uint8_t*>(slice.begin());
  if (response.SerializeWithCachedSizesToArray(begin) != begin + size) {
    return absl::InternalError(absl::StrCat(
        "cannot serialize the ", response.GetTypeName(),
        " reply: its size changed while it was written"));
  }
  grpc::ByteBuffer serialized(&slice, 1);
  bytes->Swap(&serialized);
  return absl::OkStatus();
}

absl::Time ToAbslDeadline(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace nn
