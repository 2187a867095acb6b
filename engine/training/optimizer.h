// Optimisers: how gradients change the weights, as Keras defines them.
//
//   SGD:       w -= lr * g
//   momentum:  v = momentum * v - lr * g;  w += v
//              (Nesterov: w += momentum * v - lr * g, with the new v)
//   Adam:      t += 1;  m = m + (g - m) * (1 - beta1);
//              v = v + (g^2 - v) * (1 - beta2);
//              w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
//              beta1 0.9, beta2 0.999, eps 1e-7 (Keras' defaults)
//
// State (velocities, moments) starts at zero, one buffer per trainable
// parameter. Updates are element-wise, in place, spread over the calling
// thread's OpenMP threads: the result does not depend on the split, so a
// given seed gives the same weights for any thread count split of this step.
#ifndef NNSERVE_ENGINE_TRAINING_OPTIMIZER_H_
#define NNSERVE_ENGINE_TRAINING_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/network.h"
#include "engine/tensor.h"
#include "nnserve/v1/model.pb.h"

namespace nn {

inline constexpr float kAdamBeta1 = 0.9f;
inline constexpr float kAdamBeta2 = 0.999f;
inline constexpr float kAdamEpsilon = 1e-7f;

class Optimizer {
 public:
  // `config` has its defaults filled in (see TrainingConfigWithDefaults);
  // its optimizer, learning_rate, momentum and nesterov are used. `network`
  // must outlive the optimiser; its trainable parameters (ParameterSpec::
  // trainable) are the ones updated. INVALID_ARGUMENT for an unknown
  // optimiser.
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      const nnserve::v1::TrainingConfig& config, Network* network);

  // One update of every trainable parameter from `gradients` (one tensor per
  // parameter id, shaped as the parameter). Non-trainable ones are left.
  void Apply(absl::Span<const Tensor> gradients);

  // Updates so far.
  int64_t steps() const { return steps_; }

 private:
  Optimizer() = default;

  nnserve::v1::Optimizer kind_ = nnserve::v1::OPTIMIZER_ADAM;
  float learning_rate_ = 0;
  float momentum_ = 0;
  bool nesterov_ = false;
  int64_t steps_ = 0;
  // Per parameter id: the parameter (null when not trainable) and its
  // state (velocity, or Adam's first and second moments).
  std::vector<Tensor*> parameters_;
  std::vector<std::vector<float>> first_;
  std::vector<std::vector<float>> second_;
};

}  // namespace nn

#endif  // NNSERVE_ENGINE_TRAINING_OPTIMIZER_H_
