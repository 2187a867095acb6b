// Images for Predict: reading them from files (PNG, PGM, IDX) and packing
// them into the wire message `nnserve.v1.Images` in one of its encodings.
#ifndef NNSERVE_CLIENT_IMAGE_INPUT_H_
#define NNSERVE_CLIENT_IMAGE_INPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/data/png.h"
#include "nnserve/v1/inference.pb.h"

namespace nn {

// How images travel in a request (the oneof of nnserve.v1.Images).
enum class ImageEncoding {
  kFloat,  // FloatTensor [N, H, W], byte / 255
  kUint8,  // PixelImages, H*W bytes an image
  kPng,    // EncodedImages, one PNG file an image
};

// "float", "uint8" or "png"; INVALID_ARGUMENT otherwise.
absl::StatusOr<ImageEncoding> ParseImageEncoding(absl::string_view name);
absl::string_view ImageEncodingName(ImageEncoding encoding);

// One image to classify and where it came from.
struct InputImage {
  // The file path, with "[i]" appended for image i of an IDX file.
  std::string source;
  GrayImage image;
  // The file's own bytes when it is a PNG: sent unchanged with kPng.
  std::string png;
  // The true class from an IDX label file; -1 when unknown.
  int label = -1;
};

// Which images of an IDX file to read: all by default; `index` >= 0 selects
// that one image, or `limit` images from it; `limit` >= 0 caps the count.
struct IdxSelection {
  int64_t index = -1;
  int64_t limit = -1;
};

// Reads one file, recognised by its content (not its name): PNG (signature),
// PGM ("P5"/"P2"), or IDX images {N, H, W} (plain or gzip). For an IDX file
// the labels come from its sibling label file when one exists
// (LabelFileCandidates). Errors: NOT_FOUND for a missing file,
// INVALID_ARGUMENT for an unreadable or unknown format or an out-of-range
// selection, each naming the file.
absl::StatusOr<std::vector<InputImage>> ReadImageFile(
    const std::string& path, const IdxSelection& selection = {});

// The label files that belong to an IDX image file, most likely first:
// "DIR/X-images-idx3-ubyte[.gz]" -> "DIR/X-labels-idx1-ubyte" and
// "DIR/X-labels-idx1-ubyte.gz". Empty when the name does not follow the
// MNIST pattern.
std::vector<std::string> LabelFileCandidates(const std::string& images_path);

// Packs `images` (at least one, all of the same size) into `encoding`.
// PNG sources keep their original bytes with kPng; others are encoded.
// INVALID_ARGUMENT for an empty list or mixed sizes.
absl::StatusOr<nnserve::v1::Images> EncodeImages(
    absl::Span<const InputImage* const> images, ImageEncoding encoding);

// The images of up to `count` requests of `images_per_request` images each
// (pointers into `images`), taking images in order and wrapping around;
// fewer requests when `images` holds fewer than count * images_per_request
// (but at least one). The rule every protocol's request builder follows.
// INVALID_ARGUMENT if `images` is empty or a count is below 1.
absl::StatusOr<std::vector<std::vector<const InputImage*>>> RequestImageBatches(
    const std::vector<InputImage>& images, int images_per_request, int count);

}  // namespace nn

#endif  // NNSERVE_CLIENT_IMAGE_INPUT_H_
