#include "engine/training/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace nn {
namespace {

// Below this many elements a loop runs on one thread (waking the OpenMP
// team costs more than it saves).
constexpr int64_t kParallelElements = 32768;

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(
    const nnserve::v1::TrainingConfig& config, Network* network) {
  std::unique_ptr<Optimizer> optimizer(new Optimizer());
  switch (config.optimizer()) {
    case nnserve::v1::OPTIMIZER_SGD:
    case nnserve::v1::OPTIMIZER_MOMENTUM:
    case nnserve::v1::OPTIMIZER_ADAM:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown optimizer ", config.optimizer()));
  }
  optimizer->kind_ = config.optimizer();
  optimizer->learning_rate_ = config.learning_rate();
  optimizer->momentum_ = config.momentum();
  optimizer->nesterov_ = config.nesterov();
  const int count = network->num_parameter_tensors();
  optimizer->parameters_.assign(count, nullptr);
  optimizer->first_.resize(count);
  optimizer->second_.resize(count);
  for (int id = 0; id < count; ++id) {
    if (!network->parameter_spec(id).trainable) continue;
    Tensor* parameter = network->mutable_parameter(id);
    optimizer->parameters_[id] = parameter;
    const size_t size = static_cast<size_t>(parameter->size());
    if (optimizer->kind_ != nnserve::v1::OPTIMIZER_SGD) {
      optimizer->first_[id].assign(size, 0.0f);
    }
    if (optimizer->kind_ == nnserve::v1::OPTIMIZER_ADAM) {
      optimizer->second_[id].assign(size, 0.0f);
    }
  }
  return optimizer;
}

void Optimizer::Apply(absl::Span<const Tensor> gradients) {
  ++steps_;
  const float lr = learning_rate_;
  // Adam's bias-corrected step size, in double as Keras computes it.
  const double t = static_cast<double>(steps_);
  const float adam_lr = static_cast<float>(
      lr * std::sqrt(1.0 - std::pow(double{kAdamBeta2}, t)) /
      (1.0 - std::pow(double{kAdamBeta1}, t)));
  const float momentum = momentum_;
  for (size_t id = 0; id < parameters_.size(); ++id) {
    if (parameters_[id] == nullptr) continue;
    float* w = parameters_[id]->data();
    const float* g = gradients[id].data();
    const int64_t n = parameters_[id]->size();
    switch (kind_) {
      case nnserve::v1::OPTIMIZER_SGD:
#pragma omp parallel for simd schedule(static) if (n > kParallelElements)
        for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
        break;
      case nnserve::v1::OPTIMIZER_MOMENTUM: {
        float* v = first_[id].data();
        if (nesterov_) {
#pragma omp parallel for simd schedule(static) if (n > kParallelElements)
          for (int64_t i = 0; i < n; ++i) {
            v[i] = momentum * v[i] - lr * g[i];
            w[i] += momentum * v[i] - lr * g[i];
          }
        } else {
#pragma omp parallel for simd schedule(static) if (n > kParallelElements)
          for (int64_t i = 0; i < n; ++i) {
            v[i] = momentum * v[i] - lr * g[i];
            w[i] += v[i];
          }
        }
        break;
      }
      default: {  // Adam
        float* m = first_[id].data();
        float* v = second_[id].data();
        constexpr float kOneMinusBeta1 = 1.0f - kAdamBeta1;
        constexpr float kOneMinusBeta2 = 1.0f - kAdamBeta2;
#pragma omp parallel for simd schedule(static) if (n > kParallelElements)
        for (int64_t i = 0; i < n; ++i) {
          m[i] += (g[i] - m[i]) * kOneMinusBeta1;
          v[i] += (g[i] * g[i] - v[i]) * kOneMinusBeta2;
          w[i] -= adam_lr * m[i] / (std::sqrt(v[i]) + kAdamEpsilon);
        }
        break;
      }
    }
  }
}

}  // namespace nn
