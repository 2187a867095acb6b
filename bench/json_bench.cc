// The JSON library of the Open Inference Protocol's REST bodies, chosen by
// measurement (issue 17): each candidate from Debian 12 parses the same
// 64-image FP32 infer request (64 x 784 = 50,176 numbers, as tritonclient
// and KServe's SDK write them: Python's repr of each float32 widened to
// double, "0.3294117748737335", and "0.0" for the ~80 % black pixels of a
// digit) into floats, and writes the same response (64 x 10 probabilities in
// their shortest exact float form, 64 class indices).
//   RapidJSON 1.1.0        DOM, with nnserve's flags (iterative: no
//                          recursion; UTF-8 validation); Writer
//   simdjson 3.0.1         On Demand and DOM parsers (parse only: it has no
//                          writer), the body copied into a padded buffer as
//                          a real body would be
//   nlohmann/json 3.11.2   json::parse and dump
//   nnserve codec          server/v2/rest_codec.h end to end (RapidJSON plus
//                          the model mapping's checks), for scale
//
//   build/bin/json_bench --benchmark_min_time=1 --benchmark_repetitions=5
// Record figures only on a quiet machine (bench/README.md).
#include <benchmark/benchmark.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/v2/rest_codec.h"
#include "simdjson.h"

namespace nn {
namespace {

constexpr int kImages = 64;
constexpr int kPixels = 784;
constexpr int kClasses = 10;

// Pixel j of image i: a stroke-like band on black (about 20 % nonzero).
float Pixel(int i, int j) {
  const int row = j / 28, col = j % 28;
  const int band = (row * 3 + col + i) % 28;
  return band < 6 ? static_cast<float>((band * 40 + i + row) % 256) / 255.0f
                  : 0.0f;
}

std::string DoubleText(double v) {
  if (v == 0) return "0.0";
  char buffer[32];
  return std::string(buffer, std::to_chars(buffer, buffer + 32, v).ptr);
}

const std::string& RequestBody() {
  static const std::string* body = [] {
    std::string s =
        R"({"id":"bench","inputs":[{"name":"images","shape":[64,28,28],)"
        R"("datatype":"FP32","data":[)";
    for (int i = 0; i < kImages; ++i) {
      for (int j = 0; j < kPixels; ++j) {
        if (i + j > 0) s += ',';
        s += DoubleText(static_cast<double>(Pixel(i, j)));
      }
    }
    s += R"(]}],"outputs":[{"name":"probabilities"},{"name":"class_index"}]})";
    return new std::string(std::move(s));
  }();
  return *body;
}

const std::vector<float>& Probabilities() {
  static const std::vector<float>* p = [] {
    auto* v = new std::vector<float>(kImages * kClasses);
    for (int i = 0; i < kImages * kClasses; ++i) {
      (*v)[i] = static_cast<float>((i * 37) % 101) / 1013.0f;
    }
    return v;
  }();
  return *p;
}

std::string FloatText(float v) {
  char buffer[32];
  return std::string(buffer, std::to_chars(buffer, buffer + 32, v).ptr);
}

void SetCounters(benchmark::State& state, size_t bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["numbers"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kImages * kPixels,
      benchmark::Counter::kIsRate);
}

void BM_Parse_RapidJson(benchmark::State& state) {
  const std::string& body = RequestBody();
  std::vector<float> out;
  for (auto _ : state) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag |
              rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    out.clear();
    for (const auto& v : doc["inputs"][0]["data"].GetArray()) {
      out.push_back(static_cast<float>(v.GetDouble()));
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, body.size());
}
BENCHMARK(BM_Parse_RapidJson);

void BM_Parse_SimdjsonOnDemand(benchmark::State& state) {
  const std::string& body = RequestBody();
  simdjson::ondemand::parser parser;
  std::vector<float> out;
  for (auto _ : state) {
    simdjson::padded_string padded(body);
    simdjson::ondemand::document doc = parser.iterate(padded);
    out.clear();
    for (simdjson::ondemand::object input : doc["inputs"].get_array()) {
      for (double v : input["data"].get_array()) {
        out.push_back(static_cast<float>(v));
      }
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, body.size());
}
BENCHMARK(BM_Parse_SimdjsonOnDemand);

void BM_Parse_SimdjsonDom(benchmark::State& state) {
  const std::string& body = RequestBody();
  simdjson::dom::parser parser;
  std::vector<float> out;
  for (auto _ : state) {
    simdjson::padded_string padded(body);
    simdjson::dom::element doc = parser.parse(padded);
    out.clear();
    for (double v : doc["inputs"].at(0)["data"].get_array()) {
      out.push_back(static_cast<float>(v));
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, body.size());
}
BENCHMARK(BM_Parse_SimdjsonDom);

void BM_Parse_Nlohmann(benchmark::State& state) {
  const std::string& body = RequestBody();
  std::vector<float> out;
  for (auto _ : state) {
    const nlohmann::json doc = nlohmann::json::parse(body);
    out.clear();
    for (const auto& v : doc["inputs"][0]["data"]) {
      out.push_back(static_cast<float>(v.get<double>()));
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, body.size());
}
BENCHMARK(BM_Parse_Nlohmann);

void BM_Write_RapidJson(benchmark::State& state) {
  const std::vector<float>& p = Probabilities();
  for (auto _ : state) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("model_name");
    w.String("mnist_mlp");
    w.Key("outputs");
    w.StartArray();
    w.StartObject();
    w.Key("data");
    w.StartArray();
    for (float v : p) {
      const std::string text = FloatText(v);
      w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
    }
    w.EndArray();
    w.EndObject();
    w.StartObject();
    w.Key("data");
    w.StartArray();
    for (int i = 0; i < kImages; ++i) w.Int64(i % kClasses);
    w.EndArray();
    w.EndObject();
    w.EndArray();
    w.EndObject();
    benchmark::DoNotOptimize(buffer.GetString());
  }
}
BENCHMARK(BM_Write_RapidJson);

void BM_Write_Nlohmann(benchmark::State& state) {
  const std::vector<float>& p = Probabilities();
  for (auto _ : state) {
    nlohmann::json doc;
    doc["model_name"] = "mnist_mlp";
    nlohmann::json probabilities = nlohmann::json::array();
    for (float v : p) probabilities.push_back(v);  // dumped shortest-float
    nlohmann::json classes = nlohmann::json::array();
    for (int i = 0; i < kImages; ++i) classes.push_back(int64_t{i % kClasses});
    doc["outputs"] = {{{"data", std::move(probabilities)}},
                      {{"data", std::move(classes)}}};
    const std::string text = doc.dump();
    benchmark::DoNotOptimize(text.data());
  }
}
BENCHMARK(BM_Write_Nlohmann);

void BM_NnserveRestCodec(benchmark::State& state) {
  const std::string& body = RequestBody();
  std::vector<std::string> labels;
  for (int i = 0; i < kClasses; ++i) labels.push_back(std::to_string(i));
  v2::ModelSignature signature;
  signature.labels = labels;
  for (auto _ : state) {
    absl::StatusOr<v2::DecodedRequest> request =
        v2::DecodeRestInferRequest(body, std::nullopt, signature, {});
    if (!request.ok()) {
      state.SkipWithError(std::string(request.status().message()).c_str());
      break;
    }
    const v2::RestResponse response = v2::EncodeRestInferResponse(
        *request, "mnist_mlp", "1", Probabilities(), signature);
    benchmark::DoNotOptimize(response.body.data());
  }
  SetCounters(state, body.size());
}
BENCHMARK(BM_NnserveRestCodec);

}  // namespace
}  // namespace nn

BENCHMARK_MAIN();
