#include "engine/tensor.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nn {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("{", absl::StrJoin(shape, ","), "}");
}

Tensor::Tensor(Shape shape)
    : shape_(std::move(shape)),
      values_(static_cast<size_t>(NumElements(shape_)), 0.0f) {}

absl::StatusOr<Tensor> Tensor::FromValues(Shape shape,
                                          std::vector<float> values) {
  if (NumElements(shape) != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", ShapeToString(shape), " needs ",
                     NumElements(shape), " values, got ", values.size()));
  }
  Tensor tensor;
  tensor.shape_ = std::move(shape);
  tensor.values_ = std::move(values);
  return tensor;
}

absl::StatusOr<TensorView> SliceBatch(const TensorView& batch, int64_t begin,
                                      int64_t count) {
  if (batch.shape().empty()) {
    return absl::InvalidArgumentError("tensor has no batch dimension");
  }
  const int64_t n = batch.shape()[0];
  if (begin < 0 || count < 0 || begin > n || count > n - begin) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch slice [", begin, ", ", begin + count,
                     ") is outside [0, ", n, ")"));
  }
  Shape shape = batch.shape();
  shape[0] = 1;
  const int64_t sample_size = NumElements(shape);
  shape[0] = count;
  return TensorView(batch.data() + begin * sample_size, std::move(shape));
}

absl::StatusOr<Tensor> ConcatBatch(absl::Span<const TensorView> parts) {
  if (parts.empty()) {
    return absl::InvalidArgumentError("nothing to concatenate");
  }
  const Shape& first = parts[0].shape();
  if (first.empty()) {
    return absl::InvalidArgumentError("tensor has no batch dimension");
  }
  const Shape sample(first.begin() + 1, first.end());
  Shape shape = first;
  shape[0] = 0;
  for (const TensorView& part : parts) {
    if (part.shape().empty() ||
        !std::equal(sample.begin(), sample.end(), part.shape().begin() + 1,
                    part.shape().end())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot concatenate ", ShapeToString(part.shape()), " to a batch of ",
          ShapeToString(sample)));
    }
    shape[0] += part.shape()[0];
  }
  Tensor result(std::move(shape));
  float* out = result.data();
  for (const TensorView& part : parts) {
    out = std::copy_n(part.data(), part.size(), out);
  }
  return result;
}

}  // namespace nn
