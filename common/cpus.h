// How many CPUs this process may use: the smaller of the CPUs in its
// affinity mask and its cgroup CPU quota (cgroup v2 cpu.max or v1
// cpu.cfs_quota_us, rounded up), so that a container limited to 2 CPUs on a
// 64-core host sizes its thread pools for 2. At least 1.
#ifndef NNSERVE_COMMON_CPUS_H_
#define NNSERVE_COMMON_CPUS_H_

namespace nn {

int AvailableCpus();

}  // namespace nn

#endif  // NNSERVE_COMMON_CPUS_H_
