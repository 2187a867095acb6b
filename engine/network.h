// A validated sequential network (layers, shapes, parameter values) and the
// per-thread context that runs it.
//
// Network is the engine's core below Model: it has no classifier rules (any
// output shape, no labels), so tests and training can run any layer stack.
// Parameters are held in Keras layout; plans read them through a WeightCache
// that packs each once into the layout its primitive prefers.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Network> net, Network::Create({28, 28}, layers));
//   net->InitializeParameters(seed);                 // or SetParameters(...)
//   std::shared_ptr<const Network> shared = std::move(net);
//   auto context = NetworkContext::Create(shared);   // one per thread
//   RETURN_IF_ERROR(context->Run(input, n, output));
#ifndef NNSERVE_ENGINE_NETWORK_H_
#define NNSERVE_ENGINE_NETWORK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/layers/layers.h"
#include "engine/plan.h"
#include "engine/tensor.h"
#include "nnserve/v1/model.pb.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nn {

// Limits that keep a hostile or mistaken spec from asking for absurd sizes.
inline constexpr int kMaxLayers = 1000;
// Each dimension of a network's input shape is in [1, kMaxInputDimension].
inline constexpr int64_t kMaxInputDimension = 4096;
// Elements of any layer's per-sample output (and of the input).
inline constexpr int64_t kMaxSampleElements = int64_t{1} << 24;
// Scalar parameters of a whole network (1 GiB of floats).
inline constexpr int64_t kMaxNetworkParameters = int64_t{1} << 28;

class Network {
 public:
  // Builds `layers` on per-sample input `input_shape` (rank 1 to 3) and
  // checks them as a whole: names (ResolveLayerNames fills empty ones), each
  // layer's fields and shape rule (CreateLayer), the limits above, and that
  // only the last layer ends in softmax (Layer::ends_in_softmax), on a 1-D
  // output. Parameters start
  // at zero. INVALID_ARGUMENT naming the layer otherwise.
  static absl::StatusOr<std::unique_ptr<Network>> Create(
      const Shape& input_shape,
      google::protobuf::RepeatedPtrField<nnserve::v1::LayerSpec> layers);

  // The layers Create would build, with all its checks, without a network
  // or parameter storage (e.g. to validate a spec cheaply).
  static absl::StatusOr<std::vector<std::unique_ptr<Layer>>> BuildLayers(
      const Shape& input_shape,
      google::protobuf::RepeatedPtrField<nnserve::v1::LayerSpec> layers);

  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const;
  int num_layers() const { return static_cast<int>(layers_.size()); }
  const Layer& layer(int index) const { return *layers_[index]; }
  // The id of layer `index`'s first parameter (its parameters' ids are
  // consecutive, in Layer::parameters() order).
  int first_parameter_id(int index) const { return first_parameter_[index]; }
  absl::Span<const std::unique_ptr<Layer>> layers() const { return layers_; }
  // The layer specs with every name filled in.
  const google::protobuf::RepeatedPtrField<nnserve::v1::LayerSpec>&
  layer_specs() const {
    return specs_;
  }
  // Per-sample forward floating-point operations (see Layer::forward_flops).
  int64_t forward_flops() const;
  // Bytes of one sample's activations at inference: the input and every
  // layer's output as floats (an upper bound: fused activations and
  // in-place steps share buffers). What NetworkContext sizes chunks by.
  int64_t activation_bytes_per_sample() const;

  // Parameter tensors of all layers in layer order (ids 0, 1, ...).
  int num_parameter_tensors() const {
    return static_cast<int>(parameters_.size());
  }
  // "<layer>/<param>", e.g. "dense/kernel".
  const std::string& parameter_name(int id) const { return slots_[id].name; }
  int parameter_layer(int id) const { return slots_[id].layer; }
  const ParameterSpec& parameter_spec(int id) const;
  const Tensor& parameter(int id) const { return parameters_[id]; }
  // Mutable access for initialisation and training; drops the packed copies.
  // Never while a context of this network exists. The tensor itself stays
  // at its address for the network's life (training keeps pointers to it).
  Tensor* mutable_parameter(int id);
  // Drops the packed copies after values changed through pointers kept from
  // mutable_parameter (a training plan's optimiser steps), so that contexts
  // created afterwards see the new values. Never while a context exists.
  void ParametersChanged() { weight_cache_.Clear(); }
  // Number of scalar parameters.
  int64_t total_parameters() const;

  // Keras initialisation (see ParameterSpec::initializer), deterministic for a
  // given seed: parameter `id` draws from its own stream MixSeed(seed, id).
  void InitializeParameters(uint64_t seed);
  // Sets every parameter from `parameters` (any order, matched by name).
  // INVALID_ARGUMENT naming the layer and parameter for a missing, unknown
  // or repeated name, a shape other than the spec's, a value count that
  // does not match the shape, a NaN or infinity, or a negative variance.
  // On error nothing is changed.
  absl::Status SetParameters(
      const google::protobuf::RepeatedPtrField<nnserve::v1::Parameter>&
          parameters);
  // Appends every parameter, in id order, in Keras layout.
  void ExportParameters(
      google::protobuf::RepeatedPtrField<nnserve::v1::Parameter>* out) const;

  // Builds the inference plan for `batch_size` samples on the calling thread
  // (whose oneDNN thread count the primitives adopt); `stream` runs the
  // one-time parameter packing. A plan's input is {batch_size, input_shape}
  // and its output {batch_size, output_shape}, both dense row-major.
  absl::StatusOr<std::unique_ptr<ExecutionPlan>> BuildInferencePlan(
      int64_t batch_size, dnnl::stream& stream) const;

