#include "tests/engine/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nn::testing {
namespace {

using nnserve::v1::Activation;
using nnserve::v1::LayerSpec;
using nnserve::v1::Padding;
using Vector = std::vector<double>;

double Apply(Activation activation, double x) {
  switch (activation) {
    case nnserve::v1::ACTIVATION_RELU:
      return x > 0 ? x : 0;
    case nnserve::v1::ACTIVATION_SIGMOID:
      return 1 / (1 + std::exp(-x));
    case nnserve::v1::ACTIVATION_TANH:
      return std::tanh(x);
    default:
      return x;
  }
}

void ApplyInPlace(Activation activation, Vector& v) {
  if (activation == nnserve::v1::ACTIVATION_SOFTMAX) {
    const double max = *std::max_element(v.begin(), v.end());
    double sum = 0;
    for (double& x : v) sum += (x = std::exp(x - max));
    for (double& x : v) x /= sum;
    return;
  }
  for (double& x : v) x = Apply(activation, x);
}

// Keras: valid -> floor((in - k) / s) + 1, same -> ceil(in / s) with the
// total padding split floor/ceil between before and after.
void Window(int64_t in, int64_t k, int64_t s, Padding padding, int64_t* out,
            int64_t* pad_before) {
  if (padding == nnserve::v1::PADDING_SAME) {
    *out = (in + s - 1) / s;
    *pad_before = std::max<int64_t>((*out - 1) * s + k - in, 0) / 2;
  } else {
    *out = (in - k) / s + 1;
    *pad_before = 0;
  }
}

struct Image {
  int64_t h, w, c;
  Vector v;  // {h, w, c} row-major
  double at(int64_t y, int64_t x, int64_t ch) const {
    return v[(y * w + x) * c + ch];
  }
};

Image AsImage(const Shape& shape, Vector v) {
  return {shape[0], shape[1], shape.size() == 3 ? shape[2] : 1, std::move(v)};
}

Vector Conv(const nnserve::v1::Conv2DLayer& conv, const Image& in,
            const Vector& kernel, const Vector& bias) {
  const int64_t kh = conv.kernel_height(), kw = conv.kernel_width();
  const int64_t sh = conv.stride_height() ? conv.stride_height() : 1;
  const int64_t sw = conv.stride_width() ? conv.stride_width() : 1;
  const int64_t filters = conv.filters();
  int64_t oh, ow, ph, pw;
  Window(in.h, kh, sh, conv.padding(), &oh, &ph);
  Window(in.w, kw, sw, conv.padding(), &ow, &pw);
  Vector out(oh * ow * filters);
  for (int64_t y = 0; y < oh; ++y) {
    for (int64_t x = 0; x < ow; ++x) {
      for (int64_t f = 0; f < filters; ++f) {
        double sum = bias[f];
        for (int64_t i = 0; i < kh; ++i) {
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t iy = y * sh - ph + i, ix = x * sw - pw + j;
            if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
            for (int64_t c = 0; c < in.c; ++c) {
              // Keras kernel {kh, kw, C, filters}
              sum += in.at(iy, ix, c) *
                     kernel[((i * kw + j) * in.c + c) * filters + f];
            }
          }
        }
        out[(y * ow + x) * filters + f] = Apply(conv.activation(), sum);
      }
    }
  }
  return out;
}

Vector MaxPool(const nnserve::v1::MaxPooling2DLayer& pool, const Image& in) {
  const int64_t kh = pool.pool_height(), kw = pool.pool_width();
  const int64_t sh = pool.stride_height() ? pool.stride_height() : kh;
  const int64_t sw = pool.stride_width() ? pool.stride_width() : kw;
  int64_t oh, ow, ph, pw;
  Window(in.h, kh, sh, pool.padding(), &oh, &ph);
  Window(in.w, kw, sw, pool.padding(), &ow, &pw);
  Vector out(oh * ow * in.c);
  for (int64_t y = 0; y < oh; ++y) {
    for (int64_t x = 0; x < ow; ++x) {
      for (int64_t c = 0; c < in.c; ++c) {
        double best = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < kh; ++i) {
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t iy = y * sh - ph + i, ix = x * sw - pw + j;
            if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
            best = std::max(best, in.at(iy, ix, c));
          }
        }
        out[(y * ow + x) * in.c + c] = best;
      }
    }
  }
  return out;
}

Vector Rnn(const nnserve::v1::SimpleRNNLayer& rnn, const Shape& in_shape,
           const Vector& in, const Vector& kernel, const Vector& recurrent,
           const Vector& bias) {
  const int64_t steps = in_shape[0], features = in_shape[1];
  const int64_t units = rnn.units();
  Vector h(units, 0.0), out;
  for (int64_t t = 0; t < steps; ++t) {
    Vector next(units);
    for (int64_t u = 0; u < units; ++u) {
      double sum = bias[u];
      for (int64_t f = 0; f < features; ++f) {
        sum += in[t * features + f] * kernel[f * units + u];
      }
      for (int64_t v = 0; v < units; ++v) {
        sum += h[v] * recurrent[v * units + u];
      }
      next[u] = std::tanh(sum);
    }
    h = next;
    if (rnn.return_sequences()) out.insert(out.end(), h.begin(), h.end());
  }
  return rnn.return_sequences() ? out : h;
}

double Epsilon(const LayerSpec& spec) {
  return spec.batch_normalization().epsilon() == 0
             ? 0.001
             : spec.batch_normalization().epsilon();
}

