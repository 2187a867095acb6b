#include "server/version_statistics.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace nn {

void VersionStatistics::AtomicDuration::Add(absl::Duration d) {
  count.fetch_add(1, std::memory_order_relaxed);
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  ns.fetch_add(static_cast<uint64_t>(std::max<int64_t>(nanos, 0)),
               std::memory_order_relaxed);
}

VersionStatistics::Duration VersionStatistics::AtomicDuration::Load() const {
  return {count.load(std::memory_order_relaxed),
          ns.load(std::memory_order_relaxed)};
}

VersionStatistics::VersionStatistics(std::unique_ptr<ServableObserver> next,
                                     int64_t max_batch_size)
    : next_(std::move(next)),
      by_size_count_(std::max<int64_t>(max_batch_size, 1)),
      by_size_(new AtomicDuration[by_size_count_]) {}

VersionStatistics::Snapshot VersionStatistics::snapshot() const {
  Snapshot s;
  s.success = success_.Load();
  s.fail = fail_.Load();
  s.queue = queue_.Load();
  s.compute_infer = compute_.Load();
  s.inference_count = images_.load(std::memory_order_relaxed);
  s.execution_count = s.compute_infer.count;
  s.last_inference_ms = last_inference_ms_.load(std::memory_order_relaxed);
  for (int64_t i = 0; i < by_size_count_; ++i) {
    const Duration d = by_size_[i].Load();
    if (d.count > 0) s.batches.push_back({i + 1, d});
  }
  return s;
}

void VersionStatistics::RecordInference(metrics::Protocol protocol,
                                        absl::StatusCode code,
                                        absl::Duration latency) {
  (code == absl::StatusCode::kOk ? success_ : fail_).Add(latency);
  if (next_ != nullptr) next_->RecordInference(protocol, code, latency);
}

void VersionStatistics::RecordRejected(Rejection reason) {
  if (next_ != nullptr) next_->RecordRejected(reason);
}

void VersionStatistics::OnTaskStarted(absl::Duration queued) {
  queue_.Add(queued);
  if (next_ != nullptr) next_->OnTaskStarted(queued);
}

void VersionStatistics::OnBatchComputed(int64_t images,
                                        absl::Duration compute) {
  compute_.Add(compute);
  if (images >= 1 && images <= by_size_count_) by_size_[images - 1].Add(compute);
  images_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(images, 0)),
                    std::memory_order_relaxed);
  last_inference_ms_.store(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())),
                           std::memory_order_relaxed);
  if (next_ != nullptr) next_->OnBatchComputed(images, compute);
}

void VersionStatistics::OnTaskDropped(absl::StatusCode why) {
  if (next_ != nullptr) next_->OnTaskDropped(why);
}

void VersionStatistics::OnQueueDepthChanged(int64_t queued_images) {
  if (next_ != nullptr) next_->OnQueueDepthChanged(queued_images);
}

}  // namespace nn
