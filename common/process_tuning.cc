#include "common/process_tuning.h"

#include "absl/synchronization/mutex.h"

namespace nn {

void DisableAbslDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace nn
