// The defaults of model.proto's zero fields as the engine (Model, the
// trainer) and nntrain use them. Those the client and the server share
// (image size, epochs, batch size, seed) have their one source in
// common/limits.h and are named here for the engine; the optimiser defaults
// are the engine's own. Header-only.
#ifndef NNSERVE_ENGINE_DEFAULTS_H_
#define NNSERVE_ENGINE_DEFAULTS_H_

#include <cstdint>

#include "common/limits.h"

namespace nn {

// ModelSpec.input.height and .width when 0: pixels a side of the input
// image (the MNIST and Fashion-MNIST 28 x 28).
inline constexpr int kDefaultImageSide = kImageHeight;
static_assert(kImageHeight == kImageWidth, "the default input is square");

// TrainingConfig fields when 0.
inline constexpr int kDefaultEpochs = kDefaultTrainingEpochs;  // passes
inline constexpr int kDefaultBatchSize = kDefaultTrainingBatchSize;  // images/step
inline constexpr float kDefaultAdamLearningRate = 0.001f;
inline constexpr float kDefaultSgdLearningRate = 0.01f;  // SGD and momentum
inline constexpr float kDefaultMomentum = 0.9f;        // OPTIMIZER_MOMENTUM
inline constexpr uint64_t kDefaultSeed = kDefaultTrainingSeed;

}  // namespace nn

#endif  // NNSERVE_ENGINE_DEFAULTS_H_
