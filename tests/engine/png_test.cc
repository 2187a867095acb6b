// Tests of the PNG and PGM codecs (engine/data/png.h, engine/data/pgm.h).
// Test images of every PNG color type and bit depth are written here with
// libpng's low-level API; corrupt files are built chunk by chunk.
#include "engine/data/png.h"

#include <png.h>
#include <zlib.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/data/pgm.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// A PNG described sample by sample, for WriteRawPng.
struct RawPng {
  int width = 0;
  int height = 0;
  int color_type = PNG_COLOR_TYPE_GRAY;
  int bit_depth = 8;
  bool interlaced = false;
  // height * width * channels samples, each < 2^bit_depth (palette: indices).
  std::vector<uint16_t> samples;
  std::vector<png_color> palette;
  std::vector<png_byte> transparency;  // tRNS alpha per palette entry
};

RawPng MakeRaw(int width, int height, int color_type, int bit_depth,
               std::vector<uint16_t> samples, bool interlaced = false) {
  RawPng raw;
  raw.width = width;
  raw.height = height;
  raw.color_type = color_type;
  raw.bit_depth = bit_depth;
  raw.interlaced = interlaced;
  raw.samples = std::move(samples);
  return raw;
}

int Channels(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    case PNG_COLOR_TYPE_RGB:
      return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return 4;
    default:
      return 1;
  }
}

void AppendToString(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))
      ->append(reinterpret_cast<const char*>(data), length);
}

// Writes `raw` with libpng; rows are built outside the setjmp region.
std::string WriteRawPng(const RawPng& raw) {
  const int channels = Channels(raw.color_type);
  const size_t row_samples = size_t(raw.width) * channels;
  // Unpacked rows: one byte a sample (png_set_packing packs low depths),
  // two big-endian bytes a sample at 16 bits.
  const size_t bytes_per_sample = raw.bit_depth == 16 ? 2 : 1;
  std::vector<png_byte> bytes(raw.samples.size() * bytes_per_sample);
  for (size_t i = 0; i < raw.samples.size(); ++i) {
    if (bytes_per_sample == 2) {
      bytes[2 * i] = static_cast<png_byte>(raw.samples[i] >> 8);
      bytes[2 * i + 1] = static_cast<png_byte>(raw.samples[i] & 0xff);
    } else {
      bytes[i] = static_cast<png_byte>(raw.samples[i]);
    }
  }
  std::vector<png_bytep> rows(raw.height);
  for (int y = 0; y < raw.height; ++y) {
    rows[y] = bytes.data() + y * row_samples * bytes_per_sample;
  }
  std::string out;
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    ADD_FAILURE() << "libpng failed to write the test image";
    return "";
  }
  png_set_write_fn(png, &out, AppendToString, nullptr);
  png_set_IHDR(png, info, raw.width, raw.height, raw.bit_depth, raw.color_type,
               raw.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!raw.palette.empty()) {
    png_set_PLTE(png, info, raw.palette.data(),
                 static_cast<int>(raw.palette.size()));
  }
  if (!raw.transparency.empty()) {
    png_set_tRNS(png, info, raw.transparency.data(),
                 static_cast<int>(raw.transparency.size()), nullptr);
  }
  png_write_info(png, info);
  if (raw.bit_depth < 8) png_set_packing(png);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// A PNG chunk: length, type, data, CRC over type and data.
std::string Chunk(const std::string& type, const std::string& data,
                  bool corrupt_crc = false) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  const std::string body = type + data;
  uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                       static_cast<uInt>(body.size()));
  if (corrupt_crc) crc ^= 1;
  return be32(static_cast<uint32_t>(data.size())) + body + be32(crc);
}

std::string Signature() { return "\x89PNG\r\n\x1a\n"; }

// IHDR data for an 8-bit gray image of the given size.
std::string GrayHeader(uint32_t width, uint32_t height) {
  std::string data;
  for (uint32_t v : {width, height}) {
    data += {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
             static_cast<char>(v >> 8), static_cast<char>(v)};
  }
  data += {8, 0, 0, 0, 0};  // depth 8, gray, deflate, filter 0, no interlace
  return data;
}

GrayImage Gradient(int height, int width) {
  GrayImage image{height, width, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.pixels.push_back(static_cast<uint8_t>((y * 31 + x * 7) % 256));
    }
  }
  return image;
}

std::vector<uint8_t> DecodeOrDie(const std::string& png) {
  absl::StatusOr<GrayImage> image = DecodePng(png);
  EXPECT_TRUE(image.ok()) << image.status();
  return image.ok() ? image->pixels : std::vector<uint8_t>{};
}

