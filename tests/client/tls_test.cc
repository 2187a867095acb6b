// TLS and mTLS from the client side: certificates are made with the openssl
// command-line tool for each run; the server is in-process.
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/local_server.h"
#include "tests/client/subprocess.h"
#include "tests/support/required_tool.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::nn::subprocess::ReadFileOrEmpty;
using ::testing::HasSubstr;

class ListOnlyService final : public v1::InferenceService::Service {
 public:
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                          v1::ListModelsResponse* response) override {
    response->add_models()->set_name("secure_model");
    return grpc::Status::OK;
  }
};

// Runs openssl with `args`; fails the test if it does not exit 0.
void OpenSsl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = nn::subprocess::ScratchPath("openssl.log");
  const pid_t pid = nn::subprocess::Spawn(argv, log, log);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(nn::subprocess::WaitFor(pid, std::chrono::seconds(30)), 0)
      << ReadFileOrEmpty(log);
}

ChannelOptions Tls(const std::string& ca, const std::string& cert = "",
                   const std::string& key = "") {
  ChannelOptions options;
  options.tls_ca_file = ca;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  return options;
}

class TlsTest : public ::testing::Test {
 protected:
  static std::string File(const std::string& name) {
    return nn::subprocess::ScratchPath("tls_" + name);
  }

  // A CA, a server certificate for 127.0.0.1 and a client certificate, all
  // signed by the CA (P-256 keys: quick to make).
  static void SetUpTestSuite() {
    if (access("/usr/bin/openssl", X_OK) != 0) return;
    std::ofstream(File("ext.cnf")) << "subjectAltName=IP:127.0.0.1\n";
    const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt",
                                         "ec_paramgen_curve:prime256v1",
                                         "-nodes"};
    auto with = [&](std::vector<std::string> args) {
      args.insert(args.begin() + 1, ec.begin(), ec.end());
      return args;
    };
    OpenSsl(with({"req", "-x509", "-keyout", File("ca.key"), "-out",
                  File("ca.pem"), "-days", "1", "-subj", "/CN=nnctl test CA"}));
    for (const std::string who : {"server", "client"}) {
      OpenSsl(with({"req", "-keyout", File(who + ".key"), "-out",
                    File(who + ".csr"), "-subj", "/CN=" + who}));
      OpenSsl({"x509", "-req", "-in", File(who + ".csr"), "-CA", File("ca.pem"),
               "-CAkey", File("ca.key"), "-CAcreateserial", "-out",
               File(who + ".pem"), "-days", "1", "-extfile", File("ext.cnf")});
    }
  }

  void SetUp() override {
    NN_REQUIRE_TOOL(nn::testing::FindTool("/usr/bin/openssl"),
                    "/usr/bin/openssl (Debian package openssl) to make "
                    "certificates");
  }

  // Starts a TLS server; `require_client_certificate` makes it mTLS.
  void StartServer(bool require_client_certificate) {
    grpc::SslServerCredentialsOptions ssl(
        require_client_certificate
            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_root_certs = ReadFileOrEmpty(File("ca.pem"));
    ssl.pem_key_cert_pairs.push_back({ReadFileOrEmpty(File("server.key")),
                                      ReadFileOrEmpty(File("server.pem"))});
    LocalServer local =
        StartLocalServer(&service_, grpc::SslServerCredentials(ssl));
    server_ = std::move(local.server);
    ASSERT_NE(server_, nullptr);
    target_ = local.target;
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  absl::Status ListWith(ChannelOptions channel) {
    channel.target = target_;
    ClientOptions options;
    options.channel = channel;
    options.timeout = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(std::move(options));
    if (!client.ok()) return client.status();
    absl::StatusOr<v1::ListModelsResponse> list = (*client)->ListModels();
    if (!list.ok()) return list.status();
    EXPECT_EQ(list->models(0).name(), "secure_model");
    return absl::OkStatus();
  }

  ListOnlyService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

TEST_F(TlsTest, TheServersCaLetsTheClientConnect) {
  StartServer(/*require_client_certificate=*/false);
  EXPECT_TRUE(ListWith(Tls(File("ca.pem"))).ok());
  // Plaintext to a TLS port fails.
  EXPECT_EQ(ListWith({}).code(), absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, AnUntrustedServerCertificateIsRefused) {
  StartServer(/*require_client_certificate=*/false);
  // The server's own certificate is not a CA for itself.
  EXPECT_EQ(ListWith(Tls(File("client.pem"))).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, MutualTlsNeedsTheClientCertificate) {
  StartServer(/*require_client_certificate=*/true);
  EXPECT_TRUE(
      ListWith(Tls(File("ca.pem"), File("client.pem"), File("client.key")))
          .ok());
  EXPECT_EQ(ListWith(Tls(File("ca.pem"))).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, UnusableTlsFilesAreLocalErrors) {
  EXPECT_EQ(ListWith(Tls(File("missing.pem"))).code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(ListWith(Tls(File("ext.cnf"))).message(),
              HasSubstr("is not PEM"));
  EXPECT_THAT(ListWith(Tls(File("ca.pem"), File("client.pem")))
                  .message(),
              HasSubstr("give both or neither"));
  EXPECT_EQ(ListWith(Tls("", File("client.pem"), File("client.key")))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
