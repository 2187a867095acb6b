#include "engine/layers/conv_one_channel_forward.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "oneapi/dnnl/dnnl.hpp"

namespace nn::layers_internal {
namespace {

typedef float Floats16 __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;
constexpr int64_t kTaps = 9;       // 3 x 3
constexpr int64_t kPositions = 4;  // output positions accumulated together

// kChunks * 16 filters from c0 of output rows [row0, row1) (row = n *
// out_height + oh; with kPooled, rows of the 2x2-pooled output, n *
// (out_height / 2) + ph); `planes` holds each image's plane (the image, or
// its padded copy) at n * plane_floats, rows of plane_width.
// Four output positions a pass: four consecutive ones of a row, or with
// kPooled the 2x2 window of one pooled output, whose max is stored.
template <int64_t kChunks, bool kPooled>
__attribute__((target("avx512f,fma"))) void ForwardRows(
    const OneChannelConvGeometry& g, const float* planes, int64_t plane_floats,
    int64_t plane_width, const float* kernel, const float* bias, bool relu,
    int64_t c0, int64_t row0, int64_t row1, float* dst) {
  const int64_t f = g.filters;
  const int64_t out_height = kPooled ? g.out_height / 2 : g.out_height;
  const int64_t out_width = kPooled ? g.out_width / 2 : g.out_width;
  Floats16 w[kTaps][kChunks];
  Floats16 b[kChunks];
  for (int64_t c = 0; c < kChunks; ++c) {
    for (int64_t t = 0; t < kTaps; ++t) {
      std::memcpy(&w[t][c], kernel + t * f + c0 + c * kLanes, sizeof(Floats16));
    }
    std::memcpy(&b[c], bias + c0 + c * kLanes, sizeof(Floats16));
  }
  // Position p of a pass: conv row (first row + kRow[p]), conv column
  // (first column + kColumn[p]).
  constexpr int64_t kRow[kPositions] = {0, 0, kPooled ? 1 : 0, kPooled ? 1 : 0};
  constexpr int64_t kColumn[kPositions] = {0, 1, kPooled ? 0 : 2,
                                           kPooled ? 1 : 3};
  const Floats16 zero = {};
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / out_height;
    const int64_t oh = (row % out_height) * (kPooled ? 2 : 1);
    const float* top =
        planes + n * plane_floats + oh * g.stride_height * plane_width;
    float* out = dst + row * out_width * f + c0;
    int64_t ow = 0;
    const int64_t step = kPooled ? 1 : kPositions;
    for (; ow + step <= out_width; ow += step) {
      const int64_t first_column = kPooled ? 2 * ow : ow;
      Floats16 acc[kPositions][kChunks];
      // Unrolled in full, so that the 8 sums and 18 weights stay in the
      // 32 vector registers (a loop over the taps spilled the sums).
#pragma GCC unroll 4
      for (int64_t p = 0; p < kPositions; ++p) {
#pragma GCC unroll 2
        for (int64_t c = 0; c < kChunks; ++c) acc[p][c] = b[c];
      }
#pragma GCC unroll 9
      for (int64_t t = 0; t < kTaps; ++t) {
#pragma GCC unroll 4
        for (int64_t p = 0; p < kPositions; ++p) {
          const float* cell = top +
                              (kRow[p] * g.stride_height + t / 3) * plane_width +
                              (first_column + kColumn[p]) * g.stride_width + t % 3;
          const Floats16 x = *cell - zero;
#pragma GCC unroll 2
          for (int64_t c = 0; c < kChunks; ++c) acc[p][c] += x * w[t][c];
        }
      }
      if constexpr (kPooled) {
        for (int64_t c = 0; c < kChunks; ++c) {
          Floats16 y = acc[0][c];
          for (int64_t p = 1; p < kPositions; ++p) {
            y = acc[p][c] > y ? acc[p][c] : y;
          }
          if (relu) y = y > zero ? y : zero;  // ReLU and max commute
          std::memcpy(out + ow * f + c * kLanes, &y, sizeof(Floats16));
        }
      } else {
        for (int64_t p = 0; p < kPositions; ++p) {
          for (int64_t c = 0; c < kChunks; ++c) {
            const Floats16 y = relu ? (acc[p][c] > zero ? acc[p][c] : zero)
                                    : acc[p][c];
            std::memcpy(out + (ow + p) * f + c * kLanes, &y, sizeof(Floats16));
          }
        }
      }
    }
    if constexpr (!kPooled) {
      for (; ow < out_width; ++ow) {  // the last positions, one at a time
        Floats16 acc[kChunks];
        for (int64_t c = 0; c < kChunks; ++c) acc[c] = b[c];
        for (int64_t t = 0; t < kTaps; ++t) {
          const Floats16 x =
              top[(t / 3) * plane_width + t % 3 + ow * g.stride_width] - zero;
          for (int64_t c = 0; c < kChunks; ++c) acc[c] += x * w[t][c];
        }
        for (int64_t c = 0; c < kChunks; ++c) {
          const Floats16 y = relu ? (acc[c] > zero ? acc[c] : zero) : acc[c];
          std::memcpy(out + ow * f + c * kLanes, &y, sizeof(Floats16));
        }
      }
    }
  }
}

}  // namespace

bool OneChannelConvForwardRunsHere(const OneChannelConvGeometry& g) {
  static const bool avx512 = [] {
    __builtin_cpu_init();
    const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const unsigned core = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    return (isa & core) == core && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("fma");
  }();
  return avx512 && g.kernel_height == 3 && g.kernel_width == 3 &&
         g.filters > 0 && g.filters % kLanes == 0;
}

int64_t OneChannelConvForwardWorkFloats(const OneChannelConvGeometry& g) {
  return g.images * PaddedPlaneFloats(g);
}

void OneChannelConvForward(const OneChannelConvGeometry& g, const float* src,
                           const float* kernel, const float* bias, bool relu,
                           bool pooled, float* work, float* dst) {
  const float* planes = src;
  int64_t plane_floats = g.height * g.width;
  int64_t plane_width = g.width;
  if (NeedsPaddedPlane(g)) {
    for (int64_t n = 0; n < g.images; ++n) {
      CopyToPaddedPlane(g, src + n * g.height * g.width,
                        work + n * PaddedPlaneFloats(g));
    }
    planes = work;
    plane_floats = PaddedPlaneFloats(g);
    plane_width = PlaneWidth(g);
  }
  const int64_t rows = g.images * (pooled ? g.out_height / 2 : g.out_height);
  // Products a row: the same whether pooled or not.
  const int64_t row_work = g.out_width * g.filters * (pooled ? 2 : 1);
#pragma omp parallel for schedule(static) if (rows * row_work > 65536)
  for (int64_t row = 0; row < rows; ++row) {
    // kChunks * 16 filters from c0 of this row.
    const auto filters_from = [&](auto chunks, int64_t c0) {
      constexpr int64_t kChunks = decltype(chunks)::value;
      if (pooled) {
        ForwardRows<kChunks, true>(g, planes, plane_floats, plane_width,
                                   kernel, bias, relu, c0, row, row + 1, dst);
      } else {
        ForwardRows<kChunks, false>(g, planes, plane_floats, plane_width,
                                    kernel, bias, relu, c0, row, row + 1, dst);
      }
    };
    int64_t c0 = 0;
    for (; c0 + 2 * kLanes <= g.filters; c0 += 2 * kLanes) {
      filters_from(std::integral_constant<int64_t, 2>(), c0);
    }
    if (c0 < g.filters) filters_from(std::integral_constant<int64_t, 1>(), c0);
  }
}

}  // namespace nn::layers_internal
