#include "server/inference_call.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace nn {

absl::StatusOr<std::shared_ptr<ServableVersion>> ResolveVersion(
    const ModelRepository& repository, const std::string& model,
    int64_t version) {
  RETURN_IF_ERROR(ValidateModelName(model));
  RETURN_IF_ERROR(ValidateVersionNumber("version", version));
  return repository.Get(model, version);
}

void InferenceCall::Attach(std::shared_ptr<ServableVersion> servable) {
  servable_ = std::move(servable);
}

ImageDecodingOptions InferenceCall::decoding(int64_t max_images) const {
  ImageDecodingOptions options;
  options.height = servable_->model().input_height();
  options.width = servable_->model().input_width();
  options.max_images = max_images;
  return options;
}

Admission InferenceCall::Submit(std::unique_ptr<InferenceCall> call,
                                int64_t images, absl::Time deadline,
                                std::function<bool()> is_cancelled) {
  InferenceCall* raw = call.get();
  ServableVersion& servable = *raw->servable_;
  raw->num_images_ = images;
  raw->output_.resize(images * static_cast<int64_t>(servable.labels().size()));
  BatchTask task;
  task.num_images = images;
  task.input = raw->has_input_view_
                   ? raw->input_view_
                   : absl::MakeConstSpan(raw->input_);
  task.output = absl::MakeSpan(raw->output_);
  task.deadline = deadline;
  task.is_cancelled = std::move(is_cancelled);
  task.done = [raw](absl::Status status) {
    Complete(std::unique_ptr<InferenceCall>(raw), std::move(status));
  };
  Admission admission = servable.Submit(std::move(task));
  if (admission.accepted()) {
    call.release();  // owned by the task's `done` (which may have run)
  } else {
    Complete(std::move(call), admission.status());  // `done` never runs
  }
  return admission;
}

void InferenceCall::Fail(std::unique_ptr<InferenceCall> call,
                         absl::Status status) {
  if (status.ok()) status = absl::InternalError("request failed without error");
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    if (RequestRecorder* r = call->servable_->recorder()) {
      r->RecordRejected(Rejection::kTooLarge);
    }
  }
  Complete(std::move(call), std::move(status));
}

void InferenceCall::Complete(std::unique_ptr<InferenceCall> call,
                             absl::Status status) {
  if (status.ok()) status = call->WriteReply();
  if (RequestRecorder* r = call->servable_->recorder()) {
    r->RecordInference(call->protocol_, status.code(),
                       absl::Now() - call->start_);
  }
  call->Finish(status);
  // `call`, and with it the version handle, goes after the reply is finished.
}

}  // namespace nn
