// The REST form of the V2 codec (server/v2/rest_codec.h): the JSON body of
// the specification, the binary tensor data extension in both directions,
// the classification extension, the JSON error answer and the HTTP status
// table.
#include "server/v2/rest_codec.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/server/v2/codec_test_util.h"

namespace nn::v2 {
namespace {

using ::absl::StatusCode;
using testing::DigitSignature;
using testing::Pixels;
using testing::Png;
using testing::RawBytes;
using testing::RawFloats;
using testing::Unit;

absl::StatusOr<DecodedRequest> Decode(
    const std::string& body, std::optional<std::string> header = std::nullopt,
    CodecLimits limits = {}) {
  std::optional<absl::string_view> h;
  if (header.has_value()) h = *header;
  return DecodeRestInferRequest(body, h, DigitSignature(), limits);
}

std::string Numbers(const std::vector<float>& values) {
  return absl::StrJoin(values, ",", [](std::string* out, float v) {
    out->append(FloatText(v));
  });
}

// A JSON body with one `images` input of `datatype`/`shape` and `rest` (the
// input's "data" or "parameters" member and anything after the input).
std::string Body(const std::string& datatype, const std::string& shape,
                 const std::string& input_tail, const std::string& tail = "") {
  return absl::StrCat(R"({"inputs":[{"name":"images","datatype":")", datatype,
                      R"(","shape":)", shape, ",", input_tail, "}]", tail, "}");
}

TEST(RestCodecTest, JsonFp32DataFlatOrNested) {
  const std::vector<float> values = Unit(Pixels(2));
  std::string nested = "[";
  for (int i = 0; i < 2; ++i) {
    nested += i ? ",[" : "[";
    for (int row = 0; row < 28; ++row) {
      nested += row ? ",[" : "[";
      nested += Numbers(std::vector<float>(values.begin() + i * 784 + row * 28,
                                           values.begin() + i * 784 + row * 28 + 28));
      nested += "]";
    }
    nested += "]";
  }
  nested += "]";
  for (const std::string& data : {"[" + Numbers(values) + "]", nested}) {
    absl::StatusOr<DecodedRequest> d =
        Decode(Body("FP32", "[2,28,28]", R"("data":)" + data));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->images.count, 2);
    EXPECT_EQ(d->images.pixels, values);
  }
}

TEST(RestCodecTest, JsonUint8DataAndIntegerFp32Values) {
  const std::vector<uint8_t> pixels = Pixels(1);
  absl::StatusOr<DecodedRequest> d = Decode(Body(
      "UINT8", "[1,784]", R"("data":[)" + absl::StrJoin(pixels, ",") + "]"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->images.pixels, Unit(pixels));
  std::vector<std::string> ones(784, "1");
  d = Decode(Body("FP32", "[1,1,28,28]", R"("data":[)" + absl::StrJoin(ones, ",") + "]"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->images.pixels, std::vector<float>(784, 1.0f));
}

TEST(RestCodecTest, BinaryInputsFollowTheJsonHeader) {
  const std::vector<float> values = Unit(Pixels(2));
  const std::string raw = RawFloats(values);
  const std::string json = Body(
      "FP32", "[2,784]",
      absl::StrCat(R"("parameters":{"binary_data_size":)", raw.size(), "}"));
  absl::StatusOr<DecodedRequest> d = Decode(json + raw, std::to_string(json.size()));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->images.pixels, values);

  const std::vector<uint8_t> pixels = Pixels(1);
  const std::string png = RawBytes({Png(pixels, 0)});
  const std::string png_json = Body(
      "BYTES", "[1]",
      absl::StrCat(R"("parameters":{"binary_data_size":)", png.size(), "}"));
  d = Decode(png_json + png, std::to_string(png_json.size()));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->images.pixels, Unit(pixels));
}

