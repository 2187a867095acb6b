// The inference forward pass of a 3x3 convolution with one input channel
// (the tutorial CNN's first layer, on the images), on the host, for AVX-512
// and AVX2 machines. oneDNN 2.6's kernel for it ran at about half the rate
// of its other convolutions: on AVX-512 (`jit:avx512_core`, plain source
// into nChw16c) 3.7 us an image against 1.9 for this loop, and its blocked
// output then cost a reorder into the nhwc the next convolution's brgemm
// kernel reads; on AVX2 (`jit:avx2`) at 55 GFLOP/s where the next
// convolution ran at 85 (bench/README.md, "Engine vs ONNX Runtime and
// PyTorch"). Here the weights of 32 (AVX-512) or 8 (AVX2) filters stay in
// registers while four output positions at a time are accumulated; the
// output is written in the layout the next convolution reads on that ISA:
// nhwc on AVX-512, nChw8c on AVX2 (oneDNN's jit:avx2 convolutions read
// and write nChw8c).
//
// Layouts: the image batch {images, height, width} row-major; the kernel in
// Keras' {3, 3, 1, filters} (hwio), the bias {filters}; the output
// {images, out_height, out_width, filters} (nhwc), or where
// OneChannelConvForwardWritesBlocked8 {images, filters / 8, out_height,
// out_width, 8} (nChw8c).
#ifndef NNSERVE_ENGINE_LAYERS_CONV_ONE_CHANNEL_FORWARD_H_
#define NNSERVE_ENGINE_LAYERS_CONV_ONE_CHANNEL_FORWARD_H_

#include <cstdint>

#include "engine/layers/one_channel_conv.h"

namespace nn::layers_internal {

// Whether OneChannelConvForward runs here for geometry `g`: a 3x3 kernel
// and a CPU with FMA and either AVX-512 (F) and filters a multiple of 16,
// or AVX2 and filters a multiple of 8, where oneDNN's effective ISA is the
// same (ONEDNN_MAX_CPU_ISA caps the choice as it caps oneDNN: capped at
// AVX2 the AVX2 kernel runs; below AVX2 oneDNN's own kernel is used).
bool OneChannelConvForwardRunsHere(const OneChannelConvGeometry& g);

// Whether OneChannelConvForward writes nChw8c here (the AVX2 kernel), not
// nhwc. False where it does not run.
bool OneChannelConvForwardWritesBlocked8(const OneChannelConvGeometry& g);

// Floats of the work buffer OneChannelConvForward needs (0 when no window
// reaches outside the image; then `work` may be null).
int64_t OneChannelConvForwardWorkFloats(const OneChannelConvGeometry& g);

// dst[n][oh][ow][f] = act(bias[f] + sum over i, j < 3 of
//   src[n][oh * stride_height - pad_top + i][ow * stride_width - pad_left + j]
//   * kernel[i][j][f])   (0 outside the image),
// act the ReLU when `relu`, else the identity (dst in nChw8c where
// OneChannelConvForwardWritesBlocked8, the same values). With `pooled`, a
// 2x2 max pooling of stride 2 (valid: the last row and column of an odd
// output are left out) follows, and dst is {images, out_height / 2,
// out_width / 2, filters} (in the same layout) of the window maxima: the pooled output
// of the MaxPooling2D after the layer, without the full output in memory.
// Spread over the OpenMP threads (each output row is one thread's, in
// tasks of up to 16 rows of an image; the result does not depend on the
// split). Only where
// OneChannelConvForwardRunsHere(g), and when pooled, out_height and
// out_width >= 2.
void OneChannelConvForward(const OneChannelConvGeometry& g, const float* src,
                           const float* kernel, const float* bias, bool relu,
                           bool pooled, float* work, float* dst);

}  // namespace nn::layers_internal

#endif  // NNSERVE_ENGINE_LAYERS_CONV_ONE_CHANNEL_FORWARD_H_
