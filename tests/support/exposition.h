// A strict reader of the Prometheus text exposition format 0.0.4, for tests
// that must tell a well-formed scrape from a malformed one (e.g. a scrape
// taken while model versions are swapped).
#ifndef NNSERVE_TESTS_SUPPORT_EXPOSITION_H_
#define NNSERVE_TESTS_SUPPORT_EXPOSITION_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nn::testing {

using SeriesLabels = std::map<std::string, std::string>;

struct Exposition {
  // Family name -> "counter", "gauge", "histogram", ...
  std::map<std::string, std::string> types;
  // Sample name (a histogram's with _bucket/_sum/_count) -> label set ->
  // value.
  std::map<std::string, std::map<SeriesLabels, double>> samples;

  // The samples named `name` whose labels include every pair of `match`.
  int CountSeries(const std::string& name, const SeriesLabels& match = {}) const;
  // Their values' sum (0 if none).
  double Sum(const std::string& name, const SeriesLabels& match = {}) const;
  // The non-empty values of `label` among `name`'s samples.
  std::set<std::string> LabelValues(const std::string& name,
                                    const std::string& label) const;

 private:
  std::vector<double> Matching(const std::string& name,
                               const SeriesLabels& match) const;
};

// Parses `text`, or InvalidArgument (saying which line and why) if any line
// is malformed: a bad name, label or escape, a value that is not a number, a
// sample outside the block of the family its TYPE line declared, a family
// declared twice, a duplicate series, a text not ending in a newline, or a
// histogram whose buckets are not cumulative or whose le="+Inf" bucket is
// missing or differs from its _count.
absl::StatusOr<Exposition> ParseExposition(absl::string_view text);

// `promtool check metrics` on `text`: OK with promtool's lint findings
// (empty when clean); FailedPrecondition with its output if it rejects the
// text; NotFound if promtool (Debian package `prometheus`) is not on PATH.
absl::StatusOr<std::string> PromtoolCheckMetrics(const std::string& text);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_EXPOSITION_H_
