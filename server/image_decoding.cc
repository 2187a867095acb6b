#include "server/image_decoding.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "common/unit_range.h"
#include "engine/data/dataset.h"
#include "engine/data/png.h"

namespace nn {
namespace {

using ::nnserve::v1::Images;

absl::Status CheckCount(int64_t n, const ImageDecodingOptions& options,
                        absl::string_view field) {
  if (n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": no images; send at least one"));
  }
  if (n > options.max_images) {
    return absl::ResourceExhaustedError(absl::StrCat(
        field, ": ", n, " images in one request; the limit is ",
        options.max_images, " (--max_images_per_request)"));
  }
  return absl::OkStatus();
}

// Checks a float tensor's shape, count and values; returns its images.
absl::StatusOr<int64_t> CheckTensor(const nnserve::v1::FloatTensor& tensor,
                                    const ImageDecodingOptions& options) {
  const int64_t h = options.height, w = options.width;
  const auto& shape = tensor.shape();
  const bool ok_shape =
      (shape.size() == 3 && shape[1] == h && shape[2] == w) ||
      (shape.size() == 2 && shape[1] == h * w);
  if (!ok_shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "images.tensor.shape: got [", QuoteList(shape),
        "], expected [N,", h, ",", w, "] or [N,", h * w, "]"));
  }
  const int64_t n = shape[0];
  RETURN_IF_ERROR(CheckCount(n, options, "images.tensor.shape[0]"));
  const int64_t expected = n * h * w;
  if (tensor.values_size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "images.tensor.values: got ", tensor.values_size(),
        " values, shape [", QuoteList(shape), "] needs ", expected));
  }
  const float* const values = tensor.values().data();
  if (AllInUnitRange(absl::MakeConstSpan(values, expected))) return n;
  for (int64_t i = 0; i < expected; ++i) {
    const float v = values[i];
    // Written so that NaN fails too.
    if (!(v >= 0.0f && v <= 1.0f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "images.tensor.values[", i, "] (image ", i / (h * w), ") is ", v,
          "; pixel values must be finite and in [0, 1]"));
    }
  }
  return n;
}

absl::StatusOr<int64_t> DecodeTensor(const nnserve::v1::FloatTensor& tensor,
                                     const ImageDecodingOptions& options,
                                     std::vector<float>* out) {
  ASSIGN_OR_RETURN(const int64_t n, CheckTensor(tensor, options));
  out->assign(tensor.values().begin(), tensor.values().end());
  return n;
}

absl::StatusOr<int64_t> DecodePixels(const nnserve::v1::PixelImages& pixels,
                                     const ImageDecodingOptions& options,
                                     std::vector<float>* out) {
  const int64_t image_size = int64_t{options.height} * options.width;
  const int64_t bytes = static_cast<int64_t>(pixels.data().size());
  if (bytes % image_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "images.pixels.data: ", bytes, " bytes is not a multiple of ",
        image_size, " (", options.height, "x", options.width,
        " one-byte pixels an image)"));
  }
  const int64_t n = bytes / image_size;
  RETURN_IF_ERROR(CheckCount(n, options, "images.pixels.data"));
  out->resize(bytes);
  PixelsToUnit(reinterpret_cast<const uint8_t*>(pixels.data().data()), bytes,
               out->data());
  return n;
}

absl::StatusOr<int64_t> DecodeEncoded(const nnserve::v1::EncodedImages& encoded,
                                      const ImageDecodingOptions& options,
                                      std::vector<float>* out) {
  const int64_t n = encoded.png_size();
  RETURN_IF_ERROR(CheckCount(n, options, "images.encoded.png"));
  const int64_t image_size = int64_t{options.height} * options.width;
  out->resize(n * image_size);
  PngDecodeOptions png_options;
  for (int64_t i = 0; i < n; ++i) {
    absl::StatusOr<GrayImage> image =
        DecodePng(encoded.png(static_cast<int>(i)), png_options);
    if (!image.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "images.encoded.png[", i, "]: ", image.status().message()));
    }
    if (image->height != options.height || image->width != options.width) {
      return absl::InvalidArgumentError(absl::StrCat(
          "images.encoded.png[", i, "]: image is ", image->width, "x",
          image->height, " pixels; the model takes ", options.width, "x",
          options.height, " (images are not resized)"));
    }
    PixelsToUnit(image->pixels.data(), image_size,
                 out->data() + i * image_size);
  }
  return n;
}

}  // namespace

absl::StatusOr<int64_t> DecodeImages(const Images& images,
                                     const ImageDecodingOptions& options,
                                     std::vector<float>* out) {
  switch (images.encoding_case()) {
    case Images::kTensor:
      return DecodeTensor(images.tensor(), options, out);
    case Images::kPixels:
      return DecodePixels(images.pixels(), options, out);
    case Images::kEncoded:
      return DecodeEncoded(images.encoded(), options, out);
    case Images::ENCODING_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "images: no images; set one of images.tensor, images.pixels or "
      "images.encoded");
}

absl::StatusOr<int64_t> DecodeImagesView(const Images& images,
                                         const ImageDecodingOptions& options,
                                         std::vector<float>* storage,
                                         absl::Span<const float>* view) {
  if (images.encoding_case() == Images::kTensor) {
    const nnserve::v1::FloatTensor& tensor = images.tensor();
    ASSIGN_OR_RETURN(const int64_t n, CheckTensor(tensor, options));
    *view = absl::MakeConstSpan(tensor.values().data(),
                                static_cast<size_t>(tensor.values_size()));
    return n;
  }
  ASSIGN_OR_RETURN(const int64_t n, DecodeImages(images, options, storage));
  *view = absl::MakeConstSpan(*storage);
  return n;
}

}  // namespace nn
