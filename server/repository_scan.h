// The repository's first part: what is on disk. Reads the directory tree and
// nothing else: no model is parsed, no repository state is read or changed,
// so it is tested on temporary directories alone.
//
//   <root>/<model>/config.textproto        optional; its text, unparsed
//   <root>/<model>/<version>/<model file>  version: a positive integer in
//                                           canonical form ("7", not "07")
//
// Model names are directory names that IsValidModelName accepts; other
// entries are ignored, and so are version directories that are not
// canonical positive integers or hold no model file yet (a model file is a
// regular file with a name in `model_file_names`; writers rename it into
// place, so a half-written file is never seen under that name).
#ifndef NNSERVE_SERVER_REPOSITORY_SCAN_H_
#define NNSERVE_SERVER_REPOSITORY_SCAN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nn {

inline constexpr char kModelConfigFileName[] = "config.textproto";

// One model file as the scan saw it. Size and modification time identify
// the file's content: a failed version is retried only when they change.
struct ModelFileOnDisk {
  std::string name;           // "model.nnm"
  int64_t size = 0;           // bytes
  int64_t mtime_nanos = 0;    // since the Unix epoch
  bool operator==(const ModelFileOnDisk&) const = default;
};

struct VersionOnDisk {
  std::string dir;                     // <root>/<model>/<version>
  std::vector<ModelFileOnDisk> files;  // at least one, sorted by name
  std::vector<std::string> file_names() const;
};

struct ModelOnDisk {
  std::map<int64_t, VersionOnDisk> versions;
  std::optional<std::string> config_text;  // set if config.textproto exists
};

struct RepositoryOnDisk {
  std::map<std::string, ModelOnDisk> models;
  // Model directories that exist but could not be read; their loaded
  // versions keep serving. `error` is the last such failure (OK if none).
  std::set<std::string> unreadable;
  absl::Status error;
};

// Scans one model directory. NOT_FOUND if it does not exist,
// PERMISSION_DENIED if it cannot be read, UNAVAILABLE for other I/O errors
// (the message names the path).
absl::StatusOr<ModelOnDisk> ScanModelDirectory(
    const std::string& dir, const std::vector<std::string>& model_file_names);

// Scans the repository. Fails (as ScanModelDirectory) only if `root` itself
// cannot be listed; an unreadable model directory is reported in the result.
absl::StatusOr<RepositoryOnDisk> ScanRepository(
    const std::string& root, const std::vector<std::string>& model_file_names);

// The entry names of `dir` that are version numbers (canonical positive
// integers), whatever they hold: a publisher takes a number above all of
// them. Errors as ScanModelDirectory.
absl::StatusOr<std::vector<int64_t>> ListVersionNumbers(const std::string& dir);

// True for names the repository accepts as model names: letters, digits,
// '_', '-', '.', at most 128 bytes, not starting with '.'.
bool IsValidModelName(const std::string& name);

// True for a canonical positive integer ("1", "42"; not "0", "07", "+3").
bool ParseVersionName(const std::string& name, int64_t* version);

}  // namespace nn

#endif  // NNSERVE_SERVER_REPOSITORY_SCAN_H_
