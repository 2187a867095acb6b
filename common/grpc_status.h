// The one place where the error type below the RPC layer (absl::Status)
// becomes the wire's (grpc::Status), and back (the client's view of a
// failed call). The canonical codes are numerically identical; the message
// is kept as is.
#ifndef NNSERVE_COMMON_GRPC_STATUS_H_
#define NNSERVE_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace nn {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// StatusCodeName (common/status_codes.h) of a gRPC code.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace nn

#endif  // NNSERVE_COMMON_GRPC_STATUS_H_
