#include "engine/layers/conv_one_channel_forward.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "oneapi/dnnl/dnnl.hpp"

namespace nn::layers_internal {
namespace {

typedef float Floats16 __attribute__((vector_size(64)));
typedef float Floats8 __attribute__((vector_size(32)));
constexpr int64_t kTaps = 9;  // 3 x 3

// Where output (row, ow), filters [c, c + lanes) go. nhwc: row = n *
// out_height + oh of {images, out_height, out_width, filters}. Blocked
// (nChw8c, lanes 8): {images, filters / 8, out_height, out_width, 8}.
template <bool kBlocked, int64_t kLanes>
float* OutputAt(float* dst, int64_t filters, int64_t out_height,
                int64_t out_width, int64_t row, int64_t ow, int64_t c) {
  if constexpr (kBlocked) {
    static_assert(kLanes == 8);
    const int64_t n = row / out_height, oh = row % out_height;
    return dst + (((n * (filters / 8) + c / 8) * out_height + oh) * out_width +
                  ow) * 8;
  } else {
    return dst + (row * out_width + ow) * filters + c;
  }
}

// kChunks vectors of filters (Floats: 16 or 8 lanes) from c0 of output rows
// [row0, row1) (row = n * out_height + oh; with kPooled, rows of the
// 2x2-pooled output, n * (out_height / 2) + ph), written in nhwc or, with
// kBlocked, in nChw8c; `planes` holds each image's plane (the image, or its
// padded copy) at n * plane_floats, rows of plane_width.
// 4 * kWindows output positions a pass: consecutive ones of a row, or with
// kPooled the 2x2 windows of kWindows consecutive pooled outputs, whose
// maxima are stored. So that FMA's latency (4 cycles, 2 issued a cycle) is
// hidden, a pass keeps at least 8 sums going: kChunks * 4 * kWindows >= 8.
// Inlined into one function a vector width (ForwardRows16 / ForwardRows8),
// compiled for that width's ISA.
template <typename Floats, int64_t kChunks, int64_t kWindows, bool kPooled,
          bool kBlocked, bool kUnitStride>
[[gnu::always_inline]] inline void ForwardRows(
    const OneChannelConvGeometry& g, const float* planes, int64_t plane_floats,
    int64_t plane_width, const float* kernel, const float* bias, bool relu,
    int64_t c0, int64_t row0, int64_t row1, float* dst) {
  constexpr int64_t kLanes = sizeof(Floats) / sizeof(float);
  // Strides of 1 as constants: the cells' offsets in a pass fold into the
  // loads' displacements.
  const int64_t stride_height = kUnitStride ? 1 : g.stride_height;
  const int64_t stride_width = kUnitStride ? 1 : g.stride_width;
  const int64_t f = g.filters;
  const int64_t out_height = kPooled ? g.out_height / 2 : g.out_height;
  const int64_t out_width = kPooled ? g.out_width / 2 : g.out_width;
  const auto out_at = [&](int64_t row, int64_t ow, int64_t c) {
    return OutputAt<kBlocked, kLanes>(dst, f, out_height, out_width, row, ow,
                                      c0 + c * kLanes);
  };
  Floats w[kTaps][kChunks];
  Floats b[kChunks];
  for (int64_t c = 0; c < kChunks; ++c) {
    for (int64_t t = 0; t < kTaps; ++t) {
      std::memcpy(&w[t][c], kernel + t * f + c0 + c * kLanes, sizeof(Floats));
    }
    std::memcpy(&b[c], bias + c0 + c * kLanes, sizeof(Floats));
  }
  const Floats zero = {};
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / out_height;
    const int64_t oh = (row % out_height) * (kPooled ? 2 : 1);
    const float* top =
        planes + n * plane_floats + oh * stride_height * plane_width;
    // One pass of kPositions from output column ow (pooled: position p is
    // cell p % 4 of the window of pooled output ow + p / 4).
    const auto pass = [&](auto positions,
                          int64_t ow) __attribute__((always_inline)) {
      constexpr int64_t kPositions = decltype(positions)::value;
      // Conv row (first row + Row(p)) and column (first column + Column(p))
      // of position p.
      constexpr auto kRow = [](int64_t p) { return kPooled ? p % 4 / 2 : 0; };
      constexpr auto kColumn = [](int64_t p) {
        return kPooled ? p / 4 * 2 + p % 2 : p;
      };
      const int64_t first_column = kPooled ? 2 * ow : ow;
      Floats acc[kPositions][kChunks];
      // Unrolled in full, so that the sums and weights stay in registers
      // (AVX-512: 8 sums and 18 weights of the 32; AVX2: 8 sums and most
      // of the 9 weights of the 16, the rest read from L1; a loop over the
      // taps spilled the sums).
#pragma GCC unroll 8
      for (int64_t p = 0; p < kPositions; ++p) {
#pragma GCC unroll 2
        for (int64_t c = 0; c < kChunks; ++c) acc[p][c] = b[c];
      }
#pragma GCC unroll 9
      for (int64_t t = 0; t < kTaps; ++t) {
#pragma GCC unroll 8
        for (int64_t p = 0; p < kPositions; ++p) {
          const float* cell = top +
                              (kRow(p) * stride_height + t / 3) * plane_width +
                              (first_column + kColumn(p)) * stride_width + t % 3;
          const Floats x = *cell - zero;
#pragma GCC unroll 2
          for (int64_t c = 0; c < kChunks; ++c) acc[p][c] += x * w[t][c];
        }
      }
      if constexpr (kPooled) {
        for (int64_t k = 0; k < kPositions / 4; ++k) {
          for (int64_t c = 0; c < kChunks; ++c) {
            Floats y = acc[4 * k][c];
            for (int64_t p = 4 * k + 1; p < 4 * k + 4; ++p) {
              y = acc[p][c] > y ? acc[p][c] : y;
            }
            if (relu) y = y > zero ? y : zero;  // ReLU and max commute
            std::memcpy(out_at(row, ow + k, c), &y, sizeof(Floats));
          }
        }
      } else {
        for (int64_t p = 0; p < kPositions; ++p) {
          for (int64_t c = 0; c < kChunks; ++c) {
            const Floats y = relu ? (acc[p][c] > zero ? acc[p][c] : zero)
                                  : acc[p][c];
            std::memcpy(out_at(row, ow + p, c), &y, sizeof(Floats));
          }
        }
      }
    };
    using Whole = std::integral_constant<int64_t, 4 * kWindows>;
    int64_t ow = 0;
    if constexpr (kPooled) {
      for (; ow + kWindows <= out_width; ow += kWindows) pass(Whole(), ow);
      for (; ow < out_width; ++ow) pass(std::integral_constant<int64_t, 4>(), ow);
    } else {
      for (; ow + Whole::value <= out_width; ow += Whole::value) pass(Whole(), ow);
      for (; ow < out_width; ++ow) pass(std::integral_constant<int64_t, 1>(), ow);
    }
  }
}

// AVX-512: kChunks * 16 filters from c0 in nhwc.
template <int64_t kChunks, bool kPooled, bool kUnitStride>
__attribute__((target("avx512f,fma"))) void ForwardRows16(
    const OneChannelConvGeometry& g, const float* planes, int64_t plane_floats,
    int64_t plane_width, const float* kernel, const float* bias, bool relu,
    int64_t c0, int64_t row0, int64_t row1, float* dst) {
  ForwardRows<Floats16, kChunks, /*kWindows=*/1, kPooled, /*kBlocked=*/false,
              kUnitStride>(
      g, planes, plane_floats, plane_width, kernel, bias, relu, c0, row0, row1,
      dst);
}

// AVX2: kChunks * 8 filters from c0 in nChw8c, 4 * kWindows positions a
// pass (8 sums either way).
template <int64_t kChunks, int64_t kWindows, bool kPooled, bool kUnitStride>
__attribute__((target("avx2,fma"))) void ForwardRows8(
    const OneChannelConvGeometry& g, const float* planes, int64_t plane_floats,
    int64_t plane_width, const float* kernel, const float* bias, bool relu,
    int64_t c0, int64_t row0, int64_t row1, float* dst) {
  ForwardRows<Floats8, kChunks, kWindows, kPooled, /*kBlocked=*/true,
              kUnitStride>(
      g, planes, plane_floats, plane_width, kernel, bias, relu, c0, row0, row1,
      dst);
}

// The kernel this machine runs (both need FMA): AVX-512 where oneDNN's
// effective ISA is AVX-512 too, AVX2 where it is AVX2 (an ISA cap of
// oneDNN caps this choice too, so that a capped run is an AVX2 machine's).
enum class Kernel { kNone, kAvx512, kAvx2 };
Kernel MachineKernel() {
  static const Kernel kernel = [] {
    __builtin_cpu_init();
    const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto has = [isa](dnnl::cpu_isa want) {
      const unsigned bits = static_cast<unsigned>(want);
      return (isa & bits) == bits;
    };
    if (!__builtin_cpu_supports("fma")) return Kernel::kNone;
    if (has(dnnl::cpu_isa::avx512_core) && __builtin_cpu_supports("avx512f")) {
      return Kernel::kAvx512;
    }
    if (has(dnnl::cpu_isa::avx2) && __builtin_cpu_supports("avx2")) {
      return Kernel::kAvx2;
    }
    return Kernel::kNone;
  }();
  return kernel;
}

// Kernel for `g`, kNone where neither runs it.
Kernel KernelFor(const OneChannelConvGeometry& g) {
  if (g.kernel_height != 3 || g.kernel_width != 3 || g.filters <= 0) {
    return Kernel::kNone;
  }
  const Kernel kernel = MachineKernel();
  const int64_t lanes = kernel == Kernel::kAvx512 ? 16 : 8;
  return g.filters % lanes == 0 ? kernel : Kernel::kNone;
}

}  // namespace

