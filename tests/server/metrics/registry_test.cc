// Registry, families and metric semantics, including concurrent updates
// while scraping.
#include "server/metrics/registry.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/metrics/text_format.h"
#include "server/metrics/validation.h"

namespace nn::metrics {
namespace {

// The one family of `registry` named `name`, or nullptr.
const MetricFamily* FindFamily(const std::vector<MetricFamily>& families,
                               const std::string& name) {
  for (const MetricFamily& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

TEST(ValidationTest, AcceptsPrometheusMetricNames) {
  for (const char* name : {"a", "_x", "nnserve_requests_total", "rule:rate5m",
                           "A1_b2"}) {
    EXPECT_TRUE(ValidateMetricName(name).ok()) << name;
  }
  for (const char* name : {"", "1abc", "a-b", "a.b", "a b", "é"}) {
    EXPECT_EQ(ValidateMetricName(name).code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
}

TEST(ValidationTest, RejectsLabelNamesWithColonsDigitsFirstOrDoubleUnderscore) {
  for (const char* name : {"model", "_private", "code2", "A"}) {
    EXPECT_TRUE(ValidateLabelName(name).ok()) << name;
  }
  for (const char* name : {"", "2x", "a:b", "a-b", "__name__", "__x"}) {
    EXPECT_EQ(ValidateLabelName(name).code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
}

TEST(ValidationTest, RecognisesMalformedUtf8) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(RegistryTest, AddReturnsTheSameStablePointerForTheSameLabels) {
  Registry registry;
  auto family = registry.AddCounterFamily(
      {.name = "hits_total", .help = "Hits.", .label_names = {"a", "b"}});
  ASSERT_TRUE(family.ok()) << family.status();
  auto first = (*family)->Add({{"a", "1"}, {"b", "2"}});
  ASSERT_TRUE(first.ok()) << first.status();
  // Many more series: the first pointer must not move.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE((*family)->Add({{"a", std::to_string(i)}, {"b", "x"}}).ok());
  }
  auto again = (*family)->Add({{"b", "2"}, {"a", "1"}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*first, *again);
  (*first)->Increment(2);
  EXPECT_EQ((*again)->Value(), 2);
  auto other = (*family)->Add({{"a", "1"}, {"b", "3"}});
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*first, *other);
}

TEST(RegistryTest, AddRejectsLabelsThatDoNotMatchTheFamily) {
  Registry registry;
  auto family = registry.AddGaugeFamily(
      {.name = "depth", .help = "Depth.", .label_names = {"model"}});
  ASSERT_TRUE(family.ok());
  EXPECT_EQ((*family)->Add({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*family)->Add({{"modle", "x"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*family)->Add({{"model", "x"}, {"extra", "y"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*family)->Add({{"model", "bad \xff utf8"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*family)->Add({{"model", ""}}).ok());  // empty value is fine
}

TEST(RegistryTest, RejectsBadFamilyDeclarations) {
  Registry registry;
  const auto code = [](const auto& status_or) {
    return status_or.status().code();
  };
  EXPECT_EQ(code(registry.AddGaugeFamily({.name = "bad-name", .help = "h"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddGaugeFamily({.name = "no_help"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddGaugeFamily(
                {.name = "g", .help = "h", .label_names = {"__reserved"}})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddGaugeFamily(
                {.name = "g", .help = "h", .label_names = {"a", "a"}})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounterFamily({.name = "requests", .help = "h"})),
            absl::StatusCode::kInvalidArgument);  // counters end in _total
  EXPECT_EQ(code(registry.AddGaugeFamily({.name = "items_count", .help = "h"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddHistogramFamily(
                {.name = "h", .help = "h", .label_names = {"le"}}, {1})),
            absl::StatusCode::kInvalidArgument);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const std::vector<double>& bounds :
       std::vector<std::vector<double>>{{2, 1}, {1, 1}, {1, nan}, {1, INFINITY}}) {
    EXPECT_EQ(code(registry.AddHistogramFamily({.name = "h", .help = "h"},
                                               bounds)),
              absl::StatusCode::kInvalidArgument);
  }
  // None of the failures took a name.
  EXPECT_TRUE(registry.AddGaugeFamily({.name = "g", .help = "h"}).ok());
  EXPECT_TRUE(registry.AddHistogramFamily({.name = "h", .help = "h"}, {}).ok());
}

TEST(RegistryTest, RejectsNamesTakenByAnotherFamilyOrAHistogramsSeries) {
  Registry registry;
  ASSERT_TRUE(registry.AddCounterFamily({.name = "x_total", .help = "h"}).ok());
  EXPECT_EQ(registry.AddCounterFamily({.name = "x_total", .help = "h"})
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      registry.AddGaugeFamily({.name = "x_total", .help = "h"}).status().code(),
      absl::StatusCode::kInvalidArgument);  // gauge names never end in _total
  ASSERT_TRUE(
      registry.AddHistogramFamily({.name = "lat", .help = "h"}, {1}).ok());
  // "lat_sum" is a series of the histogram "lat".
  EXPECT_EQ(registry.AddHistogramFamily({.name = "lat_sum", .help = "h"}, {1})
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry
                .AddCallbackFamily(MetricType::kGauge,
                                   {.name = "lat", .help = "h"},
                                   [] { return std::vector<MetricSample>{}; })
                .code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(CounterTest, IgnoresNegativeAndNaNIncrements) {
  Counter counter;
  counter.Increment();
  counter.Increment(2.5);
  counter.Increment(-1);
  counter.Increment(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(counter.Value(), 3.5);
}

TEST(GaugeTest, SetsIncrementsAndDecrements) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Increment();
  gauge.Increment(4);
  gauge.Decrement(20);
  EXPECT_EQ(gauge.Value(), -5);
  gauge.Set(INFINITY);
  EXPECT_EQ(gauge.Value(), INFINITY);
}

TEST(HistogramTest, CountsNaNInTheInfBucketOnlyAndPoisonsTheSum) {
  auto histogram = Histogram::Create({1, 2});
  ASSERT_TRUE(histogram.ok());
  (*histogram)->Observe(std::numeric_limits<double>::quiet_NaN());
  (*histogram)->Observe(0.5);
  const HistogramData data = (*histogram)->Snapshot();
  EXPECT_EQ(data.cumulative_counts, (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(data.count, 2u);
  EXPECT_TRUE(std::isnan(data.sum));
}

TEST(HistogramTest, CountsValuesBelowTheFirstBoundInTheFirstBucket) {
  auto histogram = Histogram::Create({0, 10});
  ASSERT_TRUE(histogram.ok());
  (*histogram)->Observe(-INFINITY);
  (*histogram)->Observe(-3);
  (*histogram)->Observe(0);
  (*histogram)->Observe(10);
  (*histogram)->Observe(10.000001);
  const HistogramData data = (*histogram)->Snapshot();
  EXPECT_EQ(data.cumulative_counts, (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(data.count, 5u);
}

TEST(HistogramTest, BucketHelpersMakeTheDocumentedBounds) {
  EXPECT_EQ(ExponentialBuckets(0.001, 2, 4),
            (std::vector<double>{0.001, 0.002, 0.004, 0.008}));
  EXPECT_EQ(LinearBuckets(1, 2, 3), (std::vector<double>{1, 3, 5}));
  EXPECT_TRUE(ExponentialBuckets(0, 2, 4).empty());
  EXPECT_TRUE(ValidateBucketBounds(DefaultBuckets()).ok());
  EXPECT_EQ(DefaultBuckets().front(), 0.005);
  EXPECT_EQ(DefaultBuckets().back(), 10);
}

TEST(FamilyTest, RemovedSeriesIsNotExportedButItsPointerStaysUsable) {
  Registry registry;
  auto family = registry.AddGaugeFamily(
      {.name = "model_info", .help = "h", .label_names = {"version"}});
  ASSERT_TRUE(family.ok());
  Gauge* v1 = *(*family)->Add({{"version", "1"}});
  v1->Set(1);
  ASSERT_TRUE((*family)->Add({{"version", "2"}}).ok());
  EXPECT_TRUE((*family)->Remove({{"version", "1"}}));
  EXPECT_FALSE((*family)->Remove({{"version", "9"}}));
  v1->Set(5);  // still a valid object

  std::vector<MetricFamily> families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].samples.size(), 1u);
  EXPECT_EQ(families[0].samples[0].labels.at("version"), "2");

  EXPECT_EQ(*(*family)->Add({{"version", "1"}}), v1);  // exported again
  families = registry.Collect();
  ASSERT_EQ(families[0].samples.size(), 2u);
  EXPECT_EQ(families[0].samples[0].value, 5);
}

TEST(RegistryTest, CallbackFamilyIsReadAtEveryCollect) {
  Registry registry;
  std::atomic<int> depth{3};
  ASSERT_TRUE(registry
                  .AddCallbackFamily(
                      MetricType::kGauge,
                      {.name = "queue_depth", .help = "Queued requests."},
                      [&depth] {
                        return std::vector<MetricSample>{
                            {.value = static_cast<double>(depth.load())}};
                      })
                  .ok());
  std::vector<MetricFamily> families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].type, MetricType::kGauge);
  EXPECT_EQ(families[0].help, "Queued requests.");
  EXPECT_EQ(families[0].samples[0].value, 3);
  depth = 8;
  EXPECT_EQ(registry.Collect()[0].samples[0].value, 8);
}

// A collector that breaks its declaration in several ways.
class UnrulyCollector : public Collector {
 public:
  std::vector<FamilyDescriptor> Describe() const override {
    return {{.name = "good",
             .help = "Declared.",
             .type = MetricType::kGauge,
             .label_names = {"k"}},
            {.name = "hist",
             .help = "Declared histogram.",
             .type = MetricType::kHistogram}};
  }
  std::vector<MetricFamily> Collect() const override {
    MetricFamily good{.name = "good",
                      .help = "ignored: the declaration's help wins",
                      .type = MetricType::kCounter,  // ignored too
                      .samples = {{.labels = {{"k", "1"}}, .value = 1},
                                  {.labels = {{"wrong", "1"}}, .value = 2},
                                  {.labels = {{"k", "1"}}, .value = 3},
                                  {.labels = {{"k", "\xff"}}, .value = 4},
                                  {.labels = {{"k", "2"}}, .value = 5}}};
    MetricFamily hist{
        .name = "hist",
        .type = MetricType::kHistogram,
        .samples = {{.histogram = {.bucket_bounds = {1, 2},
                                   .cumulative_counts = {3, 2},  // decreasing
                                   .count = 3}}}};
    MetricFamily undeclared{.name = "undeclared",
                            .type = MetricType::kGauge,
                            .samples = {{.value = 1}}};
    return {good, hist, undeclared, good};
  }
};

TEST(RegistryTest, DropsCollectedSamplesThatBreakTheDeclaration) {
  Registry registry;
  ASSERT_TRUE(registry.AddCollector(std::make_unique<UnrulyCollector>()).ok());
  const std::vector<MetricFamily> families = registry.Collect();
  ASSERT_EQ(families.size(), 2u);
  const MetricFamily* good = FindFamily(families, "good");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->help, "Declared.");
  EXPECT_EQ(good->type, MetricType::kGauge);
  ASSERT_EQ(good->samples.size(), 2u);
  EXPECT_EQ(good->samples[0].value, 1);
  EXPECT_EQ(good->samples[1].value, 5);
  const MetricFamily* hist = FindFamily(families, "hist");
  ASSERT_NE(hist, nullptr);
  EXPECT_TRUE(hist->samples.empty());
}

TEST(RegistryTest, RejectsACollectorWhoseNamesAreTaken) {
  Registry registry;
  ASSERT_TRUE(registry.AddGaugeFamily({.name = "good", .help = "h"}).ok());
  EXPECT_EQ(registry.AddCollector(std::make_unique<UnrulyCollector>()).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddCollector(nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  // The failed collector reserved nothing: "hist" is still free.
  EXPECT_TRUE(
      registry.AddHistogramFamily({.name = "hist", .help = "h"}, {1}).ok());
}

// The value of the exposition line that starts with `prefix` + " ".
double LineValue(const std::string& text, const std::string& prefix) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.size() > prefix.size() && line.substr(0, prefix.size()) == prefix &&
        line[prefix.size()] == ' ') {
      double value;
      if (absl::SimpleAtod(line.substr(prefix.size() + 1), &value)) {
        return value;
      }
    }
  }
  return -1;
}

TEST(RegistryTest, ConcurrentUpdatesWhileScrapingAreExactAndConsistent) {
  Registry registry;
  auto counters = registry.AddCounterFamily(
      {.name = "ops_total", .help = "Ops.", .label_names = {"worker"}});
  auto latency = registry.AddHistogramFamily(
      {.name = "op_seconds", .help = "Op latency."}, {1, 2, 3});
  ASSERT_TRUE(counters.ok() && latency.ok());
  Histogram* histogram = *(*latency)->Add({});

  constexpr int kThreads = 4;
  constexpr int kIterations = 50000;
  std::atomic<int> running{kThreads};
  std::atomic<bool> consistent{true};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    double last_ops = -1;  // -1: the series does not exist yet
    // At least one scrape; then until the workers are done (at most 10,000).
    do {
      const std::string text = SerializeTextFormat(registry.Collect());
      const double inf = LineValue(text, "op_seconds_bucket{le=\"+Inf\"}");
      const double count = LineValue(text, "op_seconds_count");
      const double le1 = LineValue(text, "op_seconds_bucket{le=\"1\"}");
      const double le3 = LineValue(text, "op_seconds_bucket{le=\"3\"}");
      const double ops = LineValue(text, "ops_total{worker=\"0\"}");
      if (inf != count || le1 > le3 || le3 > inf || ops < last_ops) {
        consistent = false;
      }
      last_ops = ops;
      ++scrapes;
    } while (running.load() > 0 && scrapes.load() < 10000);
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      // Start once the scraper runs, so that updates and scrapes overlap.
      while (scrapes.load() == 0) std::this_thread::yield();
      // Workers 0 and 1 share a series; 2 and 3 each have their own.
      Counter* counter =
          *(*counters)->Add({{"worker", std::to_string(t < 2 ? 0 : t)}});
      for (int i = 0; i < kIterations; ++i) {
        counter->Increment();
        histogram->Observe(i % 4);  // 0, 1, 2, 3: bounds 1, 2, 3, +Inf
      }
      --running;
    });
  }
  for (std::thread& worker : workers) worker.join();
  scraper.join();

  EXPECT_TRUE(consistent);
  EXPECT_GT(scrapes.load(), 0);
  EXPECT_EQ((*(*counters)->Add({{"worker", "0"}}))->Value(), 2.0 * kIterations);
  EXPECT_EQ((*(*counters)->Add({{"worker", "3"}}))->Value(), kIterations);
  const HistogramData data = histogram->Snapshot();
  const uint64_t total = uint64_t{kThreads} * kIterations;
  EXPECT_EQ(data.count, total);
  EXPECT_EQ(data.cumulative_counts,
            (std::vector<uint64_t>{total / 2, total * 3 / 4, total}));
  // Sum of 0+1+2+3 per 4 observations: exact in double.
  EXPECT_EQ(data.sum, 1.5 * static_cast<double>(total));
}

}  // namespace
}  // namespace nn::metrics
