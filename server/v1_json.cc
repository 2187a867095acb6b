#include "server/v1_json.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/v2/rest_codec.h"

namespace nn {

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot write the answer as JSON: ", status.ToString()));
  }
  return json;
}

absl::Status ParseJsonBody(absl::string_view body,
                           google::protobuf::Message* message) {
  message->Clear();
  if (body.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "empty request body: send a ", message->GetTypeName(),
        " in protobuf's JSON mapping"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), message,
      options);
  if (status.ok()) return absl::OkStatus();
  message->Clear();
  absl::string_view detail(status.message().data(), status.message().size());
  const bool cut = detail.size() > kMaxJsonErrorDetail;
  if (cut) {
    size_t end = kMaxJsonErrorDetail;
    // Cut before a UTF-8 continuation byte, not inside a character.
    while (end > 0 && (static_cast<unsigned char>(detail[end]) & 0xC0) == 0x80) {
      --end;
    }
    detail = detail.substr(0, end);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "request body is not a ", message->GetTypeName(),
      " in protobuf's JSON mapping: ", detail, cut ? "..." : ""));
}

std::string SseEvent(absl::string_view event, absl::string_view data) {
  return absl::StrCat("event: ", event, "\ndata: ", data, "\n\n");
}

std::string SseEndData(const absl::Status& status) {
  // JsonErrorBody is {"error":"..."}: splice the code and status in front.
  const std::string error = v2::JsonErrorBody(status.message());
  return absl::StrCat("{\"code\":\"", absl::StatusCodeToString(status.code()),
                      "\",\"httpStatus\":", v2::HttpStatusFor(status.code()),
                      ",", absl::string_view(error).substr(1));
}

}  // namespace nn
