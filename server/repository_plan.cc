#include "server/repository_plan.h"

namespace nn {

std::set<int64_t> SelectVersions(const nnserve::v1::VersionPolicy& policy,
                                 const std::set<int64_t>& candidates) {
  std::set<int64_t> selected;
  switch (policy.policy_case()) {
    case nnserve::v1::VersionPolicy::kAll:
      selected = candidates;
      break;
    case nnserve::v1::VersionPolicy::kSpecific:
      for (int64_t v : policy.specific().versions()) {
        if (candidates.contains(v)) selected.insert(v);
      }
      break;
    case nnserve::v1::VersionPolicy::kLatest:
    case nnserve::v1::VersionPolicy::POLICY_NOT_SET: {
      int n = policy.has_latest() ? policy.latest().num_versions() : 1;
      if (n <= 0) n = 1;
      for (auto it = candidates.rbegin(); it != candidates.rend() && n > 0;
           ++it, --n) {
        selected.insert(*it);
      }
      break;
    }
  }
  return selected;
}

VersionPlan PlanVersions(const ModelOnDisk& disk,
                         const nnserve::v1::VersionPolicy& policy,
                         const std::map<int64_t, HeldVersion>& held) {
  std::set<int64_t> candidates;
  for (const auto& [version, on_disk] : disk.versions) {
    auto it = held.find(version);
    if (it != held.end() && it->second.state == HeldVersion::State::kFailed &&
        it->second.files == on_disk.files) {
      continue;
    }
    candidates.insert(version);
  }
  VersionPlan plan;
  plan.selected = SelectVersions(policy, candidates);
  for (auto v = plan.selected.rbegin(); v != plan.selected.rend(); ++v) {
    auto it = held.find(*v);
    if (it == held.end() || it->second.state != HeldVersion::State::kAvailable) {
      plan.load.push_back(*v);
    }
  }
  for (const auto& [version, h] : held) {
    if (h.state == HeldVersion::State::kAvailable &&
        !plan.selected.contains(version)) {
      plan.unload.push_back(version);
    } else if (h.state == HeldVersion::State::kFailed &&
               !disk.versions.contains(version)) {
      plan.forget.push_back(version);
    }
  }
  return plan;
}

}  // namespace nn
