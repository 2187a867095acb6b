#include "server/v2/grpc_codec.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "common/status_macros.h"

namespace nn::v2 {
namespace {

using ::inference::InferParameter;
using ::inference::InferTensorContents;
using ::inference::ModelInferRequest;
using ::inference::ModelInferResponse;

// Points `in` at the one typed field of `contents` that holds elements.
absl::Status ViewTypedContents(const InferTensorContents& c, InputTensor* in) {
  std::vector<absl::string_view> set;
  const auto note = [&set](int size, absl::string_view field) {
    if (size > 0) set.push_back(field);
  };
  note(c.bool_contents_size(), "contents.bool_contents");
  note(c.int_contents_size(), "contents.int_contents");
  note(c.int64_contents_size(), "contents.int64_contents");
  note(c.uint_contents_size(), "contents.uint_contents");
  note(c.uint64_contents_size(), "contents.uint64_contents");
  note(c.fp32_contents_size(), "contents.fp32_contents");
  note(c.fp64_contents_size(), "contents.fp64_contents");
  note(c.bytes_contents_size(), "contents.bytes_contents");
  if (set.empty()) return absl::OkStatus();  // kNone
  if (set.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("input ", Quote(in->name), ": sets ",
                     absl::StrJoin(set, " and "), "; send one field"));
  }
  in->source = set[0];
  if (c.fp32_contents_size() > 0) {
    in->contents = InputTensor::Contents::kFp32;
    in->fp32 = absl::MakeConstSpan(c.fp32_contents().data(),
                                   c.fp32_contents_size());
  } else if (c.uint_contents_size() > 0) {
    in->contents = InputTensor::Contents::kUint;
    in->uints = absl::MakeConstSpan(c.uint_contents().data(),
                                    c.uint_contents_size());
  } else if (c.bytes_contents_size() > 0) {
    in->contents = InputTensor::Contents::kBytes;
    in->bytes.reserve(c.bytes_contents_size());
    for (const std::string& b : c.bytes_contents()) in->bytes.push_back(b);
  } else {
    in->contents = InputTensor::Contents::kOther;
    in->other = std::string(set[0]);
  }
  return absl::OkStatus();
}

bool HasElements(const InferTensorContents& c) {
  return c.bool_contents_size() + c.int_contents_size() +
             c.int64_contents_size() + c.uint_contents_size() +
             c.uint64_contents_size() + c.fp32_contents_size() +
             c.fp64_contents_size() + c.bytes_contents_size() >
         0;
}

absl::StatusOr<std::optional<int64_t>> ClassificationParameter(
    const ModelInferRequest::InferRequestedOutputTensor& output) {
  if (output.parameters().empty()) return std::optional<int64_t>();
  static const std::string* const kKey =
      new std::string(kClassificationParameter);
  const auto it = output.parameters().find(*kKey);
  if (it == output.parameters().end()) return std::optional<int64_t>();
  const InferParameter& p = it->second;
  if (p.has_int64_param()) return std::optional<int64_t>(p.int64_param());
  if (p.has_uint64_param()) {
    // Larger than any class count either way; keep it out of int64's sign.
    return std::optional<int64_t>(
        static_cast<int64_t>(std::min<uint64_t>(p.uint64_param(), INT64_MAX)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "output ", Quote(output.name()), ": parameter '",
      kClassificationParameter, "' must be an int64_param (the count k)"));
}

}  // namespace

absl::StatusOr<DecodedRequest> DecodeGrpcInferRequest(
    const ModelInferRequest& request, const ModelSignature& signature,
    const CodecLimits& limits) {
  if (request.inputs_size() != 1) {
    std::vector<std::string> names;
    for (const auto& input : request.inputs()) names.push_back(input.name());
    return WrongInputCountError(names);
  }
  const int raw_count = request.raw_input_contents_size();
  if (raw_count > request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw_input_contents has ", raw_count, " entries for ",
        request.inputs_size(), " input(s); send one per input"));
  }
  const ModelInferRequest::InferInputTensor& tensor = request.inputs(0);
  InputTensor in;
  in.name = tensor.name();
  in.datatype = tensor.datatype();
  in.shape.assign(tensor.shape().begin(), tensor.shape().end());
  if (raw_count > 0) {
    if (HasElements(tensor.contents())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input ", Quote(tensor.name()), ": sets contents while the request "
          "uses raw_input_contents; send the elements one way"));
    }
    in.contents = InputTensor::Contents::kRaw;
    in.raw = request.raw_input_contents(0);
    in.source = "raw_input_contents[0]";
  } else {
    RETURN_IF_ERROR(ViewTypedContents(tensor.contents(), &in));
  }

  DecodedRequest decoded;
  decoded.id = request.id();
  static const std::string* const kTypedKey =
      new std::string(kTypedOutputContentsParameter);
  const auto typed = request.parameters().empty()
                         ? request.parameters().end()
                         : request.parameters().find(*kTypedKey);
  if (typed != request.parameters().end()) {
    if (!typed->second.has_bool_param()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", kTypedOutputContentsParameter,
                       "' must be a bool_param"));
    }
    decoded.typed_output_contents = typed->second.bool_param();
  }
  std::vector<RequestedOutput> requested;
  for (const auto& output : request.outputs()) {
    RequestedOutput& r = requested.emplace_back();
    r.name = output.name();
    ASSIGN_OR_RETURN(r.classification, ClassificationParameter(output));
  }
  ASSIGN_OR_RETURN(decoded.outputs,
                   ResolveOutputs(requested, /*binary_default=*/false,
                                  signature));
  ASSIGN_OR_RETURN(decoded.images, DecodeImagesInput(in, signature, limits));
  return decoded;
}

