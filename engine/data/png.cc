#include "engine/data/png.h"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace nn {
namespace {

constexpr size_t kSignatureBytes = 8;
// Largest ancillary chunk libpng may allocate (and decompress, for iCCP, zTXt
// and iTXt) on our behalf; a model input needs none of them.
constexpr png_alloc_size_t kMaxChunkBytes = png_alloc_size_t{4} << 20;

// libpng callbacks keep their state here. Every libpng call that can fail
// runs inside one function (RunRead / RunWrite) whose setjmp catches the
// longjmp of OnError; the objects that own memory (the output vectors) live
// in the caller's frame, which the longjmp never crosses.
struct ErrorSink {
  char message[256] = {};
};

void OnError(png_structp png, png_const_charp message) {
  auto* sink = static_cast<ErrorSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message);
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}

struct ReadSource {
  ErrorSink error;
  const unsigned char* data = nullptr;
  size_t size = 0;
  size_t offset = 0;
};

void ReadFromMemory(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<ReadSource*>(png_get_io_ptr(png));
  if (length > source->size - source->offset) {
    png_error(png, "truncated data");
  }
  std::memcpy(out, source->data + source->offset, length);
  source->offset += length;
}

// The image as libpng delivers it after the transforms set in RunRead:
// 8 bits a sample, 1 (gray) or 3 (RGB) channels, row-major.
struct Raster {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int channels = 0;
  std::vector<uint8_t> samples;  // height * width * channels
  std::vector<png_bytep> rows;   // height pointers into `samples`
};

