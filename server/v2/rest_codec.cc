#include "server/v2/rest_codec.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace nn::v2 {
namespace {

using JsonValue = rapidjson::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// The deepest `data` nesting accepted (a rank-4 tensor needs 4).
constexpr int kMaxDataDepth = 8;

// rapidjson's DOM parse without recursion (a body of 100,000 '[' cannot
// overflow the stack) and with UTF-8 validation (so every string echoed in
// a message or decoded as BYTES is valid UTF-8).
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

absl::string_view View(const JsonValue& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

// `what` in messages: "inputs[0].shape", "outputs[1].parameters", ...
absl::Status NotA(absl::string_view what, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " must be ", expected));
}

// The member `key` of object `v` or nullptr.
const JsonValue* Member(const JsonValue& v, const char* key) {
  const auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

absl::StatusOr<const JsonValue*> ObjectMember(const JsonValue& v,
                                              const char* key,
                                              absl::string_view what) {
  const JsonValue* m = Member(v, key);
  if (m != nullptr && !m->IsObject()) {
    return NotA(absl::StrCat(what, ".", key), "an object");
  }
  return m;
}

absl::StatusOr<std::optional<bool>> BoolParameter(const JsonValue* params,
                                                  const char* key,
                                                  absl::string_view what) {
  if (params == nullptr) return std::optional<bool>();
  const JsonValue* p = Member(*params, key);
  if (p == nullptr) return std::optional<bool>();
  if (!p->IsBool()) {
    return NotA(absl::StrCat(what, ".parameters.", key), "true or false");
  }
  return std::optional<bool>(p->GetBool());
}

absl::StatusOr<std::optional<int64_t>> IntParameter(const JsonValue* params,
                                                    const char* key,
                                                    absl::string_view what) {
  if (params == nullptr) return std::optional<int64_t>();
  const JsonValue* p = Member(*params, key);
  if (p == nullptr) return std::optional<int64_t>();
  if (!p->IsInt64()) {
    return NotA(absl::StrCat(what, ".parameters.", key), "an integer");
  }
  return std::optional<int64_t>(p->GetInt64());
}

// Where a JSON input's flattened elements are kept while it is decoded.
struct DataStorage {
  std::vector<float> fp32;
  std::vector<uint32_t> uints;
};

// Appends the elements of `data` (flat or nested arrays) to `in`'s storage
// for its datatype, checking each element's JSON type.
absl::Status FlattenData(const JsonValue& data, int depth, DataType type,
                         InputTensor* in, DataStorage* storage) {
  if (depth > kMaxDataDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("input ", Quote(in->name), ": data is nested deeper than ",
                     kMaxDataDepth, " levels"));
  }
  for (const JsonValue& e : data.GetArray()) {
    if (e.IsArray()) {
      RETURN_IF_ERROR(FlattenData(e, depth + 1, type, in, storage));
      continue;
    }
    const size_t index = in->bytes.size() + storage->fp32.size() +
                         storage->uints.size();
    if (type == DataType::kFp32 && e.IsNumber()) {
      storage->fp32.push_back(static_cast<float>(e.GetDouble()));
    } else if (type == DataType::kUint8 && e.IsUint()) {
      storage->uints.push_back(e.GetUint());
    } else if (type == DataType::kBytes && e.IsString()) {
      in->bytes.push_back(View(e));
    } else {
      const char* expected = type == DataType::kFp32    ? "numbers"
                             : type == DataType::kUint8 ? "integers 0..255"
                                                        : "strings";
      return absl::InvalidArgumentError(absl::StrCat(
          "input ", Quote(in->name), ": data element ", index,
          " is not one of the ", expected, " a ", in->datatype,
          " tensor's data holds"));
    }
  }
  return absl::OkStatus();
}

