#include "engine/layers/one_channel_conv.h"

namespace nn::layers_internal {

void CopyToPaddedPlane(const OneChannelConvGeometry& g, const float* image,
                       float* plane) {
  const int64_t plane_height = PlaneHeight(g);
  const int64_t plane_width = PlaneWidth(g);
  for (int64_t r = 0; r < plane_height; ++r) {
    const int64_t h = r - g.pad_top;
    float* line = plane + r * plane_width;
    for (int64_t c = 0; c < plane_width; ++c) {
      const int64_t w = c - g.pad_left;
      line[c] = h >= 0 && h < g.height && w >= 0 && w < g.width
                    ? image[h * g.width + w]
                    : 0.0f;
    }
  }
}

}  // namespace nn::layers_internal
