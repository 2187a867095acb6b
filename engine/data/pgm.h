// PGM (netpbm grayscale) reading and writing.
//
// Reads "P5" (binary) and "P2" (ASCII) files with maxval 1..255 and '#'
// comments in the header; samples are rescaled to 0..255 (rounded) when
// maxval < 255. Only the first image of a multi-image file is read. 16-bit
// PGM (maxval > 255) is rejected. Writes P5 with maxval 255.
#ifndef NNSERVE_ENGINE_DATA_PGM_H_
#define NNSERVE_ENGINE_DATA_PGM_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/data/png.h"

namespace nn {

// Largest width or height ParsePgm accepts, in pixels.
inline constexpr int kMaxPgmSide = 16384;

// Parses a PGM file held in `bytes`. INVALID_ARGUMENT naming the problem for
// a bad magic, a malformed or out-of-range header field (zero or more than
// kMaxPgmSide pixels a side, maxval outside 1..255), truncated pixel data, or
// an ASCII sample above maxval.
absl::StatusOr<GrayImage> ParsePgm(absl::string_view bytes);

// Encodes `image` as binary PGM (P5, maxval 255). The image must satisfy
// GrayImage's invariant.
std::string EncodePgm(const GrayImage& image);

}  // namespace nn

#endif  // NNSERVE_ENGINE_DATA_PGM_H_
