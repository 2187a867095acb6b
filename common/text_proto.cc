#include "common/text_proto.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace nn {
namespace {

// Keeps the first error of a text-format parse (the parser reports every
// one; the first is the cause, the rest often follow from it).
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

}  // namespace

absl::Status ParseTextProto(const std::string& text,
                            google::protobuf::Message* message,
                            absl::string_view type_name) {
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(text, message)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("not a ",
                   type_name.empty() ? message->GetDescriptor()->full_name()
                                     : std::string(type_name),
                   " in text format: ",
                   errors.error().empty() ? "cannot parse" : errors.error()));
}

absl::Status ReadTextProtoFile(const std::string& path,
                               google::protobuf::Message* message,
                               absl::string_view type_name) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot open ", text.status().message()));
  }
  const absl::Status parsed = ParseTextProto(*text, message, type_name);
  if (!parsed.ok()) {
    return absl::Status(parsed.code(),
                        absl::StrCat(path, ": ", parsed.message()));
  }
  return absl::OkStatus();
}

}  // namespace nn