  const WeightCache& weight_cache() const { return weight_cache_; }

 private:
  struct Slot {
    int layer;
    int index_in_layer;
    std::string name;
  };
  Network() = default;

  Shape input_shape_;
  google::protobuf::RepeatedPtrField<nnserve::v1::LayerSpec> specs_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<int> first_parameter_;  // per layer
  std::vector<Slot> slots_;           // per parameter id
  std::vector<Tensor> parameters_;    // per parameter id
  WeightCache weight_cache_;
};

// Batch sizes that get their own execution plan: the powers of two and three
// times them (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, ...). A batch of
// any other size runs as consecutive chunks of these sizes, largest first
// (37 = 32 + 4 + 1, 63 = 48 + 12 + 3: at most three chunks up to 64).
// Every plan holds its own oneDNN primitives
// (~0.4 MB a plan for the tutorial CNN), so one plan per size 1..64 made a
// server's memory grow by tens of MB under load; with these sizes a context
// has 12 plans up to 64, all built at warm-up. Images are independent at
// inference, so a chunked batch computes the same values. Unit: images.
int64_t LargestPlanBatchSize(int64_t n);  // the largest such size <= n, n >= 1
// Every plan batch size <= max_n, ascending (what Prepare needs to warm up).
std::vector<int64_t> PlanBatchSizes(int64_t max_n);

// Runs one network on one thread, caching one plan per plan batch size.
// Not thread-safe and thread-confined: use it only on the thread that
// created it (Run from another thread is FAILED_PRECONDITION). Set that
// thread's oneDNN thread count first (engine/threading.h).
class NetworkContext {
 public:
  struct Options {
    // Plans kept; the least recently used is dropped beyond this (and
    // rebuilt, in milliseconds, when its batch size comes back). A plan
    // holds only primitives, which oneDNN's own primitive cache shares
    // between contexts: activations and scratchpads live in one arena per
    // context, as large as the largest batch size needs. The default covers
    // every plan batch size up to 4096.
    int max_cached_plans = 32;
    // Largest n Run accepts (bounds the arena); larger is INVALID_ARGUMENT.
    int64_t max_batch_size = 4096;
    // Bytes of activations a chunk may hold per oneDNN thread of the
    // creating thread (engine/threading.h; 0: no cap). A batch runs as
    // chunks of at most max_chunk() images: the largest plan batch size
    // whose activations (Network::activation_bytes_per_sample) fit in this
    // times the thread count, at least 1. Measured (bench/README.md, "Large
    // batches in chunks"): on an AVX-512 machine (2 MB of L2 a core) the
    // tutorial CNN's ~160 KB an image made a whole batch of 256 run at 0.70
    // of the chunked speed on 1 thread (0.77 on 2), as its activations left
    // the caches; on an AVX2 machine it was nearly flat from 8 to 256. 3 MiB
    // a thread gives the CNN chunks of 16 images (1 thread) or 32 (2): no
    // slower than whole batches from 12 to 64 (2 MiB, chunks of 12 / 24,
    // was 5-11 % slower at 32 and 64 on 2 threads), and keeps the MLP (a few
    // KB an image) and RNN (~11 KB) whole up to 256.
    size_t chunk_activation_bytes = size_t{3} << 20;
  };

  static std::unique_ptr<NetworkContext> Create(
      std::shared_ptr<const Network> network, Options options);
  static std::unique_ptr<NetworkContext> Create(
      std::shared_ptr<const Network> network) {
    return Create(std::move(network), Options());
  }
  NetworkContext(const NetworkContext&) = delete;
  NetworkContext& operator=(const NetworkContext&) = delete;

  const Network& network() const { return *network_; }

  // input: n samples of NumElements(input_shape) floats, row-major; output:
  // n samples of NumElements(output_shape). INVALID_ARGUMENT if n is outside
  // [1, max_batch_size] or a span's size differs; input and output must not
  // overlap. Runs as chunks of plan batch sizes (LargestPlanBatchSize) of at
  // most max_chunk() images. The
  // first call that needs a plan builds it (milliseconds: oneDNN generates
  // kernels); later calls add no allocation to oneDNN's own (see plan.h).
  absl::Status Run(absl::Span<const float> input, int64_t n,
                   absl::Span<float> output);
  // Builds (and keeps) the plans Run(n) uses, ahead of the first Run.
  absl::Status Prepare(int64_t n);

  int cached_plans() const { return static_cast<int>(plans_.size()); }
  // The largest chunk Run executes at once (Options::chunk_activation_bytes).
  int64_t max_chunk() const { return max_chunk_; }
  size_t arena_bytes() const { return arena_.bytes(); }

 private:
  NetworkContext(std::shared_ptr<const Network> network, Options options);
  absl::StatusOr<ExecutionPlan*> PlanFor(int64_t n);

  struct CachedPlan {
    std::unique_ptr<ExecutionPlan> plan;
    uint64_t last_use;
  };
  std::shared_ptr<const Network> network_;
  Options options_;
  std::thread::id owner_;
  std::optional<dnnl::stream> stream_;
  absl::flat_hash_map<int64_t, CachedPlan> plans_;  // by batch size
  uint64_t uses_ = 0;
  int64_t max_chunk_ = 1;  // a plan batch size, <= options_.max_batch_size
  AlignedBuffer arena_;
};

}  // namespace nn

#endif  // NNSERVE_ENGINE_NETWORK_H_
