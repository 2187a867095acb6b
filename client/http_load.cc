#include "client/http_load.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/data/dataset.h"
#include "common/mutex.h"

namespace nn {
namespace {

constexpr int kSide = 28;

void AppendFloatText(float v, std::string* out) {
  char buffer[32];
  const auto r = std::to_chars(buffer, buffer + sizeof buffer, v);
  out->append(buffer, r.ptr);
}

void AppendFloatLe(float v, std::string* out) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  const char bytes[4] = {static_cast<char>(bits), static_cast<char>(bits >> 8),
                         static_cast<char>(bits >> 16),
                         static_cast<char>(bits >> 24)};
  out->append(bytes, 4);
}

grpc::Status FromHttp(int status, absl::string_view body) {
  const std::string message(body.substr(0, 300));
  switch (status) {
    case 200:
      return grpc::Status::OK;
    case 400:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
    case 404:
      return grpc::Status(grpc::StatusCode::NOT_FOUND, message);
    case 413:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message);
    case 503:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, message);
    case 504:
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, message);
    default:
      return grpc::Status(grpc::StatusCode::UNKNOWN,
                          absl::StrCat("HTTP ", status, ": ", message));
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> BuildV2HttpRequests(
    const std::vector<InputImage>& images, const std::string& host_port,
    const std::string& model, const std::string& version,
    int images_per_request, int count, bool json) {
  absl::StatusOr<std::vector<std::vector<const InputImage*>>> batches =
      RequestImageBatches(images, images_per_request, count);
  if (!batches.ok()) return batches.status();
  for (const InputImage& image : images) {
    if (image.image.height != kSide || image.image.width != kSide) {
      return absl::InvalidArgumentError(absl::StrCat(
          image.source, ": --protocol=v2-http sends 28x28 images"));
    }
  }
  const std::string path =
      absl::StrCat("/v2/models/", model,
                   version.empty() ? "" : absl::StrCat("/versions/", version),
                   "/infer");
  std::vector<std::string> requests;
  const int64_t floats = int64_t{images_per_request} * kSide * kSide;
  for (const std::vector<const InputImage*>& batch : *batches) {
    std::string data;  // JSON numbers or raw floats
    data.reserve(json ? floats * 10 : floats * 4);
    if (json) data += '[';
    for (const InputImage* image : batch) {
      for (uint8_t pixel : image->image.pixels) {
        const float v = PixelToUnit(pixel);
        if (json) {
          if (data.size() > 1) data += ',';
          AppendFloatText(v, &data);
        } else {
          AppendFloatLe(v, &data);
        }
      }
    }
    if (json) data += ']';
    std::string head = absl::StrCat(
        R"({"inputs":[{"name":"images","datatype":"FP32","shape":[)",
        images_per_request, ",", kSide, ",", kSide, "]");
    if (json) {
      absl::StrAppend(&head, R"(,"data":)", data, "}]}");
    } else {
      absl::StrAppend(&head, R"(,"parameters":{"binary_data_size":)",
                      data.size(), "}}],",
                      R"("parameters":{"binary_data_output":true}})");
    }
    const size_t body_size = head.size() + (json ? 0 : data.size());
    std::string message = absl::StrCat(
        "POST ", path, " HTTP/1.1\r\nHost: ", host_port,
        "\r\nContent-Type: ",
        json ? "application/json" : "application/octet-stream",
        "\r\nContent-Length: ", body_size, "\r\n");
    if (!json) {
      absl::StrAppend(&message, "Inference-Header-Content-Length: ",
                      head.size(), "\r\n");
    }
    absl::StrAppend(&message, "\r\n", head);
    if (!json) message += data;
    requests.push_back(std::move(message));
  }
  return requests;
}

HttpLoadCall::HttpLoadCall(std::string target,
                           const std::vector<std::string>* requests,
                           DoneFn done)
    : target_(std::move(target)), requests_(requests), done_(std::move(done)) {
  thread_ = std::thread([this] { Loop(); });
}

HttpLoadCall::~HttpLoadCall() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
  Close();
}