bool OneChannelConvForwardRunsHere(const OneChannelConvGeometry& g) {
  return KernelFor(g) != Kernel::kNone;
}

bool OneChannelConvForwardWritesBlocked8(const OneChannelConvGeometry& g) {
  return KernelFor(g) == Kernel::kAvx2;
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
  // Tasks of up to 16 output rows of one image: a call of the kernel loads
  // its filters' weights once for the rows of a task (per row, loading them
  // took a tenth of the AVX2 kernel's time).
  const int64_t image_rows = pooled ? g.out_height / 2 : g.out_height;
  const int64_t tasks_an_image = (image_rows + 15) / 16;
  const int64_t tasks = g.images * tasks_an_image;
  // Products of the whole call: the same whether pooled or not.
  const int64_t work_products = g.images * g.out_height * g.out_width * g.filters;
  const bool avx2 = KernelFor(g) == Kernel::kAvx2;
  const bool unit_stride = g.stride_height == 1 && g.stride_width == 1;
#pragma omp parallel for schedule(static) if (work_products > 65536)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t n = task / tasks_an_image;
    const int64_t first = (task % tasks_an_image) * 16;
    const int64_t row0 = n * image_rows + first;
    const int64_t row1 = n * image_rows + std::min(first + 16, image_rows);
    // The kernel for kChunks vectors of filters from c0 of this task's rows,
    // kWindows a pass (AVX2 only; 1 on AVX-512).
    const auto filters_from = [&](auto chunks, auto windows, int64_t c0) {
      constexpr int64_t kChunks = decltype(chunks)::value;
      constexpr int64_t kWindows = decltype(windows)::value;
      const auto run = [&](auto kernel_rows) {
        kernel_rows(g, planes, plane_floats, plane_width, kernel, bias, relu,
                    c0, row0, row1, dst);
      };
      if (avx2) {
        if (pooled) {
          unit_stride ? run(ForwardRows8<kChunks, kWindows, true, true>)
                      : run(ForwardRows8<kChunks, kWindows, true, false>);
        } else {
          unit_stride ? run(ForwardRows8<kChunks, kWindows, false, true>)
                      : run(ForwardRows8<kChunks, kWindows, false, false>);
        }
      } else if constexpr (kWindows == 1) {
        if (pooled) {
          unit_stride ? run(ForwardRows16<kChunks, true, true>)
                      : run(ForwardRows16<kChunks, true, false>);
        } else {
          unit_stride ? run(ForwardRows16<kChunks, false, true>)
                      : run(ForwardRows16<kChunks, false, false>);
        }
      }
    };
    using One = std::integral_constant<int64_t, 1>;
    using Two = std::integral_constant<int64_t, 2>;
    // AVX2: 16 filters (8 sums) a call while they last, then 8 (two
    // windows, 8 sums); AVX-512: 32, then 16.
    const int64_t lanes = avx2 ? 8 : 16;
    int64_t c0 = 0;
    for (; c0 + 2 * lanes <= g.filters; c0 += 2 * lanes) {
      filters_from(Two(), One(), c0);
    }
    if (c0 < g.filters) {
      if (avx2) {
        filters_from(One(), Two(), c0);
      } else {
        filters_from(One(), One(), c0);
      }
    }
  }
}

}  // namespace nn::layers_internal