// Decodes source->data into *raster. Returns false with
// source->error.message set. Owns no C++ object (see ErrorSink).
bool RunRead(ReadSource* source, const PngDecodeOptions& options,
             Raster* raster) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING,
                                           &source->error, OnError, OnWarning);
  if (png == nullptr) {
    std::snprintf(source->error.message, sizeof(source->error.message),
                  "libpng could not allocate a decoder");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(source->error.message, sizeof(source->error.message),
                  "libpng could not allocate a decoder");
    return false;
  }
  // `png` and `info` are not modified after setjmp, so they keep their
  // values when OnError jumps back here.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, source, ReadFromMemory);
  // DecodePng checked the declared size already; this is a second guard.
  png_set_user_limits(png, static_cast<png_uint_32>(options.max_width),
                      static_cast<png_uint_32>(options.max_height));
  png_set_chunk_malloc_max(png, kMaxChunkBytes);
  png_read_info(png, info);

  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (bit_depth == 16) png_set_scale_16(png);
  // Expanding a palette also turns a tRNS chunk into an alpha channel, which
  // png_set_strip_alpha then drops along with a real one.
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if ((color_type & PNG_COLOR_MASK_ALPHA) != 0 ||
      png_get_valid(png, info, PNG_INFO_tRNS) != 0) {
    png_set_strip_alpha(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const int channels = png_get_channels(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  if ((channels != 1 && channels != 3) || png_get_bit_depth(png, info) != 8 ||
      row_bytes != size_t{width} * static_cast<size_t>(channels)) {
    png_error(png, "unsupported pixel layout after conversion");
  }
  raster->width = width;
  raster->height = height;
  raster->channels = channels;
  raster->samples.resize(size_t{height} * row_bytes);
  raster->rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) {
    raster->rows[y] = raster->samples.data() + size_t{y} * row_bytes;
  }
  png_read_image(png, raster->rows.data());
  // Reads (and CRC-checks) the chunks after the image data up to IEND.
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

struct WriteSink {
  ErrorSink error;
  std::string* out = nullptr;
};

void WriteToString(png_structp png, png_bytep data, png_size_t length) {
  auto* sink = static_cast<WriteSink*>(png_get_io_ptr(png));
  sink->out->append(reinterpret_cast<const char*>(data), length);
}

void FlushNothing(png_structp) {}

// Encodes `image` (valid) into *sink->out; `rows` points at its rows.
// Returns false with sink->error.message set. Owns no C++ object.
bool RunWrite(const GrayImage& image, png_bytepp rows, WriteSink* sink) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING,
                                            &sink->error, OnError, OnWarning);
  if (png == nullptr) {
    std::snprintf(sink->error.message, sizeof(sink->error.message),
                  "libpng could not allocate an encoder");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(sink->error.message, sizeof(sink->error.message),
                  "libpng could not allocate an encoder");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, sink, WriteToString, FlushNothing);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

uint8_t Bt601Luma(uint8_t r, uint8_t g, uint8_t b) {
  // 0.299 R + 0.587 G + 0.114 B, rounded; the weights sum to 1000.
  return static_cast<uint8_t>((299 * r + 587 * g + 114 * b + 500) / 1000);
}

// The bytes of filtered scanlines (a filter byte and the packed samples of
// each row, per Adam7 pass when interlaced) that an image of this IHDR
// inflates to: exactly what its zlib stream must hold.
uint64_t ScanlineBytes(uint32_t width, uint32_t height, int bit_depth,
                       int color_type, bool interlaced) {
  int samples = 1;  // gray, palette
  if (color_type == 2) samples = 3;                    // RGB
  if (color_type == 4) samples = 2;                    // gray + alpha
  if (color_type == 6) samples = 4;                    // RGBA
  const uint64_t bits_per_pixel = uint64_t(samples) * uint64_t(bit_depth);
  auto rows = [&](uint64_t w, uint64_t h) {
    return w == 0 || h == 0 ? 0 : h * (1 + (w * bits_per_pixel + 7) / 8);
  };
  if (!interlaced) return rows(width, height);
  // Adam7: pass p starts at (x0, y0) and steps (dx, dy).
  constexpr int kX0[] = {0, 4, 0, 2, 0, 1, 0}, kDx[] = {8, 8, 4, 4, 2, 2, 1};
  constexpr int kY0[] = {0, 0, 4, 0, 2, 0, 1}, kDy[] = {8, 8, 8, 4, 4, 2, 2};
  uint64_t total = 0;
  for (int p = 0; p < 7; ++p) {
    const uint64_t w = width > uint32_t(kX0[p]) ? (width - kX0[p] + kDx[p] - 1) / kDx[p] : 0;
    const uint64_t h = height > uint32_t(kY0[p]) ? (height - kY0[p] + kDy[p] - 1) / kDy[p] : 0;
    total += rows(w, h);
  }
  return total;
}

// Whether the zlib stream in the IDAT chunks of `bytes` (a PNG whose IHDR
// was read) inflates to more than `needed` bytes, found by inflating at most
// needed + 1 bytes. libpng inflates the whole stream after the last row (to
// check that it ends), so a 28 x 28 image followed by a gigabyte of
// compressed zeros, a megabyte on the wire, would otherwise cost seconds of
// CPU. A malformed chunk list answers false: libpng reports it.
bool InflatesBeyond(absl::string_view bytes, uint64_t needed) {
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return false;
  std::vector<unsigned char> out(1 << 16);
  uint64_t produced = 0;
  bool beyond = false, done = false;
  size_t at = kSignatureBytes;
  while (!done && at + 12 <= bytes.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
    const uint64_t length = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) |
                            (uint64_t{p[2]} << 8) | uint64_t{p[3]};
    const absl::string_view type = bytes.substr(at + 4, 4);
    if (length > bytes.size() - at - 12 || type == "IEND") break;
    if (type == "IDAT") {
      stream.next_in = const_cast<Bytef*>(p + 8);
      stream.avail_in = static_cast<uInt>(length);
      while (stream.avail_in > 0 && !done) {
        stream.next_out = out.data();
        const uint64_t room = needed + 1 - produced;
        stream.avail_out = static_cast<uInt>(std::min<uint64_t>(out.size(), room));
        const int result = inflate(&stream, Z_NO_FLUSH);
        produced += (stream.next_out - out.data());
        if (produced > needed) beyond = true;
        if (beyond || result != Z_OK) done = true;
      }
    }
    at += 12 + length;
  }
  inflateEnd(&stream);
  return beyond;
}

}  // namespace

