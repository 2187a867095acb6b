// Names of the canonical status codes, the one table: absl::StatusCode and
// grpc::StatusCode share the numbers 0..16 and these names ("OK",
// "INVALID_ARGUMENT", ...), which are what nnctl prints ("nnctl: CODE:
// message"), what bench counts errors by and the `code` label of the
// server's metrics. Conversions between absl::Status and grpc::Status are in
// common/grpc_status.h.
#ifndef NNSERVE_COMMON_STATUS_CODES_H_
#define NNSERVE_COMMON_STATUS_CODES_H_

#include "absl/status/status.h"

namespace nn {

// Canonical status codes 0..16.
inline constexpr int kNumStatusCodes = 17;

// "OK", "CANCELLED", ..., "UNAUTHENTICATED"; "UNKNOWN" for a number outside
// 0..16 (as gRPC treats one). A static string.
const char* StatusCodeName(absl::StatusCode code);

}  // namespace nn

#endif  // NNSERVE_COMMON_STATUS_CODES_H_