// Reads inputs[0] into `in`, taking binary data from the front of `*binary`.
absl::Status ReadInput(const JsonValue& input, absl::string_view* binary,
                       InputTensor* in, DataStorage* storage) {
  constexpr absl::string_view what = "inputs[0]";
  if (!input.IsObject()) return NotA(what, "an object");
  const JsonValue* name = Member(input, "name");
  const JsonValue* datatype = Member(input, "datatype");
  const JsonValue* shape = Member(input, "shape");
  if (name == nullptr || !name->IsString()) return NotA("inputs[0].name", "a string");
  in->name = View(*name);
  if (datatype == nullptr || !datatype->IsString()) {
    return NotA(absl::StrCat("input ", Quote(in->name), ": datatype"), "a string");
  }
  in->datatype = View(*datatype);
  if (shape == nullptr || !shape->IsArray()) {
    return NotA(absl::StrCat("input ", Quote(in->name), ": shape"),
                "an array of integers");
  }
  for (const JsonValue& d : shape->GetArray()) {
    if (!d.IsInt64() || d.GetInt64() < 0) {
      return NotA(absl::StrCat("input ", Quote(in->name), ": shape"),
                  "an array of integers >= 0");
    }
    in->shape.push_back(d.GetInt64());
  }
  ASSIGN_OR_RETURN(const JsonValue* params, ObjectMember(input, "parameters", what));
  ASSIGN_OR_RETURN(std::optional<int64_t> binary_size,
                   IntParameter(params, "binary_data_size", what));
  const JsonValue* data = Member(input, "data");
  if (binary_size.has_value()) {
    if (data != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input ", Quote(in->name), ": has both data and binary_data_size; "
          "send the elements one way"));
    }
    if (*binary_size < 0 ||
        static_cast<uint64_t>(*binary_size) > binary->size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input ", Quote(in->name), ": binary_data_size is ", *binary_size,
          "; ", binary->size(), " bytes of binary data follow the JSON"));
    }
    in->contents = InputTensor::Contents::kRaw;
    in->raw = binary->substr(0, *binary_size);
    in->source = "binary data";
    binary->remove_prefix(*binary_size);
    return absl::OkStatus();
  }
  if (data == nullptr) return absl::OkStatus();  // kNone: the mapping says so
  if (!data->IsArray()) {
    return NotA(absl::StrCat("input ", Quote(in->name), ": data"), "an array");
  }
  in->source = "data";
  const DataType type = ParseDataType(in->datatype);
  if (type != DataType::kFp32 && type != DataType::kUint8 &&
      type != DataType::kBytes) {
    in->contents = InputTensor::Contents::kOther;  // the datatype is refused
    in->other = "data";
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(FlattenData(*data, 1, type, in, storage));
  if (type == DataType::kFp32) {
    in->contents = InputTensor::Contents::kFp32;
    in->fp32 = storage->fp32;
  } else if (type == DataType::kUint8) {
    in->contents = InputTensor::Contents::kUint;
    in->uints = storage->uints;
  } else {
    in->contents = InputTensor::Contents::kBytes;
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> JsonSize(std::optional<absl::string_view> header,
                                size_t body_size) {
  if (!header.has_value()) return body_size;
  uint64_t size = 0;
  const absl::string_view text = absl::StripAsciiWhitespace(*header);
  if (text.empty() || !absl::ascii_isdigit(text[0]) ||
      !absl::SimpleAtoi(text, &size)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kInferenceHeaderContentLength, ": ", Quote(*header),
                     " is not a byte count"));
  }
  if (size > body_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        kInferenceHeaderContentLength, ": ", size, " bytes of JSON; the body "
        "has ", body_size));
  }
  return static_cast<size_t>(size);
}

}  // namespace

absl::StatusOr<DecodedRequest> DecodeRestInferRequest(
    absl::string_view body, std::optional<absl::string_view> header,
    const ModelSignature& signature, const CodecLimits& limits) {
  if (static_cast<int64_t>(body.size()) > limits.max_request_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "request body of ", body.size(), " bytes; the limit is ",
        limits.max_request_bytes));
  }
  ASSIGN_OR_RETURN(const size_t json_size, JsonSize(header, body.size()));
  absl::string_view binary = body.substr(json_size);
  rapidjson::Document doc;
  doc.Parse<kParseFlags>(body.data(), json_size);
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request body is not valid JSON: ",
        rapidjson::GetParseError_En(doc.GetParseError()), " (at byte ",
        doc.GetErrorOffset(), ")"));
  }
  if (!doc.IsObject()) return NotA("the request body", "a JSON object");

  DecodedRequest decoded;
  if (const JsonValue* id = Member(doc, "id"); id != nullptr) {
    if (!id->IsString()) return NotA("id", "a string");
    decoded.id = std::string(View(*id));
  }
  ASSIGN_OR_RETURN(const JsonValue* params, ObjectMember(doc, "parameters", "request"));
  ASSIGN_OR_RETURN(std::optional<bool> binary_output,
                   BoolParameter(params, "binary_data_output", "request"));
  ASSIGN_OR_RETURN(decoded.timeout_micros,
                   IntParameter(params, "timeout", "request"));
  if (decoded.timeout_micros.value_or(0) < 0) {
    return NotA("request.parameters.timeout", "microseconds >= 0");
  }

  std::vector<RequestedOutput> requested;
  if (const JsonValue* outputs = Member(doc, "outputs"); outputs != nullptr) {
    if (!outputs->IsArray()) return NotA("outputs", "an array");
    for (const JsonValue& o : outputs->GetArray()) {
      const std::string what = absl::StrCat("outputs[", requested.size(), "]");
      if (!o.IsObject()) return NotA(what, "an object");
      const JsonValue* name = Member(o, "name");
      if (name == nullptr || !name->IsString()) {
        return NotA(absl::StrCat(what, ".name"), "a string");
      }
      RequestedOutput& r = requested.emplace_back();
      r.name = std::string(View(*name));
      ASSIGN_OR_RETURN(const JsonValue* oparams, ObjectMember(o, "parameters", what));
      ASSIGN_OR_RETURN(r.classification,
                       IntParameter(oparams, "classification", what));
      ASSIGN_OR_RETURN(r.binary, BoolParameter(oparams, "binary_data", what));
    }
  }
  ASSIGN_OR_RETURN(decoded.outputs,
                   ResolveOutputs(requested, binary_output.value_or(false),
                                  signature));

  const JsonValue* inputs = Member(doc, "inputs");
  if (inputs == nullptr || !inputs->IsArray()) {
    return NotA("inputs", "an array of input tensors");
  }
  if (inputs->Size() != 1) {
    std::vector<std::string> names;
    for (const JsonValue& i : inputs->GetArray()) {
      const JsonValue* name = i.IsObject() ? Member(i, "name") : nullptr;
      names.push_back(name != nullptr && name->IsString()
                          ? std::string(View(*name))
                          : std::string("(unnamed)"));
    }
    return WrongInputCountError(names);
  }
  InputTensor in;
  DataStorage storage;
  RETURN_IF_ERROR(ReadInput((*inputs)[0], &binary, &in, &storage));
  if (!binary.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        binary.size(), " bytes of binary data after the JSON belong to no "
        "input (binary_data_size counts them)"));
  }
  ASSIGN_OR_RETURN(decoded.images, DecodeImagesInput(in, signature, limits));
  return decoded;
}

