// Golden-text tests: the exposition format 0.0.4 rule by rule.
#include "server/metrics/text_format.h"

#include <cmath>
#include <iomanip>
#include <limits>
#include <locale>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/metrics/registry.h"

namespace nn::metrics {
namespace {

std::string Number(double value) {
  std::string out;
  AppendNumber(value, &out);
  return out;
}

std::string Escaped(const std::string& value) {
  std::string out;
  AppendEscapedLabelValue(value, &out);
  return out;
}

MetricFamily Gauge1(const std::string& name, double value) {
  return MetricFamily{.name = name,
                      .help = "A gauge.",
                      .type = MetricType::kGauge,
                      .samples = {MetricSample{.value = value}}};
}

TEST(TextFormatTest, ContentTypeIsVersion004) {
  EXPECT_STREQ(kTextFormatContentType,
               "text/plain; version=0.0.4; charset=utf-8");
}

TEST(TextFormatTest, WritesSpecialValuesAsPrometheusSpellsThem) {
  EXPECT_EQ(Number(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(Number(INFINITY), "+Inf");
  EXPECT_EQ(Number(-INFINITY), "-Inf");
}

TEST(TextFormatTest, WritesIntegersWithoutExponentOrDecimalPoint) {
  EXPECT_EQ(Number(0), "0");
  EXPECT_EQ(Number(-0.0), "0");
  EXPECT_EQ(Number(1), "1");
  EXPECT_EQ(Number(-3), "-3");
  EXPECT_EQ(Number(1234567), "1234567");
  EXPECT_EQ(Number(123456789012.0), "123456789012");
  EXPECT_EQ(Number(9007199254740992.0), "9007199254740992");  // 2^53
}

TEST(TextFormatTest, WritesOtherValuesInShortestRoundTripForm) {
  EXPECT_EQ(Number(0.005), "0.005");
  EXPECT_EQ(Number(0.1), "0.1");
  EXPECT_EQ(Number(2.5), "2.5");
  EXPECT_EQ(Number(-0.25), "-0.25");
  EXPECT_EQ(Number(1.5e-7), "1.5e-07");
  EXPECT_EQ(Number(1e20), "1e+20");  // beyond 2^53: not "exact integer" form
  EXPECT_EQ(Number(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(Number(123456.789), "123456.789");
  // Full precision: reads back as the same double.
  const double tricky = 0.1 + 0.2;
  EXPECT_EQ(Number(tricky), "0.30000000000000004");
  EXPECT_EQ(std::stod(Number(tricky)), tricky);
}

TEST(TextFormatTest, EscapesBackslashQuoteAndNewlineInLabelValues) {
  EXPECT_EQ(Escaped("plain"), "plain");
  EXPECT_EQ(Escaped("a\\b"), "a\\\\b");
  EXPECT_EQ(Escaped("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(Escaped("two\nlines"), "two\\nlines");
  EXPECT_EQ(Escaped("tab\tstays"), "tab\tstays");
  EXPECT_EQ(Escaped("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(TextFormatTest, EscapesBackslashAndNewlineButNotQuotesInHelp) {
  std::string out;
  AppendEscapedHelp("C:\\path \"quoted\"\nnext", &out);
  EXPECT_EQ(out, "C:\\\\path \"quoted\"\\nnext");
}

TEST(TextFormatTest, EmptyInputGivesEmptyOutput) {
  EXPECT_EQ(SerializeTextFormat({}), "");
}

TEST(TextFormatTest, UnlabelledSampleHasNoBracesAndOutputEndsWithNewline) {
  EXPECT_EQ(SerializeTextFormat({Gauge1("up_ratio", 0.5)}),
            "# HELP up_ratio A gauge.\n"
            "# TYPE up_ratio gauge\n"
            "up_ratio 0.5\n");
}

TEST(TextFormatTest, WritesSpecialValuesInSamples) {
  MetricFamily family{
      .name = "odd",
      .help = "Odd values.",
      .type = MetricType::kGauge,
      .samples = {
          {.labels = {{"v", "nan"}},
           .value = std::numeric_limits<double>::quiet_NaN()},
          {.labels = {{"v", "pinf"}}, .value = INFINITY},
          {.labels = {{"v", "ninf"}}, .value = -INFINITY},
      }};
  EXPECT_EQ(SerializeTextFormat({family}),
            "# HELP odd Odd values.\n"
            "# TYPE odd gauge\n"
            "odd{v=\"nan\"} NaN\n"
            "odd{v=\"pinf\"} +Inf\n"
            "odd{v=\"ninf\"} -Inf\n");
}

TEST(TextFormatTest, RegistryOutputHasHelpAndTypeOncePerFamilySortedByName) {
  Registry registry;
  // Registered out of name order on purpose.
  auto requests = registry.AddCounterFamily(
      {.name = "z_requests_total",
       .help = "Requests.\nBy path \\ code.",
       .label_names = {"path", "code"}});
  ASSERT_TRUE(requests.ok()) << requests.status();
  auto depth = registry.AddGaugeFamily(
      {.name = "a_queue_depth", .help = "Queued requests."});
  ASSERT_TRUE(depth.ok()) << depth.status();

  (*(*requests)->Add({{"path", "/a"}, {"code", "OK"}}))->Increment(3);
  (*(*requests)->Add({{"path", "/a"}, {"code", "NOT_FOUND"}}))->Increment();
  (*(*requests)->Add({{"path", "C:\\x \"y\"\nz"}, {"code", "OK"}}))
      ->Increment(0.5);
  (*(*depth)->Add({}))->Set(7);

  EXPECT_EQ(SerializeTextFormat(registry.Collect()),
            "# HELP a_queue_depth Queued requests.\n"
            "# TYPE a_queue_depth gauge\n"
            "a_queue_depth 7\n"
            "# HELP z_requests_total Requests.\\nBy path \\\\ code.\n"
            "# TYPE z_requests_total counter\n"
            "z_requests_total{code=\"NOT_FOUND\",path=\"/a\"} 1\n"
            "z_requests_total{code=\"OK\",path=\"/a\"} 3\n"
            "z_requests_total{code=\"OK\",path=\"C:\\\\x \\\"y\\\"\\nz\"} "
            "0.5\n");
}

TEST(TextFormatTest, HistogramHasCumulativeInclusiveBucketsThenSumAndCount) {
  Registry registry;
  auto latency = registry.AddHistogramFamily(
      {.name = "rpc_duration_seconds",
       .help = "RPC latency.",
       .label_names = {"method"}},
      {0.005, 0.5, 1, 2.5});
  ASSERT_TRUE(latency.ok()) << latency.status();
  Histogram* predict = *(*latency)->Add({{"method", "Predict"}});
  predict->Observe(0.005);  // on a bound: counts in that bucket (le is <=)
  predict->Observe(0.001);
  predict->Observe(0.5);
  predict->Observe(0.75);
  predict->Observe(3);  // above every bound: only +Inf
  (*(*latency)->Add({{"method", "Info"}}))->Observe(2);

  EXPECT_EQ(SerializeTextFormat(registry.Collect()),
            "# HELP rpc_duration_seconds RPC latency.\n"
            "# TYPE rpc_duration_seconds histogram\n"
            "rpc_duration_seconds_bucket{method=\"Info\",le=\"0.005\"} 0\n"
            "rpc_duration_seconds_bucket{method=\"Info\",le=\"0.5\"} 0\n"
            "rpc_duration_seconds_bucket{method=\"Info\",le=\"1\"} 0\n"
            "rpc_duration_seconds_bucket{method=\"Info\",le=\"2.5\"} 1\n"
            "rpc_duration_seconds_bucket{method=\"Info\",le=\"+Inf\"} 1\n"
            "rpc_duration_seconds_sum{method=\"Info\"} 2\n"
            "rpc_duration_seconds_count{method=\"Info\"} 1\n"
            "rpc_duration_seconds_bucket{method=\"Predict\",le=\"0.005\"} 2\n"
            "rpc_duration_seconds_bucket{method=\"Predict\",le=\"0.5\"} 3\n"
            "rpc_duration_seconds_bucket{method=\"Predict\",le=\"1\"} 4\n"
            "rpc_duration_seconds_bucket{method=\"Predict\",le=\"2.5\"} 4\n"
            "rpc_duration_seconds_bucket{method=\"Predict\",le=\"+Inf\"} 5\n"
            "rpc_duration_seconds_sum{method=\"Predict\"} 4.256\n"
            "rpc_duration_seconds_count{method=\"Predict\"} 5\n");
}

TEST(TextFormatTest, UnlabelledHistogramPutsOnlyLeInBraces) {
  MetricFamily family{
      .name = "batch_size",
      .help = "Batch sizes.",
      .type = MetricType::kHistogram,
      .samples = {{.histogram = {.bucket_bounds = {1e-3, 1},
                                 .cumulative_counts = {2, 3},
                                 .count = 4,
                                 .sum = 9.5}}}};
  EXPECT_EQ(SerializeTextFormat({family}),
            "# HELP batch_size Batch sizes.\n"
            "# TYPE batch_size histogram\n"
            "batch_size_bucket{le=\"0.001\"} 2\n"
            "batch_size_bucket{le=\"1\"} 3\n"
            "batch_size_bucket{le=\"+Inf\"} 4\n"
            "batch_size_sum 9.5\n"
            "batch_size_count 4\n");
}

TEST(TextFormatTest, FamilyWithoutSamplesStillHasHelpAndType) {
  Registry registry;
  ASSERT_TRUE(registry
                  .AddCounterFamily({.name = "errors_total",
                                     .help = "Errors.",
                                     .label_names = {"kind"}})
                  .ok());
  EXPECT_EQ(SerializeTextFormat(registry.Collect()),
            "# HELP errors_total Errors.\n"
            "# TYPE errors_total counter\n");
}

// A numpunct that writes 1234567.5 as "1.234.567,5".
class CommaDecimalPoint : public std::numpunct<char> {
 protected:
  char do_decimal_point() const override { return ','; }
  char do_thousands_sep() const override { return '.'; }
  std::string do_grouping() const override { return "\3"; }
};

// Restores the global C++ locale when the test ends.
class GlobalLocaleGuard {
 public:
  explicit GlobalLocaleGuard(const std::locale& locale)
      : previous_(std::locale::global(locale)) {}
  ~GlobalLocaleGuard() { std::locale::global(previous_); }

 private:
  std::locale previous_;
};

TEST(TextFormatTest, IgnoresTheGlobalLocale) {
  const std::vector<MetricFamily> families = {
      Gauge1("big", 1234567.5), Gauge1("small", 0.25), Gauge1("whole", 98765)};
  const std::string expected =
      "# HELP big A gauge.\n# TYPE big gauge\nbig 1234567.5\n"
      "# HELP small A gauge.\n# TYPE small gauge\nsmall 0.25\n"
      "# HELP whole A gauge.\n# TYPE whole gauge\nwhole 98765\n";
  ASSERT_EQ(SerializeTextFormat(families), expected);

  // A named locale with a decimal comma, if the machine has one.
  for (const char* name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8"}) {
    try {
      GlobalLocaleGuard guard{std::locale(name)};
      EXPECT_EQ(SerializeTextFormat(families), expected) << "locale " << name;
    } catch (const std::runtime_error&) {
      // Not installed here.
    }
  }
  // Always: a custom facet with a decimal comma and '.' grouping.
  GlobalLocaleGuard guard{
      std::locale(std::locale::classic(), new CommaDecimalPoint)};
  std::ostringstream check;  // proves the facet is in effect
  check << std::fixed << std::setprecision(1) << 1234567.5;
  ASSERT_EQ(check.str(), "1.234.567,5");
  EXPECT_EQ(SerializeTextFormat(families), expected);
}

}  // namespace
}  // namespace nn::metrics
