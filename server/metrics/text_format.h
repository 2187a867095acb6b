// The Prometheus text exposition format, version 0.0.4:
//   https://prometheus.io/docs/instrumenting/exposition_formats/
//
// For each family, in the order given (the registry sorts by name):
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value>",...} <value>
// and for a histogram, per label set: one <name>_bucket line per bound with
// the cumulative count of observations <= bound (`le` is inclusive), then
// <name>_bucket{...,le="+Inf"} equal to <name>_count, then <name>_sum and
// <name>_count. HELP and TYPE appear once per family, also for a family with
// no samples yet. Label values escape \, " and newline. No timestamps. The
// output ends with a newline (empty output for no families).
//
// Numbers are written as Prometheus reads them, independent of the process
// locale: NaN, +Inf, -Inf; integral values up to 2^53 in magnitude as plain
// integers ("42", never "4.2e+01"); every other value in the shortest form
// that reads back as the same double ("0.005", "1.5e-07"). Bucket bounds in
// `le` are written the same way.
#ifndef NNSERVE_SERVER_METRICS_TEXT_FORMAT_H_
#define NNSERVE_SERVER_METRICS_TEXT_FORMAT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/metrics/metric_family.h"

namespace nn::metrics {

// The Content-Type of a text exposition response.
inline constexpr char kTextFormatContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// Serialises `families`. Their names and label names must be valid (the
// registry only produces valid ones); label values and help may hold any
// UTF-8 and are escaped here.
std::string SerializeTextFormat(const std::vector<MetricFamily>& families);

// The pieces, exposed for tests and for other formats.
void AppendNumber(double value, std::string* out);
void AppendEscapedLabelValue(absl::string_view value, std::string* out);
void AppendEscapedHelp(absl::string_view help, std::string* out);

}  // namespace nn::metrics

#endif  // NNSERVE_SERVER_METRICS_TEXT_FORMAT_H_