void ExpectInvalid(const absl::StatusOr<GrayImage>& result,
                   const std::string& message_part) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr(message_part));
}

TEST(PngTest, EncodeThenDecodeReturnsTheSamePixels) {
  for (auto [height, width] : {std::pair{1, 1}, {28, 28}, {3, 1000}, {50, 7}}) {
    const GrayImage image = Gradient(height, width);
    absl::StatusOr<std::string> png = EncodePng(image);
    ASSERT_TRUE(png.ok()) << png.status();
    absl::StatusOr<GrayImage> decoded = DecodePng(*png);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->height, height);
    EXPECT_EQ(decoded->width, width);
    EXPECT_EQ(decoded->pixels, image.pixels);
  }
}

TEST(PngTest, EncodeRejectsPixelCountThatDisagreesWithSize) {
  EXPECT_EQ(EncodePng(GrayImage{2, 2, {1, 2, 3}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(GrayImage{0, 0, {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PngTest, LowBitDepthGrayIsScaledToFullRange) {
  // Each depth's maximum sample maps to 255 and the steps are even.
  struct Case {
    int bit_depth;
    std::vector<uint16_t> samples;
    std::vector<uint8_t> expected;
  };
  for (const Case& c : std::vector<Case>{
           {1, {0, 1, 1, 0, 1}, {0, 255, 255, 0, 255}},
           {2, {0, 1, 2, 3, 3}, {0, 85, 170, 255, 255}},
           {4, {0, 1, 7, 14, 15}, {0, 17, 119, 238, 255}},
           {8, {0, 1, 128, 254, 255}, {0, 1, 128, 254, 255}}}) {
    RawPng raw = MakeRaw(5, 1, PNG_COLOR_TYPE_GRAY, c.bit_depth, c.samples);
    EXPECT_EQ(DecodeOrDie(WriteRawPng(raw)), c.expected)
        << "bit depth " << c.bit_depth;
  }
}

TEST(PngTest, SixteenBitGrayIsScaledToEightBitsWithRounding) {
  RawPng raw = MakeRaw(5, 1, PNG_COLOR_TYPE_GRAY, 16, {0, 257 * 100, 65535, 128, 32896});
  // v * 255 / 65535 rounded: 128 -> 0.498 -> 0; 32896 -> 128.0 -> 128.
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw)), ElementsAre(0, 100, 255, 0, 128));
}

TEST(PngTest, GrayAlphaKeepsTheGrayAndIgnoresAlpha) {
  RawPng raw8 = MakeRaw(3, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {10, 0, 200, 255, 77, 128});
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw8)), ElementsAre(10, 200, 77));
  RawPng raw16 = MakeRaw(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, {257 * 10, 0, 257 * 250, 65535});
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw16)), ElementsAre(10, 250));
}

TEST(PngTest, RgbBecomesGrayWithBt601Weights) {
  // red 0.299 * 255 = 76.2, green 149.7, blue 29.1, (10, 20, 30) -> 18.2.
  const std::vector<uint16_t> rgb = {255, 0,   0,   0,   255, 0,  0,  0,
                                     255, 255, 255, 255, 10,  20, 30};
  RawPng raw8 = MakeRaw(5, 1, PNG_COLOR_TYPE_RGB, 8, rgb);
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw8)),
              ElementsAre(76, 150, 29, 255, 18));
  RawPng raw16 = raw8;
  raw16.bit_depth = 16;
  for (uint16_t& s : raw16.samples) s = static_cast<uint16_t>(s * 257);
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw16)),
              ElementsAre(76, 150, 29, 255, 18));
}

TEST(PngTest, RgbaIgnoresAlphaInsteadOfCompositing) {
  RawPng raw8 = MakeRaw(2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {255, 255, 255, 0, 0, 255, 0, 10});
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw8)), ElementsAre(255, 150));
  RawPng raw16 = MakeRaw(1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 16, {257 * 255, 0, 0, 0});
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw16)), ElementsAre(76));
}

