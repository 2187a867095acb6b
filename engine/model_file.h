// The .nnm model file: a SavedModel protobuf behind a fixed header.
//
// Layout (all integers little-endian), 24 bytes of header then the payload:
//   offset  size  field
//   0       8     magic "NNSMODEL"
//   8       4     format version (kSavedModelFormatVersion, currently 1)
//   12      8     payload length in bytes
//   20      4     CRC-32 (zlib/IEEE) of the payload
//   24      ...   payload: a serialized nnserve.v1.SavedModel
// The file ends right after the payload.
//
// Errors, by kind of damage (each message says what is wrong):
//   NOT_FOUND         the file does not exist
//   INVALID_ARGUMENT  not a model file (bad magic), a format version this
//                     engine does not read, a payload version that disagrees
//                     with the header, or valid bytes with an invalid model
//                     (spec, parameter shapes, NaN/Inf: see
//                     Model::FromSavedModel)
//   DATA_LOSS         damaged bytes: truncated (header or payload shorter
//                     than declared), trailing bytes, checksum mismatch, or a
//                     payload that does not parse
//   other codes       for I/O errors (from errno), e.g. PERMISSION_DENIED
//
// Writing is atomic: the bytes go to a temporary file in the target's
// directory, named ".<name>.<pid>.<counter>.tmp" (it starts with '.' and
// ends with ".tmp": directory pollers must ignore such names), which is
// fsync'ed, renamed over the target, and the directory fsync'ed. Readers see
// the old file or the new one, never a mix.
#ifndef NNSERVE_ENGINE_MODEL_FILE_H_
#define NNSERVE_ENGINE_MODEL_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

inline constexpr absl::string_view kModelFileMagic = "NNSMODEL";
inline constexpr size_t kModelFileHeaderBytes = 24;
// Files larger than this are refused (INVALID_ARGUMENT) before reading.
inline constexpr int64_t kMaxModelFileBytes = int64_t{1} << 31;

// Whether `file_name` (no directory) is a temporary file of WriteModelFile.
bool IsTemporaryModelFileName(absl::string_view file_name);

// The file's bytes for `model`. INVALID_ARGUMENT if its format_version is
// not kSavedModelFormatVersion or it is too large to serialise.
absl::StatusOr<std::string> SerializeModelFile(
    const nnserve::v1::SavedModel& model);

// Writes `model` to `path` atomically (see above), replacing any file there.
// Does not validate the model beyond SerializeModelFile's checks.
absl::Status WriteModelFile(const std::string& path,
                            const nnserve::v1::SavedModel& model);

// Reads and checks the file's framing (header, length, checksum, parse).
// The model itself is validated by Model::FromSavedModel.
absl::StatusOr<nnserve::v1::SavedModel> ReadModelFile(const std::string& path);

// ReadModelFile on bytes already in memory.
absl::StatusOr<nnserve::v1::SavedModel> ParseModelFile(absl::string_view bytes);

// ReadModelFile + Model::FromSavedModel; errors are prefixed with the path.
absl::StatusOr<std::shared_ptr<const Model>> LoadModel(const std::string& path);

}  // namespace nn

#endif  // NNSERVE_ENGINE_MODEL_FILE_H_
