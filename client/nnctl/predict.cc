// nnctl predict: classifies image files (PNG, PGM, IDX) in batches of
// --batch images per Predict.
#include <algorithm>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/format.h"
#include "client/image_input.h"
#include "client/nnctl/command.h"

ABSL_FLAG(int64_t, index, -1,
          "IDX files: classify only image INDEX (0-based), or --limit images "
          "from it.");
ABSL_FLAG(int64_t, limit, -1, "IDX files: classify at most this many images.");
ABSL_FLAG(int32_t, top_k, 0,
          "Also print the k most probable classes of each image.");
ABSL_FLAG(int32_t, batch, 32, "Images per Predict request.");

namespace nn::nnctl {
namespace {

namespace v1 = ::nnserve::v1;

int RunPredict(const ParsedCommandLine& cl) {
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) return UsageError("predict needs --model=NAME");
  if (cl.args.empty()) return UsageError("predict needs at least one FILE");
  const int batch = absl::GetFlag(FLAGS_batch);
  if (batch < 1) return UsageError("--batch must be at least 1");
  if (absl::GetFlag(FLAGS_top_k) < 0) {
    return UsageError("--top_k must not be negative");
  }
  absl::StatusOr<ImageEncoding> encoding =
      ParseImageEncoding(absl::GetFlag(FLAGS_encoding));
  if (!encoding.ok()) return Fail(kExitUsage, encoding.status());

  std::vector<InputImage> images;
  const IdxSelection selection{absl::GetFlag(FLAGS_index),
                               absl::GetFlag(FLAGS_limit)};
  for (const std::string& path : cl.args) {
    absl::StatusOr<std::vector<InputImage>> read =
        ReadImageFile(path, selection);
    if (!read.ok()) return Fail(kExitLocalError, read.status());
    for (InputImage& image : *read) images.push_back(std::move(image));
  }
  if (images.empty()) {
    return Fail(kExitLocalError,
                absl::InvalidArgumentError("the files hold no images"));
  }

  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());

  std::vector<v1::Prediction> predictions;
  predictions.reserve(images.size());
  std::vector<int64_t> versions;
  for (size_t first = 0; first < images.size(); first += batch) {
    const size_t end = std::min(images.size(), first + batch);
    std::vector<const InputImage*> chunk;
    for (size_t i = first; i < end; ++i) chunk.push_back(&images[i]);
    v1::PredictRequest request;
    request.set_model(model);
    request.set_version(absl::GetFlag(FLAGS_version));
    request.set_top_k(absl::GetFlag(FLAGS_top_k));
    absl::StatusOr<v1::Images> encoded = EncodeImages(chunk, *encoding);
    if (!encoded.ok()) return Fail(kExitLocalError, encoded.status());
    *request.mutable_images() = *std::move(encoded);
    absl::StatusOr<v1::PredictResponse> response = (*client)->Predict(request);
    if (!response.ok()) return Fail(kExitRpcError, response.status());
    if (response->predictions_size() != static_cast<int>(chunk.size())) {
      return Fail(kExitRpcError,
                  absl::InternalError(absl::StrCat(
                      "the server returned ", response->predictions_size(),
                      " predictions for ", chunk.size(), " images")));
    }
    if (std::find(versions.begin(), versions.end(), response->version()) ==
        versions.end()) {
      versions.push_back(response->version());
    }
    for (v1::Prediction& p : *response->mutable_predictions()) {
      predictions.push_back(std::move(p));
    }
  }
  std::vector<PredictedImage> results;
  for (size_t i = 0; i < images.size(); ++i) {
    results.push_back({&images[i], &predictions[i]});
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << FormatPredictionsJson(results, model, versions) << "\n";
  } else {
    std::cout << FormatPredictionsText(results, model, versions);
  }
  return kExitOk;
}

}  // namespace

Command PredictCommand() {
  return {
      {"predict", "--model=NAME [flags] FILE...",
       "classify PNG, PGM or IDX images",
       "Prints one line per image: source, class, label, confidence. Files\n"
       "are recognised by content. For an IDX file X-images-idx3-ubyte[.gz]\n"
       "whose sibling X-labels-idx1-ubyte[.gz] exists, each line shows the\n"
       "expected class and the summary line the accuracy.\n",
       {"model", "version", "index", "limit", "encoding", "top_k", "json",
        "batch"}},
      &RunPredict};
}

}  // namespace nn::nnctl
