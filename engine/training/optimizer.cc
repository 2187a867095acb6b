#include "engine/training/optimizer.h"
#include "engine/vector_clones.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace nn {
namespace {

// Below this many elements a loop runs on one thread (waking the OpenMP
// team costs more than it saves).
constexpr int64_t kParallelElements = 32768;

// Optimiser state whose gradient stays zero (e.g. weights of always-black
// border pixels) decays geometrically into float denormals, on which x86
// arithmetic is ~100x slower: Adam's step took 60 % of an MLP epoch. State
// below this magnitude is set to zero instead; it is 1e-23 of the smallest
// step that matters (Adam's epsilon 1e-7), so the weights do not change.
constexpr float kFlushBelow = 1e-30f;

inline float Flush(float x) { return std::fabs(x) >= kFlushBelow ? x : 0.0f; }

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

namespace {

// The element-wise updates of one chunk [0, n). Compiled for AVX-512, AVX2
// and baseline x86-64, picked at load time (the build targets baseline
// x86-64). Only exactly rounded operations (+ - * / sqrt; the file is built
// with -ffp-contract=off, so no FMA), so every variant and every alignment
// of the buffers gives the same bits.

NN_VECTOR_CLONES void SgdKernel(float* w, const float* g, int64_t n,
                                float lr) {
  for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
}

NN_VECTOR_CLONES void MomentumKernel(float* w, const float* g, float* v,
                                     int64_t n, float lr, float momentum,
                                     bool nesterov) {
  if (nesterov) {
    for (int64_t i = 0; i < n; ++i) {
      v[i] = Flush(momentum * v[i] - lr * g[i]);
      w[i] += momentum * v[i] - lr * g[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      v[i] = Flush(momentum * v[i] - lr * g[i]);
      w[i] += v[i];
    }
  }
}

NN_VECTOR_CLONES void AdamKernel(float* w, const float* g, float* m, float* v,
                                 int64_t n, float step) {
  constexpr float kOneMinusBeta1 = 1.0f - kAdamBeta1;
  constexpr float kOneMinusBeta2 = 1.0f - kAdamBeta2;
  for (int64_t i = 0; i < n; ++i) {
    const float mi = Flush(m[i] + (g[i] - m[i]) * kOneMinusBeta1);
    const float vi = Flush(v[i] + (g[i] * g[i] - v[i]) * kOneMinusBeta2);
    m[i] = mi;
    v[i] = vi;
    w[i] -= step * mi / (std::sqrt(vi) + kAdamEpsilon);
  }
}


// Runs kernel(begin, count) over [0, n) in chunks of kChunk elements,
// spread over the OpenMP threads when n is large. Chunk boundaries do not
// change any element's result.
template <typename Kernel>
void ForChunks(int64_t n, const Kernel& kernel) {
  constexpr int64_t kChunk = 8192;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk;
    kernel(begin, std::min(kChunk, n - begin));
  }
}

}  // namespace

void Optimizer::Apply(absl::Span<const Tensor> gradients) {
  ++steps_;
  const float lr = learning_rate_;
  // Adam's bias-corrected step size, in double as Keras computes it.
  const double t = static_cast<double>(steps_);
  const float adam_step = static_cast<float>(
      lr * std::sqrt(1.0 - std::pow(double{kAdamBeta2}, t)) /
      (1.0 - std::pow(double{kAdamBeta1}, t)));
  for (size_t id = 0; id < parameters_.size(); ++id) {
    if (parameters_[id] == nullptr) continue;
    float* w = parameters_[id]->data();
    const float* g = gradients[id].data();
    float* first = first_[id].data();
    float* second = second_[id].data();
    const int64_t n = parameters_[id]->size();
    switch (kind_) {
      case nnserve::v1::OPTIMIZER_SGD:
        ForChunks(n, [&](int64_t begin, int64_t count) {
          SgdKernel(w + begin, g + begin, count, lr);
        });
        break;
      case nnserve::v1::OPTIMIZER_MOMENTUM:
        ForChunks(n, [&](int64_t begin, int64_t count) {
          MomentumKernel(w + begin, g + begin, first + begin, count, lr,
                         momentum_, nesterov_);
        });
        break;
      default:  // Adam
        ForChunks(n, [&](int64_t begin, int64_t count) {
          AdamKernel(w + begin, g + begin, first + begin, second + begin,
                     count, adam_step);
        });
        break;
    }
  }
}

}  // namespace nn
