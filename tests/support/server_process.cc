#include "tests/support/server_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace nn::testing {

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    Options options) {
  std::unique_ptr<ServerProcess> process(new ServerProcess());
  const std::string binary = options.binary.find('/') == std::string::npos
                                 ? absl::StrCat(BinDir(), "/", options.binary)
                                 : options.binary;
  const std::string port_file = process->dir_.Join("port");
  const std::string log_file = process->dir_.Join("log");
  std::vector<std::string> args = {binary};
  if (options.add_port_flags) {
    args.push_back("--listen_address=127.0.0.1");
    args.push_back("--port=0");
    args.push_back("--port_file=" + port_file);
    args.push_back("--http_listen_address=127.0.0.1");
    args.push_back("--http_port=0");
    args.push_back("--http_port_file=" + process->dir_.Join("http_port"));
  }
  args.insert(args.end(), options.args.begin(), options.args.end());

  // stdout and stderr into one log; the runner's signal mask not inherited.
  const pid_t pid = Spawn(args, log_file, log_file);
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("cannot start ", binary));
  }
  process->pid_ = pid;
  // Without port flags there is no port file to wait for: the caller polls
  // the program's own readiness.
  if (!options.add_port_flags) return process;

  const absl::Time deadline = absl::Now() + options.startup_timeout;
  while (absl::Now() < deadline) {
    if (!process->running()) {
      return absl::InternalError(absl::StrCat(
          binary, " exited with code ", process->exit_code_,
          " during start-up; log:\n", process->Log()));
    }
    std::ifstream in(port_file);
    std::string text;
    if (in && std::getline(in, text)) {
      int port = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) &&
          port > 0) {
        process->port_ = port;
        std::ifstream http_in(process->dir_.Join("http_port"));
        std::string http_text;
        if (http_in && std::getline(http_in, http_text)) {
          (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(http_text),
                                 &process->http_port_);
        }
        return process;
      }
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(binary, " did not start within ",
                   absl::FormatDuration(options.startup_timeout), "; log:\n",
                   process->Log()));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string ServerProcess::target() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void ServerProcess::Signal(int signal_number) {
  if (pid_ > 0 && !exited_) ::kill(pid_, signal_number);
}

bool ServerProcess::running() {
  if (exited_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exited_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
  return false;
}

absl::StatusOr<int> ServerProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (running()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("server still running");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return exit_code_;
}

std::string ServerProcess::Log() const {
  return ReadFileOrEmpty(dir_.path() + "/log");
}

}  // namespace nn::testing
