// TLS and mTLS from the client side: certificates are made with the openssl
// command-line tool for each run (tests/support/test_certificates.h); the
// server is in-process.
#include <unistd.h>

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
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certificates.h"
#include "tests/support/required_tool.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::nn::testing::ReadFileOrEmpty;
using ::testing::HasSubstr;

class ListOnlyService final : public v1::InferenceService::Service {
 public:
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                          v1::ListModelsResponse* response) override {
    response->add_models()->set_name("secure_model");
    return grpc::Status::OK;
  }
};

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
  // A file in the certificates' directory (ca.pem, server.pem, client.key,
  // ext.cnf, ...; see MakeTestCertificates).
  static std::string File(const std::string& name) {
    return dir_->Join(name);
  }

  // A CA, a server certificate for 127.0.0.1 and a client certificate, all
  // signed by the CA.
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    if (access("/usr/bin/openssl", X_OK) != 0) return;
    absl::StatusOr<testing::TestCertificates> certificates =
        testing::MakeTestCertificates(dir_->path());
    ASSERT_TRUE(certificates.ok()) << certificates.status();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
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

  static testing::TempDir* dir_;
  ListOnlyService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

testing::TempDir* TlsTest::dir_ = nullptr;

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