TEST(RestCodecTest, BinaryDataSizesMustAccountForEveryByte) {
  const std::string raw(784, '\x01');
  const auto json_with = [](size_t size) {
    return Body("UINT8", "[1,784]",
                absl::StrCat(R"("parameters":{"binary_data_size":)", size, "}"));
  };
  std::string json = json_with(785);
  EXPECT_STATUS(Decode(json + raw, std::to_string(json.size())).status(),
                StatusCode::kInvalidArgument, "'images'",
                "binary_data_size is 785", "784 bytes of binary data");
  json = json_with(700);
  EXPECT_STATUS(Decode(json + raw, std::to_string(json.size())).status(),
                StatusCode::kInvalidArgument, "84 bytes of binary data after");
  json = json_with(784);
  EXPECT_STATUS(Decode(json + raw).status(), StatusCode::kInvalidArgument,
                "not valid JSON");  // no header: the whole body is JSON
  json = Body("UINT8", "[1,784]",
              R"("data":[1],"parameters":{"binary_data_size":784})");
  EXPECT_STATUS(Decode(json + raw, std::to_string(json.size())).status(),
                StatusCode::kInvalidArgument, "both data and binary_data_size");
  json = Body("UINT8", "[1,784]", R"("parameters":{"binary_data_size":-4})");
  EXPECT_STATUS(Decode(json, std::to_string(json.size())).status(),
                StatusCode::kInvalidArgument, "binary_data_size is -4");
}

TEST(RestCodecTest, InferenceHeaderContentLengthMustBeAByteCountWithinTheBody) {
  const std::string body = Body("UINT8", "[1,784]", R"("data":[])");
  for (const char* bad : {"", "x", "-1", "12abc", "+3"}) {
    EXPECT_STATUS(Decode(body, std::string(bad)).status(),
                  StatusCode::kInvalidArgument,
                  "Inference-Header-Content-Length", "not a byte count");
  }
  EXPECT_STATUS(Decode(body, std::to_string(body.size() + 1)).status(),
                StatusCode::kInvalidArgument, "the body has");
  EXPECT_STATUS(Decode(body, "99999999999999999999999").status(),
                StatusCode::kInvalidArgument, "not a byte count");
}

TEST(RestCodecTest, MalformedJsonIsInvalidArgumentNeverACrash) {
  struct Case {
    std::string body;
    const char* message;
  } cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {"{}", "inputs must be an array"},
      {R"({"inputs":{}})", "inputs must be an array"},
      {R"({"inputs":[]})", "exactly one input"},
      {R"({"inputs":[1]})", "inputs[0] must be an object"},
      {R"({"inputs":[{"name":1}]})", "inputs[0].name must be a string"},
      {R"({"inputs":[{"name":"images","datatype":"FP32","shape":[1.5]}]})",
       "integers >= 0"},
      {R"({"inputs":[{"name":"images","datatype":"FP32","shape":[-1,784]}]})",
       "integers >= 0"},
      {R"({"id":7,"inputs":[]})", "id must be a string"},
      {R"({"parameters":[],"inputs":[]})", "must be an object"},
      {R"({"parameters":{"binary_data_output":1},"inputs":[]})",
       "binary_data_output must be true or false"},
      {R"({"outputs":{},"inputs":[]})", "outputs must be an array"},
      {R"({"outputs":[{"name":"probabilities","parameters":{"classification":"2"}}],"inputs":[]})",
       "classification must be an integer"},
      {"{\"id\":\"\xff\",\"inputs\":[]}", "not valid JSON"},
      {Body("FP32", "[1,784]", R"("data":5)"), "data must be an array"},
      {Body("FP32", "[1,784]", R"("data":["a"])"), "data element 0"},
      {Body("UINT8", "[1,784]", R"("data":[1,-2])"), "data element 1"},
      {Body("UINT8", "[1,784]", R"("data":[1.5])"), "integers 0..255"},
      {Body("BYTES", "[1]", R"("data":[1])"), "strings"},
      {Body("FP32", "[1,784]", R"("data":[[[[[[[[[[0]]]]]]]]]])"),
       "nested deeper than 8"},
      {Body("FP32", "[1,784]", R"("data":[0.5])"), "data holds 1 values"},
      {Body("INT32", "[1,784]", R"("data":[1])"), "'INT32' is not accepted"},
      {Body("FP32", "[1,784]", R"("data":[1e39])"), "holds 1 values"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    EXPECT_STATUS(Decode(c.body).status(), StatusCode::kInvalidArgument,
                  c.message);
  }
  // Deep nesting is refused without recursion in the parser.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_STATUS(Decode(Body("FP32", "[1,784]", R"("data":)" + deep)).status(),
                StatusCode::kInvalidArgument, "nested deeper");
}

