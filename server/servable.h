// A loaded model version ready to serve: the immutable engine model, its
// dynamic batcher (whose workers each own an inference context), and what
// ModelInfo reports about it.
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
#include "server/version_metrics.h"

namespace nn {

class ServableVersion {
 public:
  struct Options {
    std::string model_name;
    int64_t version = 0;
    std::string path;
    nnserve::v1::BatchingConfig batching;  // fully resolved, no zero fields
    // Replace the model's labels (size must equal the class count).
    std::vector<std::string> labels;
    // The version's metrics, also the batcher's observer (queue depth, batch
    // sizes, drops); may be null. Owned by the servable and destroyed after
    // its batcher, which releases the version's series (version_metrics.h).
    std::unique_ptr<VersionMetrics> metrics;
  };

  // Builds the batcher; each worker creates its inference context on its own
  // thread and warms it up (batch 1 and max_batch_size) before Create returns.
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
  const nnserve::v1::BatchingConfig& batching() const {
    return options_.batching;
  }
  Batcher& batcher() { return *batcher_; }
  // Null when metrics are off.
  VersionMetrics* metrics() const { return options_.metrics.get(); }

  // The calling thread's own processor for the batcher's fast path
  // (Batcher::RunInlineOrFollow), or null if this thread has none yet for
  // this version. Engine contexts are confined to the thread that builds
  // them, so each thread that receives requests gets its own, built by
  // PrepareThreadProcessor (outside any request's latency).
  BatchProcessor* ThreadProcessor() const;
  // Builds this thread's processor (warmed up for every batch size up to
  // max_inline_images) if the fast path is on and it has none; also drops
  // this thread's processors of versions that are gone.
  void PrepareThreadProcessor() const;

  // Stops accepting, finishes accepted work, joins the workers. Idempotent.
  void Shutdown();

 private:
  ServableVersion(Options options, std::shared_ptr<const Model> model);

  // Declared first, destroyed last: options_.metrics outlives batcher_.
  Options options_;
  // Unique per servable over the process's life (keys thread processors).
  const uint64_t id_;
  std::shared_ptr<const Model> model_;
  std::vector<std::string> labels_;
  std::unique_ptr<Batcher> batcher_;
};

}  // namespace nn

#endif  // NNSERVE_SERVER_SERVABLE_H_
