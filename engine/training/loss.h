// The training loss: sparse categorical cross-entropy fused with softmax.
#ifndef NNSERVE_ENGINE_TRAINING_LOSS_H_
#define NNSERVE_ENGINE_TRAINING_LOSS_H_

#include <cstdint>

#include "absl/types/span.h"

namespace nn {

struct SoftmaxCrossEntropyResult {
  // (1/n) sum_i -log softmax(z_i)[y_i].
  double mean_loss = 0;
  // Rows whose largest logit (the first, on ties) is at the label.
  int64_t correct = 0;
};

// For n = labels.size() rows of `classes` logits z (row-major {n, classes}):
// the mean cross-entropy of softmax(z) against the labels, computed as the
// numerically stable logsumexp(z_i) - z_i[y_i], and its gradient
// d mean_loss / d z = (softmax(z_i) - onehot(y_i)) / n written to `gradient`
// ({n, classes}; may not alias `logits`). Labels must be in [0, classes).
SoftmaxCrossEntropyResult SoftmaxCrossEntropy(const float* logits,
                                              absl::Span<const int32_t> labels,
                                              int classes, float* gradient);

// Cross-entropy of predicted probabilities, as Keras evaluates it: the
// probability of the label is clipped to [1e-7, 1 - 1e-7] before the log.
// Used on inference outputs (validation and test metrics).
double ProbabilityCrossEntropy(float probability_of_label);

}  // namespace nn

#endif  // NNSERVE_ENGINE_TRAINING_LOSS_H_
