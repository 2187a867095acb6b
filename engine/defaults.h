// The defaults of model.proto's zero fields, one source for every component
// that fills them in or prints them: the engine (Model, the trainer), nntrain,
// the server and nnctl. Header-only and dependency-free, so a component that
// does not link the engine (nnctl links only nndata) can include it.
#ifndef NNSERVE_ENGINE_DEFAULTS_H_
#define NNSERVE_ENGINE_DEFAULTS_H_

#include <cstdint>

namespace nn {

// ModelSpec.input.height and .width when 0: pixels a side of the input
// image (the MNIST and Fashion-MNIST 28 x 28).
inline constexpr int kDefaultImageSide = 28;

// TrainingConfig fields when 0.
inline constexpr int kDefaultEpochs = 5;               // passes over the data
inline constexpr int kDefaultBatchSize = 32;           // images per step
inline constexpr float kDefaultAdamLearningRate = 0.001f;
inline constexpr float kDefaultSgdLearningRate = 0.01f;  // SGD and momentum
inline constexpr float kDefaultMomentum = 0.9f;        // OPTIMIZER_MOMENTUM
inline constexpr uint64_t kDefaultSeed = 1;

}  // namespace nn

#endif  // NNSERVE_ENGINE_DEFAULTS_H_
