#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace nn {
namespace {

absl::Status ErrnoError(int error, absl::string_view what,
                        const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

// Writes all of `bytes` to `fd`, retrying partial writes and EINTR.
absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open directory", dir);
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) return ErrnoError(error, "cannot fsync directory", dir);
  return absl::OkStatus();
}


absl::StatusCode OpenErrorCode(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::StatusCode::kNotFound;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kUnavailable;
  }
}

// Closes the descriptor on every path out of ReadFile.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  const int fd_;
};

absl::Status TooLarge(const std::string& path, int64_t max_bytes) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     int64_t max_bytes) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return absl::Status(OpenErrorCode(error),
                        absl::StrCat(path, ": ", std::strerror(error)));
  }
  struct stat info {};
  const bool known = ::fstat(fd.get(), &info) == 0;
  if (known && S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  }
  std::string bytes;
  if (known && S_ISREG(info.st_mode)) {
    if (info.st_size > max_bytes) return TooLarge(path, max_bytes);
    bytes.reserve(static_cast<size_t>(info.st_size));
  }
  char buffer[64 * 1024];
  while (true) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      if (error == EISDIR) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": is a directory"));
      }
      return absl::UnavailableError(
          absl::StrCat(path, ": read error: ", std::strerror(error)));
    }
    if (got == 0) break;
    // A file that grew past the limit, or a device without an end.
    if (static_cast<int64_t>(bytes.size()) + got > max_bytes) {
      return TooLarge(path, max_bytes);
    }
    bytes.append(buffer, static_cast<size_t>(got));
  }
  return bytes;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view bytes) {
  static std::atomic<uint64_t> counter{0};
  const std::string dir = DirName(path);
  const std::string temp =
      absl::StrCat(dir, "/.", BaseName(path), ".", ::getpid(), ".",
                   counter.fetch_add(1), ".tmp");
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "cannot create", temp);
  absl::Status status = WriteAll(fd, bytes, temp);
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoError(errno, "cannot fsync", temp);
  }
  if (::close(fd) != 0 && status.ok()) {
    status = ErrnoError(errno, "cannot close", temp);
  }
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, "cannot rename the temporary file to", path);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return SyncDirectory(dir);
}

}  // namespace nn