namespace {

void WriteShape(const std::vector<int64_t>& shape, JsonWriter* w) {
  w->Key("shape");
  w->StartArray();
  for (int64_t d : shape) w->Int64(d);
  w->EndArray();
}

// The elements of `out` as a flat JSON array.
void WriteData(const OutputTensor& out, JsonWriter* w) {
  w->Key("data");
  w->StartArray();
  switch (out.datatype) {
    case DataType::kFp32:
      for (float v : out.fp32) {
        const std::string text = FloatText(v);
        w->RawValue(text.data(), text.size(), rapidjson::kNumberType);
      }
      break;
    case DataType::kInt64:
      for (int64_t v : out.int64) w->Int64(v);
      break;
    default:
      for (const std::string& s : out.strings) {
        w->String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      }
      break;
  }
  w->EndArray();
}

void WriteString(const char* key, absl::string_view value, JsonWriter* w) {
  w->Key(key);
  w->String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

}  // namespace

RestResponse EncodeRestInferResponse(const DecodedRequest& request,
                                     absl::string_view model_name,
                                     absl::string_view model_version,
                                     absl::Span<const float> probabilities,
                                     const ModelSignature& signature) {
  const std::vector<OutputTensor> outputs = MakeOutputs(
      request.outputs, probabilities, request.images.count, signature);
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  WriteString("model_name", model_name, &w);
  WriteString("model_version", model_version, &w);
  if (!request.id.empty()) WriteString("id", request.id, &w);
  w.Key("outputs");
  w.StartArray();
  bool any_binary = false;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputTensor& out = outputs[i];
    w.StartObject();
    WriteString("name", out.name, &w);
    WriteString("datatype", DataTypeName(out.datatype), &w);
    WriteShape(out.shape, &w);
    if (request.outputs[i].binary) {
      any_binary = true;
      w.Key("parameters");
      w.StartObject();
      w.Key("binary_data_size");
      w.Uint64(out.raw.size());
      w.EndObject();
    } else {
      WriteData(out, &w);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();

  RestResponse response;
  response.body.assign(buffer.GetString(), buffer.GetSize());
  if (!any_binary) {
    response.content_type = std::string(kJsonContentType);
    return response;
  }
  response.content_type = std::string(kBinaryContentType);
  response.json_size = response.body.size();
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (request.outputs[i].binary) response.body += outputs[i].raw;
  }
  return response;
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string JsonErrorBody(absl::string_view message) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  WriteString("error", message, &w);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<bool> ParseRepositoryIndexReady(absl::string_view body) {
  if (absl::StripAsciiWhitespace(body).empty()) return false;
  rapidjson::Document doc;
  doc.Parse<kParseFlags>(body.data(), body.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "repository index request: not JSON (",
        rapidjson::GetParseError_En(doc.GetParseError()), " at byte ",
        doc.GetErrorOffset(), ")"));
  }
  if (!doc.IsObject()) return NotA("repository index request", "an object");
  const JsonValue* ready = Member(doc, "ready");
  if (ready == nullptr) return false;
  if (!ready->IsBool()) return NotA("repository index request: ready", "true or false");
  return ready->GetBool();
}

RestResponse EncodeRestError(const absl::Status& status) {
  RestResponse response;
  response.http_status = HttpStatusFor(status.code());
  response.content_type = std::string(kJsonContentType);
  response.body = JsonErrorBody(status.message());
  return response;
}

}  // namespace nn::v2
