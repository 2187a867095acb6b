#include "common/status_codes.h"

#include <iterator>

namespace nn {

const char* StatusCodeName(absl::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",          "UNKNOWN",
      "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",          "OUT_OF_RANGE",
      "UNIMPLEMENTED",      "INTERNAL",          "UNAVAILABLE",
      "DATA_LOSS",          "UNAUTHENTICATED"};
  static_assert(std::size(kNames) == kNumStatusCodes);
  const int index = static_cast<int>(code);
  return index >= 0 && index < kNumStatusCodes ? kNames[index] : "UNKNOWN";
}

}  // namespace nn
