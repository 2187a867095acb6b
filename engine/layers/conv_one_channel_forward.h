// The inference forward pass of a 3x3 convolution with one input channel
// (the tutorial CNN's first layer, on the images), on the host, for AVX-512
// machines. oneDNN 2.6's kernel for it (`jit:avx512_core`, plain source
// into nChw16c) ran at about half the rate of its other convolutions: 3.7
// us an image against 1.9 for this loop, and its blocked output then cost
// a reorder into the nhwc the next convolution's brgemm kernel reads
// (bench/README.md, "Engine vs ONNX Runtime and PyTorch"). Here the 9 x 32
// weights stay in registers while four output positions at a time are
// accumulated, and the output is written in nhwc.
//
// Layouts: the image batch {images, height, width} row-major; the kernel in
// Keras' {3, 3, 1, filters} (hwio), the bias {filters}; the output
// {images, out_height, out_width, filters} (nhwc).
#ifndef NNSERVE_ENGINE_LAYERS_CONV_ONE_CHANNEL_FORWARD_H_
#define NNSERVE_ENGINE_LAYERS_CONV_ONE_CHANNEL_FORWARD_H_

#include <cstdint>

#include "engine/layers/one_channel_conv.h"

namespace nn::layers_internal {

// Whether OneChannelConvForward runs here for geometry `g`: a 3x3 kernel,
// filters a multiple of 16, on a CPU with AVX-512 (F) whose oneDNN
// effective ISA is AVX-512 too (ONEDNN_MAX_CPU_ISA caps it as it caps
// oneDNN; below AVX-512 oneDNN's own kernel is used).
bool OneChannelConvForwardRunsHere(const OneChannelConvGeometry& g);

// Floats of the work buffer OneChannelConvForward needs (0 when no window
// reaches outside the image; then `work` may be null).
int64_t OneChannelConvForwardWorkFloats(const OneChannelConvGeometry& g);

// dst[n][oh][ow][f] = act(bias[f] + sum over i, j < 3 of
//   src[n][oh * stride_height - pad_top + i][ow * stride_width - pad_left + j]
//   * kernel[i][j][f])   (0 outside the image),
// act the ReLU when `relu`, else the identity. With `pooled`, a 2x2 max
// pooling of stride 2 (valid: the last row and column of an odd output
// are left out) follows, and dst is {images, out_height / 2,
// out_width / 2, filters} (nhwc) of the window maxima: the pooled output
// of the MaxPooling2D after the layer, without the full output in memory.
// Spread over the OpenMP threads (each output row is one thread's; the
// result does not depend on the split). Only where
// OneChannelConvForwardRunsHere(g), and when pooled, out_height and
// out_width >= 2.
void OneChannelConvForward(const OneChannelConvGeometry& g, const float* src,
                           const float* kernel, const float* bias, bool relu,
                           bool pooled, float* work, float* dst);

}  // namespace nn::layers_internal

#endif  // NNSERVE_ENGINE_LAYERS_CONV_ONE_CHANNEL_FORWARD_H_
