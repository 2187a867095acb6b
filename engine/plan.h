// Execution plans: the oneDNN primitives of one network at one batch size,
// built once and run many times.
//
//   PlanBuilder b(batch_size, input_md, weight_cache, parameters, stream);
//   for each layer: b.BeginLayer(...); layer.AppendForward(b, fused);
//   ASSIGN_OR_RETURN(auto plan, b.Finish(output_md));
//   plan->Execute(input, output, arena, stream);       // per call
//
// A plan is thread-confined: it runs on the thread that built it, never on
// two threads at once (oneDNN primitives and memory objects are not shared).
// What plans share read-only is the packed parameters of a WeightCache.
//
// Memory. Activations live in one caller-provided arena (the plan only
// records offsets), so all plans of a context can share one arena sized for
// the largest. The plan's input is read in place from the caller's buffer (it
// is never written), and the last layer writes straight into the caller's
// output buffer when its layout is the plain output layout. Execute() itself
// allocates nothing (oneDNN 2.6 allocates a little inside each primitive
// execution, which no caller can avoid).
#ifndef NNSERVE_ENGINE_PLAN_H_
#define NNSERVE_ENGINE_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/forward_builder.h"
#include "engine/tensor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nn {

// Bytes of arena alignment; Execute() needs an arena aligned to this.
inline constexpr size_t kArenaAlignment = 64;

// A zero-initialised heap buffer aligned to kArenaAlignment. Move-only.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  ~AlignedBuffer();

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Parameters repacked into the layouts primitives ask for (format_tag::any),
// each made once by a reorder and then shared read-only by every plan of
// every thread. Which layout a primitive prefers can depend on the batch size,
// so one parameter may have several packed copies, keyed by memory desc.
// Thread-safe. Returned pointers stay valid until Clear().
class WeightCache {
 public:
  WeightCache() = default;
  WeightCache(const WeightCache&) = delete;
  WeightCache& operator=(const WeightCache&) = delete;

  // Parameter `parameter_id`, whose values `source` are laid out as
  // `source_md`, in layout `want`: the packed copy, made now on `stream`'s
  // thread if missing, aligned to kArenaAlignment. A copy even when the
  // layouts are equal: `source` (a Tensor's std::vector) is only 16-byte
  // aligned, and where malloc put it decided how fast a kernel streaming
  // the weights ran (the MLP's gemm read its kernels in place: up to 20 %
  // apart between two loads of the same model, issue 18).
  absl::StatusOr<const void*> Get(int parameter_id, const float* source,
                                  const dnnl::memory::desc& source_md,
                                  const dnnl::memory::desc& want,
                                  dnnl::stream& stream) const;

  // Drops every packed copy. Only while no plan uses them, e.g. after the
  // parameters changed.
  void Clear();

  // Number of packed copies held (for tests).
  int size() const;

 private:
  struct Entry {
    int parameter_id;
    dnnl::memory::desc md;
    AlignedBuffer buffer;
  };
  mutable absl::Mutex mu_;
  mutable std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// A built plan. Made by PlanBuilder::Finish.
class ExecutionPlan {
 public:
  ExecutionPlan(const ExecutionPlan&) = delete;
  ExecutionPlan& operator=(const ExecutionPlan&) = delete;

  int64_t batch_size() const { return batch_size_; }
  // Bytes of arena Execute() needs.
  size_t arena_bytes() const { return arena_bytes_; }
  int num_steps() const { return static_cast<int>(steps_.size()); }

  // One line per step, in execution order: what oneDNN runs and on which
  // memory, e.g.
  //   convolution jit:avx512_core forward_inference post-ops [eltwise_relu]
  //   src=in:f32{1,1,28,28}:s{784,784,28,1}
  //   weights=param:f32{32,1,3,3}:s{9,9,3,1}:b{1:16} dst=arena@0:...
  // (primitive kind, implementation, propagation, post-ops with their
  // algorithms, then every argument sorted by oneDNN's argument id: where it
  // lives — the caller's input or output, the arena at a byte offset, a
  // packed parameter or the scratchpad — its data type, dims, strides and
  // inner blocks). Two plans with equal descriptions run the same
  // primitives with the same implementations on the same layouts and the
  // same buffer plan; tests compare imported and native models with it
  // (tests/onnx/onnx_plan_test.cc). Not for parsing: the format may change.
  std::vector<std::string> Describe() const;

