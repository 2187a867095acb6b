#include "engine/data/idx.h"

#include <zlib.h>

#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"

namespace nn {
namespace {

constexpr uint8_t kTypeUnsignedByte = 0x08;
constexpr int kMaxRank = 4;
// Largest file we accept after decompression; MNIST-style sets are ~50 MB.
constexpr size_t kMaxBytes = size_t{1} << 31;

uint32_t ReadBigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

absl::StatusOr<std::string> Gunzip(const std::string& compressed,
                                   const std::string& path) {
  z_stream stream;
  std::memset(&stream, 0, sizeof(stream));
  // 16 + MAX_WBITS: expect a gzip wrapper.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("zlib inflateInit2 failed");
  }
  std::string out;
  stream.next_in =
      reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  char buffer[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&stream);
      return absl::DataLossError(
          absl::StrCat(path, ": corrupt gzip data (zlib error ", rc, ")"));
    }
    out.append(buffer, sizeof(buffer) - stream.avail_out);
    if (out.size() > kMaxBytes) {
      inflateEnd(&stream);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": decompresses to more than ", kMaxBytes,
                       " bytes"));
    }
    if (rc == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
      inflateEnd(&stream);
      return absl::DataLossError(
          absl::StrCat(path, ": truncated gzip data"));
    }
  }
  inflateEnd(&stream);
  return out;
}

}  // namespace

absl::StatusOr<IdxArray> ParseIdx(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4 || p[0] != 0 || p[1] != 0) {
    return absl::InvalidArgumentError(
        "not an IDX file: expected magic bytes 00 00 <type> <rank>");
  }
  if (p[2] != kTypeUnsignedByte) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported IDX element type 0x", absl::Hex(p[2]),
        "; only unsigned bytes (0x08) are supported"));
  }
  const int rank = p[3];
  if (rank < 1 || rank > kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported IDX rank ", rank, "; expected 1 to ",
                     kMaxRank));
  }
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header) {
    return absl::DataLossError("truncated IDX header");
  }
  IdxArray array;
  uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const uint32_t dim = ReadBigEndian32(p + 4 + 4 * i);
    array.dims.push_back(dim);
    count *= dim;
    if (count > kMaxBytes) {
      return absl::InvalidArgumentError("IDX dimensions are implausibly large");
    }
  }
  const uint64_t payload = bytes.size() - header;
  if (payload != count) {
    return absl::DataLossError(absl::StrCat(
        "IDX size mismatch: dimensions need ", count, " bytes, file has ",
        payload, payload < count ? " (truncated)" : " (trailing bytes)"));
  }
  array.data.assign(p + header, p + header + count);
  return array;
}

absl::StatusOr<std::string> ReadMaybeGzipFile(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) return content;
  const absl::string_view bytes = *content;
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
      static_cast<unsigned char>(bytes[1]) == 0x8b) {
    return Gunzip(*content, path);
  }
  return content;
}

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path) {
  absl::StatusOr<std::string> content = ReadMaybeGzipFile(path);
  if (!content.ok()) return content.status();
  absl::StatusOr<IdxArray> array = ParseIdx(*content);
  if (!array.ok()) {
    return absl::Status(array.status().code(),
                        absl::StrCat(path, ": ", array.status().message()));
  }
  return array;
}

std::string SerializeIdx(const IdxArray& array) {
  std::string out;
  out.push_back(0);
  out.push_back(0);
  out.push_back(static_cast<char>(kTypeUnsignedByte));
  out.push_back(static_cast<char>(array.dims.size()));
  for (int64_t dim : array.dims) {
    const auto d = static_cast<uint32_t>(dim);
    out.push_back(static_cast<char>(d >> 24));
    out.push_back(static_cast<char>(d >> 16));
    out.push_back(static_cast<char>(d >> 8));
    out.push_back(static_cast<char>(d));
  }
  out.append(reinterpret_cast<const char*>(array.data.data()),
             array.data.size());
  return out;
}

}  // namespace nn
