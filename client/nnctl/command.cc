#include "client/nnctl/command.h"

#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

// Global flags.
ABSL_FLAG(std::string, target, "localhost:50051",
          "Server address, host:port (or any gRPC target URI).");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the server's certificate; enables "
          "TLS. Empty: plaintext.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mTLS (with --tls_key and --tls_ca).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Deadline of each unary call, connecting included (bench: of each "
          "request). Training streams have none.");

// Shared by several commands.
ABSL_FLAG(std::string, model, "", "Model name (a repository directory).");
ABSL_FLAG(int64_t, version, 0, "Model version; 0 = the newest available.");
ABSL_FLAG(bool, json, false, "Print JSON instead of text.");
ABSL_FLAG(std::string, encoding, "uint8",
          "How images travel: uint8 (raw bytes, 784 an image), float (a "
          "[N,28,28] tensor of byte/255) or png (PNG files are sent as they "
          "are; other images are encoded).");

ABSL_FLAG(std::string, protocol, "nnserve.v1",
          "The wire: nnserve.v1 (Predict) or v2 (the Open Inference "
          "Protocol's ModelInfer over gRPC, raw FP32 contents; --encoding "
          "does not apply).");

namespace nn::nnctl {

const std::vector<std::string>& GlobalFlags() {
  static const auto* flags = new std::vector<std::string>{
      "target", "tls_ca", "tls_cert", "tls_key", "timeout"};
  return *flags;
}

absl::StatusOr<WireProtocol> GetWireProtocol() {
  return ParseWireProtocol(absl::GetFlag(FLAGS_protocol));
}

std::string V2Version() {
  const int64_t version = absl::GetFlag(FLAGS_version);
  return version > 0 ? absl::StrCat(version) : "";
}

int Fail(int exit_code, const absl::Status& status) {
  std::string message(status.message());
  if (message.empty()) message = "(no message)";
  // One line, whatever the server put in the message.
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "nnctl: " << absl::StatusCodeToString(status.code()) << ": "
            << message << std::endl;
  return exit_code;
}

int UsageError(const std::string& message) {
  return Fail(kExitUsage, absl::InvalidArgumentError(message));
}

ClientOptions GetClientOptions() {
  ClientOptions options;
  options.channel.target = absl::GetFlag(FLAGS_target);
  options.channel.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.channel.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.channel.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.token = absl::GetFlag(FLAGS_token);
  if (options.token.empty()) {
    if (const char* env = std::getenv("NNCTL_TOKEN")) options.token = env;
  }
  return options;
}


absl::StatusOr<std::unique_ptr<Client>> MakeClient() {
  return Client::Create(GetClientOptions());
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a message of a linked-in type cannot fail.
  if (!google::protobuf::util::MessageToJsonString(message, &json, options)
           .ok()) {
    return "{}";
  }
  return json;
}
}  // namespace nn::nnctl
