// The repository's second part: what to change. A pure function of what is
// on disk (repository_scan.h), the model's version policy and what the
// repository holds; no I/O, no clock, no lock, so every policy case is a
// plain function test.
//
// Rules (for one model):
//   - Candidates: the versions on disk, except one that FAILED with exactly
//     the files it has now (it is retried once its files change, and so is
//     a version whose files are gone and come back).
//   - Selected: what the version policy picks among the candidates:
//     latest { num_versions: n } the n highest (n <= 0 or no policy: 1),
//     all {} every one, specific { versions } those listed that are
//     candidates.
//   - load: selected and not AVAILABLE, newest first.
//   - unload: AVAILABLE and not selected (the policy dropped it, or its
//     files are gone from disk).
//   - forget: FAILED and no longer on disk (its record is dropped).
// A version whose load fails becomes FAILED with its files, so planning
// again makes the next older candidate eligible: the apply step loads,
// re-plans, and unloads only once a plan has nothing left to load, so the
// last good version keeps serving until its successor is AVAILABLE.
// An AVAILABLE version whose file changed in place is not reloaded (publish
// a new version instead).
#ifndef NNSERVE_SERVER_REPOSITORY_PLAN_H_
#define NNSERVE_SERVER_REPOSITORY_PLAN_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "nnserve/v1/config.pb.h"
#include "server/repository_scan.h"

namespace nn {

// A version the repository holds, as the plan needs to know it.
struct HeldVersion {
  enum class State { kAvailable, kFailed };
  State state = State::kAvailable;
  // For kFailed: the files the failed attempt saw.
  std::vector<ModelFileOnDisk> files;
};

struct VersionPlan {
  std::set<int64_t> selected;
  std::vector<int64_t> load;    // newest first
  std::vector<int64_t> unload;  // ascending
  std::vector<int64_t> forget;  // ascending
  bool operator==(const VersionPlan&) const = default;
};

// The versions `policy` selects out of `candidates`.
std::set<int64_t> SelectVersions(const nnserve::v1::VersionPolicy& policy,
                                 const std::set<int64_t>& candidates);

VersionPlan PlanVersions(const ModelOnDisk& disk,
                         const nnserve::v1::VersionPolicy& policy,
                         const std::map<int64_t, HeldVersion>& held);

}  // namespace nn

#endif  // NNSERVE_SERVER_REPOSITORY_PLAN_H_
