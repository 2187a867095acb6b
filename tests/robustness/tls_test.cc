// TLS and mutual TLS end to end: nnserve started with --tls_cert/--tls_key
// (and --tls_client_ca for mTLS) on certificates made by openssl for this
// run; clients over real gRPC with and without credentials.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/robustness/robustness_util.h"
#include "tests/support/test_certificates.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/required_tool.h"
#include "tests/support/temp_dir.h"

namespace nn::robustness {
namespace {

using ::nnserve::v1::PredictResponse;
using testing::MakeTestCertificates;
using testing::TestCertificates;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cert_dir_ = new testing::TempDir();
    absl::StatusOr<TestCertificates> certs =
        MakeTestCertificates(cert_dir_->path());
    if (!certs.ok()) {
      skip_reason_ = new std::string(certs.status().ToString());
      return;
    }
    certs_ = new TestCertificates(*certs);
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete cert_dir_;
    delete skip_reason_;
  }

  void SetUp() override {
    NN_REQUIRE_TOOL(nn::testing::FindTool("/usr/bin/openssl"),
                    "/usr/bin/openssl (Debian package openssl)");
    ASSERT_NE(certs_, nullptr) << *skip_reason_;
    absl::StatusOr<testing::TestImages> images = testing::LoadTestDigits(2);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }

  // Starts nnserve with the server certificate; mutual: clients must present
  // a certificate signed by the CA.
  void Serve(bool mutual) {
    ServeOptions options;
    options.flags = {"--tls_cert=" + certs_->server_cert,
                     "--tls_key=" + certs_->server_key};
    if (mutual) options.flags.push_back("--tls_client_ca=" + certs_->ca_cert);
    absl::StatusOr<ServedRepository> served = ServeRepository(options);
    ASSERT_TRUE(served.ok()) << served.status();
    served_ = *std::move(served);
  }

  // Client credentials trusting the CA, with the given client certificate
  // (none if `cert` is empty).
  static std::shared_ptr<grpc::ChannelCredentials> Tls(
      const std::string& cert = "", const std::string& key = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = testing::ReadFileOrEmpty(certs_->ca_cert);
    if (!cert.empty()) {
      ssl.pem_cert_chain = testing::ReadFileOrEmpty(cert);
      ssl.pem_private_key = testing::ReadFileOrEmpty(key);
    }
    return grpc::SslCredentials(ssl);
  }

  grpc::Status PredictWith(std::shared_ptr<grpc::ChannelCredentials> creds,
                           PredictResponse* response) {
    std::unique_ptr<Stub> stub =
        NewStub(served_.server->target(), std::move(creds));
    return Predict(*stub, PixelRequest("mnist_mlp", images_, 2), response,
                   absl::Seconds(10));
  }

  static testing::TempDir* cert_dir_;
  static TestCertificates* certs_;
  static std::string* skip_reason_;
  ServedRepository served_;
  testing::TestImages images_;
};
testing::TempDir* TlsTest::cert_dir_ = nullptr;
TestCertificates* TlsTest::certs_ = nullptr;
std::string* TlsTest::skip_reason_ = nullptr;

TEST_F(TlsTest, TlsClientPredictsAndGetsTheEnginesAnswer) {
  Serve(/*mutual=*/false);
  PredictResponse response;
  const grpc::Status status = PredictWith(Tls(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.predictions_size(), 2);
  const std::vector<float> expected = EngineProbabilities(
      served_.paths.at("mnist_mlp"), images_.floats, 2);
  ASSERT_EQ(expected.size(), 20u);
  for (int i = 0; i < 2; ++i) {
    for (int c = 0; c < 10; ++c) {
      EXPECT_NEAR(response.predictions(i).probabilities(c), expected[i * 10 + c],
                  testing::kRunToRunTolerance);
    }
  }
  // Health is reachable over TLS too (what a Kubernetes gRPC probe with TLS
  // would use).
  EXPECT_EQ(CheckHealth(served_.server->target(), "", Tls()), 1);
}

TEST_F(TlsTest, PlaintextClientCannotTalkToATlsServer) {
  Serve(/*mutual=*/false);
  PredictResponse response;
  const grpc::Status status =
      PredictWith(grpc::InsecureChannelCredentials(), &response);
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(response.predictions_size(), 0);
  EXPECT_EQ(CheckHealth(served_.server->target()), -1);
}

TEST_F(TlsTest, ClientThatDoesNotTrustTheServerIsRefused) {
  Serve(/*mutual=*/false);
  // Trusting only the rogue CA: the server's certificate does not verify.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs =
      testing::ReadFileOrEmpty(cert_dir_->Join("rogue_ca.pem"));
  PredictResponse response;
  EXPECT_EQ(PredictWith(grpc::SslCredentials(ssl), &response).error_code(),
            grpc::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRefusesAClientWithoutACertificate) {
  Serve(/*mutual=*/true);
  PredictResponse response;
  const grpc::Status status = PredictWith(Tls(), &response);
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(response.predictions_size(), 0);
}

TEST_F(TlsTest, MutualTlsRefusesACertificateFromAnotherCa) {
  Serve(/*mutual=*/true);
  PredictResponse response;
  const grpc::Status status =
      PredictWith(Tls(certs_->rogue_cert, certs_->rogue_key), &response);
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, MutualTlsAcceptsAClientCertificateSignedByTheCa) {
  Serve(/*mutual=*/true);
  PredictResponse response;
  const grpc::Status status =
      PredictWith(Tls(certs_->client_cert, certs_->client_key), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.predictions_size(), 2);
  EXPECT_EQ(CheckHealth(served_.server->target(), "",
                        Tls(certs_->client_cert, certs_->client_key)),
            1);
}

TEST(TlsFlagsTest, ClientCaWithoutServerCertificateFailsAtStartUp) {
  ServeOptions options;
  options.flags = {"--tls_client_ca=/nonexistent/ca.pem"};
  absl::StatusOr<ServedRepository> served = ServeRepository(options);
  ASSERT_FALSE(served.ok());
  EXPECT_THAT(std::string(served.status().message()),
              ::testing::HasSubstr("--tls_client_ca needs --tls_cert"));
}

TEST(TlsFlagsTest, UnreadableKeyFailsAtStartUpInsteadOfServingPlaintext) {
  ServeOptions options;
  options.flags = {"--tls_cert=/nonexistent/server.pem",
                   "--tls_key=/nonexistent/server.key"};
  absl::StatusOr<ServedRepository> served = ServeRepository(options);
  ASSERT_FALSE(served.ok());
  EXPECT_THAT(std::string(served.status().message()),
              ::testing::HasSubstr("exited with code 1"));
}

}  // namespace
}  // namespace nn::robustness
