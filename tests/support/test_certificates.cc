#include "tests/support/test_certificates.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/subprocess.h"

namespace nn::testing {
namespace {

constexpr char kOpenSsl[] = "/usr/bin/openssl";

absl::Status OpenSsl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), kOpenSsl);
  const std::string log = dir + "/openssl.log";
  const pid_t pid = Spawn(args, log, log);
  if (pid <= 0) return absl::InternalError("cannot start openssl");
  if (WaitFor(pid, std::chrono::seconds(30)) != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(args, " "), ":\n",
                                            ReadFileOrEmpty(log)));
  }
  return absl::OkStatus();
}

// A self-signed CA certificate and key.
absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return OpenSsl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                       dir + "/" + name + ".key", "-out",
                       dir + "/" + name + ".pem", "-days", "1", "-subj",
                       "/CN=nnserve robustness " + name});
}

// A key and a certificate for `cn`, signed by CA `ca`, valid for 127.0.0.1.
absl::Status MakeLeaf(const std::string& dir, const std::string& name,
                      const std::string& cn, const std::string& ca) {
  const std::string base = dir + "/" + name;
  if (absl::Status s = OpenSsl(
          dir, {"req", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn});
      !s.ok()) {
    return s;
  }
  return OpenSsl(dir, {"x509", "-req", "-in", base + ".csr", "-CA",
                       dir + "/" + ca + ".pem", "-CAkey",
                       dir + "/" + ca + ".key", "-CAcreateserial", "-out",
                       base + ".pem", "-days", "1", "-extfile",
                       dir + "/ext.cnf"});
}

}  // namespace

absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir) {
  if (::access(kOpenSsl, X_OK) != 0) {
    return absl::FailedPreconditionError("needs /usr/bin/openssl");
  }
  std::ofstream(dir + "/ext.cnf") << "subjectAltName=IP:127.0.0.1\n";
  for (const char* ca : {"ca", "rogue_ca"}) {
    if (absl::Status s = MakeCa(dir, ca); !s.ok()) return s;
  }
  for (const auto& [name, cn, ca] :
       {std::tuple<std::string, std::string, std::string>{"server", "server",
                                                          "ca"},
        {"client", "client", "ca"},
        {"rogue", "client", "rogue_ca"}}) {
    if (absl::Status s = MakeLeaf(dir, name, cn, ca); !s.ok()) return s;
  }
  return TestCertificates{
      .ca_cert = dir + "/ca.pem",
      .server_cert = dir + "/server.pem",
      .server_key = dir + "/server.key",
      .client_cert = dir + "/client.pem",
      .client_key = dir + "/client.key",
      .rogue_cert = dir + "/rogue.pem",
      .rogue_key = dir + "/rogue.key",
  };
}

}  // namespace nn::testing
