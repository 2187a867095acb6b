// Protobuf's JSON mapping for the /v1 HTTP view of nnserve.v1
// (v1_rest_service.h, v1_training_rest.h): answers, request bodies and
// server-sent events. No civetweb and no gRPC server here, so the request
// parsing is fuzzed on its own (tests/fuzz, target v1_json).
#ifndef NNSERVE_SERVER_V1_JSON_H_
#define NNSERVE_SERVER_V1_JSON_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace nn {

// Longest parser message quoted back in a 400 (the parser may quote the
// body; the error is JSON-escaped by its writer, and bounded here).
inline constexpr size_t kMaxJsonErrorDetail = 200;

// `message` in protobuf's JSON mapping on one line (lowerCamelCase names,
// enums by name, int64 as strings, fields at their default value printed
// too, so a page never has to guess a missing zero). INTERNAL if it cannot
// be written (e.g. a string field that is not UTF-8).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

// Parses `body` (protobuf's JSON mapping; both lowerCamelCase and the
// proto's field names; unknown fields refused) into `message`, which is
// cleared first. INVALID_ARGUMENT (an empty body too: "{}" is the message
// at its defaults) naming the message type and, bounded to
// kMaxJsonErrorDetail bytes, what the parser said.
absl::Status ParseJsonBody(absl::string_view body,
                           google::protobuf::Message* message);

// One server-sent event (text/event-stream): "event: <event>\ndata:
// <data>\n\n". `data` must be one line (ToJson's output is).
std::string SseEvent(absl::string_view event, absl::string_view data);

// The data of the last event of a stream: {"code": "<canonical code
// name>", "httpStatus": <v2::HttpStatusFor>, "error": "<message>"}, with
// the message JSON-escaped.
std::string SseEndData(const absl::Status& status);

}  // namespace nn

#endif  // NNSERVE_SERVER_V1_JSON_H_
