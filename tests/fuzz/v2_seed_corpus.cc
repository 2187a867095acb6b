#include "tests/fuzz/v2_seed_corpus.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/data/dataset.h"
#include "inference/open_inference.pb.h"
#include "server/v2/model_mapping.h"

namespace nn::fuzz {
namespace {

std::string Le32(uint32_t v) {
  const char bytes[4] = {static_cast<char>(v), static_cast<char>(v >> 8),
                         static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  return std::string(bytes, 4);
}

std::vector<float> Unit(const std::string& pixels) {
  std::vector<float> out;
  for (char c : pixels) out.push_back(PixelToUnit(static_cast<uint8_t>(c)));
  return out;
}

std::string RawFloats(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    out += Le32(bits);
  }
  return out;
}

std::string Input(const std::string& datatype, const std::string& shape,
                  const std::string& tail) {
  return absl::StrCat(R"({"name":"images","datatype":")", datatype,
                      R"(","shape":)", shape, ",", tail, "}");
}

// The v2_rest input for `json` + `binary`: with a header when binary data
// follows (byte 0 odd, then the JSON size, which is < body size + 2).
std::string RestInput(const std::string& json, const std::string& binary = "") {
  if (binary.empty()) return std::string(1, '\0') + json;
  return std::string(1, '\1') + Le32(static_cast<uint32_t>(json.size())) + json + binary;
}

}  // namespace

void AddV2Seeds(const std::vector<std::string>& digits,
                const std::vector<std::string>& pngs,
                std::map<std::string, std::vector<std::string>>* corpora) {
  std::vector<std::string>& rest = (*corpora)["v2_rest"];
  const std::vector<float> one = Unit(digits[0]);
  const std::string floats = absl::StrJoin(one, ",", [](std::string* out, float v) {
    out->append(v2::FloatText(v));
  });
  rest.push_back(RestInput(absl::StrCat(
      R"({"id":"1","inputs":[)", Input("FP32", "[1,28,28]", "\"data\":[" + floats + "]"),
      "]}")));
  std::vector<int> pixels(digits[1].begin(), digits[1].end());
  for (int& p : pixels) p &= 0xff;
  rest.push_back(RestInput(absl::StrCat(
      R"({"inputs":[)", Input("UINT8", "[1,784]", "\"data\":[" + absl::StrJoin(pixels, ",") + "]"),
      R"(],"outputs":[{"name":"probabilities","parameters":{"classification":3}}]})")));
  const std::string raw = RawFloats(one);
  rest.push_back(RestInput(
      absl::StrCat(R"({"parameters":{"binary_data_output":true},"inputs":[)",
                   Input("FP32", "[1,1,28,28]",
                         absl::StrCat(R"("parameters":{"binary_data_size":)", raw.size(), "}")),
                   "]}"),
      raw));
  const std::string bytes = Le32(static_cast<uint32_t>(pngs[0].size())) + pngs[0] +
                            Le32(static_cast<uint32_t>(pngs[1].size())) + pngs[1];
  rest.push_back(RestInput(
      absl::StrCat(R"({"inputs":[)",
                   Input("BYTES", "[2]",
                         absl::StrCat(R"("parameters":{"binary_data_size":)", bytes.size(), "}")),
                   R"(],"outputs":[{"name":"class_index","parameters":{"binary_data":true}}]})"),
      bytes));

  std::vector<std::string>& grpc = (*corpora)["v2_grpc"];
  inference::ModelInferRequest request;
  request.set_model_name("m");
  request.set_id("7");
  auto* input = request.add_inputs();
  input->set_name("images");
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(784);
  request.add_raw_input_contents(raw);
  grpc.push_back(request.SerializeAsString());
  request.clear_raw_input_contents();
  input->set_datatype("UINT8");
  for (char c : digits[1]) {
    input->mutable_contents()->add_uint_contents(static_cast<uint8_t>(c));
  }
  auto* output = request.add_outputs();
  output->set_name("probabilities");
  (*output->mutable_parameters())["classification"].set_int64_param(2);
  (*request.mutable_parameters())["typed_output_contents"].set_bool_param(true);
  grpc.push_back(request.SerializeAsString());
  input->clear_contents();
  input->set_datatype("BYTES");
  input->clear_shape();
  input->add_shape(2);
  input->mutable_contents()->add_bytes_contents(pngs[0]);
  input->mutable_contents()->add_bytes_contents(pngs[1]);
  grpc.push_back(request.SerializeAsString());
}

}  // namespace nn::fuzz
