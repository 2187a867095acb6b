// An in-process gRPC server for client tests: 127.0.0.1, an ephemeral port
// of its own (no SO_REUSEPORT sharing).
#ifndef NNSERVE_TESTS_CLIENT_LOCAL_SERVER_H_
#define NNSERVE_TESTS_CLIENT_LOCAL_SERVER_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace nn {

struct LocalServer {
  std::unique_ptr<grpc::Server> server;  // null if it could not start
  std::string target;                    // "127.0.0.1:PORT"
};

// Starts `service` (which must outlive the server) with `credentials`
// (default plaintext).
inline LocalServer StartLocalServer(
    grpc::Service* service,
    std::shared_ptr<grpc::ServerCredentials> credentials =
        grpc::InsecureServerCredentials()) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service);
  LocalServer local;
  local.server = builder.BuildAndStart();
  local.target = absl::StrCat("127.0.0.1:", port);
  return local;
}

}  // namespace nn

#endif  // NNSERVE_TESTS_CLIENT_LOCAL_SERVER_H_
