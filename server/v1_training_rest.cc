#include "server/v1_training_rest.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/quote.h"
#include "nnserve/v1/inference.pb.h"
#include "server/training_service.h"
#include "server/v1_json.h"
#include "server/v2/rest_codec.h"

namespace nn {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kEventStream[] = "text/event-stream";

std::string AuthorizationOf(const metrics::HttpExchange& exchange) {
  std::optional<absl::string_view> value = exchange.header("Authorization");
  return value.has_value() ? std::string(*value) : std::string();
}

void RespondError(metrics::HttpExchange& exchange, const absl::Status& status) {
  exchange.Respond(v2::HttpStatusFor(status.code()), kJson,
                   v2::JsonErrorBody(status.message()), {});
}

void RespondJson(metrics::HttpExchange& exchange,
                 const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) {
    RespondError(exchange, json.status());
    return;
  }
  exchange.Respond(200, kJson, *json, {});
}

// 405 unless the request's method is `allowed`.
bool MethodIs(metrics::HttpExchange& exchange, absl::string_view allowed) {
  if (exchange.method() == allowed) return true;
  exchange.Respond(
      405, kJson,
      v2::JsonErrorBody(absl::StrCat("method ", Quote(exchange.method()),
                                     " on ", Quote(exchange.path()), ": use ",
                                     allowed)),
      {{"Allow", std::string(allowed)}});
  return false;
}

absl::Status NoSuchEndpoint(absl::string_view path) {
  return absl::NotFoundError(absl::StrCat(
      "no endpoint ", Quote(path),
      " (GET or POST /v1/training/jobs, GET /v1/training/jobs/{job}/events, "
      "POST /v1/training/jobs/{job}/cancel)"));
}

}  // namespace

V1TrainingRest::V1TrainingRest(Options options, InferenceServiceImpl* service)
    : options_(std::move(options)), service_(service) {}

void V1TrainingRest::Handle(metrics::HttpExchange& exchange) {
  // "/v1/training/jobs/j/events" -> {"", "v1", "training", "jobs", "j", "events"}
  const std::vector<absl::string_view> parts =
      absl::StrSplit(exchange.path(), '/');
  if (parts.size() < 4 || parts[3] != "jobs") {
    RespondError(exchange, NoSuchEndpoint(exchange.path()));
    return;
  }
  if (parts.size() == 4) {
    if (exchange.method() == "POST") {
      Train(exchange);
      return;
    }
    if (!MethodIs(exchange, "GET")) return;
    nnserve::v1::ListTrainingJobsResponse response;
    const absl::Status status =
        service_->AnswerListTrainingJobs(AuthorizationOf(exchange), &response);
    if (status.ok()) {
      RespondJson(exchange, response);
    } else {
      RespondError(exchange, status);
    }
    return;
  }
  if (parts.size() != 6 || parts[4].empty()) {
    RespondError(exchange, NoSuchEndpoint(exchange.path()));
    return;
  }
  const std::string job_id(parts[4]);
  if (parts[5] == "cancel") {
    if (!MethodIs(exchange, "POST")) return;
    nnserve::v1::CancelTrainingRequest request;
    request.set_job_id(job_id);
    nnserve::v1::CancelTrainingResponse response;
    const absl::Status status = service_->AnswerCancelTraining(
        AuthorizationOf(exchange), request, &response);
    if (status.ok()) {
      RespondJson(exchange, response);
    } else {
      RespondError(exchange, status);
    }
    return;
  }
  if (parts[5] != "events") {
    RespondError(exchange, NoSuchEndpoint(exchange.path()));
    return;
  }
  if (!MethodIs(exchange, "GET")) return;
  if (!AdmitStream(exchange)) return;
  nnserve::v1::WatchTrainingRequest request;
  request.set_job_id(job_id);
  size_t first = 0;
  absl::StatusOr<std::shared_ptr<TrainingJob>> job =
      service_->AnswerWatchTraining(AuthorizationOf(exchange), request, &first);
  if (job.ok()) {
    Stream(exchange, TrainingProgressCursor(*std::move(job), first,
                                            /*snapshot_first=*/true,
                                            ProgressIntervalFromMillis(0)));
  } else {
    RespondError(exchange, job.status());
  }
  MutexLock lock(shared_->mu);
  --shared_->streams;
}

