// gRPC channels to an nnserve server, and the grpc::Status -> absl::Status
// mapping of the client side.
#ifndef NNSERVE_CLIENT_CHANNEL_H_
#define NNSERVE_CLIENT_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nn {

struct ChannelOptions {
  // host:port, or any gRPC target URI ("dns:///...", "unix:/path").
  std::string target = "localhost:50051";
  // PEM file of the CA that signed the server's certificate; empty means
  // plaintext. With TLS, tls_cert_file + tls_key_file (both or neither) give
  // the client certificate for mTLS.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Creates a channel (it connects lazily). `index` >= 0 makes the channel
// distinct from every other index: its own subchannel and TCP connection, so
// that several channels spread load instead of sharing one connection; -1
// lets gRPC share the connection with other channels to the same target.
// NOT_FOUND / INVALID_ARGUMENT if a TLS file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const ChannelOptions& options, int index = -1);

}  // namespace nn

#endif  // NNSERVE_CLIENT_CHANNEL_H_
