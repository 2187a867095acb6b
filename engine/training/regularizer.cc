#include "engine/training/regularizer.h"
#include "engine/vector_clones.h"

#include <cmath>
#include <cstddef>

namespace nn {
namespace {

// Compiled for AVX-512, AVX2 and baseline x86-64 like the optimiser's
// kernels, with exactly rounded operations only (see engine/CMakeLists.txt
// for this file's floating-point flags): every variant gives the same bits.

// gradient += l1 * sign(w) + 2 * l2 * w, sign(0) = 0.
NN_VECTOR_CLONES void AddGradient(const float* w, float* gradient, size_t n,
                                  float l1, float l2) {
  const float twice_l2 = 2.0f * l2;
  for (size_t i = 0; i < n; ++i) {
    const float sign = static_cast<float>(w[i] > 0.0f) -
                       static_cast<float>(w[i] < 0.0f);
    gradient[i] += l1 * sign + twice_l2 * w[i];
  }
}

// l1 * sum|w| + l2 * sum w^2, summed in double in kLanes partial sums added
// in a fixed order (so the loop vectorises and the result does not depend
// on how).
NN_VECTOR_CLONES double Penalty(const float* w, size_t n, float l1,
                                float l2) {
  constexpr size_t kLanes = 8;
  double abs[kLanes] = {};
  double square[kLanes] = {};
  const size_t whole = n - n % kLanes;
  for (size_t i = 0; i < whole; i += kLanes) {
    for (size_t k = 0; k < kLanes; ++k) {
      const double x = w[i + k];
      abs[k] += std::fabs(x);
      square[k] += x * x;
    }
  }
  for (size_t i = whole; i < n; ++i) {
    const double x = w[i];
    abs[i - whole] += std::fabs(x);
    square[i - whole] += x * x;
  }
  double abs_sum = 0;
  double square_sum = 0;
  for (size_t k = 0; k < kLanes; ++k) {
    abs_sum += abs[k];
    square_sum += square[k];
  }
  return l1 * abs_sum + l2 * square_sum;
}


}  // namespace

double ApplyRegularizer(const nnserve::v1::Regularizer& regularizer,
                        absl::Span<const float> weights,
                        absl::Span<float> gradient) {
  const float l1 = regularizer.l1();
  const float l2 = regularizer.l2();
  if (l1 == 0.0f && l2 == 0.0f) return 0.0;
  AddGradient(weights.data(), gradient.data(), weights.size(), l1, l2);
  return Penalty(weights.data(), weights.size(), l1, l2);
}

double RegularizationPenalty(const nnserve::v1::Regularizer& regularizer,
                             absl::Span<const float> weights) {
  const float l1 = regularizer.l1();
  const float l2 = regularizer.l2();
  if (l1 == 0.0f && l2 == 0.0f) return 0.0;
  return Penalty(weights.data(), weights.size(), l1, l2);
}

}  // namespace nn
