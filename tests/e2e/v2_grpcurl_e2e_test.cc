// The README's grpcurl examples for inference.GRPCInferenceService, run as
// written against the real nnserve (127.0.0.1, ephemeral port, a model named
// mnist_cnn as in the README). grpcurl is not packaged in Debian 12, so the
// README's sh block runs in bash with `grpcurl` bound to grpcurl_lite
// (tests/e2e/grpcurl_lite.cc): a client that knows the service only through
// server reflection, parses the README's own JSON bodies with protobuf's JSON
// mapping into dynamic messages and prints the replies as JSON. Nothing on
// the client side uses descriptors of the generated V2 code, so the test
// proves the reflection data is complete; the answers are checked, and
// ModelInfer's against Predict's for the same digit (numerical contract).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::Contains;
using ::testing::IsSupersetOf;
using testing::ReadFileOrEmpty;
using testing::TempDir;

constexpr char kSection[] = "### gRPC: `inference.GRPCInferenceService`";

// The first ```sh block after the gRPC section's heading of README.md.
std::string ReadmeGrpcurlBlock() {
  const std::string readme = ReadFileOrEmpty("README.md");
  const size_t section = readme.find(kSection);
  if (section == std::string::npos) return "";
  const size_t begin = readme.find("```sh\n", section);
  if (begin == std::string::npos) return "";
  const size_t end = readme.find("\n```", begin);
  if (end == std::string::npos) return "";
  return readme.substr(begin + 6, end - begin - 6);
}

// What one grpcurl command of the block printed.
struct Answer {
  int exit_code = -1;
  std::string out;
  std::string err;
  rapidjson::Document json;  // `out` parsed (calls; not `list`)
};

