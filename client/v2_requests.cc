#include "client/v2_requests.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/data/dataset.h"

namespace nn {
namespace {

constexpr int kSide = 28;

absl::Status Malformed(const std::string& why) {
  return absl::InternalError(absl::StrCat("unexpected ModelInfer reply: ", why));
}

// The elements of a raw BYTES tensor: 4-byte little-endian length + bytes.
absl::StatusOr<std::vector<std::string>> SplitBytes(absl::string_view raw) {
  std::vector<std::string> elements;
  while (!raw.empty()) {
    if (raw.size() < 4) return Malformed("a BYTES element is cut short");
    uint32_t length = 0;
    std::memcpy(&length, raw.data(), 4);  // little-endian hosts only
    raw.remove_prefix(4);
    if (length > raw.size()) return Malformed("a BYTES element is cut short");
    elements.emplace_back(raw.substr(0, length));
    raw.remove_prefix(length);
  }
  return elements;
}

}  // namespace

absl::StatusOr<WireProtocol> ParseWireProtocol(absl::string_view name) {
  if (name == "nnserve.v1") return WireProtocol::kNnserveV1;
  if (name == "v2") return WireProtocol::kV2Grpc;
  if (name == "v2-http") return WireProtocol::kV2Http;
  return absl::InvalidArgumentError(absl::StrCat(
      "--protocol: \"", name, "\" is not one of nnserve.v1, v2, v2-http"));
}

absl::string_view WireProtocolName(WireProtocol protocol) {
  switch (protocol) {
    case WireProtocol::kV2Grpc:
      return "v2";
    case WireProtocol::kV2Http:
      return "v2-http";
    case WireProtocol::kNnserveV1:
      break;
  }
  return "nnserve.v1";
}

inference::ModelInferRequest BuildModelInferRequest(
    absl::Span<const InputImage* const> images, const std::string& model,
    const std::string& version, int classification) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  if (!version.empty()) request.set_model_version(version);
  auto* input = request.add_inputs();
  input->set_name("images");
  input->set_datatype("FP32");
  input->add_shape(static_cast<int64_t>(images.size()));
  input->add_shape(kSide);
  input->add_shape(kSide);
  std::string* raw = request.add_raw_input_contents();
  raw->resize(images.size() * kSide * kSide * sizeof(float));
  char* out = raw->data();
  for (const InputImage* image : images) {
    for (uint8_t pixel : image->image.pixels) {
      const float value = PixelToUnit(pixel);
      std::memcpy(out, &value, sizeof(float));  // little-endian hosts only
      out += sizeof(float);
    }
  }
  if (classification > 0) {
    request.add_outputs()->set_name("class_index");
    auto* probabilities = request.add_outputs();
    probabilities->set_name("probabilities");
    (*probabilities->mutable_parameters())["classification"].set_int64_param(
        classification);
  }
  return request;
}

absl::StatusOr<std::vector<inference::ModelInferRequest>>
BuildModelInferRequests(const std::vector<InputImage>& images,
                        const std::string& model, const std::string& version,
                        int images_per_request, int count) {
  absl::StatusOr<std::vector<std::vector<const InputImage*>>> batches =
      RequestImageBatches(images, images_per_request, count);
  if (!batches.ok()) return batches.status();
  std::vector<inference::ModelInferRequest> requests;
  requests.reserve(batches->size());
  for (const std::vector<const InputImage*>& batch : *batches) {
    requests.push_back(BuildModelInferRequest(batch, model, version, 0));
  }
  return requests;
}

absl::StatusOr<std::vector<nnserve::v1::Prediction>> PredictionsFromModelInfer(
    const inference::ModelInferResponse& response, int64_t images,
    int num_classes, int top_k) {
  if (response.outputs_size() != 2 || response.raw_output_contents_size() != 2 ||
      response.outputs(1).name() != "probabilities") {
    return Malformed("expected class_index and classified probabilities");
  }
  absl::StatusOr<std::vector<std::string>> scores =
      SplitBytes(response.raw_output_contents(1));
  if (!scores.ok()) return scores.status();
  if (static_cast<int64_t>(scores->size()) != images * num_classes) {
    return Malformed(absl::StrCat(scores->size(), " scores for ", images,
                                  " images of ", num_classes, " classes"));
  }
  std::vector<nnserve::v1::Prediction> predictions(images);
  for (int64_t i = 0; i < images; ++i) {
    nnserve::v1::Prediction& p = predictions[i];
    p.mutable_probabilities()->Resize(num_classes, 0.0f);
    for (int k = 0; k < num_classes; ++k) {
      // "<probability>:<index>:<label>", most probable first; the label may
      // hold ':'.
      const std::string& score = (*scores)[i * num_classes + k];
      std::vector<absl::string_view> parts =
          absl::StrSplit(score, absl::MaxSplits(':', 2));
      float probability = 0;
      int index = -1;
      if (parts.size() != 3 || !absl::SimpleAtof(parts[0], &probability) ||
          !absl::SimpleAtoi(parts[1], &index) || index < 0 ||
          index >= num_classes) {
        return Malformed(absl::StrCat("classification \"", score, "\""));
      }
      p.set_probabilities(index, probability);
      if (k == 0) {
        p.set_class_index(index);
        p.set_label(std::string(parts[2]));
        p.set_confidence(probability);
      }
      if (k < top_k) {
        nnserve::v1::ClassScore* s = p.add_top_k();
        s->set_class_index(index);
        s->set_label(std::string(parts[2]));
        s->set_probability(probability);
      }
    }
  }
  return predictions;
}

}  // namespace nn
