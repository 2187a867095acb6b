#include "engine/data/pgm.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nn {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

// Reads the whitespace-separated decimal fields of a PGM header (and of a P2
// raster), skipping '#' comments that run to the end of the line.
class FieldReader {
 public:
  explicit FieldReader(absl::string_view bytes) : bytes_(bytes) {}

  // The next field as a number in [min_value, max_value]; `what` names it in
  // errors ("width", "pixel 17", ...).
  absl::StatusOr<int> ReadNumber(absl::string_view what, int min_value,
                                 int max_value) {
    SkipSpaceAndComments();
    if (pos_ >= bytes_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid PGM: truncated before the ", what));
    }
    int64_t value = 0;
    size_t digits = 0;
    while (pos_ < bytes_.size() && bytes_[pos_] >= '0' && bytes_[pos_] <= '9') {
      value = value * 10 + (bytes_[pos_] - '0');
      if (value > max_value) break;
      ++pos_;
      ++digits;
    }
    if (digits == 0 || value > max_value || value < min_value ||
        (pos_ < bytes_.size() && !IsSpace(bytes_[pos_]) &&
         bytes_[pos_] != '#')) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid PGM: the ", what, " must be a number in [",
                       min_value, ", ", max_value, "]"));
    }
    return static_cast<int>(value);
  }

  // Consumes the single whitespace byte that ends a binary PGM header.
  absl::Status ReadRasterSeparator() {
    if (pos_ >= bytes_.size() || !IsSpace(bytes_[pos_])) {
      return absl::InvalidArgumentError(
          "invalid PGM: no whitespace after maxval");
    }
    ++pos_;
    return absl::OkStatus();
  }

  absl::string_view Rest() const { return bytes_.substr(pos_); }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < bytes_.size()) {
      if (IsSpace(bytes_[pos_])) {
        ++pos_;
      } else if (bytes_[pos_] == '#') {
        while (pos_ < bytes_.size() && bytes_[pos_] != '\n' &&
               bytes_[pos_] != '\r') {
          ++pos_;
        }
      } else {
        return;
      }
    }
  }

  absl::string_view bytes_;
  size_t pos_ = 0;
};

uint8_t Rescale(int sample, int maxval) {
  return static_cast<uint8_t>((sample * 255 + maxval / 2) / maxval);
}

}  // namespace

absl::StatusOr<GrayImage> ParsePgm(absl::string_view bytes) {
  if (bytes.size() < 2 || bytes[0] != 'P' ||
      (bytes[1] != '5' && bytes[1] != '2')) {
    return absl::InvalidArgumentError(
        "invalid PGM: not a PGM file (magic must be P5 or P2)");
  }
  const bool binary = bytes[1] == '5';
  FieldReader reader(bytes.substr(2));
  GrayImage image;
  ASSIGN_OR_RETURN(image.width, reader.ReadNumber("width", 1, kMaxPgmSide));
  ASSIGN_OR_RETURN(image.height, reader.ReadNumber("height", 1, kMaxPgmSide));
  // maxval up to 65535 is valid PGM; say clearly that 16 bits is what fails.
  ASSIGN_OR_RETURN(const int maxval, reader.ReadNumber("maxval", 1, 65535));
  if (maxval > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid PGM: maxval ", maxval, " (16-bit samples) is not supported; "
        "at most 255"));
  }
  const size_t count = size_t(image.width) * size_t(image.height);
  image.pixels.resize(count);
  if (binary) {
    RETURN_IF_ERROR(reader.ReadRasterSeparator());
    const absl::string_view raster = reader.Rest();
    if (raster.size() < count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid PGM: truncated pixel data: ", image.width, "x",
          image.height, " needs ", count, " bytes, got ", raster.size()));
    }
    for (size_t i = 0; i < count; ++i) {
      const int sample = static_cast<uint8_t>(raster[i]);
      if (sample > maxval) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid PGM: pixel ", i, " is ", sample, ", above maxval ",
            maxval));
      }
      image.pixels[i] = Rescale(sample, maxval);
    }
  } else {
    for (size_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(const int sample,
                       reader.ReadNumber(absl::StrCat("pixel ", i), 0, maxval));
      image.pixels[i] = Rescale(sample, maxval);
    }
  }
  return image;
}

std::string EncodePgm(const GrayImage& image) {
  std::string out = absl::StrCat("P5\n", image.width, " ", image.height,
                                 "\n255\n");
  out.append(reinterpret_cast<const char*>(image.pixels.data()),
             image.pixels.size());
  return out;
}

}  // namespace nn
