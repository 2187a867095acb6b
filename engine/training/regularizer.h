// Kernel regularisers (Keras' L1L2) in the loss and its gradient.
#ifndef NNSERVE_ENGINE_TRAINING_REGULARIZER_H_
#define NNSERVE_ENGINE_TRAINING_REGULARIZER_H_

#include "absl/types/span.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

// Adds the gradient of l1 * sum|w| + l2 * sum w^2 to `gradient`
// (l1 * sign(w) + 2 * l2 * w, with sign(0) = 0) and returns the penalty,
// summed in double. Nothing for a zero regulariser. Spans of equal size.
double ApplyRegularizer(const nnserve::v1::Regularizer& regularizer,
                        absl::Span<const float> weights,
                        absl::Span<float> gradient);

// The penalty alone.
double RegularizationPenalty(const nnserve::v1::Regularizer& regularizer,
                             absl::Span<const float> weights);

}  // namespace nn

#endif  // NNSERVE_ENGINE_TRAINING_REGULARIZER_H_
