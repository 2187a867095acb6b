// Running the project's binaries (and tools such as openssl) from tests:
// spawn with output captured in files, bounded waits, no shell. The one
// process-spawning helper of the suites (ServerProcess builds on it).
#ifndef NNSERVE_TESTS_SUPPORT_SUBPROCESS_H_
#define NNSERVE_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace nn::testing {

// Directory of the built binaries: $NNSERVE_BIN_DIR (set by nn_test), else
// "build/bin".
std::string BinDir();

// A path for `name` in the test's temporary directory, unique to this
// process.
std::string ScratchPath(const std::string& name);

// The whole file; "" if it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// Starts `argv` (argv[0] a path) with stdin from /dev/null, stdout into
// `out_path` and stderr into `err_path` (one file, in order, when the paths
// are equal), no signal blocked (the test runner's mask does not leak into
// the child), and the environment plus `extra_env` ("NAME=value"). Returns
// the pid, or -1 if it cannot be started.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path,
            const std::vector<std::string>& extra_env = {});

// Waits for `pid` at most `timeout`, then kills it. The exit code, or -1 if
// it was killed or died of a signal.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout);

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs BinDir()/nnctl with `args`, for at most 60 s.
RunResult RunNnctl(const std::vector<std::string>& args,
                   const std::vector<std::string>& extra_env = {});

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_SUBPROCESS_H_
