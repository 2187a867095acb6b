// Waiting in tests for what can be observed, with bounds that hold on a
// loaded machine. A test waits for an event (a log line, a metric, a state
// over the wire) with Eventually, never for a fixed time; its timeout is
// only the bound after which the event is taken as missing.
#ifndef NNSERVE_TESTS_SUPPORT_WAIT_H_
#define NNSERVE_TESTS_SUPPORT_WAIT_H_

#include <functional>

#include "absl/time/time.h"

namespace nn::testing {

// `d` stretched by $NNSERVE_TEST_TIME_SCALE (a factor >= 1, default 1), for
// latency bounds in sanitizer builds or on a loaded machine.
absl::Duration Scaled(absl::Duration d);

// Polls `condition` every 20 ms until it holds or `timeout` has passed;
// its last value.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_WAIT_H_