TEST(RestCodecTest, BodyOverTheLimitIsResourceExhausted) {
  const std::string body = Body("UINT8", "[1,784]", R"("data":[])");
  absl::Status s = Decode(body, std::nullopt,
                          CodecLimits{.max_request_bytes = 10}).status();
  EXPECT_STATUS(s, StatusCode::kResourceExhausted, "limit is 10");
  EXPECT_EQ(EncodeRestError(s).http_status, 413);
  EXPECT_STATUS(Decode(Body("UINT8", "[2000,784]", R"("data":[])")).status(),
                StatusCode::kResourceExhausted, "2000 images");
}

TEST(RestCodecTest, TimeoutParameterIsTheDeadlineInMicroseconds) {
  const std::string data = R"("data":[)" + absl::StrJoin(Pixels(1), ",") + "]";
  absl::StatusOr<DecodedRequest> none = Decode(Body("UINT8", "[1,784]", data));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->timeout_micros.has_value());
  absl::StatusOr<DecodedRequest> set = Decode(Body(
      "UINT8", "[1,784]", data, R"(,"parameters":{"timeout":2500})"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->timeout_micros, 2500);
  EXPECT_STATUS(Decode(Body("UINT8", "[1,784]", data,
                            R"(,"parameters":{"timeout":-1})"))
                    .status(),
                StatusCode::kInvalidArgument, "timeout");
  EXPECT_STATUS(Decode(Body("UINT8", "[1,784]", data,
                            R"(,"parameters":{"timeout":"1s"})"))
                    .status(),
                StatusCode::kInvalidArgument, "timeout must be an integer");
}

DecodedRequest TwoImages(const std::string& tail) {
  const std::string data = "[" + absl::StrJoin(Pixels(2), ",") + "]";
  absl::StatusOr<DecodedRequest> d =
      Decode(Body("UINT8", "[2,28,28]", R"("data":)" + data, tail));
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : DecodedRequest{};
}

