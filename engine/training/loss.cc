#include "engine/training/loss.h"

#include <algorithm>
#include <cmath>

namespace nn {

SoftmaxCrossEntropyResult SoftmaxCrossEntropy(const float* logits,
                                              absl::Span<const int32_t> labels,
                                              int classes, float* gradient) {
  SoftmaxCrossEntropyResult result;
  const int64_t n = static_cast<int64_t>(labels.size());
  const float scale = 1.0f / static_cast<float>(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * classes;
    float* g = gradient + i * classes;
    int best = 0;
    for (int c = 1; c < classes; ++c) {
      if (z[c] > z[best]) best = c;
    }
    const float max = z[best];
    float sum = 0;
    for (int c = 0; c < classes; ++c) {
      g[c] = std::exp(z[c] - max);
      sum += g[c];
    }
    const int label = labels[i];
    // -log softmax(z)[label] = log(sum) - (z[label] - max)
    total += std::log(static_cast<double>(sum)) -
             (static_cast<double>(z[label]) - max);
    const float inverse = scale / sum;
    for (int c = 0; c < classes; ++c) g[c] *= inverse;
    g[label] -= scale;
    if (best == label) ++result.correct;
  }
  result.mean_loss = n > 0 ? total / static_cast<double>(n) : 0.0;
  return result;
}

double ProbabilityCrossEntropy(float probability_of_label) {
  constexpr double kEpsilon = 1e-7;
  const double p =
      std::clamp(static_cast<double>(probability_of_label), kEpsilon,
                 1.0 - kEpsilon);
  return -std::log(p);
}

}  // namespace nn