class V2GrpcurlE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cnn = testing::MakeModel("mnist_cnn", 3);
    ASSERT_TRUE(cnn.ok()) << cnn.status();
    ASSERT_TRUE(testing::PublishModel(repo_.path(), "mnist_cnn", 1, **cnn).ok());
    auto server = testing::ServerProcess::Start(
        {.args = {"--model_repository=" + repo_.path(), "--drain_grace=0s"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Runs the README's block with grpcurl -> grpcurl_lite and localhost:50051
  // -> the server; each command's output lands in out_/<n>.{out,err,rc}.
  std::vector<Answer> RunReadmeBlock() {
    const std::string block = ReadmeGrpcurlBlock();
    EXPECT_FALSE(block.empty()) << "no ```sh block after " << kSection;
    const std::string script = out_.Join("readme.sh");
    FILE* file = fopen(script.c_str(), "w");
    EXPECT_NE(file, nullptr);
    if (file == nullptr) return {};
    fputs(R"(set -u
n=0
grpcurl() {
  n=$((n + 1))
  local args=()
  for a in "$@"; do args+=("${a//localhost:50051/$NN_TARGET}"); done
  "$NN_GRPCURL" "${args[@]}" >"$NN_OUT/$n.out" 2>"$NN_OUT/$n.err"
  echo $? >"$NN_OUT/$n.rc"
}
)",
          file);
    fputs(block.c_str(), file);
    fputs("\necho $n >\"$NN_OUT/count\"\n", file);
    fclose(file);
    const pid_t pid = testing::Spawn(
        {"/bin/bash", script}, out_.Join("bash.log"), out_.Join("bash.log"),
        {"NN_TARGET=" + server_->target(),
         "NN_GRPCURL=" + testing::BinDir() + "/grpcurl_lite",
         "NN_OUT=" + out_.path()});
    EXPECT_EQ(testing::WaitFor(pid, std::chrono::seconds(120)), 0)
        << ReadFileOrEmpty(out_.Join("bash.log"));
    int count = 0;
    EXPECT_TRUE(absl::SimpleAtoi(ReadFileOrEmpty(out_.Join("count")), &count));
    std::vector<Answer> answers(count);
    for (int i = 0; i < count; ++i) {
      const std::string base = out_.Join(absl::StrCat(i + 1));
      Answer& a = answers[i];
      EXPECT_TRUE(
          absl::SimpleAtoi(ReadFileOrEmpty(base + ".rc"), &a.exit_code));
      a.out = ReadFileOrEmpty(base + ".out");
      a.err = ReadFileOrEmpty(base + ".err");
      a.json.Parse(a.out.c_str());
    }
    return answers;
  }

  TempDir repo_;
  TempDir out_;
  std::unique_ptr<testing::ServerProcess> server_;
};

const rapidjson::Value* Member(const rapidjson::Value& object,
                               const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::string String(const rapidjson::Value* value) {
  return value != nullptr && value->IsString() ? value->GetString() : "";
}

std::vector<std::string> Strings(const rapidjson::Value* array) {
  std::vector<std::string> out;
  if (array == nullptr || !array->IsArray()) return out;
  for (const auto& v : array->GetArray()) {
    out.push_back(v.IsString() ? v.GetString() : "<not a string>");
  }
  return out;
}

TEST_F(V2GrpcurlE2ETest, ReadmeExamplesWorkThroughReflectionAlone) {
  ASSERT_NE(server_, nullptr);
  std::vector<Answer> answers = RunReadmeBlock();
  // list, ServerReady, ServerMetadata, ModelMetadata, ModelConfig,
  // ModelStatistics, RepositoryIndex, ModelInfer.
  ASSERT_EQ(answers.size(), 8u) << "the README's block changed";
  for (size_t i = 0; i < answers.size(); ++i) {
    ASSERT_EQ(answers[i].exit_code, 0)
        << "command " << i + 1 << ": " << answers[i].err;
  }

  const std::vector<std::string> methods =
      absl::StrSplit(answers[0].out, '\n', absl::SkipEmpty());
  std::vector<std::string> required;
  for (const char* m :
       {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata",
        "ModelMetadata", "ModelInfer", "ModelConfig", "ModelStatistics",
        "RepositoryIndex"}) {
    required.push_back(absl::StrCat("inference.GRPCInferenceService.", m));
  }
  EXPECT_THAT(methods, IsSupersetOf(required)) << answers[0].out;

  const rapidjson::Value& ready = answers[1].json;
  ASSERT_NE(Member(ready, "ready"), nullptr) << answers[1].out;
  EXPECT_TRUE(Member(ready, "ready")->GetBool());

  const rapidjson::Value& server = answers[2].json;
  EXPECT_EQ(String(Member(server, "name")), "nnserve") << answers[2].out;
  EXPECT_THAT(Strings(Member(server, "extensions")),
              IsSupersetOf({"classification", "model_configuration",
                            "statistics"}));

  // Proto3 JSON, as grpcurl prints it: lowerCamelCase, int64 as strings.
  const rapidjson::Value& metadata = answers[3].json;
  EXPECT_EQ(String(Member(metadata, "name")), "mnist_cnn") << answers[3].out;
  EXPECT_THAT(Strings(Member(metadata, "versions")), Contains("1"));
  EXPECT_EQ(String(Member(metadata, "platform")), "nnserve_nnm");
  const rapidjson::Value* inputs = Member(metadata, "inputs");
  ASSERT_TRUE(inputs != nullptr && inputs->IsArray() && inputs->Size() == 1)
      << answers[3].out;
  EXPECT_EQ(String(Member((*inputs)[0], "name")), "images");
  EXPECT_EQ(String(Member((*inputs)[0], "datatype")), "FP32");
  EXPECT_THAT(Strings(Member((*inputs)[0], "shape")),
              ::testing::ElementsAre("-1", "28", "28"));

  const rapidjson::Value* config = Member(answers[4].json, "config");
  ASSERT_NE(config, nullptr) << answers[4].out;
  EXPECT_EQ(String(Member(*config, "name")), "mnist_cnn");
  EXPECT_EQ(String(Member(*config, "platform")), "nnserve_nnm");
  ASSERT_NE(Member(*config, "maxBatchSize"), nullptr) << answers[4].out;
  EXPECT_GT(Member(*config, "maxBatchSize")->GetInt(), 0);
  const rapidjson::Value* config_inputs = Member(*config, "input");
  ASSERT_TRUE(config_inputs != nullptr && config_inputs->IsArray() &&
              config_inputs->Size() == 1)
      << answers[4].out;
  EXPECT_EQ(String(Member((*config_inputs)[0], "name")), "images");

  const rapidjson::Value* stats = Member(answers[5].json, "modelStats");
  ASSERT_TRUE(stats != nullptr && stats->IsArray() && stats->Size() == 1)
      << answers[5].out;
  EXPECT_EQ(String(Member((*stats)[0], "name")), "mnist_cnn");
  EXPECT_EQ(String(Member((*stats)[0], "version")), "1");

  const rapidjson::Value* models = Member(answers[6].json, "models");
  ASSERT_TRUE(models != nullptr && models->IsArray() && models->Size() == 1)
      << answers[6].out;
  EXPECT_EQ(String(Member((*models)[0], "name")), "mnist_cnn");
  EXPECT_EQ(String(Member((*models)[0], "version")), "1");
  EXPECT_EQ(String(Member((*models)[0], "state")), "READY");

  // ModelInfer of the first test digit: what Predict answers for it.
  auto images = testing::LoadTestDigits(1);
  ASSERT_TRUE(images.ok()) << images.status();
  auto stub = testing::NewStub(server_->target());
  nnserve::v1::PredictResponse predict;
  grpc::Status status = testing::Predict(
      *stub, testing::PixelRequest("mnist_cnn", *images, 1), &predict);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(predict.predictions_size(), 1);
  const std::vector<float> expected(
      predict.predictions(0).probabilities().begin(),
      predict.predictions(0).probabilities().end());

  const rapidjson::Value& infer = answers[7].json;
  EXPECT_EQ(String(Member(infer, "modelName")), "mnist_cnn") << answers[7].out;
  EXPECT_EQ(String(Member(infer, "modelVersion")), "1");
  EXPECT_EQ(String(Member(infer, "id")), "digit-0");
  // Typed outputs (typed_output_contents), in the order asked.
  EXPECT_EQ(Member(infer, "rawOutputContents"), nullptr) << answers[7].out;
  const rapidjson::Value* outputs = Member(infer, "outputs");
  ASSERT_TRUE(outputs != nullptr && outputs->IsArray() && outputs->Size() == 2)
      << answers[7].out;
  const rapidjson::Value& class_index = (*outputs)[0];
  EXPECT_EQ(String(Member(class_index, "name")), "class_index");
  EXPECT_EQ(String(Member(class_index, "datatype")), "INT64");
  const std::vector<std::string> chosen =
      Strings(Member(*Member(class_index, "contents"), "int64Contents"));
  ASSERT_EQ(chosen.size(), 1u) << answers[7].out;
  int chosen_class = -1;
  ASSERT_TRUE(absl::SimpleAtoi(chosen[0], &chosen_class));
  EXPECT_TRUE(testing::IsArgMaxWithinContract(expected, chosen_class))
      << chosen_class;

  const rapidjson::Value& top = (*outputs)[1];
  EXPECT_EQ(String(Member(top, "name")), "probabilities");
  EXPECT_EQ(String(Member(top, "datatype")), "BYTES");
  EXPECT_THAT(Strings(Member(top, "shape")),
              ::testing::ElementsAre("1", "3"));
  // BYTES travel base64-encoded in JSON: "probability:index:label" each,
  // most probable first.
  const std::vector<std::string> encoded =
      Strings(Member(*Member(top, "contents"), "bytesContents"));
  ASSERT_EQ(encoded.size(), 3u) << answers[7].out;
  float previous = 2.0f;
  for (const std::string& e : encoded) {
    std::string text;
    ASSERT_TRUE(absl::Base64Unescape(e, &text)) << e;
    const std::vector<std::string> parts = absl::StrSplit(text, ':');
    ASSERT_EQ(parts.size(), 3u) << text;
    float probability = 0;
    int index = -1;
    ASSERT_TRUE(absl::SimpleAtof(parts[0], &probability)) << text;
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &index)) << text;
    ASSERT_TRUE(index >= 0 && index < 10) << text;
    EXPECT_EQ(parts[2], absl::StrCat(index)) << text;  // labels "0".."9"
    EXPECT_NEAR(probability, expected[index], testing::kRunToRunTolerance)
        << text;
    EXPECT_LE(probability, previous) << text;
    previous = probability;
  }
}

// An RPC error reaches the user as grpcurl shows it (code and message),
// through the same reflection-built request.
TEST_F(V2GrpcurlE2ETest, UnknownModelIsNotFoundThroughReflection) {
  ASSERT_NE(server_, nullptr);
  const std::string err = out_.Join("err");
  const pid_t pid = testing::Spawn(
      {testing::BinDir() + "/grpcurl_lite", "-plaintext", "-d",
       R"({"name": "no_such_model"})", server_->target(),
       "inference.GRPCInferenceService/ModelMetadata"},
      out_.Join("out"), err);
  EXPECT_EQ(testing::WaitFor(pid, std::chrono::seconds(30)), 1);
  EXPECT_THAT(ReadFileOrEmpty(err),
              ::testing::HasSubstr("Code: 5"));  // NOT_FOUND
  EXPECT_THAT(ReadFileOrEmpty(err), ::testing::HasSubstr("no_such_model"));
}

}  // namespace
}  // namespace nn
