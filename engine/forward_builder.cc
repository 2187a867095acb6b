#include "engine/forward_builder.h"

#include "engine/onednn.h"

namespace nn {

const dnnl::engine& ForwardBuilder::engine() const { return CpuEngine(); }

dnnl::memory ForwardBuilder::Reorder(const dnnl::memory& value,
                                     const dnnl::memory::desc& md) {
  if (value.get_desc() == md) return value;
  dnnl::memory result = NewMemory(md);
  AddStep(dnnl::reorder(value, result),
          {{DNNL_ARG_FROM, value}, {DNNL_ARG_TO, result}});
  return result;
}

}  // namespace nn
