// Defaults and limits that the client, the server and the tools share, each
// with one source. Engine-side numbers (layer and training limits) live in
// the engine; the training defaults here are the ones TrainingConfig's zero
// fields stand for (model.proto) and the engine's trainer uses them.
#ifndef NNSERVE_COMMON_LIMITS_H_
#define NNSERVE_COMMON_LIMITS_H_

#include <cstdint>

namespace nn {

// The served image size: 28x28 grayscale (MNIST, Fashion-MNIST), one byte
// or one float per pixel. A model's spec may say otherwise; these are the
// defaults when it says nothing and the size of the pixels nnctl sends.
inline constexpr int kImageHeight = 28;
inline constexpr int kImageWidth = 28;
inline constexpr int64_t kImagePixels = int64_t{kImageHeight} * kImageWidth;

// Most images one Predict may carry unless the server is told otherwise
// (nnserve --max_images_per_request); more is RESOURCE_EXHAUSTED.
inline constexpr int64_t kDefaultMaxImagesPerRequest = 1024;

// What TrainingConfig.epochs and .batch_size default to (0 on the wire), and
// the defaults of nnctl's and nntrain's --epochs and --batch_size.
inline constexpr int kDefaultTrainingEpochs = 5;
inline constexpr int kDefaultTrainingBatchSize = 32;
// What TrainingConfig.seed defaults to (0 on the wire) and the tools' --seed.
inline constexpr uint64_t kDefaultTrainingSeed = 1;

}  // namespace nn

#endif  // NNSERVE_COMMON_LIMITS_H_
