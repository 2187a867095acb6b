#include "server/metrics/http_exchange.h"

#include <civetweb.h>

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace nn::metrics {

CivetwebExchange::CivetwebExchange(mg_connection* connection)
    : connection_(connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  method_ = info->request_method ? info->request_method : "";
  path_ = info->local_uri_raw ? info->local_uri_raw : "";
}

std::optional<absl::string_view> CivetwebExchange::header(
    const char* name) const {
  const char* value = mg_get_header(connection_, name);
  if (value == nullptr) return std::nullopt;
  return absl::string_view(value);
}

absl::StatusOr<std::string> CivetwebExchange::ReadBody(int64_t max_bytes) {
  const long long declared = mg_get_request_info(connection_)->content_length;
  if (declared > max_bytes) {
    body_unread_ = true;
    return absl::ResourceExhaustedError(absl::StrCat(
        "request body of ", declared, " bytes; the limit is ", max_bytes,
        " (--max_http_body_bytes)"));
  }
  std::string body;
  if (declared >= 0) body.resize(static_cast<size_t>(declared));
  // Without Content-Length: read up to max_bytes + 1 to see an excess.
  const int64_t cap = declared >= 0 ? declared : max_bytes + 1;
  int64_t got = 0;
  char chunk[16384];
  while (got < cap) {
    const size_t want =
        static_cast<size_t>(std::min<int64_t>(cap - got, sizeof chunk));
    const int n = mg_read(connection_, chunk, want);
    if (n <= 0) break;
    if (declared >= 0) {
      std::copy(chunk, chunk + n, body.begin() + got);
    } else {
      body.append(chunk, n);
    }
    got += n;
  }
  if (declared >= 0 && got < declared) {
    body_unread_ = true;
    return absl::InvalidArgumentError(absl::StrCat(
        "request body ended after ", got, " of its ", declared,
        " bytes (Content-Length)"));
  }
  if (declared < 0 && got > max_bytes) {
    body_unread_ = true;
    return absl::ResourceExhaustedError(absl::StrCat(
        "request body of more than ", max_bytes, " bytes; the limit is ",
        max_bytes, " (--max_http_body_bytes)"));
  }
  return body;
}

void CivetwebExchange::Respond(int status, absl::string_view content_type,
                               absl::string_view body, const Headers& extra) {
  if (status_ != 0) return;  // answered already
  status_ = status;
  if (body_unread_) mg_disable_connection_keep_alive(connection_);
  const std::string type(content_type);
  const std::string length = std::to_string(body.size());
  mg_response_header_start(connection_, status);
  mg_response_header_add(connection_, "Content-Type", type.c_str(), -1);
  mg_response_header_add(connection_, "Content-Length", length.c_str(), -1);
  mg_response_header_add(connection_, "Cache-Control", "no-store", -1);
  for (const auto& [name, value] : extra) {
    mg_response_header_add(connection_, name.c_str(), value.c_str(),
                           static_cast<int>(value.size()));
  }
  mg_response_header_send(connection_);
  if (!body.empty() && method_ != "HEAD") {
    mg_write(connection_, body.data(), body.size());
  }
}

bool CivetwebExchange::StartStream(int status, absl::string_view content_type,
                                   const Headers& extra) {
  if (status_ != 0) return false;  // answered already
  status_ = status;
  // No Content-Length: the body ends with the connection.
  mg_disable_connection_keep_alive(connection_);
  const std::string type(content_type);
  mg_response_header_start(connection_, status);
  mg_response_header_add(connection_, "Content-Type", type.c_str(), -1);
  mg_response_header_add(connection_, "Cache-Control", "no-store", -1);
  for (const auto& [name, value] : extra) {
    mg_response_header_add(connection_, name.c_str(), value.c_str(),
                           static_cast<int>(value.size()));
  }
  mg_response_header_send(connection_);
  streaming_ = true;
  return true;
}

bool CivetwebExchange::Write(absl::string_view data) {
  if (!streaming_) return false;
  if (data.empty() || method_ == "HEAD") return true;
  return mg_write(connection_, data.data(), data.size()) ==
         static_cast<int>(data.size());
}

}  // namespace nn::metrics