  // Runs every step and waits for the result. `input` holds the batch in the
  // plan's input layout and is only read; `output` receives the batch in the
  // plan's output layout; they must not overlap. `arena` is at least
  // arena_bytes() bytes, aligned to kArenaAlignment; its contents need not be
  // preserved between calls. INTERNAL if oneDNN reports an error.
  absl::Status Execute(const float* input, float* output, void* arena,
                       dnnl::stream& stream);

 private:
  friend class PlanBuilder;
  ExecutionPlan() = default;

  enum class Region { kInput, kOutput, kArena };
  // A memory object whose data handle the plan sets: region base + offset.
  struct Binding {
    dnnl::memory memory;
    Region region;
    size_t offset;
  };
  struct Step {
    dnnl::primitive primitive;          // empty for a host step
    std::vector<dnnl_exec_arg_t> args;  // handles owned by bindings_/fixed_
    std::function<void()> host;         // a host step's code
    std::string host_name;              // and what it does (Describe)
  };

  int64_t batch_size_ = 0;
  size_t arena_bytes_ = 0;
  std::vector<Step> steps_;
  std::vector<Binding> bindings_;
  std::vector<dnnl::memory> fixed_;  // parameters: handles never change
  const void* bound_input_ = nullptr;
  void* bound_output_ = nullptr;
  void* bound_arena_ = nullptr;
};

// Assembles an ExecutionPlan: the inference implementation of ForwardBuilder
// (engine/forward_builder.h). Layers call it from Layer::AppendForward
// (engine/layers/layers.h). Its memories are aliases of buffers whose arena
// offsets Finish lays out; the input buffer is the caller's. Any method may
// throw dnnl::error; callers wrap the whole build in CatchOneDnn.
class PlanBuilder final : public ForwardBuilder {
 public:
  // The plan's input is one batch in layout `input_md` (for a network, the
  // canonical PlainDesc of its input shape). `parameters` holds every
  // parameter of the network by id (Keras layout), read through `weights`;
  // both must outlive the plan. `stream` runs the one-time weight reorders;
  // it must belong to the calling thread.
  PlanBuilder(int64_t batch_size, const dnnl::memory::desc& input_md,
              const WeightCache& weights, absl::Span<const Tensor> parameters,
              dnnl::stream& stream);

  // False while current() is (a view of) the caller's input.
  bool current_writable() const override;
  // A new activation buffer of layout `md` in the arena.
  dnnl::memory NewMemory(const dnnl::memory::desc& md) override;
  // Both layouts must be plain and `md` no larger than `value`'s buffer.
  dnnl::memory View(const dnnl::memory& value,
                    const dnnl::memory::desc& md) override;
  // Read-only memory over the parameter in layout `want`; see
  // WeightCache::Get. An error status if packing fails.
  absl::StatusOr<dnnl::memory> Parameter(
      int index, const dnnl::memory::desc& keras_md,
      const dnnl::memory::desc& want) override;
  void AddStep(const dnnl::primitive& primitive,
               const std::unordered_map<int, dnnl::memory>& args,
               const dnnl::memory::desc& scratchpad_md = {}) override;
  void AddHostStep(std::string name,
                   const std::unordered_map<int, dnnl::memory>& args,
                   std::function<void()> run) override;

  // Ends the plan: current() converted to `output_md` becomes the output,
  // written straight into the caller's output buffer. The builder is spent.
  absl::StatusOr<std::unique_ptr<ExecutionPlan>> Finish(
      const dnnl::memory::desc& output_md);

 private:
  enum class BufferKind { kInput, kArena, kScratchpad };
  struct Buffer {
    BufferKind kind;
    size_t bytes;
  };
  struct Alias {
    dnnl::memory memory;
    int buffer;
  };
  // The buffer that `value` lives in; -1 for parameters.
  int BufferOf(const dnnl::memory& value) const;
  dnnl::memory NewAlias(const dnnl::memory::desc& md, int buffer);

  const WeightCache& weights_;
  absl::Span<const Tensor> parameters_;
  dnnl::stream& stream_;
  std::vector<Buffer> buffers_;
  std::vector<Alias> aliases_;
  std::unique_ptr<ExecutionPlan> plan_;
  int scratchpad_buffer_ = -1;
};

}  // namespace nn

#endif  // NNSERVE_ENGINE_PLAN_H_
