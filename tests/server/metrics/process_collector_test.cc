#include "server/metrics/process_collector.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/metric_family.h"

namespace nn::metrics {
namespace {

// A /proc/<pid>/stat line whose command name holds spaces and parentheses.
constexpr char kStatLine[] =
    "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 "
    "250 130 0 0 20 0 3 0 98765 123456789 2048 18446744073709551615 "
    "1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcessCollectorTest, ParsesStatFieldsAfterTheLastParenthesis) {
  auto stat = ParseProcStat(kStatLine);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->utime_ticks, 250u);
  EXPECT_EQ(stat->stime_ticks, 130u);
  EXPECT_EQ(stat->start_time_ticks, 98765u);
  EXPECT_EQ(stat->virtual_memory_bytes, 123456789u);
  EXPECT_EQ(stat->resident_pages, 2048);
}

TEST(ProcessCollectorTest, RejectsTruncatedOrMalformedStat) {
  EXPECT_FALSE(ParseProcStat("").ok());
  EXPECT_FALSE(ParseProcStat("1 (x) S 1 2 3").ok());
  std::string bad = kStatLine;
  bad.replace(bad.find("250"), 3, "2x0");
  EXPECT_FALSE(ParseProcStat(bad).ok());
}

TEST(ProcessCollectorTest, FindsBootTimeInProcStat) {
  auto boot = ParseBootTimeSeconds(
      "cpu  1 2 3 4\nintr 5 6\nctxt 77\nbtime 1700000000\nprocesses 9\n");
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(*boot, 1700000000);
  EXPECT_FALSE(ParseBootTimeSeconds("cpu 1 2\n").ok());
}

TEST(ProcessCollectorTest, OpenFdsCountFollowsOpenAndClose) {
  auto before = CountOpenFds();
  ASSERT_TRUE(before.ok()) << before.status();
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto during = CountOpenFds();
  close(fd);
  ASSERT_TRUE(during.ok());
  EXPECT_EQ(*during, *before + 1);
  EXPECT_EQ(*CountOpenFds(), *before);
}

TEST(ProcessCollectorTest, ReportsPlausibleValuesForThisProcess) {
  const ProcessCollector collector;
  // Burn a little CPU so that the CPU counter is above zero.
  volatile double sink = 0;
  const std::clock_t start = std::clock();
  while (std::clock() - start < CLOCKS_PER_SEC / 20) sink = sink + 1;

  const std::vector<prometheus::MetricFamily> families = collector.Collect();
  std::map<std::string, const prometheus::MetricFamily*> by_name;
  for (const prometheus::MetricFamily& family : families) {
    by_name[family.name] = &family;
  }
  for (const char* name :
       {"process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
        "process_start_time_seconds"}) {
    ASSERT_TRUE(by_name.contains(name)) << name;
    ASSERT_EQ(by_name[name]->metric.size(), 1u) << name;
    EXPECT_TRUE(by_name[name]->metric[0].label.empty()) << name;
    EXPECT_EQ(by_name[name]->help.find('\n'), std::string::npos) << name;
  }
  EXPECT_EQ(families.size(), by_name.size()) << "a family appears twice";
  EXPECT_EQ(by_name["process_cpu_seconds_total"]->type,
            prometheus::MetricType::Counter);
  EXPECT_EQ(by_name["process_open_fds"]->type, prometheus::MetricType::Gauge);
  const auto value = [&](const char* name) {
    const prometheus::ClientMetric& sample = by_name[name]->metric[0];
    return by_name[name]->type == prometheus::MetricType::Counter
               ? sample.counter.value
               : sample.gauge.value;
  };
  EXPECT_GT(value("process_cpu_seconds_total"), 0);
  EXPECT_GT(value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(value("process_virtual_memory_bytes"),
            value("process_resident_memory_bytes"));
  EXPECT_GE(value("process_open_fds"), 3);  // stdin, stdout, stderr
  rlimit limit;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(value("process_max_fds"), static_cast<double>(limit.rlim_cur));
  // Started before now, and not before this test binary could have started.
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(value("process_start_time_seconds"), now + 1);
  EXPECT_GT(value("process_start_time_seconds"), now - 600);
}

}  // namespace
}  // namespace nn::metrics
