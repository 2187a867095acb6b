#include "common/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

namespace nn {
namespace {

// The cgroup CPU quota in CPUs (quota / period), or 0 if unlimited/unknown.
double CgroupCpuLimit() {
  // cgroup v2: "max 100000" (unlimited) or "<quota> <period>".
  if (std::ifstream in("/sys/fs/cgroup/cpu.max"); in) {
    std::string quota;
    double period = 0;
    if (in >> quota >> period && quota != "max" && period > 0) {
      return std::stod(quota) / period;
    }
    return 0;
  }
  // cgroup v1: quota -1 means unlimited.
  std::ifstream quota_in("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream period_in("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (quota_in >> quota && period_in >> period && quota > 0 && period > 0) {
    return quota / period;
  }
  return 0;
}

}  // namespace

int AvailableCpus() {
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    cpus = std::min(cpus > 0 ? cpus : CPU_SETSIZE, CPU_COUNT(&set));
  }
  const double limit = CgroupCpuLimit();
  if (limit > 0) cpus = std::min(cpus, static_cast<int>(std::ceil(limit)));
  return std::max(1, cpus);
}

}  // namespace nn