absl::StatusOr<GrayImage> DecodePng(absl::string_view bytes,
                                    const PngDecodeOptions& options) {
  if (options.max_width <= 0 || options.max_height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("PngDecodeOptions: max_width and max_height must be "
                     "positive, got ",
                     options.max_width, " and ", options.max_height));
  }
  if (bytes.size() < kSignatureBytes ||
      png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0,
                  kSignatureBytes) != 0) {
    return absl::InvalidArgumentError(
        "invalid PNG: not a PNG file (bad signature)");
  }
  // The PNG specification puts IHDR first: its length and type (8 bytes),
  // then width and height (big-endian). Checked here, before libpng reads
  // anything else.
  constexpr size_t kIhdrSizeEnd = kSignatureBytes + 16;
  if (bytes.size() >= kIhdrSizeEnd &&
      bytes.substr(kSignatureBytes + 4, 4) == "IHDR") {
    auto be32 = [&](size_t at) {
      const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
      return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
             (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    };
    const uint32_t width = be32(kSignatureBytes + 8);
    const uint32_t height = be32(kSignatureBytes + 12);
    if (width > static_cast<uint32_t>(options.max_width) ||
        height > static_cast<uint32_t>(options.max_height)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid PNG: image is ", width, "x", height,
          " pixels (width x height); at most ", options.max_width, "x",
          options.max_height, " accepted"));
    }
    // Bit depth, colour type and interlace method follow (IHDR's data is 13
    // bytes); libpng validates them, this only sizes the check below.
    if (bytes.size() >= kIhdrSizeEnd + 5) {
      const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
      const uint64_t needed =
          ScanlineBytes(width, height, p[kIhdrSizeEnd], p[kIhdrSizeEnd + 1],
                        p[kIhdrSizeEnd + 4] == 1);
      if (InflatesBeyond(bytes, needed)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid PNG: the compressed image data holds more than the ",
            needed, " bytes a ", width, "x", height, " image needs"));
      }
    }
  }
  ReadSource source;
  source.data = reinterpret_cast<const unsigned char*>(bytes.data());
  source.size = bytes.size();
  Raster raster;
  if (!RunRead(&source, options, &raster)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid PNG: ", source.error.message));
  }
  GrayImage image;
  image.width = static_cast<int>(raster.width);
  image.height = static_cast<int>(raster.height);
  const size_t count = size_t{raster.width} * raster.height;
  if (raster.channels == 1) {
    image.pixels = std::move(raster.samples);
  } else {
    image.pixels.resize(count);
    const uint8_t* rgb = raster.samples.data();
    for (size_t i = 0; i < count; ++i, rgb += 3) {
      image.pixels[i] = Bt601Luma(rgb[0], rgb[1], rgb[2]);
    }
  }
  return image;
}

absl::StatusOr<std::string> EncodePng(const GrayImage& image) {
  if (image.height <= 0 || image.width <= 0 ||
      image.pixels.size() != size_t(image.height) * size_t(image.width)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodePng: a ", image.height, "x", image.width, " image needs ",
        int64_t{image.height} * image.width, " pixels, got ",
        image.pixels.size()));
  }
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) {
    // libpng does not write through row pointers without transforms.
    rows[y] = const_cast<png_bytep>(image.pixels.data()) +
              size_t(y) * size_t(image.width);
  }
  std::string out;
  WriteSink sink;
  sink.out = &out;
  if (!RunWrite(image, rows.data(), &sink)) {
    return absl::InternalError(
        absl::StrCat("EncodePng: libpng failed: ", sink.error.message));
  }
  return out;
}

}  // namespace nn
