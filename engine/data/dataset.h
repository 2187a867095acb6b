// Labelled image data sets in IDX files (MNIST layout):
//   DIR/train-images-idx3-ubyte[.gz]  DIR/train-labels-idx1-ubyte[.gz]
//   DIR/t10k-images-idx3-ubyte[.gz]   DIR/t10k-labels-idx1-ubyte[.gz]
#ifndef NNSERVE_ENGINE_DATA_DATASET_H_
#define NNSERVE_ENGINE_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nn {

// The one pixel conversion used everywhere (training, serving, clients), so
// that the same image gives bit-identical inputs: byte / 255 in float.
inline float PixelToUnit(uint8_t pixel) {
  return static_cast<float>(pixel) / 255.0f;
}

// Converts `count` bytes to floats in [0, 1] with PixelToUnit: the same
// bits, from a loop compiled for AVX-512, AVX2 and baseline x86-64 (the
// division vectorizes; every request of raw pixels goes through here).
void PixelsToUnit(const uint8_t* pixels, int64_t count, float* out);

// `count` grayscale images of height x width bytes (0 = black, 255 = white),
// row-major and concatenated, with one label per image.
struct ImageSet {
  int64_t count = 0;
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;  // count * height * width
  std::vector<uint8_t> labels;  // count, each < 256

  int64_t image_size() const { return int64_t{height} * width; }
  const uint8_t* image(int64_t i) const {
    return pixels.data() + i * image_size();
  }
};

struct Dataset {
  std::string name;  // e.g. "mnist"
  ImageSet train;
  ImageSet test;     // count 0 if the directory has no test files
};

// Loads an image file ({N, H, W}) and its label file ({N}); checks that the
// counts agree.
absl::StatusOr<ImageSet> LoadImageSet(const std::string& images_path,
                                      const std::string& labels_path);

// Loads DIR's training set (required) and test set (optional), each file
// plain or gzip. `name` defaults to DIR's last path component.
absl::StatusOr<Dataset> LoadDataset(const std::string& dir,
                                    const std::string& name = "");

// Class names of the known data sets: "mnist" -> "0".."9",
// "fashion-mnist" -> "T-shirt/top", "Trouser", ...; empty for others.
std::vector<std::string> DatasetLabels(const std::string& name);

}  // namespace nn

#endif  // NNSERVE_ENGINE_DATA_DATASET_H_
