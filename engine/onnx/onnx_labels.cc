#include "engine/onnx/onnx_labels.h"

#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/onnx/onnx_import.h"

namespace nn::onnx_import {
namespace {

constexpr absl::string_view kLabelKeyPrefix = "label_";

// The class index of a label key "label_<i>" (i decimal, no sign, no
// leading zero, at most 9 digits), or nullopt for any other key.
std::optional<int64_t> LabelIndex(absl::string_view key) {
  if (key.substr(0, kLabelKeyPrefix.size()) != kLabelKeyPrefix) return std::nullopt;
  const absl::string_view digits = key.substr(kLabelKeyPrefix.size());
  if (digits.empty() || digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) {
    return std::nullopt;
  }
  int64_t index = 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    index = index * 10 + (c - '0');
  }
  return index;
}

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or
// code points above U+10FFFF): protobuf refuses other bytes in the proto3
// strings labels travel in.
bool IsUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    int length = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (int k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinCode[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinCode[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

MetadataLabels ReadMetadataLabels(const onnx::ModelProto& model, int num_classes) {
  MetadataLabels result;
  std::vector<std::optional<std::string>> labels(num_classes);
  int entries = 0;
  auto ignore = [&](std::string why) {
    result.labels.clear();
    result.ignored = std::move(why);
    return result;
  };
  for (const onnx::StringStringEntryProto& entry : model.metadata_props()) {
    const std::optional<int64_t> index = LabelIndex(entry.key());
    if (!index.has_value()) continue;
    ++entries;
    if (*index >= num_classes) {
      return ignore(absl::StrCat(entry.key(), " is beyond the ", num_classes,
                                 " classes (label_0 .. label_", num_classes - 1, ")"));
    }
    // (onnx::checker refuses a repeated key first; kept so this rule
    // holds on its own.)
    if (labels[*index].has_value()) {
      return ignore(absl::StrCat(entry.key(), " appears twice"));
    }
    if (static_cast<int64_t>(entry.value().size()) > kMaxOnnxLabelBytes) {
      return ignore(absl::StrCat(entry.key(), " is ", entry.value().size(),
                                 " bytes (at most ", kMaxOnnxLabelBytes, ")"));
    }
    if (!IsUtf8(entry.value())) {
      return ignore(absl::StrCat(entry.key(), " is not UTF-8 text"));
    }
    labels[*index] = entry.value();
  }
  if (entries == 0) return result;
  for (int i = 0; i < num_classes; ++i) {
    if (!labels[i].has_value()) {
      return ignore(absl::StrCat("label_", i, " is missing (", entries, " label entries for ",
                                 num_classes, " classes)"));
    }
    result.labels.push_back(*std::move(labels[i]));
  }
  return result;
}

}  // namespace nn::onnx_import
