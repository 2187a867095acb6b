// The engine's numerical contract (engine/model.h, "Numerical contract"), as
// tests assert it. Only what the contract promises is checked:
//   - bit-identical: the same input, model version, batch size, oneDNN thread
//     count and CPU (ISA) -- compare with EXPECT_EQ;
//   - close: anything else (another batch size, thread count, CPU or ISA
//     cap, a server that batched a request differently). Each output is
//     within kReferenceTolerance of the double-precision reference, so two
//     runs are within kRunToRunTolerance of each other, and their argmax
//     agrees unless the two top classes are that close.
// Errors are |actual - expected| / max(1, |expected|): absolute for
// probabilities, relative above 1.
#ifndef NNSERVE_TESTS_SUPPORT_NUMERICAL_CONTRACT_H_
#define NNSERVE_TESTS_SUPPORT_NUMERICAL_CONTRACT_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace nn::testing {

// One output against the double-precision reference (tests/engine/reference.h).
inline constexpr double kReferenceTolerance = 1e-5;
// One output of a run against the same output of another run made under
// other conditions (both within kReferenceTolerance of the reference).
inline constexpr double kRunToRunTolerance = 2 * kReferenceTolerance;

namespace internal {
template <typename E>
double MaxContractError(absl::Span<const float> actual,
                        absl::Span<const E> expected) {
  if (actual.size() != expected.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double e = static_cast<double>(expected[i]);
    const double error = std::abs(static_cast<double>(actual[i]) - e) /
                         std::max(1.0, std::abs(e));
    if (!(error <= worst)) worst = error;  // NaN propagates
  }
  return worst;
}
template <typename E>
bool IsArgMaxWithinContract(absl::Span<const E> expected, int64_t chosen) {
  if (chosen < 0 || static_cast<size_t>(chosen) >= expected.size()) {
    return false;
  }
  const double top = *std::max_element(expected.begin(), expected.end());
  return static_cast<double>(expected[chosen]) >= top - kRunToRunTolerance;
}
}  // namespace internal

// The largest contract error of `actual` against `expected` (+inf if the
// sizes differ, NaN if a value is NaN).
inline double MaxContractError(absl::Span<const float> actual,
                               absl::Span<const float> expected) {
  return internal::MaxContractError(actual, expected);
}
inline double MaxContractError(absl::Span<const float> actual,
                               absl::Span<const double> expected) {
  return internal::MaxContractError(actual, expected);
}

// Whether `chosen` is an acceptable argmax of `expected` (one image's
// probabilities from another run): the top class, or one within
// kRunToRunTolerance of it.
inline bool IsArgMaxWithinContract(absl::Span<const float> expected,
                                   int64_t chosen) {
  return internal::IsArgMaxWithinContract(expected, chosen);
}

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_NUMERICAL_CONTRACT_H_
