#include "client/channel.h"

#include <cstdint>
#include <utility>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"

namespace nn {
namespace {

// PEM files are a few KB; a larger one is not a certificate.
constexpr int64_t kMaxPemFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* what) {
  absl::StatusOr<std::string> contents = ReadFile(path, kMaxPemFileBytes);
  if (!contents.ok()) {
    return absl::Status(
        contents.status().code(),
        absl::StrCat("cannot read ", what, " file ",
                     contents.status().message()));
  }
  if (contents->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " file ", path, " is not PEM"));
  }
  return *std::move(contents);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const ChannelOptions& options, int index) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_file.empty()) {
    if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate needs TLS: give the CA file too");
    }
    credentials = grpc::InsecureChannelCredentials();
  } else {
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "the client certificate and key go together: give both or neither");
    }
    grpc::SslCredentialsOptions ssl;
    ASSIGN_OR_RETURN(ssl.pem_root_certs,
                     ReadPemFile(options.tls_ca_file, "TLS CA"));
    if (!options.tls_cert_file.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                       ReadPemFile(options.tls_cert_file, "TLS certificate"));
      ASSIGN_OR_RETURN(ssl.pem_private_key,
                       ReadPemFile(options.tls_key_file, "TLS key"));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  // Predict responses for large batches can exceed gRPC's 4 MB default.
  args.SetMaxReceiveMessageSize(-1);
  if (index >= 0) {
    // gRPC reuses a subchannel (and its TCP connection) across channels with
    // equal arguments; a distinct argument and a local pool prevent that.
    args.SetInt("nnctl.channel_index", index);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  }
  return grpc::CreateCustomChannel(options.target, credentials, args);
}

}  // namespace nn
