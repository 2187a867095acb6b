// Protobuf text format (models/*.textproto, config.textproto) read into a
// message, with the first syntax error as a one-line message: the one
// reader and error collector of the client, the server and the tools.
#ifndef NNSERVE_COMMON_TEXT_PROTO_H_
#define NNSERVE_COMMON_TEXT_PROTO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace nn {

// Parses `text` into `message` (cleared first). INVALID_ARGUMENT "not a
// TYPE in text format: line L, column C: REASON" for the first error (L
// and C 1-based), TYPE being `type_name`, or the message's full name
// ("nnserve.v1.ModelSpec") when `type_name` is empty.
absl::Status ParseTextProto(const std::string& text,
                            google::protobuf::Message* message,
                            absl::string_view type_name = "");

// Reads `path` (common/file.h's ReadFile, its bound and codes) and parses
// it. Errors name the file: "cannot open PATH: no such file" (ReadFile's
// message after "cannot open "), "PATH: not a TYPE in text format: ...".
absl::Status ReadTextProtoFile(const std::string& path,
                               google::protobuf::Message* message,
                               absl::string_view type_name = "");

}  // namespace nn

#endif  // NNSERVE_COMMON_TEXT_PROTO_H_
