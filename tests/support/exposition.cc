#include "tests/support/exposition.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/required_tool.h"
#include "tests/support/temp_dir.h"

namespace nn::testing {
namespace {

bool IsNameChar(char c, bool first, bool colon_ok) {
  return absl::ascii_isalpha(c) || c == '_' || (colon_ok && c == ':') ||
         (!first && absl::ascii_isdigit(c));
}

// Reads a metric name (colon_ok) or a label name from the front of `in`.
bool ReadName(absl::string_view* in, bool colon_ok, std::string* name) {
  size_t n = 0;
  while (n < in->size() && IsNameChar((*in)[n], n == 0, colon_ok)) ++n;
  if (n == 0) return false;
  *name = std::string(in->substr(0, n));
  in->remove_prefix(n);
  return true;
}

// Unescapes \\, \" (if `quote_ok`) and \n; false on any other escape.
bool Unescape(absl::string_view in, bool quote_ok, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out->push_back(in[i]);
      continue;
    }
    if (++i == in.size()) return false;
    if (in[i] == 'n') {
      out->push_back('\n');
    } else if (in[i] == '\\' || (quote_ok && in[i] == '"')) {
      out->push_back(in[i]);
    } else {
      return false;
    }
  }
  return true;
}

bool ParseValue(absl::string_view text, double* value) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "nan") return *value = NAN, true;
  if (lower == "+inf" || lower == "inf") return *value = INFINITY, true;
  if (lower == "-inf") return *value = -INFINITY, true;
  if (text.empty()) return false;
  const std::string s(text);
  char* end = nullptr;
  *value = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// {a="x",b="y"} from the front of `in` (which starts with '{').
bool ReadLabels(absl::string_view* in, SeriesLabels* labels) {
  in->remove_prefix(1);
  while (!in->empty() && in->front() != '}') {
    std::string name;
    if (!ReadName(in, /*colon_ok=*/false, &name)) return false;
    if (!absl::ConsumePrefix(in, "=\"")) return false;
    size_t end = 0;
    while (end < in->size() && (*in)[end] != '"') {
      end += (*in)[end] == '\\' ? 2 : 1;
    }
    if (end >= in->size()) return false;
    std::string value;
    if (!Unescape(in->substr(0, end), /*quote_ok=*/true, &value)) return false;
    in->remove_prefix(end + 1);
    if (!labels->emplace(name, value).second) return false;  // label twice
    if (!absl::ConsumePrefix(in, ",") && (in->empty() || in->front() != '}')) {
      return false;
    }
  }
  return absl::ConsumePrefix(in, "}");
}

