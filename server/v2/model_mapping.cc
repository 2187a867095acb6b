#include "server/v2/model_mapping.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "common/unit_range.h"
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

}  // namespace nn::v2
