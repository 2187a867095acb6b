// Test certificates made with the openssl command-line tool at test time (no
// key material in the repository), for the TLS tests of nnctl
// (tests/client/tls_test.cc) and of nnserve (tests/robustness/tls_test.cc):
// P-256 keys (quick to generate), valid for one day.
#ifndef NNSERVE_TESTS_SUPPORT_TEST_CERTIFICATES_H_
#define NNSERVE_TESTS_SUPPORT_TEST_CERTIFICATES_H_

#include <string>

#include "absl/status/statusor.h"

namespace nn::testing {

// PEM file paths, all in one directory.
struct TestCertificates {
  std::string ca_cert;        // the CA both sides trust
  std::string server_cert;    // CN=server, subjectAltName IP:127.0.0.1
  std::string server_key;
  std::string client_cert;    // CN=client, signed by the CA
  std::string client_key;
  std::string rogue_cert;     // CN=client, signed by another CA
  std::string rogue_key;
};

// Makes the certificates in `dir` (which must exist). FAILED_PRECONDITION if
// /usr/bin/openssl is missing; INTERNAL (with openssl's output) if it fails.
absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_TEST_CERTIFICATES_H_
