// The Open Inference Protocol's wire contract, checked field by field against
// a table written from the specification (the sources are listed in
// proto/inference/open_inference.proto): every message, field name, number,
// type and cardinality, and every method of the service with its message
// types. A renumbered or retyped field breaks compatibility with tritonclient
// and KServe silently; this test makes it loud.
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "inference/model_config.pb.h"
#include "inference/open_inference.grpc.pb.h"
#include "inference/open_inference.pb.h"

namespace nn {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FieldDescriptor;

// How a field is declared in the specification.
enum class Card { kSingle, kRepeated, kMap, kOptional, kOneof };

struct FieldSpec {
  const char* message;  // full name
  const char* field;
  int number;
  FieldDescriptor::Type type;
  Card card;
  // For message, enum and map-value fields: the full type name (map: the
  // value's); empty otherwise.
  const char* type_name = "";
};

constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kUint32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kUint64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kFloat = FieldDescriptor::TYPE_FLOAT;
constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;

const std::vector<FieldSpec>& SpecTable() {
  static const auto* table = new std::vector<FieldSpec>{
      // [OIP] health
      {"inference.ServerLiveResponse", "live", 1, kBool, Card::kSingle},
      {"inference.ServerReadyResponse", "ready", 1, kBool, Card::kSingle},
      {"inference.ModelReadyRequest", "name", 1, kString, Card::kSingle},
      {"inference.ModelReadyRequest", "version", 2, kString, Card::kOptional},
      {"inference.ModelReadyResponse", "ready", 1, kBool, Card::kSingle},
      // [OIP] metadata
      {"inference.ServerMetadataResponse", "name", 1, kString, Card::kSingle},
      {"inference.ServerMetadataResponse", "version", 2, kString,
       Card::kSingle},
      {"inference.ServerMetadataResponse", "extensions", 3, kString,
       Card::kRepeated},
      {"inference.ModelMetadataRequest", "name", 1, kString, Card::kSingle},
      {"inference.ModelMetadataRequest", "version", 2, kString,
       Card::kOptional},
      {"inference.ModelMetadataResponse", "name", 1, kString, Card::kSingle},
      {"inference.ModelMetadataResponse", "versions", 2, kString,
       Card::kRepeated},
      {"inference.ModelMetadataResponse", "platform", 3, kString,
       Card::kSingle},
      {"inference.ModelMetadataResponse", "inputs", 4, kMessage,
       Card::kRepeated, "inference.ModelMetadataResponse.TensorMetadata"},
      {"inference.ModelMetadataResponse", "outputs", 5, kMessage,
       Card::kRepeated, "inference.ModelMetadataResponse.TensorMetadata"},
      {"inference.ModelMetadataResponse", "properties", 6, kMessage,
       Card::kMap, ""},
      {"inference.ModelMetadataResponse.TensorMetadata", "name", 1, kString,
       Card::kSingle},
      {"inference.ModelMetadataResponse.TensorMetadata", "datatype", 2,
       kString, Card::kSingle},
      {"inference.ModelMetadataResponse.TensorMetadata", "shape", 3, kInt64,
       Card::kRepeated},
      // [OIP] parameters and tensor contents
      {"inference.InferParameter", "bool_param", 1, kBool, Card::kOneof},
      {"inference.InferParameter", "int64_param", 2, kInt64, Card::kOneof},
      {"inference.InferParameter", "string_param", 3, kString, Card::kOneof},
      {"inference.InferParameter", "double_param", 4, kDouble, Card::kOneof},
      {"inference.InferParameter", "uint64_param", 5, kUint64, Card::kOneof},
      {"inference.InferTensorContents", "bool_contents", 1, kBool,
       Card::kRepeated},
      {"inference.InferTensorContents", "int_contents", 2, kInt32,
       Card::kRepeated},
      {"inference.InferTensorContents", "int64_contents", 3, kInt64,
       Card::kRepeated},
      {"inference.InferTensorContents", "uint_contents", 4, kUint32,
       Card::kRepeated},
      {"inference.InferTensorContents", "uint64_contents", 5, kUint64,
       Card::kRepeated},
      {"inference.InferTensorContents", "fp32_contents", 6, kFloat,
       Card::kRepeated},
      {"inference.InferTensorContents", "fp64_contents", 7, kDouble,
       Card::kRepeated},
      {"inference.InferTensorContents", "bytes_contents", 8, kBytes,
       Card::kRepeated},
      // [OIP] inference
      {"inference.ModelInferRequest", "model_name", 1, kString, Card::kSingle},
      {"inference.ModelInferRequest", "model_version", 2, kString,
       Card::kOptional},
      {"inference.ModelInferRequest", "id", 3, kString, Card::kSingle},
      {"inference.ModelInferRequest", "parameters", 4, kMessage, Card::kMap,
       "inference.InferParameter"},
      {"inference.ModelInferRequest", "inputs", 5, kMessage, Card::kRepeated,
       "inference.ModelInferRequest.InferInputTensor"},
      {"inference.ModelInferRequest", "outputs", 6, kMessage, Card::kRepeated,
       "inference.ModelInferRequest.InferRequestedOutputTensor"},
      {"inference.ModelInferRequest", "raw_input_contents", 7, kBytes,
       Card::kRepeated},
      {"inference.ModelInferRequest.InferInputTensor", "name", 1, kString,
       Card::kSingle},
      {"inference.ModelInferRequest.InferInputTensor", "datatype", 2, kString,
       Card::kSingle},
      {"inference.ModelInferRequest.InferInputTensor", "shape", 3, kInt64,
       Card::kRepeated},
      {"inference.ModelInferRequest.InferInputTensor", "parameters", 4,
       kMessage, Card::kMap, "inference.InferParameter"},
      {"inference.ModelInferRequest.InferInputTensor", "contents", 5,
       kMessage, Card::kSingle, "inference.InferTensorContents"},
      {"inference.ModelInferRequest.InferRequestedOutputTensor", "name", 1,
       kString, Card::kSingle},
      {"inference.ModelInferRequest.InferRequestedOutputTensor", "parameters",
       2, kMessage, Card::kMap, "inference.InferParameter"},
      {"inference.ModelInferResponse", "model_name", 1, kString,
       Card::kSingle},
      {"inference.ModelInferResponse", "model_version", 2, kString,
       Card::kSingle},
      {"inference.ModelInferResponse", "id", 3, kString, Card::kSingle},
      {"inference.ModelInferResponse", "parameters", 4, kMessage, Card::kMap,
       "inference.InferParameter"},
      {"inference.ModelInferResponse", "outputs", 5, kMessage,
       Card::kRepeated, "inference.ModelInferResponse.InferOutputTensor"},
      {"inference.ModelInferResponse", "raw_output_contents", 6, kBytes,
       Card::kRepeated},
      {"inference.ModelInferResponse.InferOutputTensor", "name", 1, kString,
       Card::kSingle},
      {"inference.ModelInferResponse.InferOutputTensor", "datatype", 2,
       kString, Card::kSingle},
      {"inference.ModelInferResponse.InferOutputTensor", "shape", 3, kInt64,
       Card::kRepeated},
      {"inference.ModelInferResponse.InferOutputTensor", "parameters", 4,
       kMessage, Card::kMap, "inference.InferParameter"},
      {"inference.ModelInferResponse.InferOutputTensor", "contents", 5,
       kMessage, Card::kSingle, "inference.InferTensorContents"},
      // [KSV2] repository index
      {"inference.RepositoryIndexRequest", "repository_name", 1, kString,
       Card::kSingle},
      {"inference.RepositoryIndexRequest", "ready", 2, kBool, Card::kSingle},
      {"inference.RepositoryIndexResponse", "models", 1, kMessage,
       Card::kRepeated, "inference.RepositoryIndexResponse.ModelIndex"},
      {"inference.RepositoryIndexResponse.ModelIndex", "name", 1, kString,
       Card::kSingle},
      {"inference.RepositoryIndexResponse.ModelIndex", "version", 2, kString,
       Card::kSingle},
      {"inference.RepositoryIndexResponse.ModelIndex", "state", 3, kString,
       Card::kSingle},
      {"inference.RepositoryIndexResponse.ModelIndex", "reason", 4, kString,
       Card::kSingle},
      // [TRITON] model configuration
      {"inference.ModelConfigRequest", "name", 1, kString, Card::kSingle},
      {"inference.ModelConfigRequest", "version", 2, kString, Card::kSingle},
      {"inference.ModelConfigResponse", "config", 1, kMessage, Card::kSingle,
       "inference.ModelConfig"},
      {"inference.ModelConfig", "name", 1, kString, Card::kSingle},
      {"inference.ModelConfig", "platform", 2, kString, Card::kSingle},
      {"inference.ModelConfig", "max_batch_size", 4, kInt32, Card::kSingle},
      {"inference.ModelConfig", "input", 5, kMessage, Card::kRepeated,
       "inference.ModelInput"},
      {"inference.ModelConfig", "output", 6, kMessage, Card::kRepeated,
       "inference.ModelOutput"},
      {"inference.ModelConfig", "dynamic_batching", 11, kMessage, Card::kOneof,
       "inference.ModelDynamicBatching"},
      {"inference.ModelConfig", "backend", 17, kString, Card::kSingle},
      {"inference.ModelInput", "name", 1, kString, Card::kSingle},
      {"inference.ModelInput", "data_type", 2, kEnum, Card::kSingle,
       "inference.DataType"},
      {"inference.ModelInput", "format", 3, kEnum, Card::kSingle,
       "inference.ModelInput.Format"},
      {"inference.ModelInput", "dims", 4, kInt64, Card::kRepeated},
      {"inference.ModelOutput", "name", 1, kString, Card::kSingle},
      {"inference.ModelOutput", "data_type", 2, kEnum, Card::kSingle,
       "inference.DataType"},
      {"inference.ModelOutput", "dims", 3, kInt64, Card::kRepeated},
      {"inference.ModelOutput", "label_filename", 4, kString, Card::kSingle},
      {"inference.ModelDynamicBatching", "preferred_batch_size", 1, kInt32,
       Card::kRepeated},
      {"inference.ModelDynamicBatching", "max_queue_delay_microseconds", 2,
       kUint64, Card::kSingle},
      // [TRITON] statistics
      {"inference.ModelStatisticsRequest", "name", 1, kString, Card::kSingle},
      {"inference.ModelStatisticsRequest", "version", 2, kString,
       Card::kSingle},
      {"inference.StatisticDuration", "count", 1, kUint64, Card::kSingle},
      {"inference.StatisticDuration", "ns", 2, kUint64, Card::kSingle},
      {"inference.InferStatistics", "success", 1, kMessage, Card::kSingle,
       "inference.StatisticDuration"},
      {"inference.InferStatistics", "fail", 2, kMessage, Card::kSingle,
       "inference.StatisticDuration"},
      {"inference.InferStatistics", "queue", 3, kMessage, Card::kSingle,
       "inference.StatisticDuration"},
      {"inference.InferStatistics", "compute_input", 4, kMessage,
       Card::kSingle, "inference.StatisticDuration"},
      {"inference.InferStatistics", "compute_infer", 5, kMessage,
       Card::kSingle, "inference.StatisticDuration"},
      {"inference.InferStatistics", "compute_output", 6, kMessage,
       Card::kSingle, "inference.StatisticDuration"},
      {"inference.InferStatistics", "cache_hit", 7, kMessage, Card::kSingle,
       "inference.StatisticDuration"},
      {"inference.InferStatistics", "cache_miss", 8, kMessage, Card::kSingle,
       "inference.StatisticDuration"},
      {"inference.InferBatchStatistics", "batch_size", 1, kUint64,
       Card::kSingle},
      {"inference.InferBatchStatistics", "compute_input", 2, kMessage,
       Card::kSingle, "inference.StatisticDuration"},
      {"inference.InferBatchStatistics", "compute_infer", 3, kMessage,
       Card::kSingle, "inference.StatisticDuration"},
      {"inference.InferBatchStatistics", "compute_output", 4, kMessage,
       Card::kSingle, "inference.StatisticDuration"},
      {"inference.ModelStatistics", "name", 1, kString, Card::kSingle},
      {"inference.ModelStatistics", "version", 2, kString, Card::kSingle},
      {"inference.ModelStatistics", "last_inference", 3, kUint64,
       Card::kSingle},
      {"inference.ModelStatistics", "inference_count", 4, kUint64,
       Card::kSingle},
      {"inference.ModelStatistics", "execution_count", 5, kUint64,
       Card::kSingle},
      {"inference.ModelStatistics", "inference_stats", 6, kMessage,
       Card::kSingle, "inference.InferStatistics"},
      {"inference.ModelStatistics", "batch_stats", 7, kMessage,
       Card::kRepeated, "inference.InferBatchStatistics"},
      {"inference.ModelStatisticsResponse", "model_stats", 1, kMessage,
       Card::kRepeated, "inference.ModelStatistics"},
  };
  return *table;
}

// Messages that the specification defines without fields.
constexpr const char* kEmptyMessages[] = {
    "inference.ServerLiveRequest", "inference.ServerReadyRequest",
    "inference.ServerMetadataRequest"};

const Descriptor* FindMessage(const std::string& name) {
  return DescriptorPool::generated_pool()->FindMessageTypeByName(name);
}

TEST(OpenInferenceProtoTest, EveryFieldHasTheSpecificationsNameNumberAndType) {
  for (const FieldSpec& spec : SpecTable()) {
    SCOPED_TRACE(std::string(spec.message) + "." + spec.field);
    const Descriptor* message = FindMessage(spec.message);
    ASSERT_NE(message, nullptr);
    const FieldDescriptor* field = message->FindFieldByName(spec.field);
    ASSERT_NE(field, nullptr);
    EXPECT_EQ(field->number(), spec.number);
    EXPECT_EQ(field->type(), spec.type);
    switch (spec.card) {
      case Card::kSingle:
        EXPECT_FALSE(field->is_repeated());
        EXPECT_FALSE(field->has_presence() &&
                     field->type() != FieldDescriptor::TYPE_MESSAGE);
        EXPECT_EQ(field->real_containing_oneof(), nullptr);
        break;
      case Card::kRepeated:
        EXPECT_TRUE(field->is_repeated());
        EXPECT_FALSE(field->is_map());
        break;
      case Card::kMap:
        EXPECT_TRUE(field->is_map());
        break;
      case Card::kOptional:
        EXPECT_TRUE(field->has_optional_keyword());
        break;
      case Card::kOneof:
        EXPECT_NE(field->real_containing_oneof(), nullptr);
        break;
    }
    if (spec.card == Card::kMap) {
      const Descriptor* entry = field->message_type();
      EXPECT_EQ(entry->map_key()->type(), kString);
      const FieldDescriptor* value = entry->map_value();
      if (spec.type_name[0] == '\0') {
        EXPECT_EQ(value->type(), kString);
      } else {
        ASSERT_EQ(value->type(), kMessage);
        EXPECT_EQ(value->message_type()->full_name(), spec.type_name);
      }
    } else if (spec.type == kMessage) {
      EXPECT_EQ(field->message_type()->full_name(), spec.type_name);
    } else if (spec.type == kEnum) {
      EXPECT_EQ(field->enum_type()->full_name(), spec.type_name);
    }
  }
}

TEST(OpenInferenceProtoTest, MessagesHaveNoFieldBeyondTheTable) {
  // Every field of every message in the table is in the table: nothing was
  // added that a standard client would not know.
  std::vector<std::string> messages;
  for (const FieldSpec& spec : SpecTable()) {
    if (messages.empty() || messages.back() != spec.message) {
      messages.push_back(spec.message);
    }
  }
  for (const std::string& name : messages) {
    const Descriptor* message = FindMessage(name);
    ASSERT_NE(message, nullptr) << name;
    int listed = 0;
    for (const FieldSpec& spec : SpecTable()) listed += name == spec.message;
    EXPECT_EQ(message->field_count(), listed) << name;
  }
  for (const char* name : kEmptyMessages) {
    const Descriptor* message = FindMessage(name);
    ASSERT_NE(message, nullptr) << name;
    EXPECT_EQ(message->field_count(), 0) << name;
  }
}

TEST(OpenInferenceProtoTest, DataTypeEnumHasTritonsValues) {
  const auto* type = DescriptorPool::generated_pool()->FindEnumTypeByName(
      "inference.DataType");
  ASSERT_NE(type, nullptr);
  const std::vector<std::pair<const char*, int>> values = {
      {"TYPE_INVALID", 0}, {"TYPE_BOOL", 1},   {"TYPE_UINT8", 2},
      {"TYPE_UINT16", 3},  {"TYPE_UINT32", 4}, {"TYPE_UINT64", 5},
      {"TYPE_INT8", 6},    {"TYPE_INT16", 7},  {"TYPE_INT32", 8},
      {"TYPE_INT64", 9},   {"TYPE_FP16", 10},  {"TYPE_FP32", 11},
      {"TYPE_FP64", 12},   {"TYPE_STRING", 13}, {"TYPE_BF16", 14}};
  EXPECT_EQ(type->value_count(), static_cast<int>(values.size()));
  for (const auto& [name, number] : values) {
    const auto* value = type->FindValueByName(name);
    ASSERT_NE(value, nullptr) << name;
    EXPECT_EQ(value->number(), number) << name;
  }
}

TEST(OpenInferenceProtoTest, ServiceHasEveryMethodWithItsMessages) {
  const auto* service =
      DescriptorPool::generated_pool()->FindServiceByName(
          "inference.GRPCInferenceService");
  ASSERT_NE(service, nullptr);
  const std::vector<std::string> methods = {
      "ServerLive",    "ServerReady",     "ModelReady",
      "ServerMetadata", "ModelMetadata",  "ModelInfer",
      "ModelConfig",   "ModelStatistics", "RepositoryIndex"};
  EXPECT_EQ(service->method_count(), static_cast<int>(methods.size()));
  for (const std::string& name : methods) {
    SCOPED_TRACE(name);
    const auto* method = service->FindMethodByName(name);
    ASSERT_NE(method, nullptr);
    EXPECT_EQ(method->input_type()->full_name(),
              "inference." + name + "Request");
    EXPECT_EQ(method->output_type()->full_name(),
              "inference." + name + "Response");
    EXPECT_FALSE(method->client_streaming());
    EXPECT_FALSE(method->server_streaming());
  }
}

TEST(OpenInferenceProtoTest, KnownBytesDecodeAsTheSpecificationsFields) {
  // Bytes written by hand from the field numbers (tag = number << 3 | wire
  // type): model_name (1, len) "m", id (3, len) "7", raw_input_contents
  // (7, len) {0x01}. A client generated from the specification writes the
  // same bytes.
  const std::string wire("\x0a\x01m\x1a\x01" "7\x3a\x01\x01", 9);
  inference::ModelInferRequest request;
  ASSERT_TRUE(request.ParseFromString(wire));
  EXPECT_EQ(request.model_name(), "m");
  EXPECT_EQ(request.id(), "7");
  ASSERT_EQ(request.raw_input_contents_size(), 1);
  EXPECT_EQ(request.raw_input_contents(0), std::string("\x01", 1));
  EXPECT_FALSE(request.has_model_version());
}

}  // namespace
}  // namespace nn
