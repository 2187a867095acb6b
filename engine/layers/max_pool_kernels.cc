#include "engine/layers/max_pool_kernels.h"

#include <cstring>

namespace nn::layers_internal {
namespace {

// One output cell's window over `inner` channels. Compiled for AVX-512,
// AVX2 and baseline x86-64 (compares and selects only: every variant gives
// the same result).
__attribute__((target_clones("avx512f", "avx2", "default"))) void PoolCell(
    const MaxPoolGeometry& g, const float* plane, int64_t oh, int64_t ow,
    float* y, int32_t* index) {
  for (int64_t c = 0; c < g.inner; ++c) {
    y[c] = 0.0f;
    index[c] = -1;
  }
  bool first = true;
  for (int64_t kh = 0; kh < g.pool_height; ++kh) {
    const int64_t ih = oh * g.stride_height - g.pad_top + kh;
    if (ih < 0 || ih >= g.height) continue;
    for (int64_t kw = 0; kw < g.pool_width; ++kw) {
      const int64_t iw = ow * g.stride_width - g.pad_left + kw;
      if (iw < 0 || iw >= g.width) continue;
      const float* x = plane + (ih * g.width + iw) * g.inner;
      const int32_t cell = static_cast<int32_t>(ih * g.width + iw);
      if (first) {
        for (int64_t c = 0; c < g.inner; ++c) {
          y[c] = x[c];
          index[c] = cell;
        }
        first = false;
        continue;
      }
      for (int64_t c = 0; c < g.inner; ++c) {
        const bool larger = x[c] > y[c];
        y[c] = larger ? x[c] : y[c];
        index[c] = larger ? cell : index[c];
      }
    }
  }
}

}  // namespace

void MaxPoolForward(const MaxPoolGeometry& g, const float* src, float* dst,
                    int32_t* argmax) {
  const int64_t rows = g.outer * g.out_height;
#pragma omp parallel for schedule(static) if (rows * g.out_width * g.inner > 16384)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t o = row / g.out_height;
    const int64_t oh = row % g.out_height;
    const float* plane = src + o * g.height * g.width * g.inner;
    for (int64_t ow = 0; ow < g.out_width; ++ow) {
      const int64_t at = (row * g.out_width + ow) * g.inner;
      PoolCell(g, plane, oh, ow, dst + at, argmax + at);
    }
  }
}

void MaxPoolBackward(const MaxPoolGeometry& g, const float* diff_dst,
                     const int32_t* argmax, float* diff_src) {
  const int64_t plane_in = g.height * g.width * g.inner;
  const int64_t plane_out = g.out_height * g.out_width * g.inner;
#pragma omp parallel for schedule(static) if (g.outer * plane_in > 16384)
  for (int64_t o = 0; o < g.outer; ++o) {
    float* dx = diff_src + o * plane_in;
    std::memset(dx, 0, static_cast<size_t>(plane_in) * sizeof(float));
    const float* dy = diff_dst + o * plane_out;
    const int32_t* index = argmax + o * plane_out;
    for (int64_t k = 0; k < plane_out; k += g.inner) {
      for (int64_t c = 0; c < g.inner; ++c) {
        if (index[k + c] >= 0) dx[index[k + c] * g.inner + c] += dy[k + c];
      }
    }
  }
}

}  // namespace nn::layers_internal
