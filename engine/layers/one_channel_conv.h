// What the one-channel convolution host kernels share
// (conv_weight_gradient.h, conv_one_channel_forward.h): the geometry, and
// the zero-bordered copy of an image that lets their loops read every
// window without a bounds check.
#ifndef NNSERVE_ENGINE_LAYERS_ONE_CHANNEL_CONV_H_
#define NNSERVE_ENGINE_LAYERS_ONE_CHANNEL_CONV_H_

#include <cstdint>

namespace nn::layers_internal {

struct OneChannelConvGeometry {
  int64_t images = 0;
  int64_t height = 0, width = 0;                // input
  int64_t out_height = 0, out_width = 0;        // output
  int64_t filters = 0;
  int64_t kernel_height = 0, kernel_width = 0;
  int64_t stride_height = 1, stride_width = 1;  // >= 1
  int64_t pad_top = 0, pad_left = 0;            // padded cells read as 0
};

// The cells the windows cover, per axis: (out - 1) * stride + kernel.
inline int64_t PlaneHeight(const OneChannelConvGeometry& g) {
  return (g.out_height - 1) * g.stride_height + g.kernel_height;
}
inline int64_t PlaneWidth(const OneChannelConvGeometry& g) {
  return (g.out_width - 1) * g.stride_width + g.kernel_width;
}
// Whether some window reaches outside the image: then the kernels read a
// padded plane (CopyToPaddedPlane) instead of the image.
inline bool NeedsPaddedPlane(const OneChannelConvGeometry& g) {
  return g.pad_top > 0 || g.pad_left > 0 ||
         PlaneHeight(g) - g.pad_top > g.height ||
         PlaneWidth(g) - g.pad_left > g.width;
}
// Floats of one image's padded plane; 0 when none is needed.
inline int64_t PaddedPlaneFloats(const OneChannelConvGeometry& g) {
  return NeedsPaddedPlane(g) ? PlaneHeight(g) * PlaneWidth(g) : 0;
}
// plane[r][c] (PlaneHeight x PlaneWidth) = image[r - pad_top][c - pad_left],
// 0 outside the image {height, width}.
void CopyToPaddedPlane(const OneChannelConvGeometry& g, const float* image,
                       float* plane);

}  // namespace nn::layers_internal

#endif  // NNSERVE_ENGINE_LAYERS_ONE_CHANNEL_CONV_H_
