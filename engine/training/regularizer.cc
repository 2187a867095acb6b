#include "engine/training/regularizer.h"

#include <cmath>

namespace nn {

double ApplyRegularizer(const nnserve::v1::Regularizer& regularizer,
                        absl::Span<const float> weights,
                        absl::Span<float> gradient) {
  const float l1 = regularizer.l1();
  const float l2 = regularizer.l2();
  if (l1 == 0.0f && l2 == 0.0f) return 0.0;
  const float twice_l2 = 2.0f * l2;
  for (size_t i = 0; i < weights.size(); ++i) {
    const float w = weights[i];
    const float sign = w > 0.0f ? 1.0f : (w < 0.0f ? -1.0f : 0.0f);
    gradient[i] += l1 * sign + twice_l2 * w;
  }
  return RegularizationPenalty(regularizer, weights);
}

double RegularizationPenalty(const nnserve::v1::Regularizer& regularizer,
                             absl::Span<const float> weights) {
  if (regularizer.l1() == 0.0f && regularizer.l2() == 0.0f) return 0.0;
  double abs_sum = 0;
  double square_sum = 0;
  for (float w : weights) {
    abs_sum += std::abs(static_cast<double>(w));
    square_sum += static_cast<double>(w) * w;
  }
  return regularizer.l1() * abs_sum + regularizer.l2() * square_sum;
}

}  // namespace nn
