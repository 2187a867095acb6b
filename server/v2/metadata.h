// The Open Inference Protocol's metadata, configuration and health answers
// for nnserve's models, and their REST JSON: what the server's V2 adapters
// fill from the model repository without running a model.
//
// Platform: "nnserve_nnm" for a model.nnm version, "nnserve_onnx" for an
// imported model.onnx ("<project>_<format>", the specification's form).
// Inputs and outputs as model_mapping.h advertises them:
//   images         FP32  [-1, H, W]
//   probabilities  FP32  [-1, num_classes]
//   class_index    INT64 [-1, 1]
// ModelConfig (Triton's, for perf_analyzer and tritonclient): the same
// tensors without the batch dimension (dims [H, W], [num_classes], [1]),
// max_batch_size and dynamic_batching from the model's batcher.
//
// Extensions advertised in ServerMetadata (V2Extensions):
// "binary_tensor_data", "classification", "model_configuration", and
// "statistics" only when the caller says ModelStatistics works.
//
// REST JSON (MessageToJson): the gRPC message with its proto field names,
// every integer as a JSON number (shapes and statistics are numbers in the
// specification and in Triton's REST answers, not the strings protobuf's
// own JSON mapping writes for 64-bit integers), enums by name, maps as
// objects, singular fields always written (nested messages too, so
// statistics carry every duration), oneof and proto3-optional fields only
// when set.
#ifndef NNSERVE_SERVER_V2_METADATA_H_
#define NNSERVE_SERVER_V2_METADATA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "inference/model_config.pb.h"
#include "inference/open_inference.pb.h"
#include "server/v2/model_mapping.h"

namespace nn::v2 {

inline constexpr absl::string_view kPlatformNnm = "nnserve_nnm";
inline constexpr absl::string_view kPlatformOnnx = "nnserve_onnx";

// What the server knows about one served model.
struct ModelDescription {
  std::string name;
  // The served versions, as strings, oldest first.
  std::vector<std::string> versions;
  std::string platform = std::string(kPlatformNnm);
  // Its labels are owned by `owner`, which the description keeps alive.
  ModelSignature signature;
  std::shared_ptr<const void> owner;
  // Training provenance and the like (ModelMetadata.properties).
  std::map<std::string, std::string> properties;
  // The batcher's limits.
  int max_batch_size = 0;
  uint64_t max_queue_delay_microseconds = 0;
};

void FillModelMetadata(const ModelDescription& model,
                       inference::ModelMetadataResponse* response);
void FillModelConfig(const ModelDescription& model,
                     inference::ModelConfig* config);

std::vector<std::string> V2Extensions(bool statistics_supported);

// The REST JSON of a V2 message, as described above.
std::string MessageToJson(const google::protobuf::Message& message);

}  // namespace nn::v2

#endif  // NNSERVE_SERVER_V2_METADATA_H_
