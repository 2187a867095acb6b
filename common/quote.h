// Quoting client-supplied values in error messages, within a bound.
//
// A gRPC status message travels in a response header, and clients refuse
// headers over their metadata limit (8 KB by default): an error that echoes
// a 20,000-byte name or a 20,000-dimension shape reaches the client as
// RESOURCE_EXHAUSTED ("received initial metadata size exceeds limit")
// instead of the error it was. Every message built from request data (or
// from a spec, a model file, a data set) quotes that data through these
// helpers, which keep at most a bounded prefix of it and say how long the
// whole was. The engine uses them too (layer names in spec errors), so they
// live here, below both, with no dependency on gRPC.
#ifndef NNSERVE_COMMON_QUOTE_H_
#define NNSERVE_COMMON_QUOTE_H_

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace nn {

// Bytes of a quoted value kept by default. C-escaping can make each byte up
// to 4 characters, so a quote is at most ~300 bytes.
inline constexpr size_t kMaxQuotedBytes = 64;

// Elements of a quoted list kept by default.
inline constexpr size_t kMaxQuotedElements = 8;

// `value` C-escaped in single quotes: 'abc'. Longer than `max_bytes`: its
// first `max_bytes` bytes and the whole length, '<first bytes>...' (N bytes).
std::string Quote(absl::string_view value, size_t max_bytes = kMaxQuotedBytes);

// The same in double quotes: "abc" (layer names, as Keras prints them).
std::string DoubleQuote(absl::string_view value,
                        size_t max_bytes = kMaxQuotedBytes);

// Numbers joined by ",": "1,28,28". More than `max_elements`: the first
// `max_elements`, then ",... (N values)". Unquoted and unbracketed, so the
// caller writes "shape [", QuoteList(shape), "]".
std::string QuoteList(absl::Span<const int64_t> values,
                      size_t max_elements = kMaxQuotedElements);

}  // namespace nn

#endif  // NNSERVE_COMMON_QUOTE_H_
