#include "client/load_generator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/http_load.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using SteadyClock = std::chrono::steady_clock;

class LevelRun;

using DoneFn = std::function<void(const grpc::Status&)>;

// A slot's calls on one protocol's stub: at most one in flight; `done` (given
// once, at construction) runs when each ends, on any thread.
class LoadCall {
 public:
  virtual ~LoadCall() = default;
  // Starts the call of request number `sequence` (cycled through the
  // requests) with `deadline`.
  virtual void Start(uint64_t sequence,
                     std::chrono::system_clock::time_point deadline) = 0;
};

// A LoadCall of a unary gRPC method (`method`: "/package.Service/Method")
// on requests serialized once for the whole run (SerializeRequests): each
// call sends one by reference (gRPC refcounts its slices; no byte is
// copied or re-serialized) and receives the reply as bytes, which it does
// not parse (the status is the call's outcome). So the client's work a call
// is the same for every wire but for the bytes it moves.
class GrpcLoadCall final : public LoadCall {
 public:
  GrpcLoadCall(const std::shared_ptr<grpc::Channel>& channel,
               std::string method, const std::vector<grpc::ByteBuffer>* requests,
               DoneFn done)
      : stub_(channel),
        method_(std::move(method)),
        requests_(requests),
        done_(std::move(done)) {}

  void Start(uint64_t sequence,
             std::chrono::system_clock::time_point deadline) override {
    // The previous call's context is done with: its completion is running.
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(deadline);
    response_.Clear();
    stub_.UnaryCall(context_.get(), method_, grpc::StubOptions(),
                    &(*requests_)[sequence % requests_->size()], &response_,
                    [this](grpc::Status status) { done_(status); });
  }

 private:
  grpc::GenericStub stub_;
  const std::string method_;
  const std::vector<grpc::ByteBuffer>* const requests_;
  const DoneFn done_;
  std::unique_ptr<grpc::ClientContext> context_;
  grpc::ByteBuffer response_;
};

// `messages` serialized, in order.
template <typename Message>
std::vector<grpc::ByteBuffer> SerializeAll(const std::vector<Message>& messages) {
  std::vector<grpc::ByteBuffer> serialized(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    bool own_buffer = false;
    // Cannot fail for messages under 2 GB (the requests hold a few images).
    (void)grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
        messages[i], &serialized[i], &own_buffer);
  }
  return serialized;
}

// The gRPC requests of `options.protocol`, serialized (none for v2-http).
std::vector<grpc::ByteBuffer> SerializeRequests(const LoadOptions& options) {
  switch (options.protocol) {
    case WireProtocol::kV2Http:
      return {};
    case WireProtocol::kV2Grpc:
      return SerializeAll(options.v2_requests);
    case WireProtocol::kNnserveV1:
      break;
  }
  return SerializeAll(options.requests);
}

// A LoadCall over HTTP (a keep-alive connection of its own).
class HttpSlotCall final : public LoadCall {
 public:
  HttpSlotCall(const LoadOptions& options, DoneFn done)
      : call_(options.http_target, &options.http_requests, std::move(done)) {}
  void Start(uint64_t sequence,
             std::chrono::system_clock::time_point deadline) override {
    call_.Start(sequence, deadline);
  }

 private:
  HttpLoadCall call_;
};

// The slot calls of `options.protocol` (the one place a protocol is added);
// `serialized`: SerializeRequests(options).
std::unique_ptr<LoadCall> NewLoadCall(
    const LoadOptions& options, const std::vector<grpc::ByteBuffer>* serialized,
    const std::shared_ptr<grpc::Channel>& channel, DoneFn done) {
  switch (options.protocol) {
    case WireProtocol::kV2Http:
      return std::make_unique<HttpSlotCall>(options, std::move(done));
    case WireProtocol::kV2Grpc:
      return std::make_unique<GrpcLoadCall>(
          channel, "/inference.GRPCInferenceService/ModelInfer", serialized,
          std::move(done));
    case WireProtocol::kNnserveV1:
      break;
  }
  return std::make_unique<GrpcLoadCall>(
      channel, "/nnserve.v1.InferenceService/Predict", serialized,
      std::move(done));
}

