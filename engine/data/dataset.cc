#include "engine/data/dataset.h"

#include <sys/stat.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/data/idx.h"
#include "engine/vector_clones.h"

namespace nn {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// DIR/BASE or DIR/BASE.gz, whichever exists (plain first); "" if neither.
std::string FindIdx(const std::string& dir, const std::string& base) {
  const std::string plain = absl::StrCat(dir, "/", base);
  if (FileExists(plain)) return plain;
  if (FileExists(plain + ".gz")) return plain + ".gz";
  return "";
}

std::string Basename(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const size_t slash = d.rfind('/');
  return slash == std::string::npos ? d : d.substr(slash + 1);
}

}  // namespace

NN_VECTOR_CLONES void PixelsToUnit(const uint8_t* pixels, int64_t count,
                                   float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = PixelToUnit(pixels[i]);
}

absl::StatusOr<ImageSet> LoadImageSet(const std::string& images_path,
                                      const std::string& labels_path) {
  ASSIGN_OR_RETURN(IdxArray images, ReadIdxFile(images_path));
  ASSIGN_OR_RETURN(IdxArray labels, ReadIdxFile(labels_path));
  if (images.dims.size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        images_path, ": expected 3 dimensions {N, H, W}, got ",
        images.dims.size()));
  }
  if (labels.dims.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels_path, ": expected 1 dimension {N}, got ", labels.dims.size()));
  }
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        images_path, " has ", images.dims[0], " images but ", labels_path,
        " has ", labels.dims[0], " labels"));
  }
  ImageSet set;
  set.count = images.dims[0];
  set.height = static_cast<int>(images.dims[1]);
  set.width = static_cast<int>(images.dims[2]);
  set.pixels = std::move(images.data);
  set.labels = std::move(labels.data);
  return set;
}

absl::StatusOr<Dataset> LoadDataset(const std::string& dir,
                                    const std::string& name) {
  Dataset dataset;
  dataset.name = name.empty() ? Basename(dir) : name;
  const std::string train_images = FindIdx(dir, "train-images-idx3-ubyte");
  const std::string train_labels = FindIdx(dir, "train-labels-idx1-ubyte");
  if (train_images.empty() || train_labels.empty()) {
    return absl::NotFoundError(absl::StrCat(
        dir, ": no train-images-idx3-ubyte[.gz] and "
             "train-labels-idx1-ubyte[.gz] (run scripts/prepare-data.sh)"));
  }
  ASSIGN_OR_RETURN(dataset.train, LoadImageSet(train_images, train_labels));
  const std::string test_images = FindIdx(dir, "t10k-images-idx3-ubyte");
  const std::string test_labels = FindIdx(dir, "t10k-labels-idx1-ubyte");
  if (!test_images.empty() && !test_labels.empty()) {
    ASSIGN_OR_RETURN(dataset.test, LoadImageSet(test_images, test_labels));
    if (dataset.test.height != dataset.train.height ||
        dataset.test.width != dataset.train.width) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": test images are ", dataset.test.height, "x",
                       dataset.test.width, " but training images are ",
                       dataset.train.height, "x", dataset.train.width));
    }
  }
  return dataset;
}

std::vector<std::string> DatasetLabels(const std::string& name) {
  if (name == "mnist") {
    return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  }
  if (name == "fashion-mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  return {};
}

}  // namespace nn
