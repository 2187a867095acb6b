// Builds PNG files chunk by chunk (zlib + CRC-32), for tests and fuzz seeds
// that need files EncodePng does not make: 16-bit, palette and color images,
// and hostile ones libpng's writer would refuse to produce (an IHDR that
// declares a huge size over a tiny IDAT, an IDAT that inflates to far more
// than the header declares, truncations).
#ifndef NNSERVE_TESTS_ROBUSTNESS_PNG_BUILDER_H_
#define NNSERVE_TESTS_ROBUSTNESS_PNG_BUILDER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace nn::robustness {

// PNG color types (the IHDR byte).
inline constexpr uint8_t kPngGray = 0;
inline constexpr uint8_t kPngRgb = 2;
inline constexpr uint8_t kPngPalette = 3;
inline constexpr uint8_t kPngGrayAlpha = 4;
inline constexpr uint8_t kPngRgba = 6;

// The 8-byte PNG signature.
std::string PngSignature();

// One chunk: big-endian length, type, data, CRC-32 of type + data.
std::string PngChunk(absl::string_view type, absl::string_view data);

// An IHDR chunk (compression, filter and interlace methods 0).
std::string PngIhdr(uint32_t width, uint32_t height, uint8_t bit_depth,
                    uint8_t color_type);

// Bytes of one unfiltered row of `width` pixels.
uint64_t PngRowBytes(uint32_t width, uint8_t bit_depth, uint8_t color_type);

// A complete PNG: signature, IHDR, `extra_chunks` (e.g. a PLTE chunk), one
// IDAT holding `rows` (each row's bytes, without filter bytes; a filter byte
// 0 is added per row) deflated at level 9, IEND. `rows` must hold `height`
// rows of PngRowBytes bytes.
std::string BuildPng(uint32_t width, uint32_t height, uint8_t bit_depth,
                     uint8_t color_type, absl::string_view rows,
                     absl::string_view extra_chunks = "");

// A PLTE chunk of `entries` grays (entry i = gray i * 255 / (entries - 1)).
std::string PngGrayPalette(int entries);

// A PNG whose IHDR declares `width` x `height` 8-bit gray pixels over an IDAT
// of `inflated_bytes` zero bytes (a few KB on the wire): with a huge declared
// size it is a decompression bomb; with inflated_bytes far above the
// declared size, an IDAT that inflates to more than the image needs.
std::string DecompressionBomb(uint32_t width, uint32_t height,
                              uint64_t inflated_bytes);

}  // namespace nn::robustness

#endif  // NNSERVE_TESTS_ROBUSTNESS_PNG_BUILDER_H_
