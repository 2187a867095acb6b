#include "engine/onnx/onnx_import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/model.h"
#include "engine/onnx/onnx_graph.h"
#include "engine/onnx/onnx_labels.h"
#include "engine/onnx/onnx_tensors.h"
#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"

namespace nn {
namespace {

// onnx's exception texts can be long (they quote whole nodes).
std::string Bounded(absl::string_view text) {
  constexpr size_t kMax = 400;
  if (text.size() <= kMax) return std::string(text);
  return absl::StrCat(text.substr(0, kMax), "... (", text.size(), " bytes)");
}

absl::StatusOr<int64_t> DefaultOpset(const onnx::ModelProto& model) {
  int64_t opset = -1;
  for (const onnx::OperatorSetIdProto& id : model.opset_import()) {
    if (id.domain().empty() || id.domain() == "ai.onnx") opset = id.version();
  }
  if (opset < 0) {
    return absl::InvalidArgumentError(
        "the ONNX model imports no opset of the default domain");
  }
  if (opset < kMinOnnxOpset || opset > kMaxOnnxOpset) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ONNX opset ", opset, " is not supported (nnserve reads opsets ",
        kMinOnnxOpset, " to ", kMaxOnnxOpset,
        "; export with e.g. torch.onnx.export(..., opset_version=13))"));
  }
  return opset;
}

// onnx::checker and strict shape inference; both throw on a bad model.
absl::Status CheckWithOnnx(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ONNX model (onnx.checker): ", Bounded(e.what())));
  }
  try {
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(
        inferred, onnx::OpSchemaRegistry::Instance(),
        onnx::ShapeInferenceOptions(/*check_type_val=*/true,
                                    /*strict_mode_val=*/1));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("ONNX shape inference failed: ", Bounded(e.what())));
  }
  return absl::OkStatus();
}

absl::Status ErrnoError(int error, absl::string_view what,
                        const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

}  // namespace

absl::string_view OnnxOutputKindName(OnnxOutputKind kind) {
  switch (kind) {
    case OnnxOutputKind::kProbabilities:
      return "probabilities";
    case OnnxOutputKind::kLogProbabilities:
      return "log-probabilities";
    case OnnxOutputKind::kLogits:
      return "logits";
  }
  return "unknown";
}

absl::StatusOr<ImportedModel> ImportOnnx(absl::string_view bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("not an ONNX model: the file is empty");
  }
  if (static_cast<int64_t>(bytes.size()) > kMaxOnnxFileBytes - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ONNX model is ", bytes.size(), " bytes (at most ",
        kMaxOnnxFileBytes - 1, ")"));
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an ONNX model: ", bytes.size(),
        " bytes that do not parse as an onnx.ModelProto (truncated or "
        "corrupt file?)"));
  }
  if (!model.has_graph() || model.ir_version() <= 0) {
    return absl::InvalidArgumentError(
        "not an ONNX model: no ir_version or no graph (truncated or corrupt "
        "file?)");
  }
  ASSIGN_OR_RETURN(const int64_t opset, DefaultOpset(model));
  // Before onnx's own code reads any tensor: external data and claims
  // larger than the bytes present.
  RETURN_IF_ERROR(onnx_import::CheckTensorClaims(model.graph()));
  if (model.graph().node_size() > kMaxOnnxNodes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the graph has ", model.graph().node_size(), " nodes (at most ",
        kMaxOnnxNodes, ")"));
  }
  RETURN_IF_ERROR(CheckWithOnnx(model));
  ASSIGN_OR_RETURN(onnx_import::MappedGraph mapped,
                   onnx_import::MapGraph(model.graph(), opset));

  ImportedModel imported;
  imported.producer_name = model.producer_name();
  imported.producer_version = model.producer_version();
  imported.opset = opset;
  imported.output = mapped.output;
  imported.softmax_appended = mapped.softmax_appended;
  imported.input_description = mapped.input_description;
  const std::string producer =
      model.producer_name().empty()
          ? std::string("unknown producer")
          : absl::StrCat(onnx_import::PlainOrQuoted(model.producer_name()),
                         model.producer_version().empty() ? "" : " ",
                         model.producer_version().empty()
                             ? ""
                             : onnx_import::PlainOrQuoted(model.producer_version()));
  imported.origin = absl::StrCat("ONNX (", producer, ", opset ", opset, ")");
  nnserve::v1::SavedModel& saved = imported.saved;
  saved.set_format_version(kSavedModelFormatVersion);
  *saved.mutable_spec() = std::move(mapped.spec);
  *saved.mutable_parameters() = std::move(mapped.parameters);
  saved.set_producer(absl::StrCat("onnx import: ", imported.origin));
  // The engine's own validation (shape rules, parameter shapes, NaN/Inf).
  if (absl::StatusOr<std::shared_ptr<const Model>> check =
          Model::FromSavedModel(saved);
      !check.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ONNX graph maps onto layers the engine refuses: ",
        check.status().message()));
  } else {
    onnx_import::MetadataLabels labels =
        onnx_import::ReadMetadataLabels(model, (*check)->num_classes());
    // Exactly one per class: FromSavedModel of the result accepts them.
    for (std::string& label : labels.labels) saved.mutable_spec()->add_labels(std::move(label));
    imported.labels_ignored = std::move(labels.ignored);
  }
  return imported;
}

absl::StatusOr<ImportedModel> ImportOnnxFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open ONNX model", path);
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoError(error, "cannot stat", path);
  }
  if (!S_ISREG(info.st_mode) || info.st_size >= kMaxOnnxFileBytes) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a regular file of less than ", kMaxOnnxFileBytes,
        " bytes"));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      ::close(fd);
      return ErrnoError(error, "cannot read", path);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  absl::StatusOr<ImportedModel> imported = ImportOnnx(bytes);
  if (!imported.ok()) {
    return absl::Status(imported.status().code(),
                        absl::StrCat(path, ": ", imported.status().message()));
  }
  return imported;
}

}  // namespace nn
