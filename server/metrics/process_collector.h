// Process metrics, read from /proc at scrape time, with the names, units and
// meanings of the Go and Python Prometheus clients:
//   process_cpu_seconds_total      counter  user + system CPU time, seconds
//   process_resident_memory_bytes  gauge    resident set size, bytes
//   process_virtual_memory_bytes   gauge    virtual memory size, bytes
//   process_open_fds               gauge    open file descriptors
//   process_max_fds                gauge    the soft RLIMIT_NOFILE
//   process_start_time_seconds     gauge    start time, seconds since the
//                                           Unix epoch
// Linux only. A value that cannot be read is left out of that scrape (and
// logged once), never reported as 0. prometheus-cpp 1.0.1 ships no process
// collector; this one is a prometheus::Collectable that the HTTP endpoint
// collects beside the registry:
//
//   metrics::ProcessCollector process;
//   MetricsHttpServer::Create(options, {&registry, &process}, readiness);
#ifndef NNSERVE_SERVER_METRICS_PROCESS_COLLECTOR_H_
#define NNSERVE_SERVER_METRICS_PROCESS_COLLECTOR_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace nn::metrics {

// The fields of /proc/<pid>/stat that the process metrics use (proc(5)).
struct ProcStat {
  uint64_t utime_ticks = 0;      // field 14, clock ticks
  uint64_t stime_ticks = 0;      // field 15, clock ticks
  uint64_t start_time_ticks = 0; // field 22, clock ticks after boot
  uint64_t virtual_memory_bytes = 0;  // field 23
  int64_t resident_pages = 0;    // field 24, pages
};

// Parses the text of /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses; parsing resumes after its last ')'.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text);

// The "btime" line of /proc/stat: boot time, seconds since the Unix epoch.
absl::StatusOr<int64_t> ParseBootTimeSeconds(absl::string_view proc_stat_text);

// The number of open file descriptors of this process (entries of
// /proc/self/fd, not counting the descriptor used to list them).
absl::StatusOr<int64_t> CountOpenFds();

class ProcessCollector final : public prometheus::Collectable {
 public:
  ProcessCollector() = default;

  // One family per readable value, one unlabelled sample each. Thread-safe
  // (scrapes may run at once); reads /proc, so a few tens of microseconds.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // Set once the first read error is logged, so a broken /proc does not
  // flood the log at every scrape.
  mutable std::atomic<bool> error_logged_{false};
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_PROCESS_COLLECTOR_H_
