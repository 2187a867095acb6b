// Reading a whole file: the one copy (the model repository's config, TLS
// PEM files, text-format specs, IDX and image files).
//
// Bounded: a file larger than `max_bytes` is refused before it is read
// whole, so pointing a flag at /dev/zero or a huge file is an error, not an
// exhausted memory. Errors start with the path and keep errno's reason, so
// a caller can put its own words before them ("cannot open " + message):
//   NOT_FOUND            "PATH: no such file"          (ENOENT, ENOTDIR)
//   PERMISSION_DENIED    "PATH: Permission denied"     (EACCES, EPERM)
//   INVALID_ARGUMENT     "PATH: is a directory"
//   INVALID_ARGUMENT     "PATH: larger than N bytes"
//   RESOURCE_EXHAUSTED   "PATH: Too many open files"   (EMFILE, ENFILE, ENOMEM)
//   UNAVAILABLE          "PATH: STRERROR" when it cannot be opened for another
//                        reason, "PATH: read error: STRERROR" (EIO, ...)
#ifndef NNSERVE_COMMON_FILE_H_
#define NNSERVE_COMMON_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nn {

// What ReadFile reads at most by default: 1 GiB (the largest IDX data set is
// 47 MB; model files have their own, lower limit).
inline constexpr int64_t kMaxReadFileBytes = int64_t{1} << 30;

// The bytes of the file at `path` (binary; regular files, pipes and
// character devices alike), at most `max_bytes` of them (see above).
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     int64_t max_bytes = kMaxReadFileBytes);

// Writes `bytes` to `path` atomically, replacing any file there: the bytes
// go to a temporary file in the target's directory, named
// ".<name>.<pid>.<counter>.tmp" (it starts with '.' and ends with ".tmp":
// directory pollers ignore such names), which is fsync'ed, renamed over the
// target, and the directory fsync'ed. Readers see the old file or the new
// one, never a mix. Errors (errno's code) name the operation and the path;
// on an error the temporary file is removed.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view bytes);

}  // namespace nn

#endif  // NNSERVE_COMMON_FILE_H_
