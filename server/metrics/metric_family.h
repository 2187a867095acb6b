// The data model shared by the registry, the collectors and the text format:
// a snapshot of metric families as they are at one scrape.
//
// A MetricFamily is what one "# HELP"/"# TYPE" block of the exposition shows:
// one name, one type, and one sample per label set. Histogram samples carry
// cumulative bucket counts (the `le` buckets, +Inf implicit) plus count and
// sum. Nothing here is live: the registry fills these structs from its atomic
// metrics on each Collect() and the text format serialises them.
#ifndef NNSERVE_SERVER_METRICS_METRIC_FAMILY_H_
#define NNSERVE_SERVER_METRICS_METRIC_FAMILY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nn::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram": the word the TYPE line uses.
const char* MetricTypeName(MetricType type);

// Label name -> value. A std::map, so a label set has one order (sorted by
// name) and samples of a family print in the same label order every time.
using Labels = std::map<std::string, std::string>;

// A histogram at one instant. Invariants (the registry's own histograms keep
// them by construction; collectors are checked at scrape):
//   bucket_bounds: finite, strictly increasing upper bounds (inclusive `le`),
//     without the implicit +Inf bucket;
//   cumulative_counts[i]: observations <= bucket_bounds[i]; non-decreasing;
//     same size as bucket_bounds;
//   count: all observations (the +Inf bucket), >= every cumulative count.
struct HistogramData {
  std::vector<double> bucket_bounds = {};
  std::vector<uint64_t> cumulative_counts = {};
  uint64_t count = 0;
  double sum = 0;
};

struct MetricSample {
  Labels labels = {};
  double value = 0;         // counters and gauges
  HistogramData histogram = {};  // histograms
};

struct MetricFamily {
  std::string name = {};  // e.g. "nnserve_requests_total"
  std::string help = {};  // UTF-8, unescaped
  MetricType type = MetricType::kGauge;
  std::vector<MetricSample> samples = {};
};

// What a family will look like, declared before any value exists. The
// registry checks names and label names once, at registration.
struct FamilyDescriptor {
  // Designated initializers may leave out any member (all have defaults).
  std::string name = {};
  std::string help = {};
  MetricType type = MetricType::kGauge;
  // Every sample of the family has exactly these label names (any order).
  std::vector<std::string> label_names = {};
};

// A source of families whose values are computed at scrape time (process
// metrics, values owned by another component). Register with
// Registry::AddCollector.
class Collector {
 public:
  virtual ~Collector() = default;

  // The families Collect() may return. Called once, at registration.
  virtual std::vector<FamilyDescriptor> Describe() const = 0;

  // The current values. Called on every scrape, from the scraping thread,
  // possibly from several threads at once: must be thread-safe. Families not
  // declared by Describe() and samples whose labels do not match the
  // declared label names are dropped (and logged) by the registry; a family
  // may be left out (e.g. when its source is unavailable).
  virtual std::vector<MetricFamily> Collect() const = 0;
};

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_METRIC_FAMILY_H_
