#include "server/metrics/text_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace nn::metrics {
namespace {

// Doubles hold every integer of magnitude up to 2^53 exactly.
constexpr double kMaxExactInteger = 9007199254740992.0;

// Escapes \ and newline, and " if `escape_quote` (label values, not HELP).
void AppendEscaped(absl::string_view text, bool escape_quote,
                   std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && escape_quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// Appends `{name="value",...}` with `le` last if given (nullptr: none);
// nothing for an empty label set without `le`.
void AppendLabels(const Labels& labels, const double* le, std::string* out) {
  if (labels.empty() && le == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(name);
    out->append("=\"");
    AppendEscapedLabelValue(value, out);
    out->push_back('"');
  }
  if (le != nullptr) {
    if (!first) out->push_back(',');
    out->append("le=\"");
    AppendNumber(*le, out);
    out->push_back('"');
  }
  out->push_back('}');
}

// One sample line: name[suffix]{labels[,le]} value
void AppendLine(const std::string& name, absl::string_view suffix,
                const Labels& labels, const double* le, double value,
                std::string* out) {
  out->append(name);
  out->append(suffix.data(), suffix.size());
  AppendLabels(labels, le, out);
  out->push_back(' ');
  AppendNumber(value, out);
  out->push_back('\n');
}

void AppendFamily(const MetricFamily& family, std::string* out) {
  out->append("# HELP ");
  out->append(family.name);
  out->push_back(' ');
  AppendEscapedHelp(family.help, out);
  out->append("\n# TYPE ");
  out->append(family.name);
  out->push_back(' ');
  out->append(MetricTypeName(family.type));
  out->push_back('\n');
  for (const MetricSample& sample : family.samples) {
    if (family.type != MetricType::kHistogram) {
      AppendLine(family.name, "", sample.labels, nullptr, sample.value, out);
      continue;
    }
    const HistogramData& histogram = sample.histogram;
    // The sizes agree in valid input; min() keeps bad input from reading
    // out of bounds.
    const size_t buckets = std::min(histogram.bucket_bounds.size(),
                                    histogram.cumulative_counts.size());
    for (size_t i = 0; i < buckets; ++i) {
      AppendLine(family.name, "_bucket", sample.labels,
                 &histogram.bucket_bounds[i],
                 static_cast<double>(histogram.cumulative_counts[i]), out);
    }
    const double inf = INFINITY;
    const auto count = static_cast<double>(histogram.count);
    AppendLine(family.name, "_bucket", sample.labels, &inf, count, out);
    AppendLine(family.name, "_sum", sample.labels, nullptr, histogram.sum, out);
    AppendLine(family.name, "_count", sample.labels, nullptr, count, out);
  }
}

}  // namespace

void AppendNumber(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  // std::to_chars never consults the locale.
  char buffer[32];
  std::to_chars_result result;
  if (value == std::trunc(value) && std::fabs(value) <= kMaxExactInteger) {
    result = std::to_chars(buffer, buffer + sizeof(buffer),
                           static_cast<int64_t>(value));
  } else {
    result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  }
  out->append(buffer, result.ptr);
}

void AppendEscapedLabelValue(absl::string_view value, std::string* out) {
  AppendEscaped(value, /*escape_quote=*/true, out);
}

void AppendEscapedHelp(absl::string_view help, std::string* out) {
  AppendEscaped(help, /*escape_quote=*/false, out);
}

std::string SerializeTextFormat(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& family : families) AppendFamily(family, &out);
  return out;
}

}  // namespace nn::metrics
