#include "server/metrics/process_collector.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace nn::metrics {
namespace {

using prometheus::MetricType;

struct ProcessFamily {
  const char* name;
  const char* help;
  MetricType type;
};

// Names and help texts as the Go client writes them.
constexpr ProcessFamily kCpuSeconds = {
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.", MetricType::Counter};
constexpr ProcessFamily kResidentMemory = {
    "process_resident_memory_bytes", "Resident memory size in bytes.",
    MetricType::Gauge};
constexpr ProcessFamily kVirtualMemory = {
    "process_virtual_memory_bytes", "Virtual memory size in bytes.",
    MetricType::Gauge};
constexpr ProcessFamily kOpenFds = {
    "process_open_fds", "Number of open file descriptors.", MetricType::Gauge};
constexpr ProcessFamily kMaxFds = {"process_max_fds",
                                   "Maximum number of open file descriptors.",
                                   MetricType::Gauge};
constexpr ProcessFamily kStartTime = {
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    MetricType::Gauge};

// /proc files report size 0: read until EOF.
absl::StatusOr<std::string> ReadProcFile(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(error)));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

prometheus::MetricFamily MakeFamily(const ProcessFamily& family,
                                    double value) {
  prometheus::MetricFamily result;
  result.name = family.name;
  result.help = family.help;
  result.type = family.type;
  prometheus::ClientMetric& sample = result.metric.emplace_back();
  if (family.type == MetricType::Counter) {
    sample.counter.value = value;
  } else {
    sample.gauge.value = value;
  }
  return result;
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text) {
  const size_t paren = text.rfind(')');
  if (paren == absl::string_view::npos) {
    return absl::InvalidArgumentError("/proc stat: no command name");
  }
  // Field 3 (state) is fields[0], so field N is fields[N - 3].
  const std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(paren + 1), ' ', absl::SkipWhitespace());
  if (fields.size() < 22) {
    return absl::InvalidArgumentError(absl::StrCat(
        "/proc stat: ", fields.size() + 2, " fields, expected at least 24"));
  }
  ProcStat stat;
  const bool ok = absl::SimpleAtoi(fields[14 - 3], &stat.utime_ticks) &&
                  absl::SimpleAtoi(fields[15 - 3], &stat.stime_ticks) &&
                  absl::SimpleAtoi(fields[22 - 3], &stat.start_time_ticks) &&
                  absl::SimpleAtoi(fields[23 - 3], &stat.virtual_memory_bytes) &&
                  absl::SimpleAtoi(fields[24 - 3], &stat.resident_pages);
  if (!ok) return absl::InvalidArgumentError("/proc stat: malformed number");
  return stat;
}

absl::StatusOr<int64_t> ParseBootTimeSeconds(absl::string_view proc_stat_text) {
  for (absl::string_view line : absl::StrSplit(proc_stat_text, '\n')) {
    const std::vector<absl::string_view> words =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    int64_t seconds;
    if (words.size() == 2 && words[0] == "btime" &&
        absl::SimpleAtoi(words[1], &seconds)) {
      return seconds;
    }
  }
  return absl::InvalidArgumentError("/proc/stat: no btime line");
}

absl::StatusOr<int64_t> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot list /proc/self/fd: ", std::strerror(errno)));
  }
  const std::string own_fd = std::to_string(dirfd(dir));
  int64_t count = 0;
  while (const dirent* entry = readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == own_fd) continue;
    ++count;
  }
  closedir(dir);
  return count;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  std::vector<absl::Status> errors;

  absl::StatusOr<std::string> stat_text = ReadProcFile("/proc/self/stat");
  absl::StatusOr<ProcStat> stat =
      stat_text.ok() ? ParseProcStat(*stat_text) : stat_text.status();
  const auto ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (stat.ok()) {
    families.push_back(MakeFamily(
        kCpuSeconds,
        static_cast<double>(stat->utime_ticks + stat->stime_ticks) /
            ticks_per_second));
    families.push_back(MakeFamily(
        kResidentMemory, static_cast<double>(stat->resident_pages) * page_bytes));
    families.push_back(MakeFamily(
        kVirtualMemory, static_cast<double>(stat->virtual_memory_bytes)));
    absl::StatusOr<std::string> system_stat = ReadProcFile("/proc/stat");
    absl::StatusOr<int64_t> boot_seconds =
        system_stat.ok() ? ParseBootTimeSeconds(*system_stat)
                         : system_stat.status();
    if (boot_seconds.ok()) {
      families.push_back(MakeFamily(
          kStartTime,
          static_cast<double>(*boot_seconds) +
              static_cast<double>(stat->start_time_ticks) / ticks_per_second));
    } else {
      errors.push_back(boot_seconds.status());
    }
  } else {
    errors.push_back(stat.status());
  }

  absl::StatusOr<int64_t> open_fds = CountOpenFds();
  if (open_fds.ok()) {
    families.push_back(MakeFamily(kOpenFds, static_cast<double>(*open_fds)));
  } else {
    errors.push_back(open_fds.status());
  }

  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    families.push_back(MakeFamily(
        kMaxFds, limit.rlim_cur == RLIM_INFINITY
                     ? INFINITY
                     : static_cast<double>(limit.rlim_cur)));
  } else {
    errors.push_back(absl::UnavailableError(
        absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno))));
  }

  if (!errors.empty() && !error_logged_.exchange(true)) {
    NN_LOG(WARNING) << "process metrics incomplete (logged once): "
                    << errors.front().message();
  }
  return families;
}

}  // namespace nn::metrics
