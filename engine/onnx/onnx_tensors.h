// Bounded readers of ONNX tensors and node attributes (internal to nnonnx).
//
// Nothing here allocates from a size the file claims before checking the
// claim against the bytes the file holds: a tensor that declares 1 GiB of
// floats and carries 16 bytes is refused with both numbers in the message.
#ifndef NNSERVE_ENGINE_ONNX_ONNX_TENSORS_H_
#define NNSERVE_ENGINE_ONNX_ONNX_TENSORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"  // defines ONNX_API, includes onnx-ml.pb.h

namespace nn::onnx_import {

// Elements of one tensor (1 GiB of floats); a larger claim is refused.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 28;
// Dimensions of one tensor.
inline constexpr int kMaxTensorRank = 8;

// A constant tensor's values, row-major over `dims` (empty dims: a scalar).
// Float and double tensors fill `floats`; int32 and int64 ones `ints`.
struct ConstTensor {
  std::vector<int64_t> dims;
  bool integer = false;
  std::vector<float> floats;
  std::vector<int64_t> ints;

  int64_t size() const {
    return integer ? static_cast<int64_t>(ints.size())
                   : static_cast<int64_t>(floats.size());
  }
};

// The number of elements of `dims`, INVALID_ARGUMENT (naming `what`) if a
// dimension is negative, the rank exceeds kMaxTensorRank or the product
// exceeds kMaxTensorElements.
absl::StatusOr<int64_t> CheckedElements(const std::vector<int64_t>& dims,
                                        absl::string_view what);

// Whether `tensor` keeps its data outside the model (data_location EXTERNAL
// or external_data entries).
bool IsExternal(const onnx::TensorProto& tensor);

// The values of `tensor`. INVALID_ARGUMENT for external data, a data type
// other than float, double, int32 or int64, a bad or too large shape, or a
// value count (raw bytes or typed fields) other than the shape's.
absl::StatusOr<ConstTensor> ReadTensor(const onnx::TensorProto& tensor);

// Checks every initializer and every Constant node's tensor of `graph` for
// external data and for claims larger than the bytes present, before any
// other code (onnx::checker included) looks at them.
absl::Status CheckTensorClaims(const onnx::GraphProto& graph);

// Attribute access on a node; `fallback` when the attribute is absent.
// INVALID_ARGUMENT (naming the node and attribute) for a wrong type.
const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node,
                                          absl::string_view name);
absl::StatusOr<int64_t> IntAttribute(const onnx::NodeProto& node,
                                     absl::string_view name, int64_t fallback);
absl::StatusOr<float> FloatAttribute(const onnx::NodeProto& node,
                                     absl::string_view name, float fallback);
absl::StatusOr<std::vector<int64_t>> IntsAttribute(
    const onnx::NodeProto& node, absl::string_view name,
    std::vector<int64_t> fallback);
absl::StatusOr<std::string> StringAttribute(const onnx::NodeProto& node,
                                            absl::string_view name,
                                            std::string fallback);
absl::StatusOr<std::vector<std::string>> StringsAttribute(
    const onnx::NodeProto& node, absl::string_view name);

// A name from the file as it reads in messages: as is when it is plain (at
// most 64 letters, digits and "_.+-"), else quoted and bounded (Quote).
std::string PlainOrQuoted(const std::string& name);
// PlainOrQuoted of an operator's name.
std::string OperatorName(const std::string& op_type);

// `node` as it reads in errors: `Gemm (node "/fc/Gemm")`.
std::string NodeLabel(const onnx::NodeProto& node);

}  // namespace nn::onnx_import

#endif  // NNSERVE_ENGINE_ONNX_ONNX_TENSORS_H_
