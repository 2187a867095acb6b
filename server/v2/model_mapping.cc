#include "server/v2/model_mapping.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/data/dataset.h"
#include "engine/data/png.h"

namespace nn::v2 {
namespace {

struct TypeName {
  DataType type;
  absl::string_view name;
};

constexpr TypeName kTypeNames[] = {
    {DataType::kBool, "BOOL"},   {DataType::kUint8, "UINT8"},
    {DataType::kUint16, "UINT16"}, {DataType::kUint32, "UINT32"},
    {DataType::kUint64, "UINT64"}, {DataType::kInt8, "INT8"},
    {DataType::kInt16, "INT16"}, {DataType::kInt32, "INT32"},
    {DataType::kInt64, "INT64"}, {DataType::kFp16, "FP16"},
    {DataType::kFp32, "FP32"},   {DataType::kFp64, "FP64"},
    {DataType::kBf16, "BF16"},   {DataType::kBytes, "BYTES"},
};

// "input 'images'" with the client's name quoted within a bound.
std::string Tensor(absl::string_view name) {
  return absl::StrCat("input ", Quote(name));
}

std::string ShapeText(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", QuoteList(shape), "]");
}

std::string AcceptedForms(const ModelSignature& s) {
  const int h = s.height, w = s.width;
  return absl::StrCat("FP32 or UINT8 shaped [N,", h, ",", w, "], [N,", h * w,
                      "], [N,", h, ",", w, ",1] or [N,1,", h, ",", w,
                      "], or BYTES [N] or [N,1] (one PNG an element)");
}

// True when `shape` is one of the numeric forms of the mapping.
bool NumericShapeOk(absl::Span<const int64_t> shape, const ModelSignature& s) {
  const int64_t h = s.height, w = s.width;
  switch (shape.size()) {
    case 2:
      return shape[1] == h * w;
    case 3:
      return shape[1] == h && shape[2] == w;
    case 4:
      return (shape[1] == h && shape[2] == w && shape[3] == 1) ||
             (shape[1] == 1 && shape[2] == h && shape[3] == w);
    default:
      return false;
  }
}

bool BytesShapeOk(absl::Span<const int64_t> shape) {
  return shape.size() == 1 || (shape.size() == 2 && shape[1] == 1);
}

absl::Status CheckCount(const InputTensor& in, const CodecLimits& limits) {
  const int64_t n = in.shape[0];
  if (n < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        Tensor(in.name), ": shape ", ShapeText(in.shape),
        " holds no images; send at least one"));
  }
  if (n > limits.max_images) {
    return absl::ResourceExhaustedError(absl::StrCat(
        Tensor(in.name), ": ", n, " images in one request; the limit is ",
        limits.max_images, " (--max_images_per_request)"));
  }
  return absl::OkStatus();
}

absl::Status WrongContents(const InputTensor& in, absl::string_view expected) {
  const std::string got =
      in.contents == InputTensor::Contents::kNone ? "no data" : in.other;
  return absl::InvalidArgumentError(absl::StrCat(
      Tensor(in.name), ": datatype ", in.datatype, " carries its elements in ",
      expected, " or raw bytes; got ", got.empty() ? "another field" : got));
}

absl::Status CountMismatch(const InputTensor& in, int64_t got,
                           absl::string_view unit, int64_t expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      Tensor(in.name), ": ", in.source, " holds ", got, " ", unit,
      "; shape ", ShapeText(in.shape), " ", in.datatype, " needs ", expected));
}

absl::Status BadPixel(const InputTensor& in, int64_t index, int64_t image_size,
                      absl::string_view value, absl::string_view range) {
  return absl::InvalidArgumentError(absl::StrCat(
      Tensor(in.name), ": element ", index, " (image ", index / image_size,
      ") is ", value, "; ", in.datatype, " pixels must be ", range));
}

// Nonzero unless the float of `bits` is in [0, 1] (-0 included; NaN not),
// without a branch: a non-negative float's bits order as integers do, and
// every negative float (but -0) and every NaN lies above 1.0f's bits.
inline uint32_t OutsideUnitRange(uint32_t bits) {
  constexpr uint32_t kOne = 0x3f800000u, kMinusZero = 0x80000000u;
  return static_cast<uint32_t>(bits > kOne) & static_cast<uint32_t>(bits != kMinusZero);
}

// Float compares (ordered: NaN fails both; -0 >= 0), which vectorize to
// two compares a vector of floats; no branch per element.
bool AllInUnitRange(absl::Span<const float> values) {
  uint32_t outside = 0;
  for (float v : values) {
    outside |= static_cast<uint32_t>(!(v >= 0.0f)) |
               static_cast<uint32_t>(!(v <= 1.0f));
  }
  return outside == 0;
}

