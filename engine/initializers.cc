#include "engine/initializers.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace nn {

double Random::Uniform() {
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

double Random::Normal() {
  // 1 - Uniform() is in (0, 1]: the log is finite.
  const double radius = std::sqrt(-2.0 * std::log(1.0 - Uniform()));
  return radius * std::cos(2.0 * std::numbers::pi * Uniform());
}

uint64_t MixSeed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void ComputeFans(const Shape& shape, int64_t* fan_in, int64_t* fan_out) {
  if (shape.size() < 2) {
    *fan_in = *fan_out = shape.empty() ? 1 : shape[0];
    return;
  }
  int64_t receptive = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i) receptive *= shape[i];
  *fan_in = shape[shape.size() - 2] * receptive;
  *fan_out = shape.back() * receptive;
}

namespace {

// Fills `out` ({rows, cols} row-major) with an orthogonal matrix: a normal
// random matrix's Q factor with R's diagonal made positive, as Keras.
void Orthogonal(int64_t rows, int64_t cols, Random& random, float* out) {
  // Orthonormalise the columns of a tall {m, k} matrix, m >= k (modified
  // Gram-Schmidt gives the Q of a QR with a positive diagonal).
  const int64_t m = std::max(rows, cols);
  const int64_t k = std::min(rows, cols);
  std::vector<double> a(static_cast<size_t>(m * k));
  for (double& x : a) x = random.Normal();
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t p = 0; p < j; ++p) {
      double dot = 0;
      for (int64_t i = 0; i < m; ++i) dot += a[i * k + p] * a[i * k + j];
      for (int64_t i = 0; i < m; ++i) a[i * k + j] -= dot * a[i * k + p];
    }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += a[i * k + j] * a[i * k + j];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; ++i) {
      a[i * k + j] = norm > 0 ? a[i * k + j] / norm : 0.0;
    }
  }
  // rows >= cols: out = Q; rows < cols: out = Q^T.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      out[r * cols + c] = static_cast<float>(
          rows >= cols ? a[r * k + c] : a[c * k + r]);
    }
  }
}

}  // namespace

Tensor InitialValue(const ParameterSpec& spec, Random& random) {
  Tensor tensor(spec.shape);
  switch (spec.initializer) {
    case Initializer::kZeros:
      break;
    case Initializer::kOnes:
      std::fill_n(tensor.data(), tensor.size(), 1.0f);
      break;
    case Initializer::kGlorotUniform: {
      int64_t fan_in = 0;
      int64_t fan_out = 0;
      ComputeFans(spec.shape, &fan_in, &fan_out);
      const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
      for (int64_t i = 0; i < tensor.size(); ++i) {
        tensor[i] = static_cast<float>((2.0 * random.Uniform() - 1.0) * limit);
      }
      break;
    }
    case Initializer::kOrthogonal: {
      const int64_t cols = spec.shape.empty() ? 1 : spec.shape.back();
      Orthogonal(tensor.size() / std::max<int64_t>(cols, 1), cols, random,
                 tensor.data());
      break;
    }
  }
  return tensor;
}

}  // namespace nn
