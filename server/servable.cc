#include "server/servable.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/threading.h"
#include "server/serving_metrics.h"

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

}  // namespace

ServableVersion::ServableVersion(Options options,
                                 std::shared_ptr<const Model> model)
    : options_(std::move(options)), model_(std::move(model)) {}

ServableVersion::~ServableVersion() { Shutdown(); }

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

  // Runs on each worker thread: contexts (and their oneDNN primitives) are
  // confined to the thread that builds them. Warming up builds the plans for
  // a single image and a full batch before the version is served.
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
    RETURN_IF_ERROR(
        context->Run(in.subspan(0, in_size), 1, out.subspan(0, out_size)));
    if (max_batch > 1) RETURN_IF_ERROR(context->Run(in, max_batch, out));
    return std::make_unique<EngineBatchProcessor>(std::move(context));
  };
  ASSIGN_OR_RETURN(servable->batcher_,
                   Batcher::Create(std::move(batcher_options),
                                   std::move(factory), clock,
                                   servable->options_.metrics));
  return servable;
}

}  // namespace nn
