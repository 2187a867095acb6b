#include "engine/onnx/onnx_tensors.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"

namespace nn::onnx_import {
namespace {

using onnx::AttributeProto;
using onnx::TensorProto;

std::string TensorLabel(const TensorProto& tensor) {
  return absl::StrCat("ONNX tensor ", DoubleQuote(tensor.name()));
}

int ElementBytes(int data_type) {
  switch (data_type) {
    case TensorProto::FLOAT:
    case TensorProto::INT32:
      return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
      return 8;
    default:
      return 0;
  }
}

template <typename T>
void CopyRaw(const std::string& raw, int64_t n, std::vector<T>* out) {
  out->resize(n);
  std::memcpy(out->data(), raw.data(), static_cast<size_t>(n) * sizeof(T));
}

absl::Status CheckConstantNodeTensors(const onnx::GraphProto& graph) {
  for (const onnx::NodeProto& node : graph.node()) {
    for (const AttributeProto& attribute : node.attribute()) {
      if (attribute.has_t()) {
        ASSIGN_OR_RETURN(const ConstTensor ignored, ReadTensor(attribute.t()));
        (void)ignored;
      }
      if (attribute.tensors_size() > 0 || attribute.has_g() ||
          attribute.graphs_size() > 0 || attribute.has_sparse_tensor() ||
          attribute.sparse_tensors_size() > 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            NodeLabel(node), " has a subgraph or tensor-list attribute ",
            DoubleQuote(attribute.name()),
            "; nnserve maps sequential graphs only"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> CheckedElements(const std::vector<int64_t>& dims,
                                        absl::string_view what) {
  if (dims.size() > static_cast<size_t>(kMaxTensorRank)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", dims.size(), " dimensions (at most ",
                     kMaxTensorRank, ")"));
  }
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has a negative dimension [", QuoteList(dims), "]"));
    }
    if (d != 0 && n > kMaxTensorElements / d) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " claims more than ", kMaxTensorElements,
          " elements (shape [", QuoteList(dims), "])"));
    }
    n *= d;
  }
  return n;
}

bool IsExternal(const TensorProto& tensor) {
  return tensor.data_location() == TensorProto::EXTERNAL ||
         tensor.external_data_size() > 0;
}

absl::StatusOr<ConstTensor> ReadTensor(const TensorProto& tensor) {
  const std::string label = TensorLabel(tensor);
  if (IsExternal(tensor)) {
    std::string location;
    for (const onnx::StringStringEntryProto& entry : tensor.external_data()) {
      if (entry.key() == "location") location = entry.value();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        label, " keeps its data in an external file ", DoubleQuote(location),
        "; nnserve loads self-contained models only (save the model without "
        "external data, e.g. onnx.save(model, path, "
        "save_as_external_data=False))"));
  }
  const int bytes = ElementBytes(tensor.data_type());
  if (bytes == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, " has data type ",
        TensorProto::DataType_Name(
            static_cast<TensorProto::DataType>(tensor.data_type())),
        " (", tensor.data_type(),
        "); nnserve reads float, double, int32 and int64 tensors"));
  }
  ConstTensor out;
  out.dims.assign(tensor.dims().begin(), tensor.dims().end());
  ASSIGN_OR_RETURN(const int64_t n, CheckedElements(out.dims, label));
  out.integer = tensor.data_type() == TensorProto::INT32 ||
                tensor.data_type() == TensorProto::INT64;
  int64_t present = 0;
  const char* field = "raw_data";
  if (tensor.has_raw_data()) {
    present = static_cast<int64_t>(tensor.raw_data().size()) / bytes;
    if (static_cast<int64_t>(tensor.raw_data().size()) != n * bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, " claims ", n, " elements (", n * bytes,
          " bytes, shape [", QuoteList(out.dims), "]) but holds ",
          tensor.raw_data().size(), " bytes"));
    }
  } else {
    switch (tensor.data_type()) {
      case TensorProto::FLOAT: present = tensor.float_data_size(); field = "float_data"; break;
      case TensorProto::DOUBLE: present = tensor.double_data_size(); field = "double_data"; break;
      case TensorProto::INT32: present = tensor.int32_data_size(); field = "int32_data"; break;
      default: present = tensor.int64_data_size(); field = "int64_data"; break;
    }
    if (present != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, " claims ", n, " elements (shape [", QuoteList(out.dims),
          "]) but holds ", present, " in ", field));
    }
  }
  // The claim is now known to match the bytes present: allocate.
  switch (tensor.data_type()) {
    case TensorProto::FLOAT:
      if (tensor.has_raw_data()) {
        CopyRaw(tensor.raw_data(), n, &out.floats);
      } else {
        out.floats.assign(tensor.float_data().begin(), tensor.float_data().end());
      }
      break;
    case TensorProto::DOUBLE: {
      std::vector<double> values;
      if (tensor.has_raw_data()) {
        CopyRaw(tensor.raw_data(), n, &values);
      } else {
        values.assign(tensor.double_data().begin(), tensor.double_data().end());
      }
      out.floats.assign(values.begin(), values.end());
      break;
    }
    case TensorProto::INT32: {
      std::vector<int32_t> values;
      if (tensor.has_raw_data()) {
        CopyRaw(tensor.raw_data(), n, &values);
      } else {
        values.assign(tensor.int32_data().begin(), tensor.int32_data().end());
      }
      out.ints.assign(values.begin(), values.end());
      break;
    }
    default:
      if (tensor.has_raw_data()) {
        CopyRaw(tensor.raw_data(), n, &out.ints);
      } else {
        out.ints.assign(tensor.int64_data().begin(), tensor.int64_data().end());
      }
      break;
  }
  return out;
}

