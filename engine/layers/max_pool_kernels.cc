#include "engine/layers/max_pool_kernels.h"
#include "engine/vector_clones.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace nn::layers_internal {
namespace {

// GCC vector types of 8 and 16 lanes. (GCC drops vector_size from an alias
// template with a dependent size: one plain typedef per width.)
typedef float Floats8 __attribute__((vector_size(32)));
typedef int32_t Ints8 __attribute__((vector_size(32)));
typedef float Floats16 __attribute__((vector_size(64)));
typedef int32_t Ints16 __attribute__((vector_size(64)));
template <int64_t kLanes>
struct Vectors;
template <>
struct Vectors<8> {
  using Floats = Floats8;
  using Ints = Ints8;
};
template <>
struct Vectors<16> {
  using Floats = Floats16;
  using Ints = Ints16;
};

// The input cells [begin, end) along one axis of the window of output
// position `out` (padded cells left out).
struct WindowCells {
  int64_t begin, end;
};
inline WindowCells Window(int64_t out, int64_t stride, int64_t pad,
                          int64_t pool, int64_t size) {
  const int64_t first = out * stride - pad;
  return {std::max<int64_t>(first, 0), std::min(first + pool, size)};
}

// One output row (all ow) of one plane, channels in chunks of kLanes held
// in GCC vector types (so the maxima stay in registers across the window's
// cells), the tail of a chunk in plain loops. The window's rows and columns
// inside the input are found once per row and column, not tested per cell.
// kLanes is 8 or 16 (PoolRows picks), channels beyond a multiple of it
// go one at a time. kArgmax: record the winners in
// `index` (training); without it (inference) only the maxima are kept, and
// a window whose cells are all -infinity or NaN is recognised by its max
// staying -infinity. Compiled for AVX-512, AVX2 and baseline x86-64
// (compares and selects only: every variant gives the same result).
template <int64_t kLanes, bool kArgmax>
NN_VECTOR_CLONES void PoolRow(const MaxPoolGeometry& g, const float* plane,
                              int64_t oh, float* y, int32_t* index) {
  using Floats = typename Vectors<kLanes>::Floats;
  using Ints = typename Vectors<kLanes>::Ints;
  static_assert(sizeof(Floats) == kLanes * sizeof(float));
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  const int64_t inner = g.inner;
  const auto [ih0, ih1] =
      Window(oh, g.stride_height, g.pad_top, g.pool_height, g.height);
  int64_t first_ow = 0;
  if constexpr (!kArgmax) {
    // Inference, 2x2 windows of stride 2 inside the image (the usual
    // pooling): the four cells' loads at fixed offsets, no clipping; the
    // same selects in the same order as below, so the same result.
    if (ih1 - ih0 == 2 && g.pool_width == 2 && g.stride_width == 2 &&
        g.pad_left == 0 && inner % kLanes == 0) {
      const int64_t full = std::min(g.out_width, g.width / 2);
      const int64_t down = g.width * inner;
      for (; first_ow < full; ++first_ow, y += inner) {
        const float* cell = plane + (ih0 * g.width + 2 * first_ow) * inner;
        for (int64_t c0 = 0; c0 < inner; c0 += kLanes) {
          Floats x[4];
          std::memcpy(&x[0], cell + c0, sizeof(Floats));
          std::memcpy(&x[1], cell + inner + c0, sizeof(Floats));
          std::memcpy(&x[2], cell + down + c0, sizeof(Floats));
          std::memcpy(&x[3], cell + down + inner + c0, sizeof(Floats));
          Floats best = kLowest - Floats{};
          for (const Floats& v : x) best = v > best ? v : best;
          const Floats out = best > kLowest ? best : Floats{};
          std::memcpy(y + c0, &out, sizeof out);
        }
      }
    }
  }
  for (int64_t ow = first_ow; ow < g.out_width; ++ow, y += inner) {
    const auto [iw0, iw1] =
        Window(ow, g.stride_width, g.pad_left, g.pool_width, g.width);
    int64_t c0 = 0;
    for (; c0 + kLanes <= inner; c0 += kLanes) {
      Floats best = kLowest - Floats{};
      Ints arg = -1 - Ints{};
      for (int64_t ih = ih0; ih < ih1; ++ih) {
        for (int64_t iw = iw0; iw < iw1; ++iw) {
          Floats x;
          std::memcpy(&x, plane + (ih * g.width + iw) * inner + c0, sizeof x);
          const Ints larger = x > best;  // the first max wins ties
          best = larger ? x : best;
          if constexpr (kArgmax) {
            const int32_t cell = static_cast<int32_t>(ih * g.width + iw);
            arg = larger ? cell + Ints{} : arg;
          }
        }
      }
      const Floats out = best > kLowest ? best : Floats{};
      std::memcpy(y + c0, &out, sizeof out);
      if constexpr (kArgmax) std::memcpy(index + c0, &arg, sizeof arg);
    }
    for (int64_t c = c0; c < inner; ++c) {  // the tail: one channel at a time
      float best = kLowest;
      int32_t arg = -1;
      for (int64_t ih = ih0; ih < ih1; ++ih) {
        for (int64_t iw = iw0; iw < iw1; ++iw) {
          const float x = plane[(ih * g.width + iw) * inner + c];
          if (x > best) {
            best = x;
            arg = static_cast<int32_t>(ih * g.width + iw);
          }
        }
      }
      y[c] = best > kLowest ? best : 0.0f;
      if constexpr (kArgmax) index[c] = arg;
    }
    if constexpr (kArgmax) index += inner;
  }
}

template <bool kArgmax>
void PoolRows(const MaxPoolGeometry& g, const float* src, float* dst,
              int32_t* argmax) {
  const int64_t rows = g.outer * g.out_height;
  // 16 lanes where a vector holds them: GCC's AVX2 and baseline code for a
  // 16-lane select is built lane by lane (inner 16, training: 44 against
  // 6.6 us an image on 8 lanes), while AVX-512's is 2x faster than 8 lanes.
  static const bool wide = __builtin_cpu_supports("avx512f");
#pragma omp parallel for schedule(static) if (rows * g.out_width * g.inner > 16384)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t o = row / g.out_height;
    const int64_t oh = row % g.out_height;
    const float* plane = src + o * g.height * g.width * g.inner;
    const int64_t at = row * g.out_width * g.inner;
    int32_t* index = kArgmax ? argmax + at : nullptr;
    if (wide && g.inner % 16 == 0) {
      PoolRow<16, kArgmax>(g, plane, oh, dst + at, index);
    } else {
      PoolRow<8, kArgmax>(g, plane, oh, dst + at, index);
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

namespace {

// The backward of one output row (all ow) of one plane when windows do not
// overlap: every input cell of a window is written once, with the window's
// gradient where it won (and, with kRelu, the max was positive), else zero
// — the gather form of the scatter below, which needs no zeroed buffer and
// vectorises (plain loops: GCC's vector types built these masks lane by
// lane). Written as 0 + gradient, as the scatter adds it to zero, so
// both give the same bits (-0 included).
template <int64_t kLanes, bool kRelu>
NN_VECTOR_CLONES void BackwardRow(const MaxPoolGeometry& g, const float* dy,
                                  const int32_t* index, const float* y,
                                  int64_t oh, float* plane) {
  const int64_t inner = g.inner;
  const auto [ih0, ih1] =
      Window(oh, g.stride_height, g.pad_top, g.pool_height, g.height);
  for (int64_t ow = 0; ow < g.out_width;
       ++ow, dy += inner, index += inner, y += kRelu ? inner : 0) {
    const auto [iw0, iw1] =
        Window(ow, g.stride_width, g.pad_left, g.pool_width, g.width);
    for (int64_t ih = ih0; ih < ih1; ++ih) {
      for (int64_t iw = iw0; iw < iw1; ++iw) {
        const int32_t cell = static_cast<int32_t>(ih * g.width + iw);
        float* dx = plane + cell * inner;
        int64_t c0 = 0;
        for (; c0 + kLanes <= inner; c0 += kLanes) {
          const float* gradient = dy + c0;
          const int32_t* winner = index + c0;
          const float* max = kRelu ? y + c0 : nullptr;
          float* out = dx + c0;
#pragma omp simd
          for (int64_t c = 0; c < kLanes; ++c) {
            const bool take = winner[c] == cell && (!kRelu || max[c] > 0.0f);
            out[c] = take ? 0.0f + gradient[c] : 0.0f;
          }
        }
        for (int64_t c = c0; c < inner; ++c) {
          const bool take = index[c] == cell && (!kRelu || y[c] > 0.0f);
          dx[c] = take ? 0.0f + dy[c] : 0.0f;
        }
      }
    }
  }
}

template <bool kRelu>
void BackwardRows(const MaxPoolGeometry& g, const float* diff_dst,
                  const int32_t* argmax, const float* relu_dst,
                  float* diff_src) {
  const int64_t rows = g.outer * g.out_height;
  const int64_t plane_in = g.height * g.width * g.inner;
#pragma omp parallel for schedule(static) if (g.outer * plane_in > 16384)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t o = row / g.out_height;
    const int64_t oh = row % g.out_height;
    const int64_t at = row * g.out_width * g.inner;
    const float* y = kRelu ? relu_dst + at : nullptr;
    float* plane = diff_src + o * plane_in;
    if (g.inner == 8) {
      BackwardRow<8, kRelu>(g, diff_dst + at, argmax + at, y, oh, plane);
    } else {
      BackwardRow<16, kRelu>(g, diff_dst + at, argmax + at, y, oh, plane);
    }
  }
}

}  // namespace

void MaxPoolBackward(const MaxPoolGeometry& g, const float* diff_dst,
                     const int32_t* argmax, const float* relu_dst,
                     float* diff_src) {
  if (g.stride_height >= g.pool_height && g.stride_width >= g.pool_width) {
    // Windows do not overlap. Cells no window covers (a remainder row or
    // column, gaps between windows, the padding side) are zero.
    const bool tiled = g.stride_height == g.pool_height &&
                       g.stride_width == g.pool_width && g.pad_top == 0 &&
                       g.pad_left == 0 &&
                       g.out_height * g.stride_height == g.height &&
                       g.out_width * g.stride_width == g.width;
    if (!tiled) {
      std::memset(diff_src, 0,
                  static_cast<size_t>(g.outer * g.height * g.width * g.inner) *
                      sizeof(float));
    }
    if (relu_dst != nullptr) {
      BackwardRows<true>(g, diff_dst, argmax, relu_dst, diff_src);
    } else {
      BackwardRows<false>(g, diff_dst, argmax, nullptr, diff_src);
    }
    return;
  }
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
