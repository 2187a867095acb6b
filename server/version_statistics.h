// Per-version inference statistics kept by every loaded model version,
// whether or not Prometheus metrics are on: the counters the Open Inference
// Protocol's ModelStatistics reports (Triton's statistics extension). A
// VersionStatistics is the servable's observer (servable_observer.h): it
// counts, then forwards every event to the servable's other observer (the
// metrics' VersionMetrics, or none).
//
// What each counter means (durations in nanoseconds, cumulative):
//   success         inference requests that finished OK: count and the sum
//                   of their server-side latencies (handler start -> reply)
//   fail            inference requests that reached this version and
//                   failed (bad input, rejected, deadline, ...): the same
//   queue           requests that started computing: count and time waited
//                   in the batcher's queue (a fast-path request: zero)
//   compute_infer   batches computed: count and their compute time (a batch
//                   may carry several requests: nnserve times batches, not
//                   requests)
//   batches         per batch size (images in the batch, 1 to the
//                   version's max_batch_size): batches of that size
//                   computed and their compute time (ModelStatistics'
//                   batch_stats, compute_infer); sizes never computed are
//                   left out
//   inference_count images classified; execution_count batches computed
//   last_inference  wall time of the last computed batch, in milliseconds
//                   since the Unix epoch (0: none yet)
// They start at zero when the version loads and go with it when it unloads
// (a replaced version number starts again from zero).
//
// Thread safety: every method may be called from any thread; each event is
// a few relaxed atomic adds, then the forwarded call. The per-size counters
// are one array of max_batch_size entries allocated at construction, so
// counting a batch allocates nothing. A Snapshot taken
// while requests run is a consistent-enough view: each counter is exact,
// pairs (count, ns) may be one event apart.
#ifndef NNSERVE_SERVER_VERSION_STATISTICS_H_
#define NNSERVE_SERVER_VERSION_STATISTICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "server/servable_observer.h"

namespace nn {

class VersionStatistics final : public ServableObserver {
 public:
  struct Duration {
    uint64_t count = 0;
    uint64_t ns = 0;
  };
  struct Snapshot {
    Duration success;
    Duration fail;
    Duration queue;
    Duration compute_infer;
    uint64_t inference_count = 0;
    uint64_t execution_count = 0;
    uint64_t last_inference_ms = 0;
    // By batch size, ascending; only sizes computed at least once.
    struct Batches {
      int64_t batch_size = 0;
      Duration compute;
    };
    std::vector<Batches> batches;
  };

  // `next` (may be null) receives every event after it is counted.
  // `max_batch_size` (>= 1): the largest batch the version computes (its
  // batcher's max_batch_size, which bounds the fast path's batches too); a
  // larger one would be counted in compute_infer but not by size.
  VersionStatistics(std::unique_ptr<ServableObserver> next,
                    int64_t max_batch_size);

  Snapshot snapshot() const;

  // RequestRecorder:
  void RecordInference(metrics::Protocol protocol, absl::StatusCode code,
                       absl::Duration latency) override;
  void RecordRejected(Rejection reason) override;
  // BatchObserver:
  void OnTaskStarted(absl::Duration queued) override;
  void OnBatchComputed(int64_t images, absl::Duration compute) override;
  void OnTaskDropped(absl::StatusCode why) override;
  void OnQueueDepthChanged(int64_t queued_images) override;

 private:
  struct AtomicDuration {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> ns{0};
    void Add(absl::Duration d);
    Duration Load() const;
  };

  const std::unique_ptr<ServableObserver> next_;
  AtomicDuration success_;
  AtomicDuration fail_;
  AtomicDuration queue_;
  AtomicDuration compute_;
  // [size - 1]: batches of `size` images, size in [1, by_size_count_].
  const int64_t by_size_count_;
  const std::unique_ptr<AtomicDuration[]> by_size_;
  std::atomic<uint64_t> images_{0};
  std::atomic<uint64_t> last_inference_ms_{0};
};

}  // namespace nn

#endif  // NNSERVE_SERVER_VERSION_STATISTICS_H_