// Copies `count` little-endian floats from `raw` to `out` and checks them in
// one pass (a loop the compiler vectorizes); true if all are in [0, 1].
bool CopyFloatsLeInUnitRange(const char* raw, int64_t count, float* out) {
  uint32_t outside = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, raw + 4 * i, sizeof bits);
    if constexpr (std::endian::native == std::endian::big) {
      bits = __builtin_bswap32(bits);
    }
    out[i] = std::bit_cast<float>(bits);
    outside |= OutsideUnitRange(bits);
  }
  return outside == 0;
}

// `pixels` = the `count` little-endian floats of `raw`. On a little-endian
// host with `raw` aligned for floats (a protobuf bytes field's own buffer
// is) one copy into storage allocated for it (no zero-fill first);
// otherwise a converting copy. True if all are in [0, 1].
bool AssignFloatsLeInUnitRange(absl::string_view raw, int64_t count,
                               std::vector<float>* pixels) {
  if constexpr (std::endian::native == std::endian::little) {
    if (reinterpret_cast<uintptr_t>(raw.data()) % alignof(float) == 0) {
      const auto* floats = reinterpret_cast<const float*>(raw.data());
      pixels->assign(floats, floats + count);
      return AllInUnitRange(*pixels);
    }
  }
  pixels->resize(count);
  return CopyFloatsLeInUnitRange(raw.data(), count, pixels->data());
}

absl::StatusOr<ImageBatch> DecodeFp32(const InputTensor& in, int64_t elements,
                                      int64_t image_size) {
  ImageBatch batch;
  batch.count = in.shape[0];
  if (in.contents == InputTensor::Contents::kRaw) {
    const int64_t bytes = static_cast<int64_t>(in.raw.size());
    if (bytes != elements * 4) {
      return CountMismatch(in, bytes, "bytes", elements * 4);
    }
    // The one copy every valid request takes; the loop below finds the
    // first bad pixel of an invalid one.
    if (AssignFloatsLeInUnitRange(in.raw, elements, &batch.pixels)) {
      return batch;
    }
  } else if (in.contents == InputTensor::Contents::kFp32) {
    const int64_t got = static_cast<int64_t>(in.fp32.size());
    if (got != elements) return CountMismatch(in, got, "values", elements);
    batch.pixels.assign(in.fp32.begin(), in.fp32.end());
    if (AllInUnitRange(batch.pixels)) return batch;
  } else {
    return WrongContents(in, "fp32_contents (JSON: numbers)");
  }
  for (int64_t i = 0; i < elements; ++i) {
    const float v = batch.pixels[i];
    if (!(v >= 0.0f && v <= 1.0f)) {  // written so that NaN fails too
      return BadPixel(in, i, image_size, FloatText(v), "finite and in [0, 1]");
    }
  }
  return batch;
}

absl::StatusOr<ImageBatch> DecodeUint8(const InputTensor& in, int64_t elements,
                                       int64_t image_size) {
  ImageBatch batch;
  batch.count = in.shape[0];
  if (in.contents == InputTensor::Contents::kRaw) {
    const int64_t bytes = static_cast<int64_t>(in.raw.size());
    if (bytes != elements) return CountMismatch(in, bytes, "bytes", elements);
    batch.pixels.resize(elements);
    PixelsToUnit(reinterpret_cast<const uint8_t*>(in.raw.data()), elements,
                 batch.pixels.data());
  } else if (in.contents == InputTensor::Contents::kUint) {
    const int64_t got = static_cast<int64_t>(in.uints.size());
    if (got != elements) return CountMismatch(in, got, "values", elements);
    batch.pixels.resize(elements);
    for (int64_t i = 0; i < elements; ++i) {
      const uint32_t v = in.uints[i];
      if (v > 255) {
        return BadPixel(in, i, image_size, absl::StrCat(v), "in 0..255");
      }
      batch.pixels[i] = PixelToUnit(static_cast<uint8_t>(v));
    }
  } else {
    return WrongContents(in, "uint_contents (JSON: integers)");
  }
  return batch;
}

