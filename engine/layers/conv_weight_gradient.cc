#include "engine/layers/conv_weight_gradient.h"

#include <algorithm>
#include <cstring>

#include "oneapi/dnnl/dnnl.hpp"

namespace nn::layers_internal {
namespace {

// A GCC vector type of 8 lanes (GCC drops vector_size from an alias
// template with a dependent size: one plain typedef per width).
typedef float Floats8 __attribute__((vector_size(32)));
template <int64_t kLanes>
struct VectorOf;
template <>
struct VectorOf<8> {
  using type = Floats8;
};

int64_t SumFloats(const OneChannelConvGeometry& g) {
  return (g.kernel_height * g.kernel_width + 1) * g.filters;
}

// Adds to the sums of kTaps consecutive taps (kernel row `ky`, columns
// kx0...) for the kChunks * kLanes filters from c0 the products of output
// rows [oh0, oh1) of one image, held in registers meanwhile; the sums are
// sums[(ky * kw + kx) * filters + f]. `plane` is the image (or its padded
// copy) with rows of `plane_width`, origin at the first window's top-left
// cell.
template <int64_t kLanes, int64_t kChunks, int64_t kTaps>
inline __attribute__((always_inline)) void AccumulateTaps(
    const OneChannelConvGeometry& g, const float* plane, int64_t plane_width,
    const float* diff_dst, int64_t oh0, int64_t oh1, int64_t c0, int64_t ky,
    int64_t kx0, float* sums) {
  using Floats = typename VectorOf<kLanes>::type;
  const int64_t f = g.filters;
  Floats acc[kTaps][kChunks];
  for (int64_t t = 0; t < kTaps; ++t) {
    for (int64_t c = 0; c < kChunks; ++c) {
      std::memcpy(&acc[t][c],
                  sums + (ky * g.kernel_width + kx0 + t) * f + c0 + c * kLanes,
                  sizeof(Floats));
    }
  }
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const float* row = plane + (oh * g.stride_height + ky) * plane_width + kx0;
    const float* dy = diff_dst + oh * g.out_width * f + c0;
    for (int64_t ow = 0; ow < g.out_width; ++ow, dy += f) {
      Floats d[kChunks];
      for (int64_t c = 0; c < kChunks; ++c) {
        std::memcpy(&d[c], dy + c * kLanes, sizeof(Floats));
      }
      const float* x = row + ow * g.stride_width;
      for (int64_t t = 0; t < kTaps; ++t) {
        const Floats b = x[t] - Floats{};  // a broadcast (x - 0 is x)
        for (int64_t c = 0; c < kChunks; ++c) acc[t][c] += b * d[c];
      }
    }
  }
  for (int64_t t = 0; t < kTaps; ++t) {
    for (int64_t c = 0; c < kChunks; ++c) {
      std::memcpy(sums + (ky * g.kernel_width + kx0 + t) * f + c0 + c * kLanes,
                  &acc[t][c], sizeof(Floats));
    }
  }
}

// Every tap for the kChunks * kLanes filters from c0, three taps a pass.
template <int64_t kLanes, int64_t kChunks>
inline __attribute__((always_inline)) void AccumulateFilters(
    const OneChannelConvGeometry& g, const float* plane, int64_t plane_width,
    const float* diff_dst, int64_t oh0, int64_t oh1, int64_t c0,
    float* sums) {
  for (int64_t ky = 0; ky < g.kernel_height; ++ky) {
    int64_t kx = 0;
    for (; kx + 3 <= g.kernel_width; kx += 3) {
      AccumulateTaps<kLanes, kChunks, 3>(g, plane, plane_width, diff_dst, oh0,
                                         oh1, c0, ky, kx, sums);
    }
    if (kx + 2 == g.kernel_width) {
      AccumulateTaps<kLanes, kChunks, 2>(g, plane, plane_width, diff_dst, oh0,
                                         oh1, c0, ky, kx, sums);
    } else if (kx + 1 == g.kernel_width) {
      AccumulateTaps<kLanes, kChunks, 1>(g, plane, plane_width, diff_dst, oh0,
                                         oh1, c0, ky, kx, sums);
    }
  }
}

// Output rows a block: about 16 KB of diff_dst, which every pass of
// AccumulateFilters then reads from L1 (the image's whole diff_dst, 86 KB
// in the tutorial CNN, would come from L2 once a pass: that bandwidth, not
// the multiply-adds, bounded the first version at 2.5x the time).
int64_t RowsPerBlock(const OneChannelConvGeometry& g) {
  const int64_t row_bytes = g.out_width * g.filters * 4;
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row_bytes));
}

