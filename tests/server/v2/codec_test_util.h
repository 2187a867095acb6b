// Shared fixtures of the V2 codec tests: a 28x28, 10-class signature and
// images in every wire form the mapping accepts (model_mapping.h).
#ifndef NNSERVE_TESTS_SERVER_V2_CODEC_TEST_UTIL_H_
#define NNSERVE_TESTS_SERVER_V2_CODEC_TEST_UTIL_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "engine/data/png.h"
#include "gtest/gtest.h"
#include "server/v2/model_mapping.h"

namespace nn::v2::testing {

inline ModelSignature DigitSignature() {
  static const std::vector<std::string>* const labels = [] {
    auto* l = new std::vector<std::string>();
    for (int i = 0; i < 10; ++i) l->push_back(std::to_string(i));
    return l;
  }();
  ModelSignature s;
  s.labels = *labels;
  return s;
}

// `n` images of 28x28 pixels 0..255, each with its own pattern.
inline std::vector<uint8_t> Pixels(int n) {
  std::vector<uint8_t> pixels(static_cast<size_t>(n) * 784);
  for (size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<uint8_t>((i * 7 + i / 784 * 31) % 256);
  }
  return pixels;
}

inline std::vector<float> Unit(const std::vector<uint8_t>& pixels) {
  std::vector<float> out;
  for (uint8_t p : pixels) out.push_back(p / 255.0f);
  return out;
}

// The little-endian bytes of `values` (this host is little-endian; the test
// asserts it so a big-endian run fails loudly instead of silently).
inline std::string RawFloats(const std::vector<float>& values) {
  static_assert(std::endian::native == std::endian::little);
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(float));
}

inline std::string Png(const std::vector<uint8_t>& pixels, int image,
                       int height = 28, int width = 28) {
  GrayImage g;
  g.height = height;
  g.width = width;
  g.pixels.assign(pixels.begin() + image * height * width,
                  pixels.begin() + (image + 1) * height * width);
  return *EncodePng(g);
}

// BYTES elements in raw form: a 4-byte little-endian length, then the bytes.
inline std::string RawBytes(const std::vector<std::string>& elements) {
  std::string out;
  for (const std::string& e : elements) {
    const uint32_t n = static_cast<uint32_t>(e.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += e;
  }
  return out;
}

// Probabilities for `n` images, 10 classes; image i peaks at class i % 10.
inline std::vector<float> Probabilities(int n) {
  std::vector<float> p(static_cast<size_t>(n) * 10, 0.05f);
  for (int i = 0; i < n; ++i) {
    p[i * 10 + i % 10] = 0.5f;
    p[i * 10 + (i + 3) % 10] = 0.1f;
  }
  return p;
}

// Asserts `status` has `code` and a message containing every one of `parts`.
#define EXPECT_STATUS(status_expr, expected_code, ...)                                \
  do {                                                                      \
    const ::absl::Status s_ = (status_expr);                                \
    EXPECT_EQ(s_.code(), (expected_code)) << s_;                                     \
    for (const char* part_ : {__VA_ARGS__}) {                               \
      EXPECT_TRUE(::absl::StrContains(s_.message(), part_))                 \
          << "message: " << s_.message() << "\n lacks: " << part_;          \
    }                                                                       \
  } while (false)

}  // namespace nn::v2::testing

#endif  // NNSERVE_TESTS_SERVER_V2_CODEC_TEST_UTIL_H_
