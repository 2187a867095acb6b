#include "server/metrics/validation.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nn::metrics {
namespace {

bool IsAsciiLetterOrUnderscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

absl::Status ValidateMetricName(absl::string_view name) {
  bool ok = !name.empty() && !IsAsciiDigit(name[0]);
  for (char c : name) {
    ok = ok && (IsAsciiLetterOrUnderscore(c) || IsAsciiDigit(c) || c == ':');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid metric name \"", name, "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelName(absl::string_view name) {
  bool ok = !name.empty() && !IsAsciiDigit(name[0]);
  for (char c : name) ok = ok && (IsAsciiLetterOrUnderscore(c) || IsAsciiDigit(c));
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid label name \"", name, "\": must match [a-zA-Z_][a-zA-Z0-9_]*"));
  }
  if (absl::StartsWith(name, "__")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid label name \"", name, "\": names starting with __ are reserved"));
  }
  return absl::OkStatus();
}

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<uint8_t>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    // The sequence length and the smallest code point it may encode (which
    // rules out overlong forms).
    int length;
    uint32_t code_point;
    uint32_t min_code_point;
    if ((byte & 0xE0) == 0xC0) {
      length = 2, code_point = byte & 0x1F, min_code_point = 0x80;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3, code_point = byte & 0x0F, min_code_point = 0x800;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4, code_point = byte & 0x07, min_code_point = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i < static_cast<size_t>(length)) return false;
    for (int k = 1; k < length; ++k) {
      const auto continuation = static_cast<uint8_t>(text[i + k]);
      if ((continuation & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    if (code_point < min_code_point || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

absl::Status ValidateDescriptor(const FamilyDescriptor& descriptor) {
  const std::string& name = descriptor.name;
  if (absl::Status status = ValidateMetricName(name); !status.ok()) {
    return status;
  }
  if (descriptor.help.empty() || !IsValidUtf8(descriptor.help)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric ", name, ": help must be non-empty UTF-8"));
  }
  switch (descriptor.type) {
    case MetricType::kCounter:
      if (!absl::EndsWith(name, "_total")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "counter ", name, ": counter names must end in _total"));
      }
      break;
    case MetricType::kGauge:
      for (const char* suffix : {"_total", "_count", "_sum", "_bucket"}) {
        if (absl::EndsWith(name, suffix)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "gauge ", name, ": gauge names must not end in ", suffix));
        }
      }
      break;
    case MetricType::kHistogram:
      break;
  }
  std::vector<std::string> sorted = descriptor.label_names;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (absl::Status status = ValidateLabelName(sorted[i]); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": ", status.message()));
    }
    if (i > 0 && sorted[i] == sorted[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric ", name, ": label name ", sorted[i], " given twice"));
    }
    if (descriptor.type == MetricType::kHistogram && sorted[i] == "le") {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram ", name, ": the label name le is reserved for buckets"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLabels(const Labels& labels,
                            const std::vector<std::string>& label_names) {
  bool names_match = labels.size() == label_names.size();
  for (const std::string& label_name : label_names) {
    names_match = names_match && labels.contains(label_name);
  }
  if (!names_match) {
    std::vector<std::string> given;
    for (const auto& [label_name, value] : labels) given.push_back(label_name);
    return absl::InvalidArgumentError(absl::StrCat(
        "label names {", absl::StrJoin(given, ","), "} do not match the family's {",
        absl::StrJoin(label_names, ","), "}"));
  }
  for (const auto& [label_name, value] : labels) {
    if (!IsValidUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the value of label ", label_name, " is not valid UTF-8"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> SeriesNames(const FamilyDescriptor& descriptor) {
  if (descriptor.type != MetricType::kHistogram) return {descriptor.name};
  return {descriptor.name, descriptor.name + "_bucket",
          descriptor.name + "_count", descriptor.name + "_sum"};
}

}  // namespace nn::metrics
