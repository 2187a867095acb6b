// Max pooling on the host: in training the forward pass records where each
// maximum came from and the backward pass sends each output's gradient
// there; at inference, the forward pass alone where oneDNN's is slow.
//
// Why not oneDNN's pooling primitive here: in oneDNN 2.6 on this CPU
// (AVX-512), max pooling with prop_kind::forward_training (which writes the
// workspace) runs ~18x slower than forward_inference, and its backward as
// slowly: 600 us each for {32, 32, 26, 26} in thread CPU time, against
// 31 us for inference; about a third of the tutorial CNN's training epoch.
// These loops do the same work at memory speed. At inference oneDNN's
// AVX-512 pooling is a little faster than these loops (1.5 against 2.1 us
// an image for the tutorial CNN's first pooling, 26x26x32 in nChw16c, one
// thread), but its AVX2 kernel (jit:avx2, nChw8c) takes 20 us against
// their 3.0: inference uses these loops wherever oneDNN's pooling is not an
// AVX-512 kernel (MaxPooling2D::AppendForward).
//
// Layout: images as `outer` planes of {height, width, inner} floats, the
// channels innermost: nhwc is outer = N, inner = C; oneDNN's blocked
// nChw<B>c is outer = N * ceil(C / B), inner = B (padding channels hold
// zeros and stay zero).
#ifndef NNSERVE_ENGINE_LAYERS_MAX_POOL_KERNELS_H_
#define NNSERVE_ENGINE_LAYERS_MAX_POOL_KERNELS_H_

#include <cstdint>

namespace nn::layers_internal {

struct MaxPoolGeometry {
  int64_t outer = 0;
  int64_t inner = 0;
  int64_t height = 0, width = 0;                 // input
  int64_t out_height = 0, out_width = 0;         // output
  int64_t pool_height = 0, pool_width = 0;
  int64_t stride_height = 0, stride_width = 0;
  int64_t pad_top = 0, pad_left = 0;             // padded cells never win
};

// dst[o][oh][ow][c] = max over the window of src; argmax[...] = the winning
// input cell (ih * width + iw; the first on ties), -1 if no input cell of
// the window is above -infinity (dst 0 then; NaN never wins). argmax may be
// null (inference: nothing recorded). Spread over the OpenMP threads; the
// result does not depend on the split.
void MaxPoolForward(const MaxPoolGeometry& g, const float* src, float* dst,
                    int32_t* argmax);

// diff_src = 0, then diff_src[argmax] += diff_dst for every output
// (overlapping windows add up, in a fixed order per plane; windows that do
// not overlap write each cell once, with the same bits). With `relu_dst`
// (the forward's dst, when src is a ReLU's output) an output whose max is
// not positive sends nothing: that is the ReLU's backward (diff * (x > 0),
// x the input cell, equal to the max of every window it won) folded in, so
// the layer below skips its eltwise backward step. nullptr: plain pooling.
void MaxPoolBackward(const MaxPoolGeometry& g, const float* diff_dst,
                     const int32_t* argmax, const float* relu_dst,
                     float* diff_src);

}  // namespace nn::layers_internal

#endif  // NNSERVE_ENGINE_LAYERS_MAX_POOL_KERNELS_H_
