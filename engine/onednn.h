// Small helpers shared by the engine's oneDNN code. Not part of the serving
// API: layers, plans and (later) training use them.
#ifndef NNSERVE_ENGINE_ONEDNN_H_
#define NNSERVE_ENGINE_ONEDNN_H_

#include <exception>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/tensor.h"
#include "nnserve/v1/model.pb.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nn {

// The process-wide CPU engine (index 0), created on first use. Thread-safe.
const dnnl::engine& CpuEngine();

// Runs `f` (which may throw dnnl::error or std::bad_alloc) and converts an
// exception into a status: INTERNAL naming `what` and oneDNN's message, or
// RESOURCE_EXHAUSTED for a failed allocation. Returns f's status otherwise.
template <typename F>
absl::Status CatchOneDnn(absl::string_view what, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat(what, ": oneDNN error ", e.status, ": ", e.what()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": out of memory"));
  }
}

// OK for dnnl_success, else INTERNAL naming `what` and the C API's status.
// Inline: plans call it for every primitive they execute.
inline absl::Status CheckDnnl(dnnl_status_t status, absl::string_view what) {
  if (status == dnnl_success) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": oneDNN status ", status));
}

// The eltwise algorithm of an element-wise activation; nullopt for linear
// (and unspecified) and for softmax, which is not element-wise.
std::optional<dnnl::algorithm> EltwiseAlgorithm(
    nnserve::v1::Activation activation);

// The engine's canonical plain layout for a batch of n samples of Keras
// per-sample shape `sample` (rank 1 to 3), in which the bytes are exactly the
// row-major Keras tensor {n, sample...}:
//   {F}       -> dims {n, F}        tag nc
//   {T, F}    -> dims {T, n, F}     tag ntc   (oneDNN's RNN order)
//   {H, W, C} -> dims {n, C, H, W}  tag nhwc  (channels last)
dnnl::memory::desc PlainDesc(const Shape& sample, int64_t n);

// A batch of images {H, W} or {H, W, C} as oneDNN's 4-D {n, C, H, W} in
// channels-last order (C = 1 for {H, W}); the same bytes as PlainDesc.
dnnl::memory::desc ImageDesc(const Shape& sample, int64_t n,
                             dnnl::memory::format_tag tag);

}  // namespace nn

#endif  // NNSERVE_ENGINE_ONEDNN_H_