// One of the N call loops of a level. A slot has at most one call in flight
// and starts its next call from the previous one's completion, so its fields
// are touched by one thread at a time, each call's completion
// happening-before the next call's start (no lock needed).
struct Slot {
  LevelRun* run = nullptr;
  std::unique_ptr<LoadCall> call;
  SteadyClock::time_point started;
  bool measured = false;

  int64_t requests = 0;
  int64_t ok_requests = 0;
  int64_t warmup_requests = 0;
  std::map<std::string, int64_t> errors_by_code;
  std::string first_error;
  LogLinearHistogram latency_nanos;
  SteadyClock::time_point last_end;
};

// Starts a slot's call. A completion can run on the thread that starts a
// call (gRPC may fail a call inline); instead of recursing, such a nested
// start is queued here and run by the outermost Issue on the thread.
thread_local std::vector<Slot*>* tl_pending_starts = nullptr;

class LevelRun {
 public:
  // `serialized`: SerializeRequests(options), kept by the caller.
  LevelRun(const LoadOptions& options,
           const std::vector<grpc::ByteBuffer>* serialized, int concurrency,
           std::vector<std::shared_ptr<grpc::Channel>> channels)
      : options_(options), channels_(std::move(channels)) {
    for (int i = 0; i < concurrency; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->run = this;
      Slot* raw = slot.get();
      slot->call = NewLoadCall(
          options_, serialized, channels_[i / options_.calls_per_channel],
          [this, raw](const grpc::Status& status) { OnDone(raw, status); });
      slots_.push_back(std::move(slot));
    }
  }

  LevelResult Run() {
    const SteadyClock::time_point start = SteadyClock::now();
    measure_start_ =
        start + absl::ToChronoNanoseconds(options_.warmup);
    end_ = measure_start_ + absl::ToChronoNanoseconds(options_.duration);
    active_slots_.store(static_cast<int>(slots_.size()));
    for (const auto& slot : slots_) Issue(slot.get());
    all_done_.WaitForNotification();

    LevelResult result;
    result.concurrency = static_cast<int>(slots_.size());
    // HTTP: one connection per call in flight.
    result.channels = options_.protocol == WireProtocol::kV2Http
                          ? static_cast<int>(slots_.size())
                          : static_cast<int>(channels_.size());
    result.images_per_request = options_.images_per_request;
    SteadyClock::time_point last_end = measure_start_;
    for (const auto& slot : slots_) {
      result.requests += slot->requests;
      result.ok_requests += slot->ok_requests;
      result.warmup_requests += slot->warmup_requests;
      for (const auto& [code, count] : slot->errors_by_code) {
        result.errors_by_code[code] += count;
      }
      if (result.first_error.empty()) result.first_error = slot->first_error;
      result.latency_nanos.Merge(slot->latency_nanos);
      if (slot->requests > 0) last_end = std::max(last_end, slot->last_end);
    }
    result.elapsed = absl::FromChrono(last_end - measure_start_);
    return result;
  }

 private:
  void Issue(Slot* slot) {
    if (tl_pending_starts != nullptr) {
      tl_pending_starts->push_back(slot);
      return;
    }
    std::vector<Slot*> pending = {slot};
    tl_pending_starts = &pending;
    while (!pending.empty()) {
      Slot* next = pending.back();
      pending.pop_back();
      StartOrRetire(next);
    }
    tl_pending_starts = nullptr;
  }

  // Starts the slot's next call, or retires the slot when the level is over.
  // Touches no member after the last slot retires: Run() may then return.
  void StartOrRetire(Slot* slot) {
    const SteadyClock::time_point now = SteadyClock::now();
    const bool measured = now >= measure_start_;
    if (now >= end_ ||
        (measured && options_.max_requests > 0 &&
         measured_started_.fetch_add(1) >= options_.max_requests)) {
      if (active_slots_.fetch_sub(1) == 1) all_done_.Notify();
      return;
    }
    slot->measured = measured;
    slot->started = now;
    slot->call->Start(next_request_.fetch_add(1),
                      std::chrono::system_clock::now() +
                          absl::ToChronoNanoseconds(options_.request_timeout));
  }

