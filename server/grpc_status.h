// The one place where the server's error type (absl::Status) becomes the
// wire's (grpc::Status). The canonical codes are numerically identical; the
// message is kept as is.
#ifndef NNSERVE_SERVER_GRPC_STATUS_H_
#define NNSERVE_SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace nn {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace nn

#endif  // NNSERVE_SERVER_GRPC_STATUS_H_
