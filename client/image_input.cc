#include "client/image_input.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/data/dataset.h"
#include "engine/data/idx.h"
#include "engine/data/pgm.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

constexpr absl::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);

// Prefixes `status`'s message with the file name.
absl::Status InFile(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

absl::StatusOr<std::vector<InputImage>> ReadIdxImages(
    const std::string& path, const std::string& bytes,
    const IdxSelection& selection) {
  ASSIGN_OR_RETURN(IdxArray array, ParseIdx(bytes));
  if (array.dims.size() != 3) {
    return absl::InvalidArgumentError(
        "an IDX file of images has 3 dimensions {N, H, W}; this one has " +
        std::to_string(array.dims.size()));
  }
  const int64_t count = array.dims[0];
  const int64_t height = array.dims[1];
  const int64_t width = array.dims[2];
  if (height <= 0 || width <= 0 || height > 16384 || width > 16384) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad image size ", height, "x", width));
  }
  int64_t first = 0;
  int64_t end = count;
  if (selection.index >= 0) {
    if (selection.index >= count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--index=", selection.index, " is out of range: the file holds ",
          count, " images"));
    }
    first = selection.index;
    end = selection.limit >= 0 ? std::min(count, first + selection.limit)
                               : first + 1;
  } else if (selection.limit >= 0) {
    end = std::min(count, selection.limit);
  }

  std::vector<uint8_t> labels;
  for (const std::string& label_path : LabelFileCandidates(path)) {
    absl::StatusOr<IdxArray> label_array = ReadIdxFile(label_path);
    if (label_array.status().code() == absl::StatusCode::kNotFound) continue;
    if (!label_array.ok()) return InFile(label_path, label_array.status());
    if (label_array->dims.size() != 1 || label_array->dims[0] != count) {
      return absl::InvalidArgumentError(absl::StrCat(
          label_path, ": expected ", count, " labels {N}, found dimensions of "
          "rank ", label_array->dims.size()));
    }
    labels = std::move(label_array->data);
    break;
  }

  const size_t image_size = size_t(height) * size_t(width);
  std::vector<InputImage> images;
  images.reserve(end - first);
  for (int64_t i = first; i < end; ++i) {
    InputImage input;
    input.source = absl::StrCat(path, "[", i, "]");
    input.image.height = static_cast<int>(height);
    input.image.width = static_cast<int>(width);
    const uint8_t* pixels = array.data.data() + i * image_size;
    input.image.pixels.assign(pixels, pixels + image_size);
    if (!labels.empty()) input.label = labels[i];
    images.push_back(std::move(input));
  }
  return images;
}

}  // namespace

absl::StatusOr<ImageEncoding> ParseImageEncoding(absl::string_view name) {
  if (name == "float") return ImageEncoding::kFloat;
  if (name == "uint8") return ImageEncoding::kUint8;
  if (name == "png") return ImageEncoding::kPng;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown image encoding \"", name, "\"; use float, uint8 or png"));
}

absl::string_view ImageEncodingName(ImageEncoding encoding) {
  switch (encoding) {
    case ImageEncoding::kFloat:
      return "float";
    case ImageEncoding::kUint8:
      return "uint8";
    case ImageEncoding::kPng:
      return "png";
  }
  return "unknown";
}

std::vector<std::string> LabelFileCandidates(const std::string& images_path) {
  std::string base = images_path;
  if (absl::EndsWith(base, ".gz")) base.resize(base.size() - 3);
  constexpr absl::string_view kImages = "-images-idx3-ubyte";
  if (!absl::EndsWith(base, kImages)) return {};
  const std::string labels = absl::StrCat(
      base.substr(0, base.size() - kImages.size()), "-labels-idx1-ubyte");
  // The same compression as the image file first.
  if (absl::EndsWith(images_path, ".gz")) return {labels + ".gz", labels};
  return {labels, labels + ".gz"};
}

