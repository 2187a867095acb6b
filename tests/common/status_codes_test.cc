#include "common/status_codes.h"

#include <string>

#include "absl/status/status.h"
#include "common/grpc_status.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

TEST(StatusCodeNameTest, NamesAreAbslsAndGrpcsForEveryCanonicalCode) {
  for (int code = 0; code < kNumStatusCodes; ++code) {
    const auto absl_code = static_cast<absl::StatusCode>(code);
    EXPECT_EQ(StatusCodeName(absl_code), absl::StatusCodeToString(absl_code));
    EXPECT_EQ(std::string(StatusCodeName(static_cast<grpc::StatusCode>(code))),
              StatusCodeName(absl_code));
  }
  EXPECT_STREQ(StatusCodeName(absl::StatusCode::kUnavailable), "UNAVAILABLE");
  EXPECT_STREQ(StatusCodeName(static_cast<absl::StatusCode>(42)), "UNKNOWN");
}

TEST(GrpcStatusTest, CodeAndMessageSurviveBothWays) {
  const absl::Status status = absl::UnavailableError("queue full");
  const grpc::Status wire = ToGrpcStatus(status);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(wire.error_message(), "queue full");
  EXPECT_EQ(FromGrpcStatus(wire), status);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace nn
