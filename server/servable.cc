#include "server/servable.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/network.h"
#include "engine/threading.h"
#include "server/batching/thread_sleeps.h"
#include "common/mutex.h"

namespace nn {
namespace {

// One worker's compute: an inference context confined to the worker thread.
class EngineBatchProcessor : public BatchProcessor {
 public:
  explicit EngineBatchProcessor(std::unique_ptr<InferenceContext> context)
      : context_(std::move(context)) {}

  absl::Status Process(absl::Span<const float> input, int64_t n,
                       absl::Span<float> output) override {
    return context_->Run(input, n, output);
  }

 private:
  std::unique_ptr<InferenceContext> context_;
};

// CPU time a request spends crossing from the thread that received it to a
// batch worker and back (two wake-ups), measured here: ~19 µs a request at
// 64 calls in flight (bench/README.md, "Serving").
constexpr double kHandOffMicros = 20;

// Whether computing an image in a full batch saves more than a hand-off
// costs, compared with computing it alone: then the fast path must not
// take requests from batches under load (the RNN: ~38 µs alone, ~9 µs in a
// batch of 64; the MLP and CNN save under 5 µs). Timed on the calling thread
// with a throwaway context, best of 3 runs each.
bool BatchingSavesMoreThanAHandOff(const Model& model, int64_t max_batch,
                                   int threads) {
  SetThreadOneDnnThreads(threads);
  Model::ContextOptions options;
  options.max_batch_size = max_batch;
  std::unique_ptr<InferenceContext> context = model.NewInferenceContext(options);
  const int64_t in = int64_t{model.input_height()} * model.input_width();
  std::vector<float> input(max_batch * in, 0.5f);
  std::vector<float> output(max_batch * model.num_classes());
  auto best_micros = [&](int64_t n) {
    double best = 1e30;
    for (int i = 0; i < 4; ++i) {  // the first run builds the plan
      const absl::Time start = absl::Now();
      if (!context->Run(absl::MakeConstSpan(input).subspan(0, n * in), n,
                        absl::MakeSpan(output).subspan(0, n * model.num_classes()))
               .ok()) {
        return 0.0;
      }
      if (i > 0) best = std::min(best, absl::ToDoubleMicroseconds(absl::Now() - start));
    }
    return best;
  };
  const double alone = best_micros(1);
  const double batched = best_micros(max_batch) / static_cast<double>(max_batch);
  return alone - batched > kHandOffMicros;
}

std::atomic<uint64_t> next_servable_id{1};

// The ids of servables that exist, so that threads can drop their
// processors of versions that are gone.
Mutex live_ids_mu;
std::unordered_set<uint64_t>& LiveIds() {
  static auto* ids = new std::unordered_set<uint64_t>();
  return *ids;
}

// This thread's fast-path processors, by servable id. Built, used and
// destroyed on this thread only (thread_local), as engine contexts require.
thread_local std::unordered_map<uint64_t, std::unique_ptr<BatchProcessor>>
    thread_processors;

}  // namespace

ServableVersion::ServableVersion(Options options,
                                 std::shared_ptr<const Model> model)
    : options_(std::move(options)),
      statistics_(
          std::make_unique<VersionStatistics>(
              std::move(options_.metrics), options_.batching.max_batch_size())),
      id_(next_servable_id.fetch_add(1)),
      model_(std::move(model)) {
  MutexLock lock(live_ids_mu);
  LiveIds().insert(id_);
}

ServableVersion::~ServableVersion() {
  Shutdown();
  MutexLock lock(live_ids_mu);
  LiveIds().erase(id_);
}

BatchProcessor* ServableVersion::ThreadProcessor() const {
  auto it = thread_processors.find(id_);
  return it == thread_processors.end() ? nullptr : it->second.get();
}

void ServableVersion::PrepareThreadProcessor() const {
  const int64_t max_images = options_.batching.max_inline_images();
  if (max_images <= 0 || ThreadProcessor() != nullptr) return;
  {
    MutexLock lock(live_ids_mu);
    std::erase_if(thread_processors, [](const auto& entry) {
      return !LiveIds().contains(entry.first);
    });
  }
  SetThreadOneDnnThreads(options_.batching.threads_per_worker());
  Model::ContextOptions context_options;
  context_options.max_batch_size = max_images;
  std::unique_ptr<InferenceContext> context =
      model_->NewInferenceContext(context_options);
  for (int64_t n : PlanBatchSizes(max_images)) {
    if (absl::Status s = context->Prepare(n); !s.ok()) {
      NN_LOG(WARNING) << "fast path off on this thread for "
                      << options_.model_name << ":" << options_.version
                      << ": " << s;
      return;
    }
  }
  thread_processors[id_] =
      std::make_unique<EngineBatchProcessor>(std::move(context));
}

Admission ServableVersion::Submit(BatchTask&& task) {
  BatchProcessor* processor = ThreadProcessor();
  // Only a thread without a processor builds one, after its task is queued;
  // by then the task may be done and have released the caller's handle.
  const bool build_processor =
      processor == nullptr && options_.batching.max_inline_images() > 0;
  std::shared_ptr<ServableVersion> keep;
  if (build_processor) keep = shared_from_this();
  Admission admission = batcher_->Submit(std::move(task), processor);
  if (!admission.accepted()) {
    // Not accepted: `done` will not run, so the caller's handle holds.
    if (RequestRecorder* r = recorder()) {
      r->RecordRejected(admission.rejection());
    }
    return admission;
  }
  if (build_processor) keep->PrepareThreadProcessor();
  return admission;
}

void ServableVersion::Shutdown() {
  if (batcher_ != nullptr) batcher_->Shutdown();
}

absl::StatusOr<std::shared_ptr<ServableVersion>> ServableVersion::Create(
    Options options, std::shared_ptr<const Model> model, Clock* clock) {
  const int num_classes = model->num_classes();
  std::vector<std::string> labels = options.labels;
  if (labels.empty()) {
    labels = model->labels();
  } else if (static_cast<int>(labels.size()) != num_classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.textproto gives ", labels.size(), " labels but the model has ",
        num_classes, " classes"));
  }
  std::shared_ptr<ServableVersion> servable(
      new ServableVersion(std::move(options), std::move(model)));
  servable->labels_ = std::move(labels);

  const nnserve::v1::BatchingConfig& batching = servable->options_.batching;
  Batcher::Options batcher_options;
  batcher_options.max_batch_size = batching.max_batch_size();
  batcher_options.max_queue_delay =
      batching.max_queue_delay_micros() > 0
          ? absl::Microseconds(batching.max_queue_delay_micros())
          : absl::InfiniteDuration();
  batcher_options.max_queue_size = batching.max_queue_size();
  batcher_options.num_workers = batching.workers();
  batcher_options.input_size =
      int64_t{servable->model_->input_height()} * servable->model_->input_width();
  batcher_options.output_size = num_classes;
  batcher_options.name = absl::StrCat(servable->model_name(), ":",
                                      servable->version());
  batcher_options.max_inline_images = batching.max_inline_images();
  batcher_options.gather_images = batching.gather_images();
  batcher_options.max_gather_delay =
      absl::Microseconds(batching.max_gather_delay_micros());
  batcher_options.caller_is_saturated = ReceivingThreadsAreSaturated;
  if (batcher_options.max_inline_images > 0) {
    batcher_options.inline_only_when_unloaded =
        BatchingSavesMoreThanAHandOff(*servable->model_,
                                      batching.max_batch_size(),
                                      batching.threads_per_worker());
  }

  // Runs on each worker thread: contexts (and their oneDNN primitives) are
  // confined to the thread that builds them. Warming up builds the plan of
  // every plan batch size up to a full batch (engine/network.h: 12 plans up
  // to 64) before the version is served, so that no request waits for one
  // and memory does not grow under load, and runs a full batch once.
  std::shared_ptr<const Model> model_ref = servable->model_;
  const int threads = batching.threads_per_worker();
  const int64_t max_batch = batching.max_batch_size();
  const int64_t in_size = batcher_options.input_size;
  const int64_t out_size = batcher_options.output_size;
  BatchProcessorFactory factory =
      [model_ref, threads, max_batch, in_size,
       out_size](int /*worker_index*/)
      -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
    SetThreadOneDnnThreads(threads);
    Model::ContextOptions context_options;
    context_options.max_batch_size = max_batch;
    std::unique_ptr<InferenceContext> context =
        model_ref->NewInferenceContext(context_options);
    std::vector<float> input(max_batch * in_size, 0.0f);
    std::vector<float> output(max_batch * out_size);
    absl::Span<const float> in(input);
    absl::Span<float> out(output);
    for (int64_t n : PlanBatchSizes(max_batch)) {
      RETURN_IF_ERROR(context->Prepare(n));
    }
    RETURN_IF_ERROR(context->Run(in, max_batch, out));
    return std::make_unique<EngineBatchProcessor>(std::move(context));
  };
  ASSIGN_OR_RETURN(servable->batcher_,
                   Batcher::Create(std::move(batcher_options),
                                   std::move(factory), clock,
                                   servable->statistics_.get()));
  return servable;
}

}  // namespace nn
