// A loaded model version ready to serve: the immutable engine model, its
// dynamic batcher (whose workers each own an inference context), and what
// ModelInfo reports about it.
//
// The request path enters through one call, Submit(task): it refuses what
// is not worth queueing (deadline passed, cancelled), runs the task on the
// calling thread's fast path when it can, else queues it, and builds the
// calling thread's fast-path processor after the first task it queues. The
// result is typed (Admission: accepted, or rejected with a Rejection), so
// no caller reads status messages. Protocol handlers reach it through
// InferenceCall (server/inference_call.h).
//
// Lifetime: the repository owns each ServableVersion through a shared_ptr and
// hands copies to requests (the "handle"). A request keeps its handle until
// its reply is finished, so a version that is swapped out finishes every
// request that reached it. The repository shuts the batcher down only after
// every handle is gone (see ModelRepository).
#ifndef NNSERVE_SERVER_SERVABLE_H_
#define NNSERVE_SERVER_SERVABLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model.h"
#include "nnserve/v1/inference.pb.h"
#include "server/batching/batcher.h"
#include "server/servable_observer.h"
#include "server/version_statistics.h"

namespace nn {

class ServableVersion : public std::enable_shared_from_this<ServableVersion> {
 public:
  struct Options {
    std::string model_name;
    int64_t version = 0;
    std::string path;
    nnserve::v1::BatchingConfig batching;  // fully resolved, no zero fields
    // Replace the model's labels (size must equal the class count).
    std::vector<std::string> labels;
    // Where the model came from, as its loader said (model_loader.h,
    // LoadedModel): ModelInfo reports it, fine-tuning notes it.
    std::string origin;
    bool softmax_appended = false;
    // The version's observer: its batcher's (queue depth, batch sizes,
    // drops) and its requests' recorder; may be null. Owned by the servable
    // and destroyed after its batcher (for metrics, that releases the
    // version's series: version_metrics.h).
    std::unique_ptr<ServableObserver> metrics;
  };

  // Builds the batcher; each worker creates its inference context on its own
  // thread and warms it up (batch 1 and max_batch_size) before Create returns.
  // `clock` (the batcher's: deadlines, queue times) must outlive the
  // servable. Batching maps onto Batcher::Options one to one except
  // max_queue_delay_micros 0, which is "no limit" (InfiniteDuration), and
  // max_inline_images 0, which turns the fast path off.
  static absl::StatusOr<std::shared_ptr<ServableVersion>> Create(
      Options options, std::shared_ptr<const Model> model, Clock* clock);

  ~ServableVersion();

  const std::string& model_name() const { return options_.model_name; }
  int64_t version() const { return options_.version; }
  const std::string& path() const { return options_.path; }
  const Model& model() const { return *model_; }
  // The model alone, e.g. to fine-tune it without holding the version.
  std::shared_ptr<const Model> shared_model() const { return model_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // LoadedModel::origin ("" for nnserve's own files) and softmax_appended.
  const std::string& origin() const { return options_.origin; }
  bool softmax_appended() const { return options_.softmax_appended; }
  const nnserve::v1::BatchingConfig& batching() const {
    return options_.batching;
  }
  Batcher& batcher() { return *batcher_; }
  // Where the request path records outcomes: the version's statistics,
  // which forward to Options::metrics. Never null.
  RequestRecorder* recorder() const { return statistics_.get(); }
  // This version's counters since it loaded (ModelStatistics).
  VersionStatistics::Snapshot statistics() const {
    return statistics_->snapshot();
  }

  // The one entry point of a request (see the header comment): offers `task`
  // (sizes per the model: input_height()*input_width() floats an image in,
  // labels().size() out) to the batcher with this thread's fast-path
  // processor (Batcher::Submit) and returns its typed answer. A rejection
  // is recorded in recorder() (RecordRejected) before this returns; then
  // `task.done` never runs. Accepted: `done` runs exactly once, possibly
  // on this thread before Submit returns; it may release the last handle to
  // this version, so the caller must not use the version after Submit
  // unless it holds a handle of its own. Per request: one thread-local
  // lookup; no allocation or lock beyond the batcher's.
  Admission Submit(BatchTask&& task);

  // Stops accepting, finishes accepted work, joins the workers. Idempotent.
  void Shutdown();

 private:
  ServableVersion(Options options, std::shared_ptr<const Model> model);

  // The calling thread's own processor for the batcher's fast path, or null
  // if this thread has none yet for this version. Engine contexts are
  // confined to the thread that builds them, so each thread that receives
  // requests gets its own, built by PrepareThreadProcessor after Submit
  // queued its task (outside any request's latency).
  BatchProcessor* ThreadProcessor() const;
  // Builds this thread's processor (warmed up for every batch size up to
  // max_inline_images) if the fast path is on and it has none; also drops
  // this thread's processors of versions that are gone.
  void PrepareThreadProcessor() const;

  // Declared first, destroyed last: the observers outlive batcher_.
  Options options_;
  // Counts, then forwards to the observer Options::metrics held (moved in).
  std::unique_ptr<VersionStatistics> statistics_;
  // Unique per servable over the process's life (keys thread processors).
  const uint64_t id_;
  std::shared_ptr<const Model> model_;
  std::vector<std::string> labels_;
  std::unique_ptr<Batcher> batcher_;
};

}  // namespace nn

#endif  // NNSERVE_SERVER_SERVABLE_H_