rapidjson::Document Json(absl::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

TEST(RestCodecTest, JsonResponseHasBothOutputsAndEchoesTheId) {
  DecodedRequest d = TwoImages(R"(,"id":"abc")");
  const std::vector<float> p = testing::Probabilities(2);
  RestResponse r = EncodeRestInferResponse(d, "mnist_cnn", "2", p, DigitSignature());
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_FALSE(r.json_size.has_value());
  rapidjson::Document doc = Json(r.body);
  EXPECT_STREQ(doc["model_name"].GetString(), "mnist_cnn");
  EXPECT_STREQ(doc["model_version"].GetString(), "2");
  EXPECT_STREQ(doc["id"].GetString(), "abc");
  const auto& outputs = doc["outputs"];
  ASSERT_EQ(outputs.Size(), 2u);
  EXPECT_STREQ(outputs[0]["name"].GetString(), "probabilities");
  EXPECT_STREQ(outputs[0]["datatype"].GetString(), "FP32");
  EXPECT_EQ(outputs[0]["shape"][0].GetInt(), 2);
  EXPECT_EQ(outputs[0]["shape"][1].GetInt(), 10);
  ASSERT_EQ(outputs[0]["data"].Size(), 20u);
  for (int i = 0; i < 20; ++i) {
    // Shortest exact text: reads back as the very float.
    EXPECT_EQ(static_cast<float>(outputs[0]["data"][i].GetDouble()), p[i]);
  }
  EXPECT_STREQ(outputs[1]["datatype"].GetString(), "INT64");
  EXPECT_EQ(outputs[1]["data"][0].GetInt64(), 0);
  EXPECT_EQ(outputs[1]["data"][1].GetInt64(), 1);
}

TEST(RestCodecTest, BinaryOutputsFollowTheJsonWithItsLength) {
  DecodedRequest d = TwoImages(R"(,"parameters":{"binary_data_output":true})");
  const std::vector<float> p = testing::Probabilities(2);
  RestResponse r = EncodeRestInferResponse(d, "m", "1", p, DigitSignature());
  EXPECT_EQ(r.content_type, "application/octet-stream");
  ASSERT_TRUE(r.json_size.has_value());
  rapidjson::Document doc = Json(absl::string_view(r.body).substr(0, *r.json_size));
  const auto& outputs = doc["outputs"];
  EXPECT_FALSE(outputs[0].HasMember("data"));
  EXPECT_EQ(outputs[0]["parameters"]["binary_data_size"].GetInt(), 80);
  EXPECT_EQ(outputs[1]["parameters"]["binary_data_size"].GetInt(), 16);
  const int64_t classes[2] = {0, 1};
  EXPECT_EQ(r.body.substr(*r.json_size),
            RawFloats(p) + std::string(reinterpret_cast<const char*>(classes), 16));
}

TEST(RestCodecTest, PerOutputBinaryDataOverridesTheRequestDefault) {
  DecodedRequest d = TwoImages(
      R"(,"parameters":{"binary_data_output":true},"outputs":[{"name":"class_index","parameters":{"binary_data":false}},{"name":"probabilities"}])");
  RestResponse r = EncodeRestInferResponse(d, "m", "1", testing::Probabilities(2),
                                           DigitSignature());
  ASSERT_TRUE(r.json_size.has_value());
  rapidjson::Document doc = Json(absl::string_view(r.body).substr(0, *r.json_size));
  EXPECT_STREQ(doc["outputs"][0]["name"].GetString(), "class_index");
  EXPECT_TRUE(doc["outputs"][0].HasMember("data"));
  EXPECT_EQ(doc["outputs"][1]["parameters"]["binary_data_size"].GetInt(), 80);
  EXPECT_EQ(r.body.size(), *r.json_size + 80);
}

TEST(RestCodecTest, ClassificationInJsonAndBinary) {
  DecodedRequest d = TwoImages(
      R"(,"outputs":[{"name":"probabilities","parameters":{"classification":3}}])");
  RestResponse r = EncodeRestInferResponse(d, "m", "1", testing::Probabilities(2),
                                           DigitSignature());
  rapidjson::Document doc = Json(r.body);
  const auto& out = doc["outputs"][0];
  EXPECT_STREQ(out["datatype"].GetString(), "BYTES");
  EXPECT_EQ(out["shape"][1].GetInt(), 3);
  ASSERT_EQ(out["data"].Size(), 6u);
  EXPECT_STREQ(out["data"][0].GetString(), "0.5:0:0");
  EXPECT_STREQ(out["data"][1].GetString(), "0.1:3:3");
  EXPECT_STREQ(out["data"][2].GetString(), "0.05:1:1");
  EXPECT_STREQ(out["data"][3].GetString(), "0.5:1:1");

  d = TwoImages(
      R"(,"outputs":[{"name":"probabilities","parameters":{"classification":1,"binary_data":true}}])");
  r = EncodeRestInferResponse(d, "m", "1", testing::Probabilities(2), DigitSignature());
  ASSERT_TRUE(r.json_size.has_value());
  EXPECT_EQ(r.body.substr(*r.json_size), RawBytes({"0.5:0:0", "0.5:1:1"}));
}

TEST(RestCodecTest, ErrorsAreJsonWithTheirHttpStatus) {
  RestResponse r = EncodeRestError(absl::InvalidArgumentError("bad \"x\"\n"));
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  rapidjson::Document doc = Json(r.body);
  EXPECT_STREQ(doc["error"].GetString(), "bad \"x\"\n");
  const std::pair<absl::StatusCode, int> table[] = {
      {StatusCode::kOk, 200},
      {StatusCode::kInvalidArgument, 400},
      {StatusCode::kFailedPrecondition, 400},
      {StatusCode::kOutOfRange, 400},
      {StatusCode::kUnauthenticated, 401},
      {StatusCode::kPermissionDenied, 403},
      {StatusCode::kNotFound, 404},
      {StatusCode::kAlreadyExists, 409},
      {StatusCode::kAborted, 409},
      {StatusCode::kResourceExhausted, 413},
      {StatusCode::kCancelled, 499},
      {StatusCode::kUnimplemented, 501},
      {StatusCode::kUnavailable, 503},
      {StatusCode::kDeadlineExceeded, 504},
      {StatusCode::kInternal, 500},
      {StatusCode::kUnknown, 500},
      {StatusCode::kDataLoss, 500},
  };
  for (const auto& [code, http] : table) {
    EXPECT_EQ(HttpStatusFor(code), http) << absl::StatusCodeToString(code);
  }
}

}  // namespace
}  // namespace nn::v2
