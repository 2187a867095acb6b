// NnServer::Drain from two threads at once: the second call waits for the
// drain in progress and returns its result (before, it read a plain bool
// and returned true at once, while the first was still in its grace
// window). In process, on an ephemeral loopback port, with an empty
// repository; the first drain is observed through the health service.
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/server/small_batching.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

TEST(ServerDrainTest, SecondDrainWaitsForTheFirstAndAgrees) {
  testing::TempDir repo;
  NnServer::Options options;
  options.listen_address = "127.0.0.1";
  options.port = 0;
  options.http_port = -1;
  options.enable_metrics = false;
  options.model_repository = repo.path();
  options.repository_poll_interval = absl::ZeroDuration();
  options.default_batching = testing::SmallBatching(4, 64);
  // Long enough that the second call comes within it (the fixed code
  // passes whenever it comes; the old one failed when it came within).
  options.drain_grace = testing::Scaled(absl::Seconds(2));
  absl::StatusOr<std::unique_ptr<NnServer>> server = NnServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();

  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->port()),
      grpc::InsecureChannelCredentials()));
  auto check = [&](HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    return health->Check(&context, HealthCheckRequest(), response);
  };

  bool first_result = false;
  std::thread first([&] { first_result = (*server)->Drain(); });
  // The first drain has begun: health NOT_SERVING, still answering.
  HealthCheckResponse response;
  EXPECT_TRUE(testing::Eventually(
      [&] {
        return check(&response).ok() &&
               response.status() == HealthCheckResponse::NOT_SERVING;
      },
      absl::Seconds(30)));
  const bool second_result = (*server)->Drain();
  // It returned after the drain ended: the server no longer answers.
  EXPECT_FALSE(check(&response).ok());
  first.join();
  EXPECT_TRUE(first_result);
  EXPECT_EQ(second_result, first_result);
}

}  // namespace
}  // namespace nn
