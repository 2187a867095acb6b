// Keras' weight initialisers, seeded and deterministic: the same seed gives
// the same values on every platform (std::mt19937_64 is fully specified and
// the conversions to uniform and normal numbers are the engine's own).
#ifndef NNSERVE_ENGINE_INITIALIZERS_H_
#define NNSERVE_ENGINE_INITIALIZERS_H_

#include <cstdint>
#include <random>

#include "engine/layers/layers.h"
#include "engine/tensor.h"

namespace nn {

// A seeded source of uniform and normal numbers.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1).
  double Uniform();
  // Standard normal (Box-Muller).
  double Normal();
  uint64_t Next() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

// Mixes a seed and a stream number into an independent seed (SplitMix64).
uint64_t MixSeed(uint64_t seed, uint64_t stream);

// Keras' fans of a kernel shape: {in, out} for a matrix; for a conv kernel
// {kh, kw, in, out}: in * kh * kw and out * kh * kw.
void ComputeFans(const Shape& shape, int64_t* fan_in, int64_t* fan_out);

// A tensor of `spec.shape` initialised as `spec.initializer` says:
// zeros, ones, Glorot uniform or orthogonal (rows = product of all but the
// last dimension, columns = the last; orthonormal rows or columns, whichever
// are fewer), drawing from `random`.
Tensor InitialValue(const ParameterSpec& spec, Random& random);

}  // namespace nn

#endif  // NNSERVE_ENGINE_INITIALIZERS_H_
