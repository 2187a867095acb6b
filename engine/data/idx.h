// Reader for IDX files, the format of the MNIST and Fashion-MNIST data sets:
// a 4-byte magic (0, 0, element type, rank), `rank` big-endian uint32
// dimensions, then the elements in row-major order. Only unsigned bytes
// (type 0x08) are supported: that is what image and label files hold.
// Files may be gzip-compressed (detected by content, not by name).
#ifndef NNSERVE_ENGINE_DATA_IDX_H_
#define NNSERVE_ENGINE_DATA_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nn {

struct IdxArray {
  std::vector<int64_t> dims;   // e.g. {60000, 28, 28} or {60000}
  std::vector<uint8_t> data;   // product(dims) bytes, row-major
};

// Parses an uncompressed IDX image. Errors (INVALID_ARGUMENT / DATA_LOSS) name
// what is wrong: bad magic, unsupported type, a size that disagrees with the
// dimensions (truncated or trailing bytes).
absl::StatusOr<IdxArray> ParseIdx(absl::string_view bytes);

// Reads `path` (plain or gzip) and parses it. NOT_FOUND if it does not exist.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path);

// Reads a whole file (common/file.h's ReadFile: its bound and errors),
// gunzipping it when it starts with the gzip magic.
absl::StatusOr<std::string> ReadMaybeGzipFile(const std::string& path);

// Serializes `array` as an uncompressed IDX image.
std::string SerializeIdx(const IdxArray& array);

}  // namespace nn

#endif  // NNSERVE_ENGINE_DATA_IDX_H_
