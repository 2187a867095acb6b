// Float32 tensors with a shape, and views for batching.
//
// Shapes follow Keras (see proto/nnserve/v1/model.proto): a per-sample shape
// never includes the batch dimension; a batch of n samples of shape S is the
// tensor {n, S...}. Data is always dense and row-major.
#ifndef NNSERVE_ENGINE_TENSOR_H_
#define NNSERVE_ENGINE_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace nn {

// Dimensions, outermost first. Every dimension is >= 0.
using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for the empty shape of a scalar).
int64_t NumElements(const Shape& shape);

// "{26,26,32}".
std::string ShapeToString(const Shape& shape);

// A non-owning, read-only view of a dense row-major tensor. The viewed data
// must outlive the view.
class TensorView {
 public:
  TensorView() = default;
  // `data` holds NumElements(shape) floats.
  TensorView(const float* data, Shape shape)
      : data_(data), shape_(std::move(shape)) {}

  const float* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  int64_t size() const { return NumElements(shape_); }
  absl::Span<const float> span() const {
    return absl::MakeConstSpan(data_, static_cast<size_t>(size()));
  }

 private:
  const float* data_ = nullptr;
  Shape shape_;
};

// An owning tensor. Copyable (deep copy) and movable.
class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of `shape`.
  explicit Tensor(Shape shape);
  // Tensor of `shape` holding `values`; values.size() must equal
  // NumElements(shape) (INVALID_ARGUMENT otherwise).
  static absl::StatusOr<Tensor> FromValues(Shape shape,
                                           std::vector<float> values);

  const Shape& shape() const { return shape_; }
  int64_t size() const { return static_cast<int64_t>(values_.size()); }
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  absl::Span<float> span() { return absl::MakeSpan(values_); }
  absl::Span<const float> span() const { return absl::MakeConstSpan(values_); }
  const std::vector<float>& values() const { return values_; }
  TensorView view() const { return TensorView(values_.data(), shape_); }

  // Element access by flat row-major index.
  float& operator[](int64_t i) { return values_[static_cast<size_t>(i)]; }
  float operator[](int64_t i) const { return values_[static_cast<size_t>(i)]; }

 private:
  Shape shape_;
  std::vector<float> values_;
};

// Samples [begin, begin + count) of a batch tensor {n, S...}: a view
// {count, S...} of the same data, no copy. INVALID_ARGUMENT if `batch` has no
// batch dimension or the range is outside [0, n].
absl::StatusOr<TensorView> SliceBatch(const TensorView& batch, int64_t begin,
                                      int64_t count);

// Concatenates batch tensors {n_i, S...} with equal S into {sum n_i, S...}.
// INVALID_ARGUMENT if `parts` is empty or the sample shapes differ.
absl::StatusOr<Tensor> ConcatBatch(absl::Span<const TensorView> parts);

}  // namespace nn

#endif  // NNSERVE_ENGINE_TENSOR_H_
