// The output half of the model mapping (model_mapping.h): the outputs a
// request asks for, and the model's result as V2 output tensors.
#include "server/v2/model_mapping.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"

namespace nn::v2 {

absl::StatusOr<std::vector<OutputSpec>> ResolveOutputs(
    absl::Span<const RequestedOutput> requested, bool binary_default,
    const ModelSignature& s) {
  std::vector<OutputSpec> specs;
  if (requested.empty()) {
    specs.push_back({OutputKind::kProbabilities, 0, binary_default});
    specs.push_back({OutputKind::kClassIndex, 0, binary_default});
    return specs;
  }
  bool seen_probabilities = false, seen_class_index = false;
  const int64_t classes = static_cast<int64_t>(s.labels.size());
  for (const RequestedOutput& r : requested) {
    OutputSpec spec;
    spec.binary = r.binary.value_or(binary_default);
    bool* seen = nullptr;
    if (r.name == kProbabilitiesName) {
      spec.kind = OutputKind::kProbabilities;
      seen = &seen_probabilities;
    } else if (r.name == kClassIndexName) {
      spec.kind = OutputKind::kClassIndex;
      seen = &seen_class_index;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown output ", Quote(r.name), "; the model's outputs are '",
          kProbabilitiesName, "' (FP32 [-1,", classes, "]) and '",
          kClassIndexName, "' (INT64 [-1,1])"));
    }
    if (*seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("output ", Quote(r.name), " is requested twice"));
    }
    *seen = true;
    if (r.classification.has_value()) {
      const int64_t k = *r.classification;
      if (spec.kind != OutputKind::kProbabilities) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output ", Quote(r.name), ": the classification parameter "
            "applies to '", kProbabilitiesName, "' only"));
      }
      if (k < 1 || k > classes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output '", kProbabilitiesName, "': classification is ", k,
            "; expected 1 to ", classes, " (the model's classes)"));
      }
      spec.kind = OutputKind::kClassification;
      spec.classification = static_cast<int>(k);
    }
    specs.push_back(spec);
  }
  return specs;
}

std::string FloatText(float value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

namespace {

void AppendLe32(uint32_t v, std::string* out) {
  const char bytes[4] = {static_cast<char>(v), static_cast<char>(v >> 8),
                         static_cast<char>(v >> 16),
                         static_cast<char>(v >> 24)};
  out->append(bytes, 4);
}

void AppendLe64(uint64_t v, std::string* out) {
  AppendLe32(static_cast<uint32_t>(v), out);
  AppendLe32(static_cast<uint32_t>(v >> 32), out);
}

// Appends `values` as little-endian floats (one copy on a little-endian
// host).
void AppendFloatsLe(absl::Span<const float> values, std::string* out) {
  if constexpr (std::endian::native == std::endian::little) {
    out->append(reinterpret_cast<const char*>(values.data()),
                sizeof(float) * values.size());
  } else {
    out->reserve(out->size() + 4 * values.size());
    for (float v : values) AppendLe32(std::bit_cast<uint32_t>(v), out);
  }
}

// Index of the largest probability of one image (the first on a tie).
int64_t ArgMax(const float* p, int64_t classes) {
  return std::max_element(p, p + classes) - p;
}

}  // namespace

OutputHeader HeaderOf(const OutputSpec& spec, int64_t count,
                      const ModelSignature& s) {
  switch (spec.kind) {
    case OutputKind::kProbabilities:
      return {kProbabilitiesName, DataType::kFp32, count,
              static_cast<int64_t>(s.labels.size())};
    case OutputKind::kClassIndex:
      return {kClassIndexName, DataType::kInt64, count, 1};
    case OutputKind::kClassification:
      break;
  }
  return {kProbabilitiesName, DataType::kBytes, count, spec.classification};
}

namespace {

// Calls `emit(text)` for each "<probability>:<index>:<label>" of a
// classification output, image by image, most probable first (ties: lower
// index first).
template <typename Emit>
void ForEachClassification(const OutputSpec& spec,
                           absl::Span<const float> probabilities,
                           int64_t count, const ModelSignature& s,
                           Emit emit) {
  const int64_t classes = static_cast<int64_t>(s.labels.size());
  std::vector<int64_t> order(classes);
  for (int64_t i = 0; i < count; ++i) {
    const float* p = probabilities.data() + i * classes;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [p](int64_t a, int64_t b) { return p[a] > p[b]; });
    for (int64_t j = 0; j < spec.classification; ++j) {
      const int64_t c = order[j];
      emit(absl::StrCat(FloatText(p[c]), ":", c, ":", s.labels[c]));
    }
  }
}

}  // namespace

void AppendRawOutput(const OutputSpec& spec,
                     absl::Span<const float> probabilities, int64_t count,
                     const ModelSignature& s, std::string* raw) {
  const int64_t classes = static_cast<int64_t>(s.labels.size());
  switch (spec.kind) {
    case OutputKind::kProbabilities:
      AppendFloatsLe(probabilities.first(count * classes), raw);
      return;
    case OutputKind::kClassIndex:
      raw->reserve(raw->size() + 8 * count);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t c = ArgMax(probabilities.data() + i * classes, classes);
        AppendLe64(static_cast<uint64_t>(c), raw);
      }
      return;
    case OutputKind::kClassification:
      ForEachClassification(spec, probabilities, count, s,
                            [raw](const std::string& text) {
                              AppendLe32(static_cast<uint32_t>(text.size()), raw);
                              *raw += text;
                            });
      return;
  }
}

std::vector<OutputTensor> MakeOutputs(absl::Span<const OutputSpec> specs,
                                      absl::Span<const float> probabilities,
                                      int64_t count, const ModelSignature& s,
                                      OutputForms forms) {
  const int64_t classes = static_cast<int64_t>(s.labels.size());
  std::vector<OutputTensor> outputs;
  outputs.reserve(specs.size());
  for (const OutputSpec& spec : specs) {
    OutputTensor& out = outputs.emplace_back();
    const OutputHeader header = HeaderOf(spec, count, s);
    out.name = std::string(header.name);
    out.datatype = header.datatype;
    out.shape = {header.rows, header.columns};
    if (forms.raw) AppendRawOutput(spec, probabilities, count, s, &out.raw);
    if (!forms.typed) continue;
    switch (spec.kind) {
      case OutputKind::kProbabilities:
        out.fp32.assign(probabilities.begin(),
                        probabilities.begin() + count * classes);
        break;
      case OutputKind::kClassIndex:
        out.int64.reserve(count);
        for (int64_t i = 0; i < count; ++i) {
          out.int64.push_back(
              ArgMax(probabilities.data() + i * classes, classes));
        }
        break;
      case OutputKind::kClassification:
        ForEachClassification(
            spec, probabilities, count, s,
            [&out](std::string text) { out.strings.push_back(std::move(text)); });
        break;
    }
  }
  return outputs;
}

}  // namespace nn::v2
