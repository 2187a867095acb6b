#include "server/version_metrics.h"

#include "server/serving_metrics.h"

namespace nn {

VersionMetrics::VersionMetrics(ServingMetrics* owner, ModelSeries* model,
                               VersionSeries* version)
    : owner_(owner), model_(model), version_(version) {}

VersionMetrics::~VersionMetrics() {
  // A drained batcher leaves 0; anything else would stay in the model's sum.
  const int64_t depth = last_queue_depth_.exchange(0);
  if (depth != 0) {
    if (prometheus::Gauge* g = model_->queue_depth.get()) {
      g->Decrement(static_cast<double>(depth));
    }
  }
  owner_->ReleaseVersion(version_);
}

void VersionMetrics::RecordInference(metrics::Protocol protocol,
                                     absl::StatusCode code,
                                     absl::Duration latency) {
  const int p = static_cast<int>(protocol);
  const metrics::Method method = metrics::InferenceMethod(protocol);
  const int index = static_cast<int>(code);
  if (index >= 0 && index < kNumStatusCodes) {
    if (prometheus::Counter* counter = version_->predicts[p][index].Get([&] {
          return owner_->RequestCounter(model_->name, version_->label, method,
                                        protocol, code);
        })) {
      counter->Increment();
    }
  }
  if (prometheus::Histogram* h =
          model_->request_duration[p][static_cast<int>(method)].Get([&] {
            return owner_->RequestDuration(model_->name, method, protocol);
          })) {
    h->Observe(absl::ToDoubleSeconds(latency));
  }
}

void VersionMetrics::RecordRejected(metrics::RejectReason reason) {
  if (prometheus::Counter* counter =
          model_->rejected[static_cast<int>(reason)].Get([&] {
            return owner_->RejectedCounter(model_->name, reason);
          })) {
    counter->Increment();
  }
}

void VersionMetrics::RecordRejected(Rejection reason) {
  switch (reason) {
    case Rejection::kInvalid:
      return;
    case Rejection::kTooLarge:
      return RecordRejected(metrics::RejectReason::kTooLarge);
    case Rejection::kQueueFull:
      return RecordRejected(metrics::RejectReason::kQueueFull);
    case Rejection::kDraining:
      return RecordRejected(metrics::RejectReason::kDraining);
    case Rejection::kDeadlineExceeded:
      return RecordRejected(metrics::RejectReason::kDeadlineExceeded);
    case Rejection::kCancelled:
      return RecordRejected(metrics::RejectReason::kCancelled);
  }
}

void VersionMetrics::OnTaskStarted(absl::Duration queued) {
  if (prometheus::Histogram* h = model_->queue_duration.get()) {
    h->Observe(absl::ToDoubleSeconds(queued));
  }
}

void VersionMetrics::OnBatchComputed(int64_t images, absl::Duration compute) {
  if (prometheus::Histogram* h = model_->compute_duration.get()) {
    h->Observe(absl::ToDoubleSeconds(compute));
  }
  if (prometheus::Histogram* h = model_->batch_size.get()) {
    h->Observe(static_cast<double>(images));
  }
  if (version_->images != nullptr) {
    version_->images->Increment(static_cast<double>(images));
  }
}

void VersionMetrics::OnTaskDropped(absl::StatusCode why) {
  RecordRejected(why == absl::StatusCode::kCancelled
                     ? metrics::RejectReason::kCancelled
                     : metrics::RejectReason::kDeadlineExceeded);
}

void VersionMetrics::OnQueueDepthChanged(int64_t queued_images) {
  // The model's gauge sums its versions: apply this servable's change.
  const int64_t previous = last_queue_depth_.exchange(queued_images);
  if (prometheus::Gauge* g = model_->queue_depth.get()) {
    g->Increment(static_cast<double>(queued_images - previous));
  }
}

}  // namespace nn
