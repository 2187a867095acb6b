// Starts a server binary (nnserve, or another from build/bin) as a child
// process on 127.0.0.1 with an ephemeral port, for end-to-end tests over real
// gRPC. The child writes its port to a file once it is serving; Start()
// waits for that file (bounded by `startup_timeout`).
#ifndef NNSERVE_TESTS_SUPPORT_SERVER_PROCESS_H_
#define NNSERVE_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/subprocess.h"  // BinDir, Spawn
#include "tests/support/temp_dir.h"

namespace nn::testing {

class ServerProcess {
 public:
  struct Options {
    std::string binary = "nnserve";  // a name in BinDir(), or a path
    // Extra flags; --port=0, --port_file, --http_port=0, --http_port_file
    // and the loopback listen addresses are added unless `add_port_flags`
    // is false (then Start() returns as soon as the child runs, and port()
    // is 0: for programs such as Prometheus that write no port file).
    std::vector<std::string> args;
    bool add_port_flags = true;
    absl::Duration startup_timeout = absl::Seconds(60);
  };

  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(Options options);
  // Kills the child (SIGKILL) if it still runs.
  ~ServerProcess();

  int port() const { return port_; }
  // The HTTP (metrics) port, if the server wrote --http_port_file; else 0.
  int http_port() const { return http_port_; }
  std::string target() const;  // "127.0.0.1:<port>"
  pid_t pid() const { return pid_; }

  void Signal(int signal_number);
  // Waits for the child to exit; its exit code, or 128 + signal number.
  // DEADLINE_EXCEEDED if it is still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool running();

  // What the child wrote to stdout and stderr so far.
  std::string Log() const;

 private:
  ServerProcess() = default;

  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int http_port_ = 0;
  bool exited_ = false;
  int exit_code_ = 0;
};

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_SERVER_PROCESS_H_
