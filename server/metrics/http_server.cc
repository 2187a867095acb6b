#include "server/metrics/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

#include <cstring>
#include <iterator>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NNSERVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NNSERVE_ASAN 1
#endif

#if defined(NNSERVE_ASAN)
// AddressSanitizer builds only. Debian 12's libcivetweb 1.15 is built with
// USE_STACK_SIZE=102400: mg_start creates its master and worker threads
// with pthread_attr_setstacksize(&attr, 0x19000), a compile-time constant
// with no runtime option. Under ASan such a thread's exit (in mg_stop)
// faults inside ASan's own AsanThread::Destroy, reading just past the
// AsanThread that ASan maps right above the 100 KiB stack (reported as a
// "stack-overflow" or SEGV on T-1 as nnserve ends; console_training_e2e_test
// StreamsAreCappedAndEndWhenTheServerDrains reproduced it every time). This
// definition, exported by the executable, takes civetweb's call and gives
// every thread at least 8 MiB, glibc's default; with it the report is gone.
// Release builds keep civetweb's size (no definition there).
extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr,
                                         size_t stack_size) {
  using Fn = int (*)(pthread_attr_t*, size_t);
  static const Fn real =
      reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  constexpr size_t kMinStack = size_t{8} << 20;
  return real(attr, stack_size < kMinStack ? kMinStack : stack_size);
}
#endif

namespace nn::metrics {
namespace {

constexpr char kPlainText[] = "text/plain; charset=utf-8";

struct Response {
  int status = 200;
  std::string body = {};
  const char* content_type = kPlainText;
  bool allow_header = false;  // 405: say which methods are allowed
};

void InitCivetwebOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

// Routes civetweb's own messages (bind errors, bad requests) to our log.
int LogCivetwebMessage(const mg_connection*, const char* message) {
  NN_LOG(WARNING) << "civetweb: " << message;
  return 1;  // handled: civetweb prints nothing itself
}

void SendResponse(mg_connection* connection, const Response& response,
                  bool with_body) {
  const std::string length = std::to_string(response.body.size());
  mg_response_header_start(connection, response.status);
  mg_response_header_add(connection, "Content-Type", response.content_type, -1);
  mg_response_header_add(connection, "Content-Length", length.c_str(), -1);
  mg_response_header_add(connection, "Cache-Control", "no-store", -1);
  if (response.allow_header) {
    mg_response_header_add(connection, "Allow", "GET, HEAD", -1);
  }
  mg_response_header_send(connection);
  if (with_body && !response.body.empty()) {
    mg_write(connection, response.body.data(), response.body.size());
  }
}

// Opens and at once closes a TCP connection to the listener at
// `address`:`port` ("0.0.0.0" is reached through loopback).
void PokeListener(const std::string& address, int port) {
  sockaddr_in target = {};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  if (address == "0.0.0.0" ||
      inet_pton(AF_INET, address.c_str(), &target.sin_addr) != 1) {
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof(target));
  close(fd);
}

absl::Status ValidateOptions(const MetricsHttpServer::Options& options) {
  in_addr address;
  if (inet_pton(AF_INET, options.listen_address.c_str(), &address) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics HTTP server: listen_address \"", options.listen_address,
        "\" is not an IPv4 address (this civetweb has no IPv6)"));
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics HTTP server: port ", options.port, " is not in 0..65535"));
  }
  if (options.num_threads < 1) {
    return absl::InvalidArgumentError("metrics HTTP server: num_threads < 1");
  }
  if (options.keep_alive_timeout_millis < 1) {
    return absl::InvalidArgumentError(
        "metrics HTTP server: keep_alive_timeout_millis < 1");
  }
  for (const MetricsHttpServer::Options::Route& route : options.routes) {
    const bool root = route.prefix == "/";
    if (route.prefix.empty() || route.prefix[0] != '/' ||
        (route.prefix.back() == '/' && !root) || !route.handler) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metrics HTTP server: route \"", route.prefix,
          "\" needs a prefix like \"/v2\" (or \"/\") and a handler"));
    }
  }
  if (options.request_timeout_millis < 1) {
    return absl::InvalidArgumentError(
        "metrics HTTP server: request_timeout_millis < 1");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    Options options, Sources sources, ReadinessFn readiness) {
  for (const prometheus::Collectable* source : sources) {
    if (source == nullptr) {
      return absl::InvalidArgumentError("metrics HTTP server: null source");
    }
  }
  if (absl::Status status = ValidateOptions(options); !status.ok()) {
    return status;
  }
  InitCivetwebOnce();
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(
      std::move(sources), std::move(readiness), options.listen_address,
      std::move(options.routes)));

  const std::string listening_ports =
      absl::StrCat(options.listen_address, ":", options.port);
  const std::string num_threads = std::to_string(options.num_threads);
  const std::string timeout = std::to_string(options.request_timeout_millis);
  const std::string keep_alive_timeout =
      std::to_string(options.keep_alive_timeout_millis);
  // No document_root: civetweb serves no files.
  const char* civetweb_options[] = {
      "listening_ports",    listening_ports.c_str(),
      "num_threads",        num_threads.c_str(),
      "request_timeout_ms", timeout.c_str(),
      "enable_keep_alive",  options.keep_alive ? "yes" : "no",
      "keep_alive_timeout_ms", keep_alive_timeout.c_str(),
      // A reply is written in pieces (headers, then the body): without
      // TCP_NODELAY, Nagle's algorithm holds the body back until the
      // client's delayed ACK, 40 ms on Linux, on every keep-alive request
      // (measured: REST infers at p50 43.9 ms, 1,435 req/s at 64 in flight).
      "tcp_nodelay",        "1",
      nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  // begin_request sees every request from the first one on, unlike a handler
  // added with mg_set_request_handler after mg_start.
  callbacks.begin_request = [](mg_connection* connection) {
    return HandleRequest(connection,
                         mg_get_request_info(connection)->user_data);
  };
  callbacks.log_message = LogCivetwebMessage;
  mg_init_data init = {.callbacks = &callbacks,
                       .user_data = server.get(),
                       .configuration_options = civetweb_options};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error = {.code = &error_code,
                         .text = error_text,
                         .text_buffer_size = sizeof(error_text)};
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "metrics HTTP server: cannot listen on ", listening_ports, ": ",
        error_text[0] != '\0' ? error_text : "civetweb failed to start"));
  }
  mg_server_port port;
  if (mg_get_server_ports(server->context_, 1, &port) != 1) {
    return absl::InternalError("metrics HTTP server: no listening port");
  }
  server->port_ = port.port;
  NN_LOG(INFO) << "metrics HTTP server listening on "
               << options.listen_address << ":" << server->port_;
  return server;
}

