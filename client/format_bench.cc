// format.h's `bench` reports: table, CSV and JSON.
#include "client/format.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/json_writer.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

double Micros(int64_t nanos) { return static_cast<double>(nanos) / 1000.0; }

// `value` rounded to `decimals` places, so that JSON prints it short.
double Rounded(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

std::string ErrorsText(const std::map<std::string, int64_t>& errors,
                       absl::string_view separator,
                       absl::string_view joiner) {
  std::vector<std::string> parts;
  for (const auto& [code, count] : errors) {
    parts.push_back(absl::StrCat(code, separator, count));
  }
  return absl::StrJoin(parts, joiner);
}


}  // namespace

std::string FormatBenchTable(const BenchReport& report) {
  std::string out = absl::StrFormat(
      "target %s  model %s  encoding %s  images/request %d  duration %s  "
      "warmup %s\n",
      report.target, report.model, ImageEncodingName(report.encoding),
      report.images_per_request, absl::FormatDuration(report.duration),
      absl::FormatDuration(report.warmup));
  absl::StrAppendFormat(&out, "%11s %9s %7s %10s %10s %9s %9s %9s %9s %9s\n",
                        "concurrency", "requests", "errors", "req/s", "img/s",
                        "p50_us", "p90_us", "p95_us", "p99_us", "max_us");
  for (const LevelResult& level : report.levels) {
    const LogLinearHistogram& h = level.latency_nanos;
    absl::StrAppendFormat(
        &out, "%11d %9d %7d %10.1f %10.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n",
        level.concurrency, level.requests, level.failed_requests(),
        level.requests_per_second(), level.images_per_second(),
        Micros(h.ValueAtQuantile(0.50)), Micros(h.ValueAtQuantile(0.90)),
        Micros(h.ValueAtQuantile(0.95)), Micros(h.ValueAtQuantile(0.99)),
        Micros(h.max()));
  }
  for (const LevelResult& level : report.levels) {
    if (level.errors_by_code.empty()) continue;
    absl::StrAppend(&out, "errors at concurrency ", level.concurrency, ": ",
                    ErrorsText(level.errors_by_code, " ", ", "), " (",
                    level.first_error, ")\n");
  }
  return out;
}

std::string FormatBenchCsv(const BenchReport& report) {
  std::string out =
      "model,encoding,images_per_request,concurrency,channels,requests,"
      "ok_requests,failed_requests,warmup_requests,seconds,"
      "requests_per_second,images_per_second,p50_us,p90_us,p95_us,p99_us,"
      "max_us,mean_us,errors_by_code\n";
  for (const LevelResult& level : report.levels) {
    const LogLinearHistogram& h = level.latency_nanos;
    absl::StrAppendFormat(
        &out,
        "%s,%s,%d,%d,%d,%d,%d,%d,%d,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
        "%.1f,%s\n",
        report.model, ImageEncodingName(report.encoding),
        report.images_per_request, level.concurrency, level.channels,
        level.requests, level.ok_requests, level.failed_requests(),
        level.warmup_requests, absl::ToDoubleSeconds(level.elapsed),
        level.requests_per_second(), level.images_per_second(),
        Micros(h.ValueAtQuantile(0.50)), Micros(h.ValueAtQuantile(0.90)),
        Micros(h.ValueAtQuantile(0.95)), Micros(h.ValueAtQuantile(0.99)),
        Micros(h.max()), h.mean() / 1000.0,
        ErrorsText(level.errors_by_code, ":", ";"));
  }
  return out;
}

std::string FormatBenchJson(const BenchReport& report) {
  JsonWriter json;
  json.BeginObject()
      .Key("target")
      .String(report.target)
      .Key("model")
      .String(report.model)
      .Key("encoding")
      .String(ImageEncodingName(report.encoding))
      .Key("images_per_request")
      .Int(report.images_per_request)
      .Key("calls_per_channel")
      .Int(report.calls_per_channel)
      .Key("duration_seconds")
      .Number(absl::ToDoubleSeconds(report.duration))
      .Key("warmup_seconds")
      .Number(absl::ToDoubleSeconds(report.warmup))
      .Key("levels")
      .BeginArray();
  for (const LevelResult& level : report.levels) {
    const LogLinearHistogram& h = level.latency_nanos;
    json.BeginObject()
        .Key("concurrency")
        .Int(level.concurrency)
        .Key("channels")
        .Int(level.channels)
        .Key("requests")
        .Int(level.requests)
        .Key("ok_requests")
        .Int(level.ok_requests)
        .Key("failed_requests")
        .Int(level.failed_requests())
        .Key("warmup_requests")
        .Int(level.warmup_requests)
        .Key("seconds")
        .Number(Rounded(absl::ToDoubleSeconds(level.elapsed), 6))
        .Key("requests_per_second")
        .Number(Rounded(level.requests_per_second(), 1))
        .Key("images_per_second")
        .Number(Rounded(level.images_per_second(), 1))
        .Key("latency_us")
        .BeginObject()
        .Key("p50")
        .Number(Micros(h.ValueAtQuantile(0.50)))
        .Key("p90")
        .Number(Micros(h.ValueAtQuantile(0.90)))
        .Key("p95")
        .Number(Micros(h.ValueAtQuantile(0.95)))
        .Key("p99")
        .Number(Micros(h.ValueAtQuantile(0.99)))
        .Key("max")
        .Number(Micros(h.max()))
        .Key("mean")
        .Number(Rounded(h.mean() / 1000.0, 3))
        .EndObject()
        .Key("errors_by_code")
        .BeginObject();
    for (const auto& [code, count] : level.errors_by_code) {
      json.Key(code).Int(count);
    }
    json.EndObject();
    if (!level.first_error.empty()) {
      json.Key("first_error").String(level.first_error);
    }
    json.EndObject();
  }
  json.EndArray().EndObject();
  return json.str();
}


}  // namespace nn
