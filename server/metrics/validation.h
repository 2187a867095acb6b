// Name and text checks for the Prometheus data model, applied by the
// registry when a family or a label set is created, so that the text format
// never has to reject anything at scrape time.
#ifndef NNSERVE_SERVER_METRICS_VALIDATION_H_
#define NNSERVE_SERVER_METRICS_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/metrics/metric_family.h"

namespace nn::metrics {

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. InvalidArgument otherwise.
absl::Status ValidateMetricName(absl::string_view name);

// Label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved for
// Prometheus' own use). InvalidArgument otherwise.
absl::Status ValidateLabelName(absl::string_view name);

// True if `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF). Label values and HELP text must be.
bool IsValidUtf8(absl::string_view text);

// Checks a whole family declaration (InvalidArgument on the first problem):
// the name; non-empty UTF-8 help; label names valid and distinct; histograms
// without an `le` label; the naming conventions promtool enforces (counters
// end in "_total"; gauges do not end in "_total", "_count", "_sum" or
// "_bucket", which would read as another type's series).
absl::Status ValidateDescriptor(const FamilyDescriptor& descriptor);

// Checks that `labels` has exactly `label_names` (in any order) and that
// every value is valid UTF-8.
absl::Status ValidateLabels(const Labels& labels,
                            const std::vector<std::string>& label_names);

// The series names a family writes in the exposition: its name, and for a
// histogram also name_bucket, name_count and name_sum. Two families of one
// registry may not share any of them.
std::vector<std::string> SeriesNames(const FamilyDescriptor& descriptor);

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_VALIDATION_H_