  void OnDone(Slot* slot, const grpc::Status& status) {
    const SteadyClock::time_point now = SteadyClock::now();
    if (!slot->measured) {
      ++slot->warmup_requests;
    } else {
      ++slot->requests;
      slot->last_end = now;
      if (status.ok()) {
        ++slot->ok_requests;
        slot->latency_nanos.Record(
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                now - slot->started)
                .count());
      } else {
        ++slot->errors_by_code[StatusCodeName(status.error_code())];
        if (slot->first_error.empty()) {
          slot->first_error = absl::StrCat(
              StatusCodeName(status.error_code()), ": ", status.error_message());
        }
      }
    }
    Issue(slot);
  }

  const LoadOptions& options_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<Slot>> slots_;
  // Set by Run() before the first call starts; read-only afterwards.
  SteadyClock::time_point measure_start_;
  SteadyClock::time_point end_;
  std::atomic<int64_t> measured_started_{0};
  std::atomic<uint64_t> next_request_{0};
  std::atomic<int> active_slots_{0};
  absl::Notification all_done_;
};

absl::Status ValidateOptions(const LoadOptions& options) {
  const bool has_requests =
      options.protocol == WireProtocol::kV2Grpc   ? !options.v2_requests.empty()
      : options.protocol == WireProtocol::kV2Http ? !options.http_requests.empty()
                                                  : !options.requests.empty();
  if (!has_requests) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no ", WireProtocolName(options.protocol), " requests to send"));
  }
  if (options.concurrency_levels.empty()) {
    return absl::InvalidArgumentError("no concurrency levels");
  }
  for (int level : options.concurrency_levels) {
    if (level < 1 || level > 100000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "concurrency ", level, " is out of range [1, 100000]"));
    }
  }
  if (options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the duration must be positive");
  }
  if (options.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the warm-up must not be negative");
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the request timeout must be positive");
  }
  if (options.max_requests < 0) {
    return absl::InvalidArgumentError("max_requests must not be negative");
  }
  if (options.calls_per_channel < 1) {
    return absl::InvalidArgumentError("calls_per_channel must be at least 1");
  }
  if (options.images_per_request < 1) {
    return absl::InvalidArgumentError("images_per_request must be at least 1");
  }
  return absl::OkStatus();
}

}  // namespace

double LevelResult::requests_per_second() const {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  return seconds > 0 ? static_cast<double>(ok_requests) / seconds : 0.0;
}

double LevelResult::images_per_second() const {
  return requests_per_second() * images_per_request;
}

absl::StatusOr<std::vector<LevelResult>> RunLoad(const LoadOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  // Serialized once; every call sends one of these.
  const std::vector<grpc::ByteBuffer> serialized = SerializeRequests(options);
  std::vector<LevelResult> results;
  for (int concurrency : options.concurrency_levels) {
    const int channel_count =
        (concurrency + options.calls_per_channel - 1) /
        options.calls_per_channel;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    // v2-http: no gRPC channel (null ones keep the slots' indexing); every
    // slot opens its own HTTP connection.
    const bool grpc = options.protocol != WireProtocol::kV2Http;
    if (!grpc) channels.resize(channel_count);
    for (int i = 0; grpc && i < channel_count; ++i) {
      ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                       CreateChannel(options.channel, i));
      // Connect before the clock starts, waiting at most a second: a
      // server that cannot be reached shows in the calls' errors.
      channel->WaitForConnected(
          std::chrono::system_clock::now() +
          absl::ToChronoNanoseconds(
              std::min(options.request_timeout, absl::Seconds(1))));
      channels.push_back(std::move(channel));
    }
    LevelRun run(options, &serialized, concurrency, std::move(channels));
    results.push_back(run.Run());
  }
  return results;
}

absl::StatusOr<std::vector<v1::PredictRequest>> BuildPredictRequests(
    const std::vector<InputImage>& images, const std::string& model,
    int64_t version, int images_per_request, ImageEncoding encoding,
    int count) {
  ASSIGN_OR_RETURN(std::vector<std::vector<const InputImage*>> batches,
                   RequestImageBatches(images, images_per_request, count));
  std::vector<v1::PredictRequest> requests;
  requests.reserve(batches.size());
  for (const std::vector<const InputImage*>& batch : batches) {
    v1::PredictRequest request;
    request.set_model(model);
    request.set_version(version);
    ASSIGN_OR_RETURN(*request.mutable_images(), EncodeImages(batch, encoding));
    requests.push_back(std::move(request));
  }
  return requests;
}

}  // namespace nn
