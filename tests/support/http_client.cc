#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nn::testing {

absl::StatusOr<HttpResponse> HttpRequest(int port, const std::string& method,
                                         const std::string& path) {
  return SendRawHttp(port,
                     absl::StrCat(method, " ", path,
                                  " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
                     absl::Seconds(5), /*close_write_side=*/false);
}

absl::StatusOr<HttpResponse> SendHttp(int port, const HttpMessage& message) {
  std::string request = absl::StrCat(message.method, " ", message.path,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "Connection: close\r\n");
  bool has_length = false;
  for (const auto& [name, value] : message.headers) {
    if (absl::AsciiStrToLower(name) == "content-length") has_length = true;
    absl::StrAppend(&request, name, ": ", value, "\r\n");
  }
  if (!has_length) {
    absl::StrAppend(&request, "Content-Length: ", message.body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", message.body);
  return SendRawHttp(port, request);
}

absl::StatusOr<HttpResponse> SendRawHttp(int port, const std::string& request,
                                         absl::Duration timeout_duration,
                                         bool close_write_side) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  timeval timeout = absl::ToTimeval(timeout_duration);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect to port ", port, ": ", std::strerror(error)));
  }
  // A server may answer (413) and close before the whole body is sent:
  // a short send is not an error, the response still comes.
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent,
                           MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (sent == 0 && !request.empty()) {
    close(fd);
    return absl::UnavailableError("send failed");
  }
  if (close_write_side) shutdown(fd, SHUT_WR);  // a body cut short ends here
  std::string raw;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) raw.append(buffer, n);
  const bool timed_out = n < 0;
  close(fd);
  if (timed_out && raw.empty()) {
    return absl::DeadlineExceededError("no response in time");
  }

  const size_t header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::DataLossError(absl::StrCat("malformed response: ", raw));
  }
  HttpResponse response;
  response.body = raw.substr(header_end + 4);
  const std::vector<std::string> lines =
      absl::StrSplit(raw.substr(0, header_end), "\r\n");
  // "HTTP/1.1 200 OK"
  const std::vector<std::string> status_line =
      absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 ||
      !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> header =
        absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
    if (header.size() != 2) continue;
    response.headers[absl::AsciiStrToLower(header[0])] =
        std::string(absl::StripAsciiWhitespace(header[1]));
  }
  return response;
}

}  // namespace nn::testing