absl::StatusOr<std::vector<InputImage>> ReadImageFile(
    const std::string& path, const IdxSelection& selection) {
  absl::StatusOr<std::string> bytes = ReadMaybeGzipFile(path);
  if (!bytes.ok()) {
    if (bytes.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return InFile(path, bytes.status());
  }
  const bool is_png = absl::StartsWith(*bytes, kPngSignature);
  const bool is_pgm =
      absl::StartsWith(*bytes, "P5") || absl::StartsWith(*bytes, "P2");
  if ((is_png || is_pgm) && (selection.index > 0 || selection.limit == 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": --index and --limit select images of IDX files; "
                           "this file holds one image"));
  }
  if (is_png || is_pgm) {
    InputImage input;
    input.source = path;
    absl::StatusOr<GrayImage> image =
        is_png ? DecodePng(*bytes) : ParsePgm(*bytes);
    if (!image.ok()) return InFile(path, image.status());
    input.image = *std::move(image);
    if (is_png) input.png = *std::move(bytes);
    std::vector<InputImage> images;
    images.push_back(std::move(input));
    return images;
  }
  if (bytes->size() >= 4 && (*bytes)[0] == 0 && (*bytes)[1] == 0) {
    absl::StatusOr<std::vector<InputImage>> images =
        ReadIdxImages(path, *bytes, selection);
    if (!images.ok()) return InFile(path, images.status());
    return images;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": not a PNG, PGM or IDX file (unrecognised content)"));
}

absl::StatusOr<v1::Images> EncodeImages(
    absl::Span<const InputImage* const> images, ImageEncoding encoding) {
  if (images.empty()) {
    return absl::InvalidArgumentError("no images to encode");
  }
  const GrayImage& first = images.front()->image;
  for (const InputImage* input : images) {
    if (input->image.height != first.height ||
        input->image.width != first.width) {
      return absl::InvalidArgumentError(absl::StrCat(
          "images of different sizes cannot share a request: ",
          images.front()->source, " is ", first.height, "x", first.width,
          ", ", input->source, " is ", input->image.height, "x",
          input->image.width, " (height x width); send one a request"));
    }
  }
  const size_t image_size = size_t(first.height) * size_t(first.width);
  v1::Images message;
  switch (encoding) {
    case ImageEncoding::kFloat: {
      v1::FloatTensor* tensor = message.mutable_tensor();
      tensor->add_shape(static_cast<int64_t>(images.size()));
      tensor->add_shape(first.height);
      tensor->add_shape(first.width);
      tensor->mutable_values()->Resize(
          static_cast<int>(images.size() * image_size), 0.0f);
      float* out = tensor->mutable_values()->mutable_data();
      for (const InputImage* input : images) {
        PixelsToUnit(input->image.pixels.data(),
                     static_cast<int64_t>(image_size), out);
        out += image_size;
      }
      break;
    }
    case ImageEncoding::kUint8: {
      std::string* data = message.mutable_pixels()->mutable_data();
      data->reserve(images.size() * image_size);
      for (const InputImage* input : images) {
        data->append(reinterpret_cast<const char*>(input->image.pixels.data()),
                     image_size);
      }
      break;
    }
    case ImageEncoding::kPng: {
      v1::EncodedImages* encoded = message.mutable_encoded();
      for (const InputImage* input : images) {
        if (!input->png.empty()) {
          encoded->add_png(input->png);
        } else {
          ASSIGN_OR_RETURN(*encoded->add_png(), EncodePng(input->image));
        }
      }
      break;
    }
  }
  return message;
}

absl::StatusOr<std::vector<std::vector<const InputImage*>>> RequestImageBatches(
    const std::vector<InputImage>& images, int images_per_request, int count) {
  if (images.empty()) {
    return absl::InvalidArgumentError("no images to build requests from");
  }
  if (images_per_request < 1 || count < 1) {
    return absl::InvalidArgumentError(
        "images_per_request and count must be at least 1");
  }
  const int64_t available =
      static_cast<int64_t>(images.size()) / images_per_request;
  const int64_t request_count =
      std::max<int64_t>(1, std::min<int64_t>(count, available));
  std::vector<std::vector<const InputImage*>> batches(
      request_count, std::vector<const InputImage*>(images_per_request));
  size_t next = 0;
  for (std::vector<const InputImage*>& batch : batches) {
    for (const InputImage*& image : batch) {
      image = &images[next];
      next = (next + 1) % images.size();
    }
  }
  return batches;
}

}  // namespace nn
