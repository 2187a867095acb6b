#include "engine/plan.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/onednn.h"

namespace nn {
namespace {

size_t AlignUp(size_t bytes) {
  return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

}  // namespace

AlignedBuffer::AlignedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes_ == 0) return;
  data_ = ::operator new(AlignUp(bytes_), std::align_val_t(kArenaAlignment));
  std::memset(data_, 0, bytes_);
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    AlignedBuffer old(std::move(*this));
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() {
  if (data_ != nullptr) {
    ::operator delete(data_, std::align_val_t(kArenaAlignment));
  }
}

absl::StatusOr<const void*> WeightCache::Get(
    int parameter_id, const float* source, const dnnl::memory::desc& source_md,
    const dnnl::memory::desc& want, dnnl::stream& stream) const {
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<Entry>& entry : entries_) {
    if (entry->parameter_id == parameter_id && entry->md == want) {
      return static_cast<const void*>(entry->buffer.data());
    }
  }
  auto entry = std::make_unique<Entry>();
  absl::Status status = CatchOneDnn("packing a parameter", [&] {
    entry->parameter_id = parameter_id;
    entry->md = want;
    entry->buffer = AlignedBuffer(want.get_size());
    // oneDNN reads but never writes a reorder's source.
    dnnl::memory from(source_md, CpuEngine(), const_cast<float*>(source));
    dnnl::memory to(want, CpuEngine(), entry->buffer.data());
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  entries_.push_back(std::move(entry));
  return static_cast<const void*>(entries_.back()->buffer.data());
}

void WeightCache::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
}

int WeightCache::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(entries_.size());
}

absl::Status ExecutionPlan::Execute(const float* input, float* output,
                                    void* arena, dnnl::stream& stream) {
  const bool rebind_input = input != bound_input_;
  const bool rebind_output = output != bound_output_;
  const bool rebind_arena = arena != bound_arena_;
  if (rebind_input || rebind_output || rebind_arena) {
    for (Binding& binding : bindings_) {
      void* base = nullptr;
      switch (binding.region) {
        case Region::kInput:
          if (!rebind_input) continue;
          // oneDNN never writes the input: no step has it as a destination.
          base = const_cast<float*>(input);
          break;
        case Region::kOutput:
          if (!rebind_output) continue;
          base = output;
          break;
        case Region::kArena:
          if (!rebind_arena) continue;
          base = arena;
          break;
      }
      absl::Status status = CheckDnnl(
          dnnl_memory_set_data_handle_v2(binding.memory.get(),
                                         static_cast<char*>(base) +
                                             binding.offset,
                                         nullptr),
          "binding a buffer");
      if (!status.ok()) {
        bound_input_ = bound_output_ = bound_arena_ = nullptr;
        return status;
      }
    }
    bound_input_ = input;
    bound_output_ = output;
    bound_arena_ = arena;
  }
  for (const Step& step : steps_) {
    if (step.host) {
      step.host();
      continue;
    }
    absl::Status status =
        CheckDnnl(dnnl_primitive_execute(step.primitive.get(), stream.get(),
                                         static_cast<int>(step.args.size()),
                                         step.args.data()),
                  "executing a primitive");
    if (!status.ok()) return status;
  }
  return CheckDnnl(dnnl_stream_wait(stream.get()), "waiting for the stream");
}

PlanBuilder::PlanBuilder(int64_t batch_size,
                         const dnnl::memory::desc& input_md,
                         const WeightCache& weights,
                         absl::Span<const Tensor> parameters,
                         dnnl::stream& stream)
    : ForwardBuilder(/*training=*/false, batch_size),
      weights_(weights),
      parameters_(parameters),
      stream_(stream),
      plan_(new ExecutionPlan()) {
  buffers_.push_back({BufferKind::kInput, input_md.get_size()});
  set_current(NewAlias(input_md, 0));
}

bool PlanBuilder::current_writable() const {
  const int buffer = BufferOf(current());
  return buffer >= 0 && buffers_[buffer].kind == BufferKind::kArena;
}

int PlanBuilder::BufferOf(const dnnl::memory& value) const {
  for (const Alias& alias : aliases_) {
    if (alias.memory.get() == value.get()) return alias.buffer;
  }
  return -1;
}

dnnl::memory PlanBuilder::NewAlias(const dnnl::memory::desc& md, int buffer) {
  dnnl::memory memory(md, CpuEngine(), DNNL_MEMORY_NONE);
  aliases_.push_back({memory, buffer});
  return memory;
}

