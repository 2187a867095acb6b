#include "engine/model_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"

namespace nn {
namespace {

// Little-endian integers of the header, independent of the host's order.
uint64_t LoadLittleEndian(const char* bytes, int size) {
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

void StoreLittleEndian(uint64_t value, int size, char* bytes) {
  for (int i = 0; i < size; ++i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

uint32_t Crc32(absl::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes at most 4 GiB a call; payloads are below 2 GiB.
  crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()),
              static_cast<uInt>(bytes.size()));
  return static_cast<uint32_t>(crc);
}

absl::Status ErrnoError(int error, absl::string_view what,
                        const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

}  // namespace

bool IsTemporaryModelFileName(absl::string_view file_name) {
  return absl::StartsWith(file_name, ".") || absl::EndsWith(file_name, ".tmp");
}

absl::StatusOr<std::string> SerializeModelFile(
    const nnserve::v1::SavedModel& model) {
  if (model.format_version() != kSavedModelFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SavedModel format_version is ", model.format_version(),
        "; this engine writes version ", kSavedModelFormatVersion));
  }
  const size_t payload_bytes = model.ByteSizeLong();
  if (payload_bytes + kModelFileHeaderBytes >
      static_cast<size_t>(kMaxModelFileBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model of ", payload_bytes, " bytes is too large"));
  }
  std::string bytes(kModelFileHeaderBytes, '\0');
  if (!model.AppendToString(&bytes)) {
    return absl::InternalError("cannot serialize the SavedModel");
  }
  const absl::string_view payload =
      absl::string_view(bytes).substr(kModelFileHeaderBytes);
  char* header = bytes.data();
  std::memcpy(header, kModelFileMagic.data(), kModelFileMagic.size());
  StoreLittleEndian(kSavedModelFormatVersion, 4, header + 8);
  StoreLittleEndian(payload.size(), 8, header + 12);
  StoreLittleEndian(Crc32(payload), 4, header + 20);
  return bytes;
}

absl::StatusOr<nnserve::v1::SavedModel> ParseModelFile(absl::string_view bytes) {
  const size_t magic_bytes = std::min(bytes.size(), kModelFileMagic.size());
  if (bytes.substr(0, magic_bytes) != kModelFileMagic.substr(0, magic_bytes)) {
    return absl::InvalidArgumentError(
        "not an nnserve model file: bad magic (expected \"NNSMODEL\")");
  }
  if (bytes.size() < kModelFileHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("truncated model file: ", bytes.size(),
                     " bytes, shorter than the ", kModelFileHeaderBytes,
                     "-byte header"));
  }
  const uint64_t version = LoadLittleEndian(bytes.data() + 8, 4);
  if (version != kSavedModelFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported model file format version ", version,
        " (this engine reads version ", kSavedModelFormatVersion, ")"));
  }
  const uint64_t length = LoadLittleEndian(bytes.data() + 12, 8);
  const uint64_t crc = LoadLittleEndian(bytes.data() + 20, 4);
  const absl::string_view payload = bytes.substr(kModelFileHeaderBytes);
  if (length > payload.size()) {
    return absl::DataLossError(absl::StrCat(
        "truncated model file: the header declares ", length,
        " payload bytes, the file has ", payload.size()));
  }
  if (length < payload.size()) {
    return absl::DataLossError(
        absl::StrCat("damaged model file: ", payload.size() - length,
                     " bytes after the declared payload of ", length));
  }
  if (const uint64_t actual = Crc32(payload); actual != crc) {
    return absl::DataLossError(absl::StrCat(
        "damaged model file: payload checksum mismatch (header CRC-32 ",
        absl::Hex(crc), ", payload ", absl::Hex(actual), ")"));
  }
  nnserve::v1::SavedModel model;
  if (!model.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(
        "damaged model file: the payload is not a valid SavedModel");
  }
  if (model.format_version() != version) {
    return absl::InvalidArgumentError(
        absl::StrCat("the payload's format_version ", model.format_version(),
                     " disagrees with the header's ", version));
  }
  return model;
}

absl::Status WriteModelFile(const std::string& path,
                            const nnserve::v1::SavedModel& model) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeModelFile(model));
  return WriteFileAtomically(path, bytes);
}

absl::StatusOr<nnserve::v1::SavedModel> ReadModelFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open model file", path);
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoError(error, "cannot stat", path);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  if (info.st_size > kMaxModelFileBytes) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, " has ", info.st_size, " bytes; model files are at most ",
        kMaxModelFileBytes));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return ErrnoError(error, "cannot read", path);
    }
    if (got == 0) break;  // shrank while reading: the parser reports it
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  bytes.resize(done);
  absl::StatusOr<nnserve::v1::SavedModel> model = ParseModelFile(bytes);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat(path, ": ", model.status().message()));
  }
  return model;
}

absl::StatusOr<std::shared_ptr<const Model>> LoadModel(const std::string& path) {
  ASSIGN_OR_RETURN(nnserve::v1::SavedModel saved, ReadModelFile(path));
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(std::move(saved));
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat(path, ": ", model.status().message()));
  }
  return model;
}

}  // namespace nn
