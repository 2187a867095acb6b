#include "tests/engine/training/training_test_util.h"

#include "gtest/gtest.h"

namespace nn::testing {

const Dataset& Mnist() {
  static const Dataset* const dataset = [] {
    absl::StatusOr<Dataset> loaded = LoadDataset("data/mnist", "mnist");
    EXPECT_TRUE(loaded.ok()) << loaded.status()
                             << " (run scripts/prepare-data.sh)";
    return new Dataset(loaded.ok() ? *std::move(loaded) : Dataset());
  }();
  return *dataset;
}

ImageSet SpreadSubset(const ImageSet& images, int64_t count) {
  ImageSet subset;
  subset.height = images.height;
  subset.width = images.width;
  if (images.count == 0) return subset;
  subset.count = count;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = i * images.count / count;
    const uint8_t* image = images.image(index);
    subset.pixels.insert(subset.pixels.end(), image,
                         image + images.image_size());
    subset.labels.push_back(images.labels[index]);
  }
  return subset;
}

}  // namespace nn::testing