// One sample through layer `index` (inference semantics).
Vector Forward(const Network& network, const ReferenceParameters& parameters,
               int index, int first_param, const Vector& in) {
  const Layer& layer = network.layer(index);
  const LayerSpec& spec = layer.spec();
  auto param = [&](int k) -> const Vector& {
    return parameters[first_param + k];
  };
  switch (spec.kind_case()) {
    case LayerSpec::kDense: {
      const int64_t features = layer.input_shape()[0];
      const int64_t units = spec.dense().units();
      Vector out(units);
      for (int64_t u = 0; u < units; ++u) {
        double sum = param(1)[u];
        for (int64_t f = 0; f < features; ++f) {
          sum += in[f] * param(0)[f * units + u];  // Keras kernel {F, units}
        }
        out[u] = sum;
      }
      ApplyInPlace(spec.dense().activation(), out);
      return out;
    }
    case LayerSpec::kConv2D:
      return Conv(spec.conv2d(), AsImage(layer.input_shape(), in), param(0),
                  param(1));
    case LayerSpec::kMaxPooling2D:
      return MaxPool(spec.max_pooling2d(), AsImage(layer.input_shape(), in));
    case LayerSpec::kSimpleRnn:
      return Rnn(spec.simple_rnn(), layer.input_shape(), in, param(0),
                 param(1), param(2));
    case LayerSpec::kBatchNormalization: {
      const double epsilon = Epsilon(spec);
      const int64_t features = layer.input_shape().back();
      Vector out(in.size());
      for (size_t i = 0; i < in.size(); ++i) {
        const int64_t f = static_cast<int64_t>(i) % features;
        out[i] = param(0)[f] * (in[i] - param(2)[f]) /
                     std::sqrt(param(3)[f] + epsilon) +
                 param(1)[f];
      }
      return out;
    }
    case LayerSpec::kActivation: {
      Vector out = in;
      ApplyInPlace(spec.activation().activation(), out);
      return out;
    }
    default:  // Flatten, Dropout: the identity on row-major data
      return in;
  }
}

// The whole batch through a BatchNormalization layer in training mode.
void BatchNormTraining(const Layer& layer, const Vector& gamma,
                       const Vector& beta, std::vector<Vector>& batch) {
  const int64_t features = layer.input_shape().back();
  const double epsilon = Epsilon(layer.spec());
  Vector mean(features, 0.0), variance(features, 0.0);
  double rows = 0;
  for (const Vector& v : batch) {
    for (size_t i = 0; i < v.size(); ++i) mean[i % features] += v[i];
    rows += static_cast<double>(v.size()) / features;
  }
  for (double& m : mean) m /= rows;
  for (const Vector& v : batch) {
    for (size_t i = 0; i < v.size(); ++i) {
      const double d = v[i] - mean[i % features];
      variance[i % features] += d * d;
    }
  }
  for (double& var : variance) var /= rows;
  for (Vector& v : batch) {
    for (size_t i = 0; i < v.size(); ++i) {
      const int64_t f = static_cast<int64_t>(i) % features;
      v[i] = gamma[f] * (v[i] - mean[f]) / std::sqrt(variance[f] + epsilon) +
             beta[f];
    }
  }
}

}  // namespace

ReferenceParameters ToReferenceParameters(const Network& network) {
  ReferenceParameters parameters;
  for (int id = 0; id < network.num_parameter_tensors(); ++id) {
    const Tensor& tensor = network.parameter(id);
    parameters.emplace_back(tensor.values().begin(), tensor.values().end());
  }
  return parameters;
}

std::vector<double> ReferenceForward(const Network& network,
                                     const ReferenceParameters& parameters,
                                     absl::Span<const double> input, int64_t n,
                                     bool training) {
  const int64_t in_size = NumElements(network.input_shape());
  std::vector<Vector> batch;
  for (int64_t s = 0; s < n; ++s) {
    batch.emplace_back(input.begin() + s * in_size,
                       input.begin() + (s + 1) * in_size);
  }
  int first_param = 0;
  for (int i = 0; i < network.num_layers(); ++i) {
    const Layer& layer = network.layer(i);
    if (training && layer.spec().has_batch_normalization()) {
      BatchNormTraining(layer, parameters[first_param],
                        parameters[first_param + 1], batch);
    } else {
      for (Vector& v : batch) {
        v = Forward(network, parameters, i, first_param, v);
      }
    }
    first_param += static_cast<int>(layer.parameters().size());
  }
  std::vector<double> result;
  for (const Vector& v : batch) result.insert(result.end(), v.begin(), v.end());
  return result;
}

std::vector<double> ReferenceForward(const Network& network,
                                     absl::Span<const float> input,
                                     int64_t n) {
  const std::vector<double> doubles(input.begin(), input.end());
  return ReferenceForward(network, ToReferenceParameters(network), doubles, n,
                          /*training=*/false);
}

double ReferenceLoss(const Network& network,
                     const ReferenceParameters& parameters,
                     absl::Span<const double> input,
                     absl::Span<const int32_t> labels) {
  const int64_t n = static_cast<int64_t>(labels.size());
  const std::vector<double> output =
      ReferenceForward(network, parameters, input, n, /*training=*/true);
  const int64_t classes = NumElements(network.output_shape());
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    loss -= std::log(output[i * classes + labels[i]]);
  }
  loss /= static_cast<double>(n);
  for (int id = 0; id < network.num_parameter_tensors(); ++id) {
    const ParameterSpec& spec = network.parameter_spec(id);
    if (!spec.trainable) continue;
    for (double w : parameters[id]) {
      loss += spec.regularizer.l1() * std::abs(w) +
              spec.regularizer.l2() * w * w;
    }
  }
  return loss;
}

}  // namespace nn::testing
