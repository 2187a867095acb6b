#include "common/images.h"

namespace nn {

int64_t CountImages(const nnserve::v1::Images& images, int64_t image_size) {
  using nnserve::v1::Images;
  switch (images.encoding_case()) {
    case Images::kTensor:
      return images.tensor().shape_size() > 0 ? images.tensor().shape(0) : 0;
    case Images::kPixels:
      return image_size > 0
                 ? static_cast<int64_t>(images.pixels().data().size()) /
                       image_size
                 : 0;
    case Images::kEncoded:
      return images.encoded().png_size();
    case Images::ENCODING_NOT_SET:
      break;
  }
  return 0;
}

}  // namespace nn