void HttpLoadCall::Start(uint64_t sequence,
                         std::chrono::system_clock::time_point deadline) {
  {
    MutexLock lock(mu_);
    pending_ = true;
    sequence_ = sequence;
    deadline_ = deadline;
  }
  cv_.notify_one();
}

void HttpLoadCall::Loop() {
  for (;;) {
    uint64_t sequence;
    std::chrono::system_clock::time_point deadline;
    {
      MutexLock lock(mu_);
      lock.Wait(cv_, [this] {
        mu_.AssertHeld();
        return pending_ || stop_;
      });
      if (!pending_) return;  // stopping, nothing in flight
      pending_ = false;
      sequence = sequence_;
      deadline = deadline_;
    }
    const grpc::Status status =
        Exchange((*requests_)[sequence % requests_->size()], deadline);
    done_(status);  // may call Start() again
  }
}

void HttpLoadCall::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

grpc::Status HttpLoadCall::Exchange(
    const std::string& request,
    std::chrono::system_clock::time_point deadline) {
  bool retry = false;
  grpc::Status status = ExchangeOnce(request, deadline, &retry);
  // A kept-alive connection the server had closed: once more on a new one.
  if (retry) status = ExchangeOnce(request, deadline, &retry);
  return status;
}

grpc::Status HttpLoadCall::ExchangeOnce(
    const std::string& request,
    std::chrono::system_clock::time_point deadline, bool* retry) {
  const bool reused = fd_ >= 0;
  *retry = false;
  const auto left = deadline - std::chrono::system_clock::now();
  if (left <= std::chrono::system_clock::duration::zero()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline");
  }
  if (fd_ < 0) {
    const size_t colon = target_.rfind(':');
    const std::string host = target_.substr(0, colon);
    const std::string port =
        colon == std::string::npos ? "8080" : target_.substr(colon + 1);
    addrinfo hints = {};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 ||
        found == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "cannot resolve " + target_);
    }
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool connected =
        fd_ >= 0 && connect(fd_, found->ai_addr, found->ai_addrlen) == 0;
    freeaddrinfo(found);
    if (!connected) {
      Close();
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "cannot connect to " + target_);
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(left).count();
  timeval timeout = {.tv_sec = static_cast<time_t>(micros / 1000000),
                     .tv_usec = static_cast<suseconds_t>(micros % 1000000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd_, request.data() + sent, request.size() - sent,
                           MSG_NOSIGNAL);
    if (n <= 0) {
      Close();
      *retry = reused;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "send failed");
    }
    sent += static_cast<size_t>(n);
  }
  // Headers, then Content-Length bytes of body.
  std::string in;
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  char buffer[65536];
  for (;;) {
    if (header_end != std::string::npos &&
        in.size() >= header_end + 4 + content_length) {
      break;
    }
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      const bool timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      Close();
      if (timed_out) {
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "no answer before the deadline");
      }
      *retry = reused && in.empty();
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the server closed the connection");
    }
    in.append(buffer, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      const std::string headers = absl::AsciiStrToLower(in.substr(0, header_end));
      const size_t at = headers.find("\r\ncontent-length:");
      if (at == std::string::npos ||
          !absl::SimpleAtoi(
              absl::StripAsciiWhitespace(absl::string_view(headers).substr(
                  at + 17, headers.find("\r\n", at + 2) - (at + 17))),
              &content_length)) {
        Close();
        return grpc::Status(grpc::StatusCode::UNKNOWN,
                            "an answer without Content-Length");
      }
    }
  }
  int status = 0;
  const absl::string_view line =
      absl::string_view(in).substr(0, in.find("\r\n"));
  if (line.size() < 12 || !absl::SimpleAtoi(line.substr(9, 3), &status)) {
    Close();
    return grpc::Status(grpc::StatusCode::UNKNOWN, "a malformed answer");
  }
  if (absl::StrContains(absl::AsciiStrToLower(in.substr(0, header_end)),
                        "connection: close")) {
    Close();
  }
  return FromHttp(status, absl::string_view(in).substr(header_end + 4));
}

}  // namespace nn
