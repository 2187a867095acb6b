// nnctl against a real nnserve on loopback: predictions in every encoding
// equal the engine's, `info` shows the right parameter counts, `bench`'s
// request count equals the server's own counter, `train` publishes a version.
#include <stdio.h>
#include <sys/wait.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_client.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::HasSubstr;
using testing::ServerProcess;
using testing::TempDir;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult RunNnctl(const std::string& target, const std::string& args) {
  const std::string command = absl::StrCat(testing::BinDir(), "/nnctl --target=",
                                           target, " ", args, " 2>&1");
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) {
    result.output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Every "probabilities":[...] array of a JSON text, in order.
std::vector<std::vector<double>> ProbabilityArrays(const std::string& json) {
  std::vector<std::vector<double>> arrays;
  const std::string key = "\"probabilities\":[";
  for (size_t at = json.find(key); at != std::string::npos;
       at = json.find(key, at + 1)) {
    const size_t begin = at + key.size();
    const size_t end = json.find(']', begin);
    std::vector<double>& values = arrays.emplace_back();
    for (absl::string_view item :
         absl::StrSplit(json.substr(begin, end - begin), ',')) {
      double v = 0;
      EXPECT_TRUE(absl::SimpleAtod(item, &v)) << item;
      values.push_back(v);
    }
  }
  return arrays;
}

// The value of one series in a Prometheus exposition (0 if absent).
double SeriesValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double v = 0;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(series.size() + 1), &v));
      return v;
    }
  }
  return 0;
}

// A JSON number field ("key":123) after position `from`.
int64_t JsonInt(const std::string& json, const std::string& key, size_t from) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(needle, from);
  if (at == std::string::npos) return -1;
  size_t end = at + needle.size();
  while (end < json.size() && (std::isdigit(json[end]) || json[end] == '-')) {
    ++end;
  }
  int64_t v = -1;
  (void)absl::SimpleAtoi(json.substr(at + needle.size(), end - at - needle.size()),
                         &v);
  return v;
}

class NnctlE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TempDir();
    auto model = testing::MakeModel("mnist_cnn", 21);
    ASSERT_TRUE(model.ok()) << model.status();
    auto path = testing::PublishModel(repo_->path(), "cnn", 1, **model);
    ASSERT_TRUE(path.ok());
    *path_ = *path;
    auto server = ServerProcess::Start(
        {.args = {"--model_repository=" + repo_->path(), "--enable_training",
                  "--data_dir=data", "--drain_grace=0s"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete repo_;
  }

  static TempDir* repo_;
  static std::string* path_;
  static ServerProcess* server_;
};
TempDir* NnctlE2ETest::repo_ = nullptr;
std::string* NnctlE2ETest::path_ = new std::string();
ServerProcess* NnctlE2ETest::server_ = nullptr;

TEST_F(NnctlE2ETest, PredictInEveryEncodingEqualsTheEngine) {
  constexpr int kImages = 8;
  auto images = testing::LoadTestDigits(kImages);
  ASSERT_TRUE(images.ok());
  auto model = LoadModel(*path_);
  ASSERT_TRUE(model.ok());
  std::vector<float> expected(kImages * 10);
  ASSERT_TRUE((*model)
                  ->NewInferenceContext()
                  ->Run(images->floats, kImages, absl::MakeSpan(expected))
                  .ok());
  for (const char* encoding : {"uint8", "float", "png"}) {
    SCOPED_TRACE(encoding);
    CommandResult result = RunNnctl(
        server_->target(),
        absl::StrCat("predict --model=cnn --json --batch=3 --limit=", kImages,
                     " --encoding=", encoding,
                     " data/mnist/t10k-images-idx3-ubyte"));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    auto arrays = ProbabilityArrays(result.output);
    ASSERT_EQ(arrays.size(), static_cast<size_t>(kImages)) << result.output;
    for (int i = 0; i < kImages; ++i) {
      ASSERT_EQ(arrays[i].size(), 10u);
      for (int c = 0; c < 10; ++c) {
        EXPECT_NEAR(arrays[i][c], expected[i * 10 + c],
                    testing::kRunToRunTolerance);
      }
    }
    EXPECT_THAT(result.output, HasSubstr("\"accuracy\""));
  }
}

TEST_F(NnctlE2ETest, InfoShowsTheKerasSummary) {
  CommandResult result = RunNnctl(server_->target(), "info --model=cnn");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("121,930"));  // total parameters
  EXPECT_THAT(result.output, HasSubstr("Conv2D"));
  EXPECT_THAT(result.output, HasSubstr("(None, 26, 26, 32)"));
  EXPECT_THAT(result.output, HasSubstr("320"));      // first conv's params
  EXPECT_THAT(result.output, HasSubstr("AVAILABLE"));
  CommandResult list = RunNnctl(server_->target(), "list");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("cnn"));
  CommandResult missing = RunNnctl(server_->target(), "info --model=nope");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("NOT_FOUND"));
}