TEST(PngTest, PaletteImagesOfEveryBitDepthDecodeThroughTheirColors) {
  const std::vector<png_color> palette = {
      {0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {255, 255, 255}};
  for (int bit_depth : {1, 2, 4, 8}) {
    // A 1-bit palette holds two entries: black and red.
    const uint16_t last = bit_depth == 1 ? 1 : 3;
    RawPng raw = MakeRaw(4, 1, PNG_COLOR_TYPE_PALETTE, bit_depth,
                         {0, last, 0, last});
    raw.palette.assign(palette.begin(), palette.begin() + last + 1);
    // A transparent entry changes nothing: alpha is ignored.
    raw.transparency = {255, 0};
    const uint8_t last_gray = bit_depth == 1 ? 76 : 255;
    EXPECT_THAT(DecodeOrDie(WriteRawPng(raw)),
                ElementsAre(0, last_gray, 0, last_gray))
        << "bit depth " << bit_depth;
  }
  RawPng raw = MakeRaw(3, 1, PNG_COLOR_TYPE_PALETTE, 8, {1, 2, 3});
  raw.palette = palette;
  EXPECT_THAT(DecodeOrDie(WriteRawPng(raw)), ElementsAre(76, 150, 255));
}

TEST(PngTest, InterlacedImagesDecodeLikePlainOnes) {
  const GrayImage image = Gradient(28, 28);
  RawPng raw = MakeRaw(
      28, 28, PNG_COLOR_TYPE_GRAY, 8,
      std::vector<uint16_t>(image.pixels.begin(), image.pixels.end()),
      /*interlaced=*/true);
  EXPECT_EQ(DecodeOrDie(WriteRawPng(raw)), image.pixels);
  RawPng raw4 = raw;
  raw4.bit_depth = 4;
  for (uint16_t& s : raw4.samples) s = s % 16;
  std::vector<uint8_t> expected;
  for (uint16_t s : raw4.samples) expected.push_back(static_cast<uint8_t>(s * 17));
  EXPECT_EQ(DecodeOrDie(WriteRawPng(raw4)), expected);
}

TEST(PngTest, RejectsDataWithoutThePngSignature) {
  ExpectInvalid(DecodePng(""), "bad signature");
  ExpectInvalid(DecodePng("P5\n28 28\n255\n"), "bad signature");
  ExpectInvalid(DecodePng("\x89PNG\r\n\x1a"), "bad signature");
}

TEST(PngTest, RejectsEveryTruncationOfAValidFile) {
  const std::string png = *EncodePng(Gradient(28, 28));
  // Every prefix that ends before IEND's CRC is incomplete.
  for (size_t length = 0; length + 4 < png.size(); ++length) {
    absl::StatusOr<GrayImage> result = DecodePng(png.substr(0, length));
    ASSERT_FALSE(result.ok()) << "prefix of " << length << " bytes";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  }
  ExpectInvalid(DecodePng(png.substr(0, png.size() / 2)), "truncated");
}

TEST(PngTest, RejectsCrcErrorsInHeaderAndImageData) {
  const std::string image_data = [] {
    const std::string png = *EncodePng(Gradient(4, 4));
    // Signature (8) + IHDR chunk (25) come first, then IDAT.
    const size_t idat = png.find("IDAT") - 4;
    const uint32_t length = (uint8_t(png[idat]) << 24) |
                            (uint8_t(png[idat + 1]) << 16) |
                            (uint8_t(png[idat + 2]) << 8) | uint8_t(png[idat + 3]);
    return png.substr(idat + 8, length);
  }();
  const std::string good = Signature() + Chunk("IHDR", GrayHeader(4, 4)) +
                           Chunk("IDAT", image_data) + Chunk("IEND", "");
  EXPECT_TRUE(DecodePng(good).ok());
  ExpectInvalid(DecodePng(Signature() + Chunk("IHDR", GrayHeader(4, 4), true) +
                          Chunk("IDAT", image_data) + Chunk("IEND", "")),
                "CRC");
  ExpectInvalid(DecodePng(Signature() + Chunk("IHDR", GrayHeader(4, 4)) +
                          Chunk("IDAT", image_data, true) + Chunk("IEND", "")),
                "CRC");
}

TEST(PngTest, RejectsHugeDeclaredSizeFromTheHeaderAlone) {
  // No image data at all: the size check must come before any is read.
  ExpectInvalid(
      DecodePng(Signature() + Chunk("IHDR", GrayHeader(100000, 100000))),
      "100000x100000");
  ExpectInvalid(DecodePng(Signature() + Chunk("IHDR", GrayHeader(1025, 1))),
                "at most 1024x1024");
  ExpectInvalid(DecodePng(Signature() + Chunk("IHDR", GrayHeader(1, 1025))),
                "at most 1024x1024");
  // The limit is inclusive and configurable.
  EXPECT_TRUE(DecodePng(*EncodePng(Gradient(1, 1024))).ok());
  ExpectInvalid(DecodePng(*EncodePng(Gradient(29, 28)),
                          PngDecodeOptions{.max_width = 28, .max_height = 28}),
                "at most 28x28");
  ExpectInvalid(DecodePng(*EncodePng(Gradient(2, 2)),
                          PngDecodeOptions{.max_width = 0, .max_height = 28}),
                "positive");
}

TEST(PngTest, RejectsZeroWidthOrHeight) {
  for (auto [width, height] : {std::pair{0u, 5u}, {5u, 0u}, {0u, 0u}}) {
    absl::StatusOr<GrayImage> result = DecodePng(
        Signature() + Chunk("IHDR", GrayHeader(width, height)) +
        Chunk("IDAT", "") + Chunk("IEND", ""));
    ExpectInvalid(result, "invalid PNG");
  }
}

TEST(PngTest, RejectsCorruptImageData) {
  ExpectInvalid(DecodePng(Signature() + Chunk("IHDR", GrayHeader(4, 4)) +
                          Chunk("IDAT", "not zlib at all") + Chunk("IEND", "")),
                "invalid PNG");
}

// Whatever the bytes, the decoder returns: an image that keeps the invariant,
// or INVALID_ARGUMENT.
void ExpectImageOrInvalid(const std::string& bytes) {
  absl::StatusOr<GrayImage> result = DecodePng(bytes);
  if (result.ok()) {
    EXPECT_GT(result->height, 0);
    EXPECT_GT(result->width, 0);
    EXPECT_EQ(result->pixels.size(),
              size_t(result->height) * size_t(result->width));
  } else {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << result.status();
  }
}

TEST(PngTest, RandomGarbageAndBitFlipsNeverCrash) {
  std::mt19937 random(42);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 500; ++i) {
    std::string bytes(std::uniform_int_distribution<int>(0, 300)(random), '\0');
    for (char& c : bytes) c = static_cast<char>(byte(random));
    ExpectImageOrInvalid(bytes);
    ExpectImageOrInvalid(Signature() + bytes);
  }
  RawPng rgb = MakeRaw(6, 5, PNG_COLOR_TYPE_RGB, 8,
                       std::vector<uint16_t>(90, 200), /*interlaced=*/true);
  for (const std::string& valid :
       {*EncodePng(Gradient(9, 9)), WriteRawPng(rgb)}) {
    for (size_t i = 0; i < valid.size(); ++i) {
      std::string flipped = valid;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
      ExpectImageOrInvalid(flipped);
    }
  }
}

