// A small streaming JSON writer for nnctl's --json outputs.
//
//   JsonWriter json;
//   json.BeginObject();
//   json.Key("model").String("mnist_mlp");
//   json.Key("probabilities").BeginArray().Number(0.25).EndArray();
//   json.EndObject();
//   std::string text = json.str();   // {"model":"mnist_mlp",...}
//
// Commas are inserted automatically. Strings are escaped per RFC 8259 (bytes
// >= 0x80 pass through, so UTF-8 stays UTF-8). Non-finite numbers become null.
// Misuse (a value without a key in an object) is a programming error and is
// not diagnosed.
#ifndef NNSERVE_CLIENT_JSON_WRITER_H_
#define NNSERVE_CLIENT_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace nn {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  // 17 significant digits at most: reads back as the same double.
  JsonWriter& Number(double value);
  // The shortest decimal that reads back as the same float ("0.1", not
  // "0.100000001").
  JsonWriter& Float(float value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  // Inserts already-serialized JSON (e.g. from protobuf's JSON printer).
  JsonWriter& Raw(absl::string_view json);

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open object/array: whether it holds a value yet.
  std::vector<bool> has_value_;
  bool after_key_ = false;
};

// `value` as a quoted, escaped JSON string.
std::string JsonQuote(absl::string_view value);

}  // namespace nn

#endif  // NNSERVE_CLIENT_JSON_WRITER_H_
