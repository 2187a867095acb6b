// A minimal logging shim (Abseil 20220623 has no absl/log).
//
//   NN_LOG(INFO) << "loaded " << name;    // one line on stderr:
//   I20261128 16:20:01.123456 model_repository.cc:42] loaded mnist_mlp
//
// Lines are written whole (one write) so concurrent threads never interleave.
// NN_LOG(FATAL) aborts after writing. SetMinLogSeverity() filters.
#ifndef NNSERVE_COMMON_LOGGING_H_
#define NNSERVE_COMMON_LOGGING_H_

#include <sstream>

namespace nn {

enum class LogSeverity { INFO = 0, WARNING = 1, ERROR = 2, FATAL = 3 };

void SetMinLogSeverity(LogSeverity severity);
LogSeverity MinLogSeverity();

namespace logging_internal {

class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Swallows the stream when the severity is filtered out.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace logging_internal
}  // namespace nn

#define NN_LOG(severity)                                                  \
  (::nn::LogSeverity::severity < ::nn::MinLogSeverity())                  \
      ? (void)0                                                           \
      : ::nn::logging_internal::Voidify() &                               \
            ::nn::logging_internal::LogMessage(::nn::LogSeverity::severity, \
                                               __FILE__, __LINE__)        \
                .stream()

#endif  // NNSERVE_COMMON_LOGGING_H_