// Splits raw BYTES elements (4-byte little-endian length, then the bytes),
// checking every length against the bytes left before using it.
absl::StatusOr<std::vector<absl::string_view>> SplitRawBytes(
    const InputTensor& in, int64_t expected) {
  std::vector<absl::string_view> elements;
  absl::string_view rest = in.raw;
  while (!rest.empty()) {
    if (static_cast<int64_t>(elements.size()) == expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          Tensor(in.name), ": ", in.source, " has ", rest.size(),
          " bytes after its ", expected, " BYTES elements (shape ",
          ShapeText(in.shape), ")"));
    }
    if (rest.size() < 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          Tensor(in.name), ": ", in.source, " ends inside the 4-byte length "
          "of BYTES element ", elements.size()));
    }
    const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
    const uint64_t length = uint64_t{p[0]} | uint64_t{p[1]} << 8 |
                            uint64_t{p[2]} << 16 | uint64_t{p[3]} << 24;
    rest.remove_prefix(4);
    if (length > rest.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Tensor(in.name), ": ", in.source, ": BYTES element ",
          elements.size(), " claims ", length, " bytes; ", rest.size(),
          " remain"));
    }
    elements.push_back(rest.substr(0, length));
    rest.remove_prefix(length);
  }
  if (static_cast<int64_t>(elements.size()) != expected) {
    return CountMismatch(in, static_cast<int64_t>(elements.size()),
                         "BYTES elements", expected);
  }
  return elements;
}

absl::StatusOr<ImageBatch> DecodePngs(const InputTensor& in,
                                      const ModelSignature& s) {
  const int64_t n = in.shape[0];
  std::vector<absl::string_view> split;
  absl::Span<const absl::string_view> elements;
  if (in.contents == InputTensor::Contents::kRaw) {
    ASSIGN_OR_RETURN(split, SplitRawBytes(in, n));
    elements = split;
  } else if (in.contents == InputTensor::Contents::kBytes) {
    if (static_cast<int64_t>(in.bytes.size()) != n) {
      return CountMismatch(in, static_cast<int64_t>(in.bytes.size()),
                           "elements", n);
    }
    elements = in.bytes;
  } else {
    return WrongContents(in, "bytes_contents (JSON: strings)");
  }
  const int64_t image_size = int64_t{s.height} * s.width;
  ImageBatch batch;
  batch.count = n;
  batch.pixels.resize(n * image_size);
  for (int64_t i = 0; i < n; ++i) {
    absl::StatusOr<GrayImage> image = DecodePng(elements[i]);
    if (!image.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Tensor(in.name), ": element ", i, " is not a usable PNG: ",
          image.status().message()));
    }
    if (image->height != s.height || image->width != s.width) {
      return absl::InvalidArgumentError(absl::StrCat(
          Tensor(in.name), ": element ", i, " is a ", image->width, "x",
          image->height, " PNG; the model takes ", s.width, "x", s.height,
          " (images are not resized)"));
    }
    PixelsToUnit(image->pixels.data(), image_size,
                 batch.pixels.data() + i * image_size);
  }
  return batch;
}

}  // namespace

absl::string_view DataTypeName(DataType type) {
  for (const TypeName& t : kTypeNames) {
    if (t.type == type) return t.name;
  }
  return "INVALID";
}

DataType ParseDataType(absl::string_view name) {
  for (const TypeName& t : kTypeNames) {
    if (t.name == name) return t.type;
  }
  return DataType::kInvalid;
}

absl::Status WrongInputCountError(absl::Span<const std::string> names) {
  std::vector<std::string> quoted;
  for (const std::string& name : names) {
    if (quoted.size() == kMaxQuotedElements) {
      quoted.push_back("...");
      break;
    }
    quoted.push_back(Quote(name));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the model takes exactly one input, '", kInputName, "'; the request has ",
      names.size(),
      quoted.empty() ? "" : absl::StrCat(": ", absl::StrJoin(quoted, ", "))));
}

absl::StatusOr<ImageBatch> DecodeImagesInput(const InputTensor& in,
                                             const ModelSignature& s,
                                             const CodecLimits& limits) {
  if (in.name != kInputName) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown input ", Quote(in.name), "; the model has one input, '",
        kInputName, "': ", AcceptedForms(s)));
  }
  const DataType type = ParseDataType(in.datatype);
  const bool numeric = type == DataType::kFp32 || type == DataType::kUint8;
  if (!numeric && type != DataType::kBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Tensor(in.name), ": datatype ", Quote(in.datatype),
                     " is not accepted; expected ", AcceptedForms(s)));
  }
  const bool shape_ok =
      numeric ? NumericShapeOk(in.shape, s) : BytesShapeOk(in.shape);
  if (!shape_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        Tensor(in.name), ": shape ", ShapeText(in.shape), " ", in.datatype,
        " is not accepted; expected ", AcceptedForms(s)));
  }
  RETURN_IF_ERROR(CheckCount(in, limits));
  const int64_t image_size = int64_t{s.height} * s.width;
  // N <= max_images, so this cannot overflow.
  const int64_t elements = in.shape[0] * image_size;
  switch (type) {
    case DataType::kFp32:
      return DecodeFp32(in, elements, image_size);
    case DataType::kUint8:
      return DecodeUint8(in, elements, image_size);
    default:
      return DecodePngs(in, s);
  }
}

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
