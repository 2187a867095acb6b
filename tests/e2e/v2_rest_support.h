// What the /v2 REST end-to-end and robustness tests share: infer bodies in
// JSON and in the binary tensor data extension, and reading the answers.
#ifndef NNSERVE_TESTS_E2E_V2_REST_SUPPORT_H_
#define NNSERVE_TESTS_E2E_V2_REST_SUPPORT_H_

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/document.h"
#include "tests/support/http_client.h"

namespace nn::testing {

// A POST of `body` to `path` with an optional Inference-Header-Content-Length.
inline HttpMessage V2Post(const std::string& path, std::string body,
                          int64_t json_size = -1) {
  HttpMessage m{.method = "POST", .path = path, .body = std::move(body)};
  m.headers.push_back({"Content-Type", json_size >= 0
                                           ? "application/octet-stream"
                                           : "application/json"});
  if (json_size >= 0) {
    m.headers.push_back(
        {"Inference-Header-Content-Length", absl::StrCat(json_size)});
  }
  return m;
}

// The JSON head of an infer request with one `images` input.
// `data`: a JSON array text, or empty for binary data of `binary_size`.
inline std::string InferJson(const std::string& datatype,
                             const std::vector<int64_t>& shape,
                             const std::string& data, int64_t binary_size,
                             const std::string& extra = "") {
  std::string input = absl::StrCat(R"({"name":"images","datatype":")",
                                   datatype, R"(","shape":[)",
                                   absl::StrJoin(shape, ","), "]");
  if (data.empty()) {
    absl::StrAppend(&input, R"(,"parameters":{"binary_data_size":)",
                    binary_size, "}");
  } else {
    absl::StrAppend(&input, R"(,"data":)", data);
  }
  return absl::StrCat(R"({"id":"req-1","inputs":[)", input, "}]", extra, "}");
}

// A flat JSON array of `values` in their shortest exact form.
inline std::string JsonNumbers(const std::vector<float>& values) {
  std::string out = "[";
  char buffer[32];
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    const auto r = std::to_chars(buffer, buffer + sizeof buffer, values[i]);
    out.append(buffer, r.ptr);
  }
  return out + "]";
}

inline std::string RawFloats(const std::vector<float>& values) {
  std::string raw(values.size() * 4, '\0');
  std::memcpy(raw.data(), values.data(), raw.size());  // little-endian host
  return raw;
}

// Floats from a little-endian byte string.
inline std::vector<float> FloatsOf(const std::string& raw) {
  std::vector<float> values(raw.size() / 4);
  std::memcpy(values.data(), raw.data(), values.size() * 4);
  return values;
}

// The probabilities of a JSON infer answer (output "probabilities" data),
// or of its binary data; empty if absent.
struct V2Answer {
  rapidjson::Document json;
  std::string binary;  // the bytes after the JSON
  bool ok = false;
};

inline V2Answer ParseV2Answer(const HttpResponse& response) {
  V2Answer a;
  size_t json_size = response.body.size();
  auto it = response.headers.find("inference-header-content-length");
  if (it != response.headers.end() &&
      !absl::SimpleAtoi(it->second, &json_size)) {
    return a;
  }
  if (json_size > response.body.size()) return a;
  a.json.Parse(response.body.data(), json_size);
  a.binary = response.body.substr(json_size);
  a.ok = !a.json.HasParseError() && a.json.IsObject();
  return a;
}

// The output named `name` of an answer, or null.
inline const rapidjson::Value* V2Output(const V2Answer& a, const char* name) {
  if (!a.ok || !a.json.HasMember("outputs")) return nullptr;
  for (const rapidjson::Value& o : a.json["outputs"].GetArray()) {
    if (o.HasMember("name") && std::string(o["name"].GetString()) == name) {
      return &o;
    }
  }
  return nullptr;
}

// The FP32 values of output `name` of an answer: its JSON "data", or its
// bytes in the binary part (outputs' binary data follow the JSON in the
// order of "outputs"). Empty if absent or if the sizes do not add up.
inline std::vector<float> V2OutputFloats(const V2Answer& a, const char* name) {
  if (!a.ok || !a.json.HasMember("outputs")) return {};
  size_t offset = 0;
  for (const rapidjson::Value& o : a.json["outputs"].GetArray()) {
    const bool binary = o.HasMember("parameters") &&
                        o["parameters"].HasMember("binary_data_size");
    const size_t size =
        binary ? o["parameters"]["binary_data_size"].GetUint64() : 0;
    if (std::string(o["name"].GetString()) != name) {
      offset += size;
      continue;
    }
    if (binary) {
      if (offset + size > a.binary.size()) return {};
      return FloatsOf(a.binary.substr(offset, size));
    }
    std::vector<float> values;
    if (!o.HasMember("data")) return values;
    for (const auto& v : o["data"].GetArray()) values.push_back(v.GetFloat());
    return values;
  }
  return {};
}

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_E2E_V2_REST_SUPPORT_H_
