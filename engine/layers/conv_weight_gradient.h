// The weight and bias gradients of a convolution with one input channel, on
// the host: the network's first Conv2D in training (the images are its
// input), where oneDNN 2.6 has no AVX-512 kernel for it. Below AVX-512
// oneDNN computes this reduction far below its other kernels' rate: capped
// at AVX2, 292 us a batch of 32 in the tutorial CNN (1 -> 32 filters, 3x3,
// 28x28 in nhwc; 43 GFLOP/s) and 2,217 us a batch of 128 (22 GFLOP/s),
// 9-13 % of the epoch, while the next convolution's kernels run at 150-200
// GFLOP/s; an inner product over im2col patches was no better (222 and
// 2,332 us). This kernel holds three taps' sums for 16 filters in vector
// registers while it walks a block of output rows, reading the image
// directly: 131 and 546-595 us, 2 threads (bench/README.md, "Training").
// On AVX-512 oneDNN's own kernel is faster (68 and 269 us) and stays.
//
// Layouts: the image batch {images, height, width} row-major; the output
// gradient {images, out_height, out_width, filters} (nhwc); the kernel's
// gradient in Keras' {kernel_height, kernel_width, 1, filters} (hwio), the
// bias's {filters}.
#ifndef NNSERVE_ENGINE_LAYERS_CONV_WEIGHT_GRADIENT_H_
#define NNSERVE_ENGINE_LAYERS_CONV_WEIGHT_GRADIENT_H_

#include <cstdint>

#include "engine/layers/one_channel_conv.h"

namespace nn::layers_internal {

// Floats of the work buffer OneChannelConvWeightGradient needs.
int64_t OneChannelConvWorkFloats(const OneChannelConvGeometry& g);

// diff_kernel[i][j][f] = sum over images n and output positions (oh, ow) of
//   src[n][oh * stride_height - pad_top + i][ow * stride_width - pad_left + j]
//   * diff_dst[n][oh][ow][f]   (0 outside the image),
// diff_bias[f] = sum over n, oh, ow of diff_dst[n][oh][ow][f].
// Each image's sums go to its own part of `work`
// (OneChannelConvWorkFloats), added up in image order afterwards: the
// result does not depend on how the OpenMP threads split the images, and
// is the same on every run on one CPU and ISA cap (AVX2 with FMA and
// baseline x86-64 each have their own code, whose roundings differ in the
// last bits; the choice follows the CPU and oneDNN's effective ISA, so
// ONEDNN_MAX_CPU_ISA caps it as it caps oneDNN).
void OneChannelConvWeightGradient(const OneChannelConvGeometry& g,
                                  const float* src, const float* diff_dst,
                                  float* work, float* diff_kernel,
                                  float* diff_bias);

}  // namespace nn::layers_internal

#endif  // NNSERVE_ENGINE_LAYERS_CONV_WEIGHT_GRADIENT_H_
