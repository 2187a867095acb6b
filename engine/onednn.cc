#include "engine/onednn.h"

namespace nn {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

const dnnl::engine& CpuEngine() {
  static const dnnl::engine* const engine =
      new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

std::optional<dnnl::algorithm> EltwiseAlgorithm(
    nnserve::v1::Activation activation) {
  switch (activation) {
    case nnserve::v1::ACTIVATION_RELU:
      return dnnl::algorithm::eltwise_relu;
    case nnserve::v1::ACTIVATION_SIGMOID:
      return dnnl::algorithm::eltwise_logistic;
    case nnserve::v1::ACTIVATION_TANH:
      return dnnl::algorithm::eltwise_tanh;
    default:
      return std::nullopt;
  }
}

dnnl::memory::desc PlainDesc(const Shape& sample, int64_t n) {
  switch (sample.size()) {
    case 1:
      return dnnl::memory::desc({n, sample[0]}, dt::f32, tag::nc);
    case 2:
      return dnnl::memory::desc({sample[0], n, sample[1]}, dt::f32, tag::ntc);
    default:
      return ImageDesc(sample, n, tag::nhwc);
  }
}

dnnl::memory::desc ImageDesc(const Shape& sample, int64_t n, tag format) {
  const int64_t channels = sample.size() == 3 ? sample[2] : 1;
  return dnnl::memory::desc({n, channels, sample[0], sample[1]}, dt::f32,
                            format);
}

}  // namespace nn
