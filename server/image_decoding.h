// Turns the images of a request (nnserve.v1.Images: float tensor, raw uint8
// pixels or PNG files) into the engine's input: N * height * width floats in
// [0, 1], row-major.
//
// Errors name the offending field:
//   INVALID_ARGUMENT    no encoding set; no images; a shape other than
//                       [N, H, W] or [N, H*W]; a value count that disagrees
//                       with the shape; NaN, Inf or a value outside [0, 1]
//                       (the models expect pixel/255; send uint8 pixels to
//                       avoid scaling mistakes); a pixel byte count that is
//                       not a multiple of H*W; a PNG that does not decode or
//                       whose size is not H x W (never resized).
//   RESOURCE_EXHAUSTED  more than `max_images` images (checked before any
//                       pixel is converted).
#ifndef NNSERVE_SERVER_IMAGE_DECODING_H_
#define NNSERVE_SERVER_IMAGE_DECODING_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/limits.h"
#include "nnserve/v1/inference.pb.h"

namespace nn {

struct ImageDecodingOptions {
  int height = kImageHeight;
  int width = kImageWidth;
  // Most images one request may carry.
  int64_t max_images = kDefaultMaxImagesPerRequest;
};

// Decodes `images` into `out` (resized to N*H*W) and returns N >= 1.
absl::StatusOr<int64_t> DecodeImages(const nnserve::v1::Images& images,
                                     const ImageDecodingOptions& options,
                                     std::vector<float>* out);

// DecodeImages without a copy where none is needed: a float tensor is
// checked as DecodeImages checks it (same errors) and `*view` is set to its
// values, valid as long as `images` is, `storage` untouched; pixels and PNGs
// are decoded into `storage` and `*view` views it. Returns N >= 1; on an
// error `*view` is unchanged.
absl::StatusOr<int64_t> DecodeImagesView(const nnserve::v1::Images& images,
                                         const ImageDecodingOptions& options,
                                         std::vector<float>* storage,
                                         absl::Span<const float>* view);

// The number of images a request claims, before decoding: common/images.h's
// CountImages(images, height * width).

}  // namespace nn

#endif  // NNSERVE_SERVER_IMAGE_DECODING_H_
