// ExecutionPlan::Describe (engine/plan.h): a plan's steps as text, from what
// oneDNN reports of each primitive and from the plan's own bindings.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/plan.h"
#include "oneapi/dnnl/dnnl_debug.h"

namespace nn {
namespace {

// "f32{256,32,26,26}:s{21632,1,832,32}:b{1:16}" (strides and inner blocks
// only for a blocked layout; "any"/other format kinds by name).
std::string DescribeMd(const dnnl_memory_desc_t& md) {
  std::string text = absl::StrCat(dnnl_dt2str(md.data_type), "{",
                                  absl::StrJoin(md.dims, md.dims + md.ndims, ","),
                                  "}");
  if (md.format_kind != dnnl_blocked) {
    absl::StrAppend(&text, ":", dnnl_fmt_kind2str(md.format_kind));
    return text;
  }
  const dnnl_blocking_desc_t& blocking = md.format_desc.blocking;
  absl::StrAppend(&text, ":s{",
                  absl::StrJoin(blocking.strides, blocking.strides + md.ndims, ","),
                  "}");
  if (blocking.inner_nblks > 0) {
    std::vector<std::string> blocks;
    for (int i = 0; i < blocking.inner_nblks; ++i) {
      blocks.push_back(absl::StrCat(blocking.inner_idxs[i], ":", blocking.inner_blks[i]));
    }
    absl::StrAppend(&text, ":b{", absl::StrJoin(blocks, ","), "}");
  }
  if (md.offset0 != 0) absl::StrAppend(&text, ":+", md.offset0);
  return text;
}

std::string ArgName(int arg) {
  switch (arg) {
    case DNNL_ARG_SRC: return "src";
    case DNNL_ARG_SRC_1: return "src_iter";
    case DNNL_ARG_DST: return "dst";
    case DNNL_ARG_DST_1: return "dst_iter";
    case DNNL_ARG_WEIGHTS: return "weights";
    case DNNL_ARG_WEIGHTS_1: return "weights_iter";
    case DNNL_ARG_BIAS: return "bias";
    case DNNL_ARG_MEAN: return "mean";
    case DNNL_ARG_VARIANCE: return "variance";
    case DNNL_ARG_WORKSPACE: return "workspace";
    case DNNL_ARG_SCRATCHPAD: return "scratchpad";
    default: return absl::StrCat("arg", arg);
  }
}

// " post-ops [eltwise_relu,...]", or "" without post-ops.
std::string DescribePostOps(const_dnnl_primitive_desc_t pd) {
  const_dnnl_primitive_attr_t attr = nullptr;
  const_dnnl_post_ops_t post_ops = nullptr;
  if (dnnl_primitive_desc_get_attr(pd, &attr) != dnnl_success ||
      dnnl_primitive_attr_get_post_ops(attr, &post_ops) != dnnl_success) {
    return " post-ops ?";
  }
  const int n = dnnl_post_ops_len(post_ops);
  if (n == 0) return "";
  std::vector<std::string> ops;
  for (int i = 0; i < n; ++i) {
    const dnnl_primitive_kind_t kind = dnnl_post_ops_get_kind(post_ops, i);
    if (kind != dnnl_eltwise) {
      ops.push_back(dnnl_prim_kind2str(kind));
      continue;
    }
    float scale = 0, alpha = 0, beta = 0;
    dnnl_alg_kind_t alg = dnnl_alg_kind_undef;
    dnnl_post_ops_get_params_eltwise(post_ops, i, &scale, &alg, &alpha, &beta);
    ops.push_back(absl::StrCat(dnnl_alg_kind2str(alg), "(", scale, ",", alpha, ",", beta, ")"));
  }
  return absl::StrCat(" post-ops [", absl::StrJoin(ops, ","), "]");
}

}  // namespace

std::vector<std::string> ExecutionPlan::Describe() const {
  std::vector<std::string> lines;
  for (const Step& step : steps_) {
    std::string line;
    if (step.host) {
      line = absl::StrCat("host ", step.host_name);
    } else {
      const_dnnl_primitive_desc_t pd = nullptr;
      if (dnnl_primitive_get_primitive_desc(step.primitive.get(), &pd) !=
          dnnl_success) {
        lines.push_back("? (no primitive descriptor)");
        continue;
      }
      dnnl_primitive_kind_t kind = dnnl_undefined_primitive;
      const char* impl = "?";
      dnnl_prop_kind_t prop = dnnl_prop_kind_undef;
      dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind);
      dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
      const bool has_prop =
          dnnl_primitive_desc_query(pd, dnnl_query_prop_kind, 0, &prop) ==
          dnnl_success;
      line = absl::StrCat(dnnl_prim_kind2str(kind), " ", impl);
      if (has_prop && prop != dnnl_prop_kind_undef) {
        absl::StrAppend(&line, " ", dnnl_prop_kind2str(prop));
      }
      absl::StrAppend(&line, DescribePostOps(pd));
    }

    std::vector<std::pair<int, dnnl_memory_t>> args;
    for (const dnnl_exec_arg_t& arg : step.args) args.emplace_back(arg.arg, arg.memory);
    std::sort(args.begin(), args.end());
    for (const auto& [arg, memory] : args) {
      std::string where = "param";
      for (const Binding& binding : bindings_) {
        if (binding.memory.get() != memory) continue;
        switch (binding.region) {
          case Region::kInput: where = "in"; break;
          case Region::kOutput: where = "out"; break;
          case Region::kArena: where = absl::StrCat("arena@", binding.offset); break;
        }
        if (binding.region != Region::kArena && binding.offset != 0) {
          absl::StrAppend(&where, "+", binding.offset);
        }
        break;
      }
      const dnnl_memory_desc_t* md = nullptr;
      std::string layout = "?";
      if (dnnl_memory_get_memory_desc(memory, &md) == dnnl_success && md != nullptr) {
        layout = DescribeMd(*md);
      }
      absl::StrAppend(&line, " ", ArgName(arg), "=", where, ":", layout);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace nn
