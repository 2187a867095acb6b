// nnctl export: a served model version as a model file of another format
// (ExportModel), written atomically to --out.
//
//   nnctl export --model=mnist_cnn [--version=N] --format=onnx --out=cnn.onnx
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/nnctl/command.h"
#include "common/file.h"

ABSL_FLAG(std::string, format, "onnx",
          "Export format: onnx (an ONNX model, opset 13).");
ABSL_FLAG(std::string, out, "",
          "File to write (atomically: a temporary file renamed over it).");

namespace nn::nnctl {
namespace {

namespace v1 = ::nnserve::v1;

int RunExport(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("export takes no arguments");
  v1::ExportModelRequest request;
  request.set_model(absl::GetFlag(FLAGS_model));
  request.set_version(absl::GetFlag(FLAGS_version));
  if (request.model().empty()) return UsageError("export needs --model=NAME");
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return UsageError("export needs --out=FILE");
  const std::string format = absl::AsciiStrToLower(absl::GetFlag(FLAGS_format));
  if (format != "onnx") {
    return UsageError(absl::StrCat("--format=", absl::GetFlag(FLAGS_format),
                                   ": the export formats are: onnx"));
  }
  request.set_format(v1::EXPORT_FORMAT_ONNX);
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  absl::StatusOr<v1::ExportModelResponse> response =
      (*client)->ExportModel(request);
  if (!response.ok()) return Fail(kExitRpcError, response.status());
  if (absl::Status written = WriteFileAtomically(out, response->data());
      !written.ok()) {
    return Fail(kExitLocalError, written);
  }
  std::cout << "exported " << response->model() << " version "
            << response->version() << " as ONNX to " << out << " ("
            << response->data().size() << " bytes)\n";
  return kExitOk;
}

}  // namespace

Command ExportCommand() {
  return {
      {"export", "--model=NAME [--version=N] --format=onnx --out=FILE",
       "export a served model as ONNX",
       "Writes the version (default: the newest available) as an ONNX model\n"
       "(opset 13; input \"input\" [N,H,W] floats in [0,1], output\n"
       "\"probabilities\" [N,classes]; labels in metadata_props) that ONNX\n"
       "Runtime runs with nnserve's outputs. The file is written atomically.\n",
       {"model", "version", "format", "out"}},
      &RunExport};
}

}  // namespace nn::nnctl
