#include "tests/support/wait.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace nn::testing {

absl::Duration Scaled(absl::Duration d) {
  const char* scale = std::getenv("NNSERVE_TEST_TIME_SCALE");
  double factor = 1;
  if (scale != nullptr && absl::SimpleAtod(scale, &factor) && factor >= 1) {
    return d * factor;
  }
  return d;
}

bool Eventually(const std::function<bool()>& condition,
                absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

}  // namespace nn::testing
