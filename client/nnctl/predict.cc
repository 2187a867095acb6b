// nnctl predict: classifies image files (PNG, PGM, IDX) in batches of
// --batch images per Predict.
#include <algorithm>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
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

// One batch through the chosen wire: its Predictions (one per image) and the
// version that answered.
struct BatchAnswer {
  std::vector<v1::Prediction> predictions;
  int64_t version = 0;
};

absl::StatusOr<BatchAnswer> PredictV1(Client& client, const std::string& model,
                                      v1::Images images) {
  v1::PredictRequest request;
  request.set_model(model);
  request.set_version(absl::GetFlag(FLAGS_version));
  request.set_top_k(absl::GetFlag(FLAGS_top_k));
  *request.mutable_images() = std::move(images);
  absl::StatusOr<v1::PredictResponse> response = client.Predict(request);
  if (!response.ok()) return response.status();
  BatchAnswer answer;
  answer.version = response->version();
  for (v1::Prediction& p : *response->mutable_predictions()) {
    answer.predictions.push_back(std::move(p));
  }
  return answer;
}

// ModelInfer with raw FP32 images, every class through the classification
// extension (so the labels come back), read back as Predictions.
absl::StatusOr<BatchAnswer> PredictV2(Client& client, const std::string& model,
                                      const std::vector<const InputImage*>& chunk,
                                      int num_classes) {
  absl::StatusOr<inference::ModelInferResponse> response = client.ModelInfer(
      BuildModelInferRequest(chunk, model, V2Version(), num_classes));
  if (!response.ok()) return response.status();
  BatchAnswer answer;
  if (!absl::SimpleAtoi(response->model_version(), &answer.version)) {
    return absl::InternalError(absl::StrCat(
        "the server named version \"", response->model_version(), "\""));
  }
  absl::StatusOr<std::vector<v1::Prediction>> predictions =
      PredictionsFromModelInfer(*response, static_cast<int64_t>(chunk.size()),
                                num_classes, absl::GetFlag(FLAGS_top_k));
  if (!predictions.ok()) return predictions.status();
  answer.predictions = *std::move(predictions);
  return answer;
}

// The class count a V2 model advertises (output "probabilities" [-1, C]).
absl::StatusOr<int> V2NumClasses(Client& client, const std::string& model) {
  absl::StatusOr<inference::ModelMetadataResponse> metadata =
      client.ModelMetadata(model, V2Version());
  if (!metadata.ok()) return metadata.status();
  for (const auto& output : metadata->outputs()) {
    if (output.name() == "probabilities" && output.shape_size() == 2 &&
        output.shape(1) > 0 && output.shape(1) <= 1 << 20) {
      return static_cast<int>(output.shape(1));
    }
  }
  return absl::InternalError("the model advertises no probabilities [-1, C]");
}

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
  absl::StatusOr<WireProtocol> protocol = GetWireProtocol();
  if (!protocol.ok()) return Fail(kExitUsage, protocol.status());
  if (*protocol == WireProtocol::kV2Http) {
    return UsageError(
        "predict speaks --protocol=nnserve.v1 or v2; v2-http is bench's");
  }

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

  int num_classes = 0;
  if (*protocol == WireProtocol::kV2Grpc) {
    for (const InputImage& image : images) {
      if (image.image.height != 28 || image.image.width != 28) {
        return Fail(kExitLocalError,
                    absl::InvalidArgumentError(absl::StrCat(
                        image.source, ": --protocol=v2 sends 28x28 images, "
                        "this one is ", image.image.width, "x",
                        image.image.height)));
      }
    }
    absl::StatusOr<int> classes = V2NumClasses(**client, model);
    if (!classes.ok()) return Fail(kExitRpcError, classes.status());
    num_classes = *classes;
  }

  std::vector<v1::Prediction> predictions;
  predictions.reserve(images.size());
  std::vector<int64_t> versions;
  for (size_t first = 0; first < images.size(); first += batch) {
    const size_t end = std::min(images.size(), first + batch);
    std::vector<const InputImage*> chunk;
    for (size_t i = first; i < end; ++i) chunk.push_back(&images[i]);
    absl::StatusOr<BatchAnswer> answer = absl::UnknownError("no answer");
    if (*protocol == WireProtocol::kV2Grpc) {
      answer = PredictV2(**client, model, chunk, num_classes);
    } else {
      absl::StatusOr<v1::Images> encoded = EncodeImages(chunk, *encoding);
      if (!encoded.ok()) return Fail(kExitLocalError, encoded.status());
      answer = PredictV1(**client, model, *std::move(encoded));
    }
    if (!answer.ok()) return Fail(kExitRpcError, answer.status());
    if (answer->predictions.size() != chunk.size()) {
      return Fail(kExitRpcError,
                  absl::InternalError(absl::StrCat(
                      "the server returned ", answer->predictions.size(),
                      " predictions for ", chunk.size(), " images")));
    }
    if (std::find(versions.begin(), versions.end(), answer->version) ==
        versions.end()) {
      versions.push_back(answer->version);
    }
    for (v1::Prediction& p : answer->predictions) {
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
       "expected class and the summary line the accuracy.\n"
       "--protocol=v2 sends the Open Inference Protocol's ModelInfer (raw\n"
       "FP32 [N,28,28]; labels through the classification extension).\n",
       {"model", "version", "index", "limit", "encoding", "top_k", "json",
        "batch", "protocol"}},
      &RunPredict};
}

}  // namespace nn::nnctl
