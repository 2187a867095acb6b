#include "server/v2/metadata.h"

#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace nn::v2 {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void AddTensor(absl::string_view name, DataType type,
               std::vector<int64_t> shape,
               inference::ModelMetadataResponse::TensorMetadata* tensor) {
  tensor->set_name(std::string(name));
  tensor->set_datatype(std::string(DataTypeName(type)));
  for (int64_t d : shape) tensor->add_shape(d);
}

void WriteString(const std::string& s, JsonWriter* w) {
  w->String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteMessage(const Message& message, JsonWriter* w);

// One element of `field` (index < 0: the singular value).
void WriteValue(const Message& m, const FieldDescriptor* f, int index,
                JsonWriter* w) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      w->Int(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      w->Int64(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      w->Uint(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      w->Uint64(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      w->Double(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      w->Double(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      w->Bool(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      WriteString((rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))
                      ->name(),
                  w);
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      WriteString(rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f),
                  w);
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteMessage(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f),
                   w);
      break;
  }
}

void WriteMessage(const Message& m, JsonWriter* w) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  w->StartObject();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if ((f->containing_oneof() != nullptr) && !r->HasField(m, f)) continue;
    w->Key(f->name().c_str());
    if (f->is_map()) {
      // Map entries: key field 1, value field 2 (keys are strings here).
      w->StartObject();
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        const Message& entry = r->GetRepeatedMessage(m, f, j);
        const FieldDescriptor* key = entry.GetDescriptor()->map_key();
        WriteString(entry.GetReflection()->GetString(entry, key), w);
        WriteValue(entry, entry.GetDescriptor()->map_value(), -1, w);
      }
      w->EndObject();
    } else if (f->is_repeated()) {
      w->StartArray();
      for (int j = 0; j < r->FieldSize(m, f); ++j) WriteValue(m, f, j, w);
      w->EndArray();
    } else {
      WriteValue(m, f, -1, w);
    }
  }
  w->EndObject();
}

}  // namespace

void FillModelMetadata(const ModelDescription& model,
                       inference::ModelMetadataResponse* response) {
  response->Clear();
  response->set_name(model.name);
  for (const std::string& v : model.versions) response->add_versions(v);
  response->set_platform(model.platform);
  const ModelSignature& s = model.signature;
  AddTensor(kInputName, DataType::kFp32, {-1, s.height, s.width},
            response->add_inputs());
  AddTensor(kProbabilitiesName, DataType::kFp32,
            {-1, static_cast<int64_t>(s.labels.size())},
            response->add_outputs());
  AddTensor(kClassIndexName, DataType::kInt64, {-1, 1},
            response->add_outputs());
  for (const auto& [key, value] : model.properties) {
    (*response->mutable_properties())[key] = value;
  }
}

void FillModelConfig(const ModelDescription& model,
                     inference::ModelConfig* config) {
  config->Clear();
  config->set_name(model.name);
  config->set_platform(model.platform);
  config->set_backend("nnserve");
  config->set_max_batch_size(model.max_batch_size);
  inference::ModelInput* input = config->add_input();
  input->set_name(std::string(kInputName));
  input->set_data_type(inference::TYPE_FP32);
  input->set_format(inference::ModelInput::FORMAT_NONE);
  input->add_dims(model.signature.height);
  input->add_dims(model.signature.width);
  inference::ModelOutput* probabilities = config->add_output();
  probabilities->set_name(std::string(kProbabilitiesName));
  probabilities->set_data_type(inference::TYPE_FP32);
  probabilities->add_dims(static_cast<int64_t>(model.signature.labels.size()));
  inference::ModelOutput* class_index = config->add_output();
  class_index->set_name(std::string(kClassIndexName));
  class_index->set_data_type(inference::TYPE_INT64);
  class_index->add_dims(1);
  inference::ModelDynamicBatching* batching = config->mutable_dynamic_batching();
  batching->set_max_queue_delay_microseconds(model.max_queue_delay_microseconds);
}

std::vector<std::string> V2Extensions(bool statistics_supported) {
  std::vector<std::string> extensions = {"binary_tensor_data", "classification",
                                         "model_configuration"};
  if (statistics_supported) extensions.push_back("statistics");
  return extensions;
}

std::string MessageToJson(const Message& message) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  WriteMessage(message, &w);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace nn::v2
