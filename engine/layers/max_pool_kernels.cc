#include "engine/layers/max_pool_kernels.h"
#include "engine/vector_clones.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace nn::layers_internal {
namespace {

// One output row (all ow) of one plane, channels in chunks of kChunk kept
// in local arrays (registers: the compare-and-select loops vectorise, which
// they do not on the output buffers, as those might alias the input).
// kInner is the channel count per plane when known at compile time (16 or
// 8: a convolution's nChw16c or nChw8c output), 0 for g.inner. kArgmax:
// record the winners in `index` (training), else not (inference). Compiled
// for AVX-512, AVX2 and baseline x86-64 (compares and selects only: every
// variant gives the same result).
constexpr int64_t kChunk = 16;

template <int64_t kInner, bool kArgmax>
NN_VECTOR_CLONES void PoolRow(
    const MaxPoolGeometry& g, const float* plane, int64_t oh, float* y,
    int32_t* index) {
  const int64_t inner = kInner != 0 ? kInner : g.inner;
  for (int64_t ow = 0; ow < g.out_width; ++ow, y += inner) {
    for (int64_t c0 = 0; c0 < inner; c0 += kChunk) {
      const int64_t lanes = kInner != 0 && kInner % kChunk == 0
                                ? kChunk
                                : std::min(kChunk, inner - c0);
      float best[kChunk];
      int32_t arg[kChunk];
      for (int64_t c = 0; c < kChunk; ++c) {
        best[c] = -std::numeric_limits<float>::infinity();
        arg[c] = -1;
      }
      for (int64_t kh = 0; kh < g.pool_height; ++kh) {
        const int64_t ih = oh * g.stride_height - g.pad_top + kh;
        if (ih < 0 || ih >= g.height) continue;
        for (int64_t kw = 0; kw < g.pool_width; ++kw) {
          const int64_t iw = ow * g.stride_width - g.pad_left + kw;
          if (iw < 0 || iw >= g.width) continue;
          const float* x = plane + (ih * g.width + iw) * inner + c0;
          const int32_t cell = static_cast<int32_t>(ih * g.width + iw);
#pragma omp simd
          for (int64_t c = 0; c < lanes; ++c) {
            const bool larger = x[c] > best[c];  // the first max wins ties
            best[c] = larger ? x[c] : best[c];
            arg[c] = larger ? cell : arg[c];
          }
        }
      }
      for (int64_t c = 0; c < lanes; ++c) {
        y[c0 + c] = arg[c] < 0 ? 0.0f : best[c];
        if constexpr (kArgmax) index[c0 + c] = arg[c];
      }
    }
    if constexpr (kArgmax) index += inner;
  }
}

template <bool kArgmax>
void PoolRows(const MaxPoolGeometry& g, const float* src, float* dst,
              int32_t* argmax) {
  const int64_t rows = g.outer * g.out_height;
#pragma omp parallel for schedule(static) if (rows * g.out_width * g.inner > 16384)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t o = row / g.out_height;
    const int64_t oh = row % g.out_height;
    const float* plane = src + o * g.height * g.width * g.inner;
    const int64_t at = row * g.out_width * g.inner;
    int32_t* index = kArgmax ? argmax + at : nullptr;
    if (g.inner == 16) {
      PoolRow<16, kArgmax>(g, plane, oh, dst + at, index);
    } else if (g.inner == 8) {
      PoolRow<8, kArgmax>(g, plane, oh, dst + at, index);
    } else {
      PoolRow<0, kArgmax>(g, plane, oh, dst + at, index);
    }
  }
}

}  // namespace

void MaxPoolForward(const MaxPoolGeometry& g, const float* src, float* dst,
                    int32_t* argmax) {
  if (argmax != nullptr) {
    PoolRows<true>(g, src, dst, argmax);
  } else {
    PoolRows<false>(g, src, dst, nullptr);
  }
}

void MaxPoolBackward(const MaxPoolGeometry& g, const float* diff_dst,
                     const int32_t* argmax, const float* relu_dst,
                     float* diff_src) {
  const int64_t plane_in = g.height * g.width * g.inner;
  const int64_t plane_out = g.out_height * g.out_width * g.inner;
#pragma omp parallel for schedule(static) if (g.outer * plane_in > 16384)
  for (int64_t o = 0; o < g.outer; ++o) {
    float* dx = diff_src + o * plane_in;
    std::memset(dx, 0, static_cast<size_t>(plane_in) * sizeof(float));
    const float* dy = diff_dst + o * plane_out;
    const int32_t* index = argmax + o * plane_out;
    if (relu_dst == nullptr) {
      for (int64_t k = 0; k < plane_out; k += g.inner) {
        for (int64_t c = 0; c < g.inner; ++c) {
          if (index[k + c] >= 0) dx[index[k + c] * g.inner + c] += dy[k + c];
        }
      }
      continue;
    }
    const float* y = relu_dst + o * plane_out;
    for (int64_t k = 0; k < plane_out; k += g.inner) {
      for (int64_t c = 0; c < g.inner; ++c) {
        if (index[k + c] >= 0 && y[k + c] > 0.0f) {
          dx[index[k + c] * g.inner + c] += dy[k + c];
        }
      }
    }
  }
}

}  // namespace nn::layers_internal
