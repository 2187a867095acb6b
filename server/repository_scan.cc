#include "server/repository_scan.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace nn {
namespace {

// Lists the entries of `dir` (without "." and ".."), sorted; errno-based
// status.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    std::string message = absl::StrCat(dir, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::vector<std::string> VersionOnDisk::file_names() const {
  std::vector<std::string> names;
  for (const ModelFileOnDisk& file : files) names.push_back(file.name);
  return names;
}

bool IsValidModelName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

bool ParseVersionName(const std::string& name, int64_t* version) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(name, &v) || v <= 0 || name != absl::StrCat(v)) {
    return false;
  }
  *version = v;
  return true;
}

absl::StatusOr<std::vector<int64_t>> ListVersionNumbers(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> entries, ListDir(dir));
  std::vector<int64_t> versions;
  for (const std::string& name : entries) {
    int64_t version = 0;
    if (ParseVersionName(name, &version)) versions.push_back(version);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<ModelOnDisk> ScanModelDirectory(
    const std::string& dir, const std::vector<std::string>& model_file_names) {
  ASSIGN_OR_RETURN(std::vector<std::string> entries, ListDir(dir));
  ModelOnDisk model;
  for (const std::string& name : entries) {
    if (name == kModelConfigFileName) {
      ASSIGN_OR_RETURN(model.config_text,
                       ReadFile(absl::StrCat(dir, "/", name)));
      continue;
    }
    int64_t version = 0;
    if (!ParseVersionName(name, &version)) continue;  // or a temporary entry
    VersionOnDisk on_disk;
    on_disk.dir = absl::StrCat(dir, "/", name);
    for (const std::string& file_name : model_file_names) {
      struct stat st;
      const std::string path = absl::StrCat(on_disk.dir, "/", file_name);
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      on_disk.files.push_back(ModelFileOnDisk{
          file_name, static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
              st.st_mtim.tv_nsec});
    }
    if (on_disk.files.empty()) continue;  // not ready
    std::sort(on_disk.files.begin(), on_disk.files.end(),
              [](const ModelFileOnDisk& a, const ModelFileOnDisk& b) {
                return a.name < b.name;
              });
    model.versions[version] = std::move(on_disk);
  }
  return model;
}

absl::StatusOr<RepositoryOnDisk> ScanRepository(
    const std::string& root, const std::vector<std::string>& model_file_names) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(root));
  RepositoryOnDisk disk;
  for (const std::string& name : names) {
    if (!IsValidModelName(name)) continue;
    const std::string dir = absl::StrCat(root, "/", name);
    if (!IsDirectory(dir)) continue;
    absl::StatusOr<ModelOnDisk> scanned =
        ScanModelDirectory(dir, model_file_names);
    if (!scanned.ok()) {
      NN_LOG(ERROR) << "cannot scan model " << name
                    << " (its loaded versions keep serving): "
                    << scanned.status();
      disk.error = scanned.status();
      disk.unreadable.insert(name);
      continue;
    }
    disk.models[name] = *std::move(scanned);
  }
  return disk;
}

}  // namespace nn
