#include "tests/robustness/png_builder.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace nn::robustness {
namespace {

void AppendBigEndian32(uint32_t value, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

int Channels(uint8_t color_type) {
  switch (color_type) {
    case kPngRgb:
      return 3;
    case kPngGrayAlpha:
      return 2;
    case kPngRgba:
      return 4;
    default:
      return 1;
  }
}

// Deflates `size` bytes produced by `fill` (called with a buffer and the
// number of bytes to write into it) in 64 KB steps, so that a bomb of
// hundreds of MB never exists in memory uncompressed.
template <typename Fill>
std::string DeflateStream(uint64_t size, Fill fill) {
  z_stream z{};
  if (deflateInit(&z, 9) != Z_OK) throw std::runtime_error("deflateInit");
  std::string out;
  std::vector<unsigned char> in(1 << 16);
  std::vector<unsigned char> buffer(1 << 16);
  uint64_t done = 0;
  int flush = Z_NO_FLUSH;
  do {
    const uint64_t step = std::min<uint64_t>(in.size(), size - done);
    fill(in.data(), done, step);
    done += step;
    flush = done == size ? Z_FINISH : Z_NO_FLUSH;
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(step);
    do {
      z.next_out = buffer.data();
      z.avail_out = static_cast<uInt>(buffer.size());
      deflate(&z, flush);
      out.append(reinterpret_cast<const char*>(buffer.data()),
                 buffer.size() - z.avail_out);
    } while (z.avail_out == 0);
  } while (flush != Z_FINISH);
  deflateEnd(&z);
  return out;
}

}  // namespace

std::string PngSignature() { return std::string("\x89PNG\r\n\x1a\n", 8); }

std::string PngChunk(absl::string_view type, absl::string_view data) {
  std::string chunk;
  AppendBigEndian32(static_cast<uint32_t>(data.size()), &chunk);
  std::string body(type);
  body.append(data.data(), data.size());
  chunk += body;
  AppendBigEndian32(
      static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                  static_cast<uInt>(body.size()))),
      &chunk);
  return chunk;
}

std::string PngIhdr(uint32_t width, uint32_t height, uint8_t bit_depth,
                    uint8_t color_type) {
  std::string data;
  AppendBigEndian32(width, &data);
  AppendBigEndian32(height, &data);
  data.push_back(static_cast<char>(bit_depth));
  data.push_back(static_cast<char>(color_type));
  data.append(3, '\0');  // compression, filter, interlace
  return PngChunk("IHDR", data);
}

uint64_t PngRowBytes(uint32_t width, uint8_t bit_depth, uint8_t color_type) {
  const uint64_t bits = uint64_t{width} * Channels(color_type) * bit_depth;
  return (bits + 7) / 8;
}

std::string BuildPng(uint32_t width, uint32_t height, uint8_t bit_depth,
                     uint8_t color_type, absl::string_view rows,
                     absl::string_view extra_chunks) {
  const uint64_t row_bytes = PngRowBytes(width, bit_depth, color_type);
  if (rows.size() != row_bytes * height) {
    throw std::invalid_argument("BuildPng: rows do not match the size");
  }
  const std::string idat = DeflateStream(
      (row_bytes + 1) * height,
      [&](unsigned char* out, uint64_t offset, uint64_t count) {
        for (uint64_t i = 0; i < count; ++i) {
          const uint64_t row = (offset + i) / (row_bytes + 1);
          const uint64_t column = (offset + i) % (row_bytes + 1);
          out[i] = column == 0 ? 0  // filter type None
                               : static_cast<unsigned char>(
                                     rows[row * row_bytes + column - 1]);
        }
      });
  return PngSignature() + PngIhdr(width, height, bit_depth, color_type) +
         std::string(extra_chunks) + PngChunk("IDAT", idat) +
         PngChunk("IEND", "");
}

std::string PngGrayPalette(int entries) {
  std::string plte;
  for (int i = 0; i < entries; ++i) {
    const char gray = static_cast<char>(entries > 1 ? i * 255 / (entries - 1) : 0);
    plte.append(3, gray);
  }
  return PngChunk("PLTE", plte);
}

std::string DecompressionBomb(uint32_t width, uint32_t height,
                              uint64_t inflated_bytes) {
  const std::string idat = DeflateStream(
      inflated_bytes, [](unsigned char* out, uint64_t, uint64_t count) {
        std::fill(out, out + count, 0);
      });
  return PngSignature() + PngIhdr(width, height, 8, kPngGray) +
         PngChunk("IDAT", idat) + PngChunk("IEND", "");
}

}  // namespace nn::robustness