absl::Status CheckTensorClaims(const onnx::GraphProto& graph) {
  for (const TensorProto& tensor : graph.initializer()) {
    ASSIGN_OR_RETURN(const ConstTensor ignored, ReadTensor(tensor));
    (void)ignored;
  }
  if (graph.sparse_initializer_size() > 0) {
    return absl::InvalidArgumentError(
        "the graph has sparse initializers, which nnserve does not read");
  }
  return CheckConstantNodeTensors(graph);
}

const AttributeProto* FindAttribute(const onnx::NodeProto& node,
                                    absl::string_view name) {
  for (const AttributeProto& attribute : node.attribute()) {
    if (attribute.name() == name) return &attribute;
  }
  return nullptr;
}

namespace {
absl::Status WrongType(const onnx::NodeProto& node, absl::string_view name,
                       absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat(
      NodeLabel(node), ": attribute ", DoubleQuote(name), " is not ", want));
}
}  // namespace

absl::StatusOr<int64_t> IntAttribute(const onnx::NodeProto& node,
                                     absl::string_view name, int64_t fallback) {
  const AttributeProto* a = FindAttribute(node, name);
  if (a == nullptr) return fallback;
  if (a->type() != AttributeProto::INT) return WrongType(node, name, "an int");
  return a->i();
}

absl::StatusOr<float> FloatAttribute(const onnx::NodeProto& node,
                                     absl::string_view name, float fallback) {
  const AttributeProto* a = FindAttribute(node, name);
  if (a == nullptr) return fallback;
  if (a->type() != AttributeProto::FLOAT) return WrongType(node, name, "a float");
  return a->f();
}

absl::StatusOr<std::vector<int64_t>> IntsAttribute(
    const onnx::NodeProto& node, absl::string_view name,
    std::vector<int64_t> fallback) {
  const AttributeProto* a = FindAttribute(node, name);
  if (a == nullptr) return fallback;
  if (a->type() != AttributeProto::INTS) return WrongType(node, name, "ints");
  if (a->ints_size() > kMaxTensorRank * 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeLabel(node), ": attribute ", DoubleQuote(name), " has ",
        a->ints_size(), " values"));
  }
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

absl::StatusOr<std::string> StringAttribute(const onnx::NodeProto& node,
                                            absl::string_view name,
                                            std::string fallback) {
  const AttributeProto* a = FindAttribute(node, name);
  if (a == nullptr) return fallback;
  if (a->type() != AttributeProto::STRING) return WrongType(node, name, "a string");
  return a->s();
}

absl::StatusOr<std::vector<std::string>> StringsAttribute(
    const onnx::NodeProto& node, absl::string_view name) {
  const AttributeProto* a = FindAttribute(node, name);
  if (a == nullptr) return std::vector<std::string>();
  if (a->type() != AttributeProto::STRINGS) return WrongType(node, name, "strings");
  return std::vector<std::string>(a->strings().begin(), a->strings().end());
}

std::string PlainOrQuoted(const std::string& name) {
  const bool plain =
      !name.empty() && name.size() <= kMaxQuotedBytes &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               (c != '\0' && std::strchr("_.+-", c) != nullptr);
      });
  return plain ? name : Quote(name);
}

std::string OperatorName(const std::string& op_type) {
  return PlainOrQuoted(op_type);
}

std::string NodeLabel(const onnx::NodeProto& node) {
  return absl::StrCat(OperatorName(node.op_type()), " (node ",
                      DoubleQuote(node.name()), ")");
}

}  // namespace nn::onnx_import
