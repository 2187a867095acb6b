// PNG decoding to 8-bit grayscale and encoding from it, on libpng.
//
// The server decodes Predict's `EncodedImages` with DecodePng; the client
// reads PNG files and encodes images for `--encoding=png` with it. Both
// directions work on GrayImage, the one in-memory image type of the project's
// image formats (see also pgm.h).
//
// Safety: input bytes are untrusted. Every failure is an INVALID_ARGUMENT
// status with a message that says what is wrong; nothing aborts, and libpng's
// error longjmp never crosses a C++ frame that owns resources (all of them
// live in frames outside the setjmp region). The declared size is checked
// from the header before any pixel is decoded, so a tiny file that claims to
// be 100000 x 100000 pixels (a decompression bomb) costs nothing.
#ifndef NNSERVE_ENGINE_DATA_PNG_H_
#define NNSERVE_ENGINE_DATA_PNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nn {

// An 8-bit grayscale image.
// Invariant (of every image the codecs return): height > 0, width > 0 and
// pixels.size() == height * width.
struct GrayImage {
  int height = 0;
  int width = 0;
  // Row-major, one byte a pixel: 0 = black, 255 = white.
  std::vector<uint8_t> pixels;
};

struct PngDecodeOptions {
  // Largest accepted image, in pixels. A larger declared size fails with
  // INVALID_ARGUMENT before any pixel data is read. Must be > 0.
  int max_width = 1024;
  int max_height = 1024;
};

// Decodes a PNG file held in `bytes` to 8-bit gray.
//
// Accepted: every color type and bit depth of the PNG specification, plain or
// interlaced: gray (1/2/4/8/16 bits), gray+alpha, RGB, RGBA, palette.
// Conversions: low bit depths are scaled to 0..255 (a 1-bit 1 is 255);
// 16-bit samples are scaled to 8 bits with rounding; color becomes gray with
// the ITU-R BT.601 luma weights 0.299 R + 0.587 G + 0.114 B, rounded; alpha
// (and tRNS transparency) is ignored, never composited. No gamma correction.
//
// Errors: INVALID_ARGUMENT naming the problem for anything that is not a
// valid PNG (bad signature, truncated data, CRC error in a critical chunk,
// bad header, corrupt image data, zero width or height) and for an image
// larger than `options` allows, or whose compressed image data inflates to
// more than its rows need (checked by inflating at most one byte more: a
// small image followed by a gigabyte of compressed zeros costs nothing).
// Bytes after the IEND chunk are ignored.
absl::StatusOr<GrayImage> DecodePng(absl::string_view bytes,
                                    const PngDecodeOptions& options = {});

// Encodes `image` as an 8-bit grayscale, non-interlaced PNG.
// INVALID_ARGUMENT if the image breaks GrayImage's invariant.
absl::StatusOr<std::string> EncodePng(const GrayImage& image);

}  // namespace nn

#endif  // NNSERVE_ENGINE_DATA_PNG_H_
