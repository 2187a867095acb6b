// TrainingJob: one job's state, event log and watchers (training_service.h).
#include "server/training_service.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/mutex.h"

namespace nn {

using ::nnserve::v1::TrainProgress;

TrainingJob::TrainingJob(std::string id, std::string model)
    : id_(std::move(id)), model_(std::move(model)) {
  state_.set_job_id(id_);
  state_.set_model(model_);
  state_.set_state(nnserve::v1::JOB_STATE_QUEUED);
  state_.set_started_unix_seconds(absl::ToUnixSeconds(absl::Now()));
}

nnserve::v1::TrainingJob TrainingJob::Snapshot() const {
  MutexLock lock(mu_);
  return state_;
}

std::vector<TrainProgress> TrainingJob::EventsFrom(size_t next) const {
  MutexLock lock(mu_);
  if (next >= events_.size()) return {};
  return std::vector<TrainProgress>(events_.begin() + next, events_.end());
}

int64_t TrainingJob::progress_sequence() const {
  MutexLock lock(mu_);
  return progress_sequence_;
}

bool TrainingJob::ended(absl::Status* status) const {
  MutexLock lock(mu_);
  if (ended_ && status != nullptr) *status = final_status_;
  return ended_;
}

int TrainingJob::AddWatcher(Watcher watcher) {
  MutexLock lock(mu_);
  const int id = next_watcher_id_++;
  watchers_[id] = std::move(watcher);
  return id;
}

void TrainingJob::RemoveWatcher(int id) {
  MutexLock lock(mu_);
  watchers_.erase(id);
}

void TrainingJob::Notify() {
  // Watchers are called without the job's lock (they read the job back), but
  // under a copy: one removed meanwhile may get one last call, which the
  // stream tolerates (see training stream in inference_service.cc).
  std::vector<Watcher> watchers;
  {
    MutexLock lock(mu_);
    for (const auto& [id, watcher] : watchers_) watchers.push_back(watcher);
  }
  for (const Watcher& watcher : watchers) watcher();
}

}  // namespace nn
