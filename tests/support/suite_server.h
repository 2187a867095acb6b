// A gtest fixture base for end-to-end suites that share one nnserve over one
// repository for the whole suite: the derived fixture's SetUpTestSuite fills
// repo(), then calls StartServer(); TearDownTestSuite (inherited) stops the
// server and removes the repository. CRTP: each suite `Suite` gets its own
// server and repository.
//
//   class MyE2ETest : public testing::SuiteServerTest<MyE2ETest> {
//     static void SetUpTestSuite() {
//       ... testing::PublishModel(repo().path(), "m", 1, model) ...
//       StartServer({"--max_http_body_bytes=1000000"});
//     }
//     void SetUp() override { ASSERT_NE(server(), nullptr); ... }
//   };
#ifndef NNSERVE_TESTS_SUPPORT_SUITE_SERVER_H_
#define NNSERVE_TESTS_SUPPORT_SUITE_SERVER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace nn::testing {

template <typename Suite>
class SuiteServerTest : public ::testing::Test {
 public:
  static void TearDownTestSuite() {
    server_.reset();
    repo_.reset();
  }

 protected:
  // The suite's repository, created on first use; fill it before
  // StartServer().
  static TempDir& repo() {
    if (repo_ == nullptr) repo_ = std::make_unique<TempDir>();
    return *repo_;
  }

  // Starts nnserve on repo() with the flags the suites share
  // (--max_images_per_request=64, --drain_grace=0s: no wait at the end)
  // followed by `extra`. On failure the test fails and server() stays null
  // (check it in SetUp).
  static void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--model_repository=" + repo().path(),
                                     "--max_images_per_request=64",
                                     "--drain_grace=0s"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start({.args = std::move(args)});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // The suite's server; null until StartServer() succeeded.
  static ServerProcess* server() { return server_.get(); }

 private:
  static inline std::unique_ptr<TempDir> repo_;
  static inline std::unique_ptr<ServerProcess> server_;
};

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_SUITE_SERVER_H_