TEST(PgmTest, ParsesBinaryPgmWithComments) {
  absl::StatusOr<GrayImage> image =
      ParsePgm(std::string("P5\n# made by hand\n3 2 # width height\n255\n") +
               std::string("\x00\x10\x20\x30\x40\xff", 6));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 3);
  EXPECT_EQ(image->height, 2);
  EXPECT_THAT(image->pixels, ElementsAre(0x00, 0x10, 0x20, 0x30, 0x40, 0xff));
}

TEST(PgmTest, ParsesAsciiPgmAndRescalesSmallMaxval) {
  absl::StatusOr<GrayImage> image = ParsePgm("P2\n2 2\n15\n0 15\n# row 2\n7 8\n");
  ASSERT_TRUE(image.ok()) << image.status();
  // v * 255 / 15 rounded: 7 -> 119, 8 -> 136.
  EXPECT_THAT(image->pixels, ElementsAre(0, 255, 119, 136));
}

TEST(PgmTest, EncodeThenParseReturnsTheSameImage) {
  const GrayImage image = Gradient(28, 28);
  absl::StatusOr<GrayImage> parsed = ParsePgm(EncodePgm(image));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->height, 28);
  EXPECT_EQ(parsed->width, 28);
  EXPECT_THAT(parsed->pixels, ElementsAreArray(image.pixels));
}

TEST(PgmTest, RejectsMalformedFilesWithClearMessages) {
  struct Case {
    std::string bytes;
    std::string message_part;
  };
  for (const Case& c : std::vector<Case>{
           {"", "magic"},
           {"P6\n1 1\n255\n\xff\xff\xff", "magic"},
           {"P5\n0 4\n255\n", "width"},
           {"P5\n4 99999\n255\n", "height"},
           {"P5\n2 2\n65535\n", "16-bit"},
           {"P5\n2 2\n0\n", "maxval"},
           {"P5\n2 2\n255\n\x01\x02\x03", "truncated pixel data"},
           {"P5\n2 2", "truncated before the maxval"},
           {"P5\n2x 2\n255\n", "width"},
           {"P2\n2 1\n10\n3 11\n", "pixel 1"},
           {"P2\n2 1\n10\n3\n", "truncated before the pixel 1"},
           {"P5\n1 1\n100\n\xff", "above maxval"}}) {
    absl::StatusOr<GrayImage> result = ParsePgm(c.bytes);
    ASSERT_FALSE(result.ok()) << c.bytes;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr(c.message_part))
        << c.bytes;
  }
}

}  // namespace
}  // namespace nn
