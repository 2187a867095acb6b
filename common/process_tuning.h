// Process-wide settings every nnserve program (server, client, benchmarks)
// applies at the top of main().
#ifndef NNSERVE_COMMON_PROCESS_TUNING_H_
#define NNSERVE_COMMON_PROCESS_TUNING_H_

namespace nn {

// Turns off Abseil's mutex deadlock detection. Debian 12's libabsl is built
// with it on (no NDEBUG), so every absl::Mutex acquisition — gRPC's internal
// locks included — updates a lock graph: measured at 9 % of nnserve's CPU
// under load (GraphCycles::GetId and friends). Lock-order bugs in our own
// code are what ThreadSanitizer builds are for.
void DisableAbslDeadlockDetection();

}  // namespace nn

#endif  // NNSERVE_COMMON_PROCESS_TUNING_H_
