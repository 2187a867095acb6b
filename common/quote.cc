#include "common/quote.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"

namespace nn {
namespace {

std::string QuoteWith(absl::string_view mark, absl::string_view value,
                      size_t max_bytes) {
  if (value.size() <= max_bytes) {
    return absl::StrCat(mark, absl::CHexEscape(value), mark);
  }
  return absl::StrCat(mark, absl::CHexEscape(value.substr(0, max_bytes)),
                      "...", mark, " (", value.size(), " bytes)");
}

}  // namespace

std::string Quote(absl::string_view value, size_t max_bytes) {
  return QuoteWith("'", value, max_bytes);
}

std::string DoubleQuote(absl::string_view value, size_t max_bytes) {
  return QuoteWith("\"", value, max_bytes);
}

std::string QuoteList(absl::Span<const int64_t> values, size_t max_elements) {
  if (values.size() <= max_elements) return absl::StrJoin(values, ",");
  return absl::StrCat(absl::StrJoin(values.subspan(0, max_elements), ","),
                      ",... (", values.size(), " values)");
}

}  // namespace nn
