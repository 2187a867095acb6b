// Publication: the repository takes a version number, writes the model file
// atomically and applies that one model (see Publish in model_repository.h).
#include "server/model_repository.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/model_file.h"
#include "common/mutex.h"

namespace nn {
namespace {

// Version numbers tried past the highest one seen before giving up: each
// miss is a directory another process created in between.
constexpr int kReserveAttempts = 64;

}  // namespace

absl::StatusOr<int64_t> ModelRepository::ReserveVersion(
    const std::string& model) {
  MutexLock lock(reserve_mu_);
  const std::string model_dir = absl::StrCat(options_.root, "/", model);
  if (::mkdir(model_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat(
        "publishing a version of ", model, ": cannot create ", model_dir,
        ": ", std::strerror(errno)));
  }
  absl::StatusOr<std::vector<int64_t>> on_disk = ListVersionNumbers(model_dir);
  if (!on_disk.ok()) {
    return absl::Status(on_disk.status().code(),
                        absl::StrCat("publishing a version of ", model, ": ",
                                     on_disk.status().message()));
  }
  int64_t version = HighestVersion(model);
  if (!on_disk->empty()) version = std::max(version, on_disk->back());
  for (int attempt = 0; attempt < kReserveAttempts; ++attempt) {
    ++version;
    const std::string dir = absl::StrCat(model_dir, "/", version);
    if (::mkdir(dir.c_str(), 0755) == 0) return version;
    if (errno != EEXIST) {
      return absl::UnavailableError(absl::StrCat(
          "publishing version ", version, ": cannot create ", dir, ": ",
          std::strerror(errno)));
    }
  }
  return absl::UnavailableError(absl::StrCat(
      "publishing a version of ", model, ": ", kReserveAttempts,
      " version numbers in a row were taken by other writers"));
}

absl::StatusOr<ModelRepository::PublishedVersion> ModelRepository::Publish(
    const std::string& model, const nnserve::v1::SavedModel& saved) {
  RETURN_IF_ERROR(ValidateModelName(model));
  if (stopping()) return absl::UnavailableError("repository is shut down");
  ASSIGN_OR_RETURN(const int64_t version, ReserveVersion(model));
  const std::string model_dir = absl::StrCat(options_.root, "/", model);
  const std::string version_dir = absl::StrCat(model_dir, "/", version);
  const std::string path =
      absl::StrCat(version_dir, "/", kNativeModelFileName);
  if (absl::Status written = WriteModelFile(path, saved); !written.ok()) {
    ::rmdir(version_dir.c_str());  // only if empty: never removes a model
    return absl::Status(written.code(),
                        absl::StrCat("publishing version ", version, " to ",
                                     path, ": ", written.message()));
  }
  NN_LOG(INFO) << "published " << model << " version " << version << " to "
               << path;

  // Load it now rather than at the next poll; only this model's directory.
  {
    MutexLock poll_lock(poll_mu_);
    if (stopping()) {
      return absl::UnavailableError(absl::StrCat(
          "version ", version, " was written to ", path,
          " but the repository is shutting down"));
    }
    absl::StatusOr<ModelOnDisk> disk =
        ScanModelDirectory(model_dir, options_.loaders.file_names());
    if (!disk.ok()) {
      return absl::Status(
          disk.status().code(),
          absl::StrCat("version ", version, " was written to ", path,
                       " but its model directory cannot be read: ",
                       disk.status().message()));
    }
    // A config error concerns the model, not this version (logged; the
    // previous config is kept, and the next poll reports it).
    (void)ApplyModel(model, *disk);
    ReapRetired(absl::ZeroDuration());
  }

  ReaderLock lock(mu_);
  auto entry = models_.find(model);  // gone if Shutdown ran meanwhile
  if (entry != models_.end()) {
    auto it = entry->second.versions.find(version);
    if (it != entry->second.versions.end() &&
        it->second.info.state() == nnserve::v1::VERSION_STATE_FAILED) {
      return absl::InternalError(absl::StrCat(
          "version ", version, " was written to ", path,
          " but failed to load: ", it->second.info.error()));
    }
  }
  return PublishedVersion{version, path};
}

}  // namespace nn