TEST_F(NnctlE2ETest, BenchCountsEqualTheServersCounterOnEveryProtocol) {
  const std::string http =
      absl::StrCat(" --http_target=127.0.0.1:", server_->http_port());
  for (auto [protocol, method, extra] :
       {std::tuple<const char*, const char*, std::string>{"nnserve.v1",
                                                          "Predict", ""},
        {"v2", "ModelInfer", ""},
        {"v2-http", "ModelInfer", http},
        {"v2-http", "ModelInfer", http + " --v2_http_json"}}) {
    SCOPED_TRACE(absl::StrCat(protocol, extra));
    const std::string series = absl::StrCat(
        R"(nnserve_requests_total{code="OK",method=")", method,
        R"(",model="cnn",protocol=")", protocol, R"(",version="1"})");
    auto scrape = [&] {
      auto response =
          testing::HttpRequest(server_->http_port(), "GET", "/metrics");
      EXPECT_TRUE(response.ok());
      return response.ok() ? SeriesValue(response->body, series) : -1;
    };
    const double before = scrape();
    CommandResult result = RunNnctl(
        server_->target(),
        absl::StrCat("bench --model=cnn --concurrency=1,4 --duration=1s "
                     "--warmup=200ms --json --protocol=",
                     protocol, extra));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    int64_t sent = 1;  // the probe request
    std::vector<std::string> levels =
        absl::StrSplit(result.output, "{\"concurrency\":");
    ASSERT_EQ(levels.size(), 3u) << result.output;  // preamble + 2 levels
    for (size_t i = 1; i < levels.size(); ++i) {
      const int64_t warmup = JsonInt(levels[i], "warmup_requests", 0);
      const int64_t requests = JsonInt(levels[i], "requests", 0);
      const int64_t failed = JsonInt(levels[i], "failed_requests", 0);
      ASSERT_GE(warmup, 0) << result.output;
      ASSERT_GT(requests, 0) << result.output;
      EXPECT_EQ(failed, 0);
      sent += warmup + requests;
    }
    EXPECT_EQ(scrape() - before, sent) << result.output;
  }
}

// --protocol=v2 (ModelInfer, raw FP32) answers what Predict with float
// tensors answers: the same floats in batches of the same size, so the
// same probabilities, labels and top-k.
TEST_F(NnctlE2ETest, PredictOverV2EqualsPredictOverV1) {
  const std::string flags =
      "predict --model=cnn --json --batch=3 --limit=7 --top_k=2 "
      "data/mnist/t10k-images-idx3-ubyte";
  CommandResult v1 =
      RunNnctl(server_->target(), flags + " --encoding=float");
  CommandResult v2 = RunNnctl(server_->target(), flags + " --protocol=v2");
  ASSERT_EQ(v1.exit_code, 0) << v1.output;
  ASSERT_EQ(v2.exit_code, 0) << v2.output;
  EXPECT_EQ(ProbabilityArrays(v2.output), ProbabilityArrays(v1.output));
  EXPECT_EQ(ProbabilityArrays(v2.output).size(), 7u);
  EXPECT_EQ(v2.output, v1.output);
  CommandResult bad = RunNnctl(server_->target(), flags + " --protocol=v3");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  CommandResult missing = RunNnctl(
      server_->target(),
      "predict --model=nope --protocol=v2 data/mnist/t10k-images-idx3-ubyte "
      "--limit=1");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("NOT_FOUND"));
}

TEST_F(NnctlE2ETest, HealthAndTrain) {
  CommandResult health = RunNnctl(server_->target(), "health");
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_THAT(health.output, HasSubstr("SERVING"));

  CommandResult train = RunNnctl(
      server_->target(),
      "train --model=fresh --spec=models/mnist_mlp.textproto --dataset=mnist "
      "--epochs=1 --batch_size=64 --seed=3");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_THAT(train.output, HasSubstr("published fresh version 1"));
  EXPECT_THAT(train.output, HasSubstr("epoch 1/1"));
}

TEST(NnctlDeadTargetTest, FailsFastWithOneLine) {
  const absl::Time start = absl::Now();
  CommandResult result = RunNnctl("127.0.0.1:1", "list --timeout=60s");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.output, HasSubstr("nnctl: UNAVAILABLE"));
  // Against waiting out the 60 s RPC timeout; a process start takes well
  // under a second even on a loaded 2-core machine.
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

}  // namespace
}  // namespace nn
