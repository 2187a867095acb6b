// The check every decoder of float pixels makes: all values in [0, 1].
#ifndef NNSERVE_COMMON_UNIT_RANGE_H_
#define NNSERVE_COMMON_UNIT_RANGE_H_

#include <cstdint>

#include "absl/types/span.h"

namespace nn {

// True if every value is in [0, 1] (NaN is not; -0 is). Float compares
// OR-ed with no branch per value, which the compiler vectorizes to two
// compares a vector; a caller that must name the first bad value loops
// again only when this is false.
inline bool AllInUnitRange(absl::Span<const float> values) {
  uint32_t outside = 0;
  for (float v : values) {
    outside |= static_cast<uint32_t>(!(v >= 0.0f)) |
               static_cast<uint32_t>(!(v <= 1.0f));
  }
  return outside == 0;
}

}  // namespace nn

#endif  // NNSERVE_COMMON_UNIT_RANGE_H_