dnnl::memory PlanBuilder::NewMemory(const dnnl::memory::desc& md) {
  buffers_.push_back({BufferKind::kArena, md.get_size()});
  return NewAlias(md, static_cast<int>(buffers_.size()) - 1);
}

dnnl::memory PlanBuilder::View(const dnnl::memory& value,
                               const dnnl::memory::desc& md) {
  const int buffer = BufferOf(value);
  if (buffer < 0 || md.get_size() > buffers_[buffer].bytes) {
    throw dnnl::error(dnnl_invalid_arguments,
                      "a view must fit in an activation buffer");
  }
  return NewAlias(md, buffer);
}

absl::StatusOr<dnnl::memory> PlanBuilder::Parameter(
    int index, const dnnl::memory::desc& keras_md,
    const dnnl::memory::desc& want) {
  const int id = parameter_id(index);
  absl::StatusOr<const void*> packed =
      weights_.Get(id, parameters_[id].data(), keras_md, want, stream_);
  if (!packed.ok()) return packed.status();
  // Plans only read parameters.
  dnnl::memory memory(want, CpuEngine(), const_cast<void*>(*packed));
  plan_->fixed_.push_back(memory);
  return memory;
}

void PlanBuilder::AddStep(const dnnl::primitive& primitive,
                          const std::unordered_map<int, dnnl::memory>& args,
                          const dnnl::memory::desc& scratchpad_md) {
  ExecutionPlan::Step step{primitive, {}, {}, {}};
  step.args.reserve(args.size() + 1);
  for (const auto& [arg, memory] : args) {
    step.args.push_back({arg, memory.get()});
  }
  if (scratchpad_md.get_size() > 0) {
    if (scratchpad_buffer_ < 0) {
      buffers_.push_back({BufferKind::kScratchpad, 0});
      scratchpad_buffer_ = static_cast<int>(buffers_.size()) - 1;
    }
    Buffer& scratchpad = buffers_[scratchpad_buffer_];
    scratchpad.bytes = std::max(scratchpad.bytes, scratchpad_md.get_size());
    dnnl::memory memory = NewAlias(scratchpad_md, scratchpad_buffer_);
    step.args.push_back({DNNL_ARG_SCRATCHPAD, memory.get()});
  }
  plan_->steps_.push_back(std::move(step));
}

void PlanBuilder::AddHostStep(std::string name,
                              const std::unordered_map<int, dnnl::memory>& args,
                              std::function<void()> run) {
  ExecutionPlan::Step step{dnnl::primitive(), {}, std::move(run),
                           std::move(name)};
  for (const auto& [arg, memory] : args) {
    step.args.push_back({arg, memory.get()});
  }
  plan_->steps_.push_back(std::move(step));
}

absl::StatusOr<std::unique_ptr<ExecutionPlan>> PlanBuilder::Finish(
    const dnnl::memory::desc& output_md) {
  dnnl::memory output = CurrentAs(output_md);
  int output_buffer = BufferOf(output);
  if (buffers_[output_buffer].kind != BufferKind::kArena ||
      buffers_[output_buffer].bytes != output_md.get_size()) {
    // The result is (a view of) the input, or part of a larger buffer: copy.
    dnnl::memory copy = NewMemory(output_md);
    AddStep(dnnl::reorder(output, copy),
            {{DNNL_ARG_FROM, output}, {DNNL_ARG_TO, copy}});
    output_buffer = BufferOf(copy);
  }

  std::vector<size_t> offsets(buffers_.size(), 0);
  size_t arena_bytes = 0;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    if (buffers_[i].kind == BufferKind::kInput ||
        static_cast<int>(i) == output_buffer) {
      continue;
    }
    offsets[i] = arena_bytes;
    arena_bytes += AlignUp(buffers_[i].bytes);
  }
  for (const Alias& alias : aliases_) {
    ExecutionPlan::Region region = ExecutionPlan::Region::kArena;
    if (buffers_[alias.buffer].kind == BufferKind::kInput) {
      region = ExecutionPlan::Region::kInput;
    } else if (alias.buffer == output_buffer) {
      region = ExecutionPlan::Region::kOutput;
    }
    plan_->bindings_.push_back({alias.memory, region, offsets[alias.buffer]});
  }
  plan_->arena_bytes_ = arena_bytes;
  plan_->batch_size_ = batch_size();
  return std::move(plan_);
}

}  // namespace nn
