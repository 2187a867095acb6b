// Tests that need a program from outside the project (promtool and
// prometheus from Debian's `prometheus`, /usr/bin/openssl). scripts/test.sh
// installs them, and CTest runs every test with NNSERVE_REQUIRE_TEST_TOOLS=1
// (cmake/nnserve.cmake, nn_test): there a missing tool FAILS the test, so a
// broken set-up cannot pass as a run of skipped tests. A developer who runs a
// test binary by hand, without the variable, gets a skip with the reason.
//
//   const std::string promtool = testing::FindTool("promtool");
//   NN_REQUIRE_TOOL(promtool, "promtool (Debian package prometheus)");
#ifndef NNSERVE_TESTS_SUPPORT_REQUIRED_TOOL_H_
#define NNSERVE_TESTS_SUPPORT_REQUIRED_TOOL_H_

#include <string>

#include "gtest/gtest.h"

namespace nn::testing {

// The path of executable `name`: `name` itself if it holds a '/', else the
// first match on PATH; "" if there is none.
std::string FindTool(const std::string& name);

// Whether a missing tool is a failure (NNSERVE_REQUIRE_TEST_TOOLS=1).
bool TestToolsRequired();

}  // namespace nn::testing

// Ends the test (a fatal failure, or a skip when tools are not required) if
// `path` (from FindTool) is empty. `what` names the tool and its package.
#define NN_REQUIRE_TOOL(path, what)                                       \
  do {                                                                    \
    if ((path).empty()) {                                                 \
      if (::nn::testing::TestToolsRequired()) {                           \
        GTEST_FAIL() << "needs " << (what)                                \
                     << ": scripts/install-deps.sh installs it";          \
      } else {                                                            \
        GTEST_SKIP() << "needs " << (what)                                \
                     << " (not required: NNSERVE_REQUIRE_TEST_TOOLS unset)"; \
      }                                                                   \
    }                                                                     \
  } while (0)

#endif  // NNSERVE_TESTS_SUPPORT_REQUIRED_TOOL_H_
