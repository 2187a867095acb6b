// Status propagation macros. Abseil 20220623 (Debian 12) ships none.
//
//   RETURN_IF_ERROR(DoThing());              // returns the status if not OK
//   ASSIGN_OR_RETURN(auto x, MakeThing());   // x = *statusor, or returns
//   ASSIGN_OR_RETURN(x, MakeThing());        // assigns to an existing x
#ifndef NNSERVE_COMMON_STATUS_MACROS_H_
#define NNSERVE_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define NN_STATUS_CONCAT_INNER_(a, b) a##b
#define NN_STATUS_CONCAT_(a, b) NN_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    if (::absl::Status nn_status_ = (expr); !nn_status_.ok()) { \
      return nn_status_;                                        \
    }                                                           \
  } while (false)

#define NN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#define ASSIGN_OR_RETURN(lhs, rexpr)                                         \
  NN_ASSIGN_OR_RETURN_IMPL_(NN_STATUS_CONCAT_(nn_statusor_, __LINE__), lhs, \
                            rexpr)

#endif  // NNSERVE_COMMON_STATUS_MACROS_H_