// One image's sums: the kernel's {kh, kw, filters}, then the bias's.
template <int64_t kLanes>
inline __attribute__((always_inline)) void ImageSums(
    const OneChannelConvGeometry& g, const float* plane, int64_t plane_width,
    const float* diff_dst, float* sums) {
  const int64_t f = g.filters;
  const int64_t kernel_floats = g.kernel_height * g.kernel_width * f;
  std::fill(sums, sums + kernel_floats + f, 0.0f);
  const int64_t block = RowsPerBlock(g);
  for (int64_t oh0 = 0; oh0 < g.out_height; oh0 += block) {
    const int64_t oh1 = std::min(oh0 + block, g.out_height);
    int64_t c0 = 0;
    for (; c0 + 2 * kLanes <= f; c0 += 2 * kLanes) {
      AccumulateFilters<kLanes, 2>(g, plane, plane_width, diff_dst, oh0, oh1,
                                   c0, sums);
    }
    if (c0 + kLanes <= f) {
      AccumulateFilters<kLanes, 1>(g, plane, plane_width, diff_dst, oh0, oh1,
                                   c0, sums);
    }
  }
  const int64_t vector_filters = f / kLanes * kLanes;
  for (int64_t ky = 0; ky < g.kernel_height; ++ky) {  // the last filters
    for (int64_t kx = 0; kx < g.kernel_width; ++kx) {
      for (int64_t c = vector_filters; c < f; ++c) {
        float sum = 0;
        for (int64_t oh = 0; oh < g.out_height; ++oh) {
          for (int64_t ow = 0; ow < g.out_width; ++ow) {
            sum += plane[(oh * g.stride_height + ky) * plane_width +
                         ow * g.stride_width + kx] *
                   diff_dst[(oh * g.out_width + ow) * f + c];
          }
        }
        sums[(ky * g.kernel_width + kx) * f + c] = sum;
      }
    }
  }
  float* bias = sums + kernel_floats;
  for (int64_t p = 0; p < g.out_height * g.out_width; ++p) {
    for (int64_t c = 0; c < f; ++c) bias[c] += diff_dst[p * f + c];
  }
}

using ImageSumsFunction = void (*)(const OneChannelConvGeometry&, const float*,
                                   int64_t, const float*, float*);

// One instance for AVX2 with FMA (GCC's target_clones("avx2") does not
// enable FMA, and arch= clones dispatch on the exact CPU model, so the
// choice is made here) and one for baseline x86-64. No AVX-512 one: where
// oneDNN runs AVX-512, its own weight gradient is the faster (Conv2D uses
// this kernel only below it).
__attribute__((target("avx2,fma"))) void ImageSumsAvx2(
    const OneChannelConvGeometry& g, const float* plane, int64_t plane_width,
    const float* diff_dst, float* sums) {
  ImageSums<8>(g, plane, plane_width, diff_dst, sums);
}
void ImageSumsBaseline(const OneChannelConvGeometry& g, const float* plane,
                       int64_t plane_width, const float* diff_dst,
                       float* sums) {
  ImageSums<8>(g, plane, plane_width, diff_dst, sums);
}

// AVX2 where the CPU has it and oneDNN's effective ISA reaches it
// (ONEDNN_MAX_CPU_ISA caps both, so a capped run measures and tests the
// capped code here too).
ImageSumsFunction ImageSumsForThisCpu() {
  __builtin_cpu_init();
  const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const unsigned avx2 = static_cast<unsigned>(dnnl::cpu_isa::avx2);
  if ((isa & avx2) == avx2 && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    return ImageSumsAvx2;
  }
  return ImageSumsBaseline;
}

}  // namespace

int64_t OneChannelConvWorkFloats(const OneChannelConvGeometry& g) {
  return g.images * (PaddedPlaneFloats(g) + SumFloats(g));
}

void OneChannelConvWeightGradient(const OneChannelConvGeometry& g,
                                  const float* src, const float* diff_dst,
                                  float* work, float* diff_kernel,
                                  float* diff_bias) {
  static const ImageSumsFunction image_sums = ImageSumsForThisCpu();
  const int64_t plane_floats = PaddedPlaneFloats(g);
  const int64_t sum_floats = SumFloats(g);
  const int64_t per_image = plane_floats + sum_floats;
  const int64_t out_floats = g.out_height * g.out_width * g.filters;
#pragma omp parallel for schedule(static) if (g.images * out_floats > 16384)
  for (int64_t n = 0; n < g.images; ++n) {
    const float* image = src + n * g.height * g.width;
    float* own = work + n * per_image;
    const float* plane = image;
    int64_t plane_width = g.width;
    if (plane_floats > 0) {
      float* padded = own + sum_floats;
      CopyToPaddedPlane(g, image, padded);
      plane = padded;
      plane_width = PlaneWidth(g);
    }
    image_sums(g, plane, plane_width, diff_dst + n * out_floats, own);
  }
  // Image order, whatever the threads did.
  const int64_t kernel_floats = sum_floats - g.filters;
  std::memcpy(diff_kernel, work, kernel_floats * sizeof(float));
  std::memcpy(diff_bias, work + kernel_floats, g.filters * sizeof(float));
  for (int64_t n = 1; n < g.images; ++n) {
    const float* own = work + n * per_image;
    for (int64_t i = 0; i < kernel_floats; ++i) diff_kernel[i] += own[i];
    for (int64_t c = 0; c < g.filters; ++c) {
      diff_bias[c] += own[kernel_floats + c];
    }
  }
}

}  // namespace nn::layers_internal
