// The protocol-independent part of an inference request: one call from the
// model version it resolved to until its reply, whatever wire it came on.
// A protocol handler only translates wire -> call -> wire.
//
// How a protocol uses it (nnserve.v1 Predict: PredictCall in
// inference_service.cc; the Open Inference Protocol's ModelInfer is the
// same steps with its own messages):
//   1. Derive a call from InferenceCall that holds the wire request, the
//      reply and whatever finishes the wire call (a gRPC reactor, an HTTP
//      connection), and implement WriteReply() (probabilities() -> reply)
//      and Finish(status) (end the wire call). Create it when the request
//      arrives (`start`: for latency) and parse the wire request into it.
//   2. ResolveVersion(repository, model, version): the version's handle,
//      or INVALID_ARGUMENT / NOT_FOUND, which the handler answers itself
//      (the request reached no version). Then call->Attach(handle).
//   3. Check the protocol's own fields (nnserve.v1: top_k); a bad one:
//      Fail(std::move(call), status).
//   4. Decode the wire's images into call->input() with
//      call->decoding(limit) (nnserve.v1: DecodeImages; another protocol
//      its own decoder, same options and errors); an error: Fail(...).
//   5. Submit(std::move(call), images, deadline, is_cancelled).
// From Attach on, every call ends in exactly one Finish(status): on the
// handler's thread (a failure, a rejection, a fast-path compute) or on a
// batch worker, after the outcome is recorded (RequestRecorder) and before
// the call (and its version handle) is destroyed.
//
// Hot path, per request: the protocol's call object, its input buffer (none
// when the protocol's decoder gives a view: UseInput) and its output buffer
// past a few values (16 floats inline) are the allocations (the batcher's
// task state, when queued or following, comes from its pool: batcher.h);
// virtual calls are per request (WriteReply, Finish, the recorder), none
// per image; no lock of its own.
#ifndef NNSERVE_SERVER_INFERENCE_CALL_H_
#define NNSERVE_SERVER_INFERENCE_CALL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/batching/batcher.h"
#include "server/image_decoding.h"
#include "server/metrics/metric_names.h"
#include "server/model_repository.h"
#include "server/servable.h"

namespace nn {

// The version a request names: the model name and version number are
// checked first (INVALID_ARGUMENT, ValidateModelName /
// ValidateVersionNumber), then the repository answers (NOT_FOUND for an
// unknown model or version or one not AVAILABLE). Version 0: the newest.
absl::StatusOr<std::shared_ptr<ServableVersion>> ResolveVersion(
    const ModelRepository& repository, const std::string& model,
    int64_t version);

class InferenceCall {
 public:
  virtual ~InferenceCall() = default;
  InferenceCall(const InferenceCall&) = delete;
  InferenceCall& operator=(const InferenceCall&) = delete;

  // Binds the call to the version that computes it; the handle is kept
  // until the call is destroyed (after Finish). Once, before the rest.
  void Attach(std::shared_ptr<ServableVersion> servable);
  const ServableVersion& servable() const { return *servable_; }
  absl::Time start() const { return start_; }

  // What the protocol's decoder must produce: images of the model's size,
  // at most `max_images` of them (more: RESOURCE_EXHAUSTED).
  ImageDecodingOptions decoding(int64_t max_images) const;
  // {images, height * width} floats in [0, 1], row-major; filled by the
  // protocol's decoder before Submit.
  std::vector<float>& input() { return input_; }
  // Instead of input(): the images are `images` (the same layout), e.g. a
  // view of the wire request's own float values, which must stay valid and
  // unchanged until the call is destroyed (a request the call holds does).
  // Set before Submit; input() is then not used.
  void UseInput(absl::Span<const float> images) {
    input_view_ = images;
    has_input_view_ = true;
  }
  // Images submitted (0 before Submit).
  int64_t num_images() const { return num_images_; }
  // {num_images, num_classes} class probabilities, each row summing to 1;
  // valid in WriteReply.
  absl::Span<const float> probabilities() const { return output_; }

  // Hands `call` (attached, input() holding `images` images) to its
  // version's one entry point (ServableVersion::Submit) with the wire's
  // deadline (absl::InfiniteFuture() for none) and cancellation poll
  // (optional; thread-safe and cheap, see BatchTask::is_cancelled).
  // Accepted: the call is computed, then WriteReply() and Finish() run;
  // rejected: Finish(admission.status()) runs before this returns. The
  // result is for the caller's information: the call is finished either way.
  static Admission Submit(std::unique_ptr<InferenceCall> call, int64_t images,
                          absl::Time deadline,
                          std::function<bool()> is_cancelled);

  // Ends an attached call that is not submitted (a bad request) with
  // `status` (not OK). A RESOURCE_EXHAUSTED status (the request is over the
  // size limit: decoding()) also counts as a kTooLarge rejection.
  static void Fail(std::unique_ptr<InferenceCall> call, absl::Status status);

 protected:
  // `protocol`: the wire, for the request metrics' `protocol` label.
  explicit InferenceCall(
      absl::Time start,
      metrics::Protocol protocol = metrics::Protocol::kNnserveV1)
      : start_(start), protocol_(protocol) {}

  // Writes the reply from probabilities() after a successful compute; an
  // error (e.g. the reply cannot be serialized) becomes the call's outcome.
  virtual absl::Status WriteReply() = 0;
  // Ends the wire call with the outcome (OK only after WriteReply succeeded).
  // Runs exactly once; must not block (it may run on a batch worker).
  virtual void Finish(const absl::Status& status) = 0;

 private:
  // Writes the reply on success, records the outcome, Finish, destroys.
  static void Complete(std::unique_ptr<InferenceCall> call,
                       absl::Status status);

  const absl::Time start_;
  const metrics::Protocol protocol_;
  std::shared_ptr<ServableVersion> servable_;
  std::vector<float> input_;
  // Set by UseInput (else the input is input_).
  absl::Span<const float> input_view_;
  bool has_input_view_ = false;
  // Inline for a few images of a few classes (MLP: 1 image of 10): no
  // allocation for them.
  absl::InlinedVector<float, 16> output_;
  int64_t num_images_ = 0;
};

}  // namespace nn

#endif  // NNSERVE_SERVER_INFERENCE_CALL_H_