MetricsHttpServer::MetricsHttpServer(Sources sources, ReadinessFn readiness,
                                     std::string listen_address,
                                     std::vector<Options::Route> routes)
    : sources_(std::move(sources)),
      readiness_(std::move(readiness)),
      listen_address_(std::move(listen_address)),
      routes_(std::move(routes)) {}

const MetricsHttpServer::Options::Route* MetricsHttpServer::RouteFor(
    std::string_view path) const {
  for (const Options::Route& route : routes_) {
    if (route.prefix == "/") {  // the root itself, nothing below it
      if (path == "/") return &route;
      continue;
    }
    if (path.substr(0, route.prefix.size()) != route.prefix) continue;
    if (path.size() == route.prefix.size() ||
        path[route.prefix.size()] == '/') {
      return &route;
    }
  }
  return nullptr;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (context_ == nullptr) return;
  // Debian's civetweb is built with a 2 s SOCKET_TIMEOUT_QUANTUM: its
  // listening thread sees mg_stop's flag only when poll() returns, so
  // mg_stop alone takes up to 2 s. A connection wakes that poll at once.
  // A poke that lands before the flag is set is accepted, reads EOF and is
  // closed by a worker; so poke until mg_stop has returned.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    for (int i = 0; i < 500 && !stopped.load(); ++i) {  // at most ~5 s
      PokeListener(listen_address_, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  mg_stop(context_);
  stopped = true;
  waker.join();
}

std::string MetricsHttpServer::Exposition() const {
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* source : sources_) {
    std::vector<prometheus::MetricFamily> collected = source->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

int MetricsHttpServer::HandleRequest(mg_connection* connection, void* self) {
  return static_cast<MetricsHttpServer*>(self)->Handle(connection);
}

int MetricsHttpServer::Handle(mg_connection* connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  const std::string_view path = info->local_uri ? info->local_uri : "";
  const std::string_view method =
      info->request_method ? info->request_method : "";
  const bool head = method == "HEAD";
  const std::string_view raw_path =
      info->local_uri_raw ? info->local_uri_raw : "";
  if (const Options::Route* route = RouteFor(raw_path); route != nullptr) {
    CivetwebExchange exchange(connection);
    try {
      route->handler(exchange);
    } catch (...) {
      NN_LOG(ERROR) << "HTTP server: exception while serving " << raw_path;
    }
    if (exchange.status() == 0) {
      exchange.Respond(500, kPlainText, "internal error\n", {});
    }
    return exchange.status();
  }
  Response response;
  // An exception must not unwind through civetweb's C frames: answer 500.
  try {
    if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
      response = {.status = 404, .body = "not found\n"};
    } else if (method != "GET" && !head) {
      response = {.status = 405,
                  .body = "method not allowed\n",
                  .allow_header = true};
    } else if (path == "/metrics") {
      response = {.status = 200,
                  .body = Exposition(),
                  .content_type = kTextFormatContentType};
    } else if (path == "/healthz") {
      response = {.status = 200, .body = "ok\n"};
    } else {
      const absl::Status ready =
          readiness_ ? readiness_() : absl::OkStatus();
      response = ready.ok()
                     ? Response{.status = 200, .body = "ok\n"}
                     : Response{.status = 503,
                                .body = absl::StrCat("not ready: ",
                                                     ready.message(), "\n")};
    }
  } catch (...) {
    NN_LOG(ERROR) << "metrics HTTP server: exception while serving " << path;
    response = {.status = 500, .body = "internal error\n"};
  }
  SendResponse(connection, response, /*with_body=*/!head);
  return response.status;
}

}  // namespace nn::metrics