void V1TrainingRest::Train(metrics::HttpExchange& exchange) {
  const std::optional<absl::string_view> accept = exchange.header("Accept");
  const bool stream =
      accept.has_value() && absl::StrContains(*accept, kEventStream);
  absl::StatusOr<std::string> body = exchange.ReadBody(options_.max_body_bytes);
  nnserve::v1::TrainRequest request;
  absl::Status parsed =
      body.ok() ? ParseJsonBody(*body, &request) : body.status();
  if (!parsed.ok()) {
    RespondError(exchange, parsed);
    return;
  }
  // The slot first: a stream refused for want of one starts no job.
  if (stream && !AdmitStream(exchange)) return;
  absl::StatusOr<std::shared_ptr<TrainingJob>> job =
      service_->AnswerTrain(AuthorizationOf(exchange), request);
  if (!job.ok()) {
    RespondError(exchange, job.status());
  } else if (stream) {
    Stream(exchange, TrainingProgressCursor(
                         *std::move(job), /*first_event=*/0,
                         /*snapshot_first=*/false,
                         ProgressIntervalFromMillis(
                             request.progress_interval_millis())));
  } else {
    // The Train stream's first message: the job accepted.
    std::vector<nnserve::v1::TrainProgress> events = (*job)->EventsFrom(0);
    if (events.empty()) {
      events.emplace_back();
      *events[0].mutable_job() = (*job)->Snapshot();
      events[0].set_started(true);
    }
    RespondJson(exchange, events.front());
  }
  if (stream) {
    MutexLock lock(shared_->mu);
    --shared_->streams;
  }
}

bool V1TrainingRest::AdmitStream(metrics::HttpExchange& exchange) {
  absl::Status refused;
  {
    MutexLock lock(shared_->mu);
    if (shared_->stopping) {
      refused = absl::UnavailableError("the server is draining");
    } else if (shared_->streams >= options_.max_streams) {
      refused = absl::UnavailableError(absl::StrCat(
          shared_->streams, " training event streams are open; this server keeps at "
          "most ", options_.max_streams,
          " (a quarter of --http_threads); retry later"));
    } else {
      ++shared_->streams;
      return true;
    }
  }
  RespondError(exchange, refused);
  return false;
}

void V1TrainingRest::Stream(metrics::HttpExchange& exchange,
                            TrainingProgressCursor cursor) {
  const std::shared_ptr<TrainingJob> job = cursor.job();
  const int watcher = job->AddWatcher([shared = shared_] {
    MutexLock lock(shared->mu);
    ++shared->changes;
    shared->changed.notify_all();
  });
  bool open = exchange.StartStream(200, kEventStream,
                                   {{"X-Content-Type-Options", "nosniff"}});
  absl::Time last_write = absl::Now();
  while (open) {
    int64_t seen;
    bool stopping;
    {
      MutexLock lock(shared_->mu);
      seen = shared_->changes;
      stopping = shared_->stopping;
    }
    // (Writes happen without the lock: a slow client must not hold up the
    // job threads' watchers or the other streams.)
    if (stopping) {
      exchange.Write(SseEvent(
          "end", SseEndData(absl::UnavailableError(
                     "the server is draining; the job was cancelled "
                     "unless it had ended"))));
      break;
    }
    nnserve::v1::TrainProgress message;
    absl::Status final_status;
    absl::Time retry_at;
    const absl::Time now = absl::Now();
    const TrainingProgressCursor::Step step =
        cursor.Next(now, &message, &final_status, &retry_at);
    if (step == TrainingProgressCursor::Step::kMessage) {
      absl::StatusOr<std::string> json = ToJson(message);
      open = exchange.Write(json.ok() ? SseEvent("progress", *json)
                                      : SseEvent("end", SseEndData(json.status())));
      if (!json.ok()) break;
      last_write = absl::Now();
      continue;
    }
    if (step == TrainingProgressCursor::Step::kEnded) {
      exchange.Write(SseEvent("end", SseEndData(final_status)));
      break;
    }
    const absl::Time heartbeat_at = last_write + options_.heartbeat;
    if (now >= heartbeat_at) {
      open = exchange.Write(": keep-alive\n\n");
      last_write = now;
      continue;
    }
    const absl::Time wake = std::min(retry_at, heartbeat_at);
    MutexLock lock(shared_->mu);
    lock.WaitFor(shared_->changed, absl::ToChronoMilliseconds(wake - now) +
                               std::chrono::milliseconds(1),
                 [&] {
                   shared_->mu.AssertHeld();
                   return shared_->changes != seen || shared_->stopping;
                 });
  }
  job->RemoveWatcher(watcher);
}

void V1TrainingRest::StopStreams() {
  MutexLock lock(shared_->mu);
  shared_->stopping = true;
  shared_->changed.notify_all();
}

int V1TrainingRest::open_streams() const {
  MutexLock lock(shared_->mu);
  return shared_->streams;
}

}  // namespace nn