void EncodeGrpcInferResponse(const DecodedRequest& request,
                             absl::string_view model_name,
                             absl::string_view model_version,
                             absl::Span<const float> probabilities,
                             const ModelSignature& signature,
                             ModelInferResponse* response) {
  response->Clear();
  response->set_model_name(model_name.data(), model_name.size());
  response->set_model_version(model_version.data(), model_version.size());
  // An empty id is not on the wire either way (proto3).
  if (!request.id.empty()) response->set_id(request.id);
  if (!request.typed_output_contents) {
    // raw_output_contents: each output's bytes written straight into the
    // reply.
    response->mutable_outputs()->Reserve(
        static_cast<int>(request.outputs.size()));
    response->mutable_raw_output_contents()->Reserve(
        static_cast<int>(request.outputs.size()));
    for (const OutputSpec& spec : request.outputs) {
      const OutputHeader header =
          HeaderOf(spec, request.images.count, signature);
      ModelInferResponse::InferOutputTensor* tensor = response->add_outputs();
      tensor->set_name(header.name.data(), header.name.size());
      const absl::string_view datatype = DataTypeName(header.datatype);
      tensor->set_datatype(datatype.data(), datatype.size());
      tensor->mutable_shape()->Reserve(2);
      tensor->add_shape(header.rows);
      tensor->add_shape(header.columns);
      AppendRawOutput(spec, probabilities, request.images.count, signature,
                      response->add_raw_output_contents());
    }
    return;
  }
  OutputForms forms;
  forms.raw = false;
  std::vector<OutputTensor> outputs = MakeOutputs(
      request.outputs, probabilities, request.images.count, signature, forms);
  response->mutable_outputs()->Reserve(static_cast<int>(outputs.size()));
  for (OutputTensor& out : outputs) {
    ModelInferResponse::InferOutputTensor* tensor = response->add_outputs();
    tensor->set_name(std::move(out.name));
    const absl::string_view datatype = DataTypeName(out.datatype);
    tensor->set_datatype(datatype.data(), datatype.size());
    tensor->mutable_shape()->Add(out.shape.begin(), out.shape.end());
    InferTensorContents* contents = tensor->mutable_contents();
    switch (out.datatype) {
      case DataType::kFp32:
        contents->mutable_fp32_contents()->Add(out.fp32.begin(), out.fp32.end());
        break;
      case DataType::kInt64:
        contents->mutable_int64_contents()->Add(out.int64.begin(), out.int64.end());
        break;
      default:
        for (std::string& s : out.strings) contents->add_bytes_contents(std::move(s));
        break;
    }
  }
}

}  // namespace nn::v2