absl::Status CheckHistograms(const Exposition& e) {
  for (const auto& [family, type] : e.types) {
    if (type != "histogram") continue;
    auto counts = e.samples.find(family + "_count");
    auto buckets = e.samples.find(family + "_bucket");
    if (counts == e.samples.end()) continue;  // a family without series
    for (const auto& [labels, count] : counts->second) {
      std::vector<std::pair<double, double>> by_bound;  // le, cumulative
      if (buckets != e.samples.end()) {
        for (const auto& [bucket_labels, value] : buckets->second) {
          SeriesLabels rest = bucket_labels;
          auto le = rest.find("le");
          if (le == rest.end()) {
            return absl::InvalidArgumentError(family + "_bucket without le");
          }
          double bound;
          if (!ParseValue(le->second, &bound)) {
            return absl::InvalidArgumentError(family + ": bad le " + le->second);
          }
          rest.erase(le);
          if (rest == labels) by_bound.emplace_back(bound, value);
        }
      }
      std::sort(by_bound.begin(), by_bound.end());
      if (by_bound.empty() || !std::isinf(by_bound.back().first) ||
          by_bound.back().second != count) {
        return absl::InvalidArgumentError(absl::StrCat(
            family, ": le=\"+Inf\" bucket missing or not equal to _count ",
            count));
      }
      for (size_t i = 1; i < by_bound.size(); ++i) {
        if (by_bound[i].second < by_bound[i - 1].second) {
          return absl::InvalidArgumentError(family +
                                            ": buckets not cumulative");
        }
      }
      if (!e.samples.contains(family + "_sum") ||
          !e.samples.at(family + "_sum").contains(labels)) {
        return absl::InvalidArgumentError(family + ": _sum missing");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<double> Exposition::Matching(const std::string& name,
                                         const SeriesLabels& match) const {
  std::vector<double> values;
  auto it = samples.find(name);
  if (it == samples.end()) return values;
  for (const auto& [labels, value] : it->second) {
    bool all = true;
    for (const auto& [k, v] : match) {
      auto l = labels.find(k);
      all &= l != labels.end() && l->second == v;
    }
    if (all) values.push_back(value);
  }
  return values;
}

int Exposition::CountSeries(const std::string& name,
                            const SeriesLabels& match) const {
  return static_cast<int>(Matching(name, match).size());
}

double Exposition::Sum(const std::string& name,
                       const SeriesLabels& match) const {
  double sum = 0;
  for (double value : Matching(name, match)) sum += value;
  return sum;
}

std::set<std::string> Exposition::LabelValues(const std::string& name,
                                              const std::string& label) const {
  std::set<std::string> values;
  auto it = samples.find(name);
  if (it == samples.end()) return values;
  for (const auto& [labels, value] : it->second) {
    auto l = labels.find(label);
    if (l != labels.end() && !l->second.empty()) values.insert(l->second);
  }
  return values;
}

absl::StatusOr<Exposition> ParseExposition(absl::string_view text) {
  Exposition e;
  if (!text.empty() && text.back() != '\n') {
    return absl::InvalidArgumentError("exposition does not end in a newline");
  }
  std::string family;  // of the latest TYPE line
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    const auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", why, ": ", line));
    };
    const bool is_help = absl::StartsWith(line, "# HELP ");
    const bool is_type = absl::StartsWith(line, "# TYPE ");
    if (is_help || is_type) {
      line.remove_prefix(7);
      std::string name, unescaped;
      if (!ReadName(&line, /*colon_ok=*/true, &name)) return error("bad name");
      if (!absl::ConsumePrefix(&line, " ")) return error("no text");
      if (!is_type) {
        if (!Unescape(line, /*quote_ok=*/false, &unescaped)) {
          return error("bad escape in HELP");
        }
        continue;
      }
      if (line != "counter" && line != "gauge" && line != "histogram" &&
          line != "summary" && line != "untyped") {
        return error("unknown type");
      }
      if (!e.types.emplace(name, std::string(line)).second) {
        return error("family declared twice");
      }
      family = name;
      continue;
    }
    if (line.front() == '#') continue;  // a comment
    std::string name;
    if (!ReadName(&line, /*colon_ok=*/true, &name)) return error("bad name");
    SeriesLabels labels;
    if (!line.empty() && line.front() == '{' && !ReadLabels(&line, &labels)) {
      return error("bad labels");
    }
    double value;
    if (!absl::ConsumePrefix(&line, " ") || !ParseValue(line, &value)) {
      return error("bad value");
    }
    const auto type = e.types.find(family);
    bool in_family = name == family;
    if (type != e.types.end() && type->second == "histogram") {
      in_family = name == family + "_bucket" || name == family + "_sum" ||
                  name == family + "_count";
    }
    if (!in_family) return error("sample outside its family's block");
    if (!e.samples[name].emplace(std::move(labels), value).second) {
      return error("duplicate series");
    }
  }
  if (absl::Status s = CheckHistograms(e); !s.ok()) return s;
  return e;
}

absl::StatusOr<std::string> PromtoolCheckMetrics(const std::string& text) {
  const std::string promtool = FindTool("promtool");
  if (promtool.empty()) return absl::NotFoundError("promtool is not on PATH");
  TempDir dir;
  const std::string file = dir.Join("metrics.txt");
  WriteFileOrDie(file, text);
  const std::string command =
      absl::StrCat(promtool, " check metrics < ", file, " 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed");
  std::string output;
  char buffer[512];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) {
    output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::FailedPreconditionError(output);
  }
  return output;
}

}  // namespace nn::testing
