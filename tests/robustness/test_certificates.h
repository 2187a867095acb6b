// Test certificates made with the openssl command-line tool at test time (no
// key material in the repository), as tests/client/tls_test.cc makes them for
// nnctl: P-256 keys (quick to generate), valid for one day.
#ifndef NNSERVE_TESTS_ROBUSTNESS_TEST_CERTIFICATES_H_
#define NNSERVE_TESTS_ROBUSTNESS_TEST_CERTIFICATES_H_

#include <string>

#include "absl/status/statusor.h"

namespace nn::robustness {

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

}  // namespace nn::robustness

#endif  // NNSERVE_TESTS_ROBUSTNESS_TEST_CERTIFICATES_H_
