// ONNX models end to end (issue 18), over real gRPC against the real nnserve
// binary: PyTorch's exports of the tutorial's three networks
// (scripts/make-onnx-models.py, the CTest fixture onnx_models) dropped into a
// repository as model.onnx are served with PyTorch's probabilities (within
// 1e-5 of the saved reference outputs), described by ModelInfo (origin,
// appended softmax, layers, labels), hot-reloaded, refused with the
// importer's message while the previous version serves, fine-tuned into a
// model.nnm version; ExportModel and `nnctl export` give files that ONNX
// Runtime (npm onnxruntime-node, the fixture onnx_node) runs with nnserve's
// outputs within 1e-5.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "tests/onnx/onnx_test_util.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "tests/support/required_tool.h"
#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::testing::HasSubstr;
using testing::ServerProcess;
using testing::TempDir;

constexpr int64_t kImages = 300;  // test digits sent per Predict
constexpr int kClasses = 10;

class OnnxE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    models_ = testing::OnnxModelsDir();
    ASSERT_FALSE(models_.empty())
        << "NNSERVE_ONNX_MODELS_DIR is unset (CTest sets it)";
    auto digits = testing::LoadTestDigits(kImages);
    ASSERT_TRUE(digits.ok()) << digits.status();
    digits_ = *std::move(digits);
  }

  // Copies <onnx-models>/<name>.onnx to <repo>/<model>/<version>/model.onnx
  // (through a temporary name, as an operator's `mv` would).
  void Drop(const std::string& name, const std::string& model, int version) {
    const std::string dir = repo_.Join(absl::StrCat(model, "/", version));
    testing::MakeDirs(dir);
    std::filesystem::copy_file(absl::StrCat(models_, "/", name, ".onnx"),
                               dir + "/.model.onnx.tmp");
    std::filesystem::rename(dir + "/.model.onnx.tmp", dir + "/model.onnx");
  }

  void StartServer() {
    auto server = ServerProcess::Start(
        {.args = {"--model_repository=" + repo_.path(), "--enable_training",
                  "--data_dir=data", "--repository_poll_interval=200ms",
                  "--drain_grace=0s"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = testing::NewStub(server_->target());
  }

  // The probabilities of the first kImages test digits, row-major, from
  // `model` (version 0: the newest); `version` gets the version that answered.
  std::vector<float> Probabilities(const std::string& model, int64_t version = 0,
                                   int64_t* answered = nullptr,
                                   v1::PredictResponse* reply = nullptr) {
    v1::PredictRequest request = testing::PixelRequest(model, digits_, kImages);
    request.set_version(version);
    v1::PredictResponse response;
    grpc::Status status = testing::Predict(*stub_, request, &response);
    EXPECT_TRUE(status.ok()) << model << ": " << status.error_message();
    std::vector<float> out;
    for (const v1::Prediction& p : response.predictions()) {
      out.insert(out.end(), p.probabilities().begin(), p.probabilities().end());
    }
    if (answered != nullptr) *answered = response.version();
    if (reply != nullptr) *reply = response;
    return out;
  }

  // PyTorch's saved probabilities of the same digits (the .probs.f32 rows
  // start with the test images).
  std::vector<float> PyTorchs(const std::string& name) {
    auto all = testing::ReadFloats(absl::StrCat(models_, "/", name, ".probs.f32"));
    EXPECT_TRUE(all.ok()) << all.status();
    if (!all.ok() || all->size() < kImages * kClasses) return {};
    return std::vector<float>(all->begin(), all->begin() + kImages * kClasses);
  }

  v1::VersionInfo Info(const std::string& model, int64_t version) {
    grpc::ClientContext context;
    v1::ModelInfoRequest request;
    request.set_model(model);
    request.set_version(version);
    v1::ModelInfoResponse response;
    // (Not yet there while a test waits for it: an empty VersionInfo.)
    grpc::Status status = stub_->ModelInfo(&context, request, &response);
    if (!status.ok()) return v1::VersionInfo();
    return response.model().versions_size() == 1 ? response.model().versions(0)
                                                 : v1::VersionInfo();
  }

  grpc::Status Export(const std::string& model, int64_t version,
                      v1::ExportFormat format, v1::ExportModelResponse* out) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::ExportModelRequest request;
    request.set_model(model);
    request.set_version(version);
    request.set_format(format);
    return stub_->ExportModel(&context, request, out);
  }

  // ONNX Runtime's output for the model file at `path` on the test digits
  // as a [kImages,28,28] tensor; empty (and a failure) if it cannot run.
  std::vector<float> RunOnnxRuntime(const std::string& path) {
    const std::string node = testing::FindTool("node");
    if (node.empty()) {
      ADD_FAILURE() << "needs node (Debian nodejs): scripts/install-deps.sh";
      return {};
    }
    const char* modules = std::getenv("NNSERVE_ONNX_NODE_DIR");
    const std::string input = dir_.Join("input.f32");
    EXPECT_TRUE(testing::WriteFloats(input, digits_.floats).ok());
    const std::string command = absl::StrCat(
        "'", node, "' tests/onnx/run_onnx.cjs '", modules ? modules : "",
        "/node_modules' '", path, "' '", input, "' ", kImages, ",28,28 '",
        dir_.Join("output.f32"), "' 2> '", dir_.Join("node.log"), "'");
    if (std::system(command.c_str()) != 0) {
      ADD_FAILURE() << testing::ReadFileOrDie(dir_.Join("node.log"));
      return {};
    }
    auto out = testing::ReadFloats(dir_.Join("output.f32"));
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : std::vector<float>();
  }

  std::string models_;
  testing::TestImages digits_;
  TempDir repo_, dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<testing::Stub> stub_;
};

TEST_F(OnnxE2ETest, ServesPyTorchsExportsWithPyTorchsProbabilitiesAndDescribesThem) {
  Drop("mnist_mlp", "mlp", 1);
  Drop("mnist_cnn", "cnn", 1);
  Drop("mnist_rnn", "rnn", 1);
  // Labels: labels.txt beside the file; config.textproto wins over it.
  const std::vector<std::string> words = {"zero", "one", "two", "three", "four",
                                          "five", "six", "seven", "eight", "nine"};
  std::string names;
  for (const std::string& n : words) absl::StrAppend(&names, n, "\n");
  std::vector<std::string> config_labels, indices;
  testing::WriteFileOrDie(repo_.Join("mlp/1/labels.txt"), names);
  testing::WriteFileOrDie(repo_.Join("cnn/1/labels.txt"), names);
  std::string config;
  for (int i = 0; i < kClasses; ++i) {
    absl::StrAppend(&config, "labels: \"c", i, "\"\n");
    config_labels.push_back(absl::StrCat("c", i));
    indices.push_back(absl::StrCat(i));
  }
  testing::WriteFileOrDie(repo_.Join("cnn/config.textproto"), config);
  StartServer();

  struct Case {
    const char* model;
    const char* file;
    bool softmax_appended;  // the RNN export ends in logits
    const char* layer;      // a layer kind its summary must show
    const std::vector<std::string>* labels;  // the labels it must serve
  };
  for (const Case& c : {Case{"mlp", "mnist_mlp", false, "Dense", &words},
                        Case{"cnn", "mnist_cnn", false, "Conv2D", &config_labels},
                        Case{"rnn", "mnist_rnn", true, "SimpleRNN", &indices}}) {
    SCOPED_TRACE(c.model);
    v1::PredictResponse reply;
    const std::vector<float> ours = Probabilities(c.model, 0, nullptr, &reply);
    EXPECT_LE(testing::MaxContractError(ours, PyTorchs(c.file)),
              testing::kReferenceTolerance);
    ASSERT_GT(reply.predictions_size(), 0);
    for (const v1::Prediction& p : reply.predictions()) {
      ASSERT_EQ(p.label(), (*c.labels)[p.class_index()]);
    }

    const v1::VersionInfo info = Info(c.model, 1);
    EXPECT_EQ(info.state(), v1::VERSION_STATE_AVAILABLE);
    EXPECT_EQ(info.format(), "onnx");
    EXPECT_THAT(info.origin(), HasSubstr("ONNX (pytorch "));
    EXPECT_THAT(info.origin(), HasSubstr("opset 13)"));
    EXPECT_EQ(info.softmax_appended(), c.softmax_appended);
    EXPECT_THAT(info.path(), HasSubstr("/1/model.onnx"));
    EXPECT_EQ(info.input().height(), 28);
    EXPECT_GT(info.total_parameters(), 0);
    bool has_kind = false;
    for (const v1::LayerSummary& layer : info.layers()) has_kind |= layer.kind() == c.layer;
    EXPECT_TRUE(has_kind) << info.DebugString();
    EXPECT_THAT(info.labels(), ::testing::ElementsAreArray(*c.labels));
  }
}

TEST_F(OnnxE2ETest, ARefusedGraphFailsWithItsMessageAndAHotReloadedOneServes) {
  Drop("mnist_mlp", "m", 1);
  StartServer();
  const std::vector<float> mlp = PyTorchs("mnist_mlp");

  Drop("refused_einsum", "m", 2);
  ASSERT_TRUE(testing::Eventually(
      [&] { return Info("m", 2).state() == v1::VERSION_STATE_FAILED; },
      absl::Seconds(30)));
  EXPECT_THAT(Info("m", 2).error(),
              HasSubstr("unsupported ONNX operator Einsum (node \"/attn/Einsum\", "
                        "opset 13)"));
  EXPECT_EQ(Info("m", 2).format(), "onnx");
  int64_t answered = 0;
  EXPECT_LE(testing::MaxContractError(Probabilities("m", 0, &answered), mlp),
            testing::kReferenceTolerance);
  EXPECT_EQ(answered, 1);

  // A truncated file is refused too, with its own message.
  Drop("refused_truncated", "m", 3);
  ASSERT_TRUE(testing::Eventually(
      [&] { return Info("m", 3).state() == v1::VERSION_STATE_FAILED; },
      absl::Seconds(30)));
  EXPECT_THAT(Info("m", 3).error(), HasSubstr("not an ONNX model"));

  // Hot reload: a new model.onnx is loaded and served in its place.
  Drop("mnist_cnn", "m", 4);
  ASSERT_TRUE(testing::Eventually(
      [&] { return Info("m", 4).state() == v1::VERSION_STATE_AVAILABLE; },
      absl::Seconds(30)));
  EXPECT_LE(testing::MaxContractError(Probabilities("m", 0, &answered),
                                      PyTorchs("mnist_cnn")),
            testing::kReferenceTolerance);
  EXPECT_EQ(answered, 4);
}

TEST_F(OnnxE2ETest, FineTuningAnOnnxVersionPublishesAnNnmVersionNotingItsOrigin) {
  Drop("mnist_mlp", "m", 1);
  StartServer();
  v1::TrainRequest request;
  request.set_model("m");
  request.set_base_version(1);
  request.set_dataset("mnist");
  request.mutable_config()->set_epochs(1);
  request.mutable_config()->set_batch_size(32);
  request.mutable_config()->set_learning_rate(1e-4f);
  request.mutable_config()->set_max_train_examples(1000);
  request.mutable_config()->set_seed(3);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
  auto reader = stub_->Train(&context, request);
  v1::TrainProgress message, last;
  while (reader->Read(&message)) last = message;
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(last.has_result());
  EXPECT_EQ(last.result().version(), 2);
  EXPECT_THAT(last.result().path(), HasSubstr("/2/model.nnm"));

  const v1::VersionInfo info = Info("m", 2);
  EXPECT_EQ(info.state(), v1::VERSION_STATE_AVAILABLE);
  EXPECT_EQ(info.format(), "nnserve");
  EXPECT_THAT(info.origin(), HasSubstr("nnserve, fine-tuned from ONNX (pytorch "));
  ASSERT_GT(info.history_size(), 0);
  EXPECT_EQ(info.history(info.history_size() - 1).base_version(), 1);
  EXPECT_THAT(info.history(info.history_size() - 1).base_origin(),
              HasSubstr("ONNX (pytorch "));
  // The fine-tuned weights serve (and still classify digits).
  v1::PredictResponse reply;
  Probabilities("m", 2, nullptr, &reply);
  int correct = 0;
  for (int i = 0; i < reply.predictions_size(); ++i) {
    correct += reply.predictions(i).class_index() == digits_.labels[i];
  }
  EXPECT_GT(correct, kImages * 8 / 10);
}

TEST_F(OnnxE2ETest, ExportedModelsRunInOnnxRuntimeWithNnservesOutputs) {
  Drop("mnist_cnn", "cnn", 1);
  auto rnn = testing::MakeModel("mnist_rnn", 5);
  ASSERT_TRUE(rnn.ok()) << rnn.status();
  ASSERT_TRUE(testing::PublishModel(repo_.path(), "native_rnn", 1, **rnn).ok());
  StartServer();

  for (const char* model : {"cnn", "native_rnn"}) {
    SCOPED_TRACE(model);
    v1::ExportModelResponse exported;
    grpc::Status status = Export(model, 0, v1::EXPORT_FORMAT_ONNX, &exported);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(exported.version(), 1);
    const std::string path = dir_.Join(absl::StrCat(model, ".onnx"));
    testing::WriteFileOrDie(path, exported.data());
    EXPECT_LE(testing::MaxContractError(RunOnnxRuntime(path), Probabilities(model)),
              testing::kReferenceTolerance);

    // nnctl export writes the same model.
    const std::string out = dir_.Join(absl::StrCat(model, "-nnctl.onnx"));
    testing::RunResult run = testing::RunNnctl(
        {"--target=" + server_->target(), "export", absl::StrCat("--model=", model),
         "--version=1", "--format=onnx", "--out=" + out});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, HasSubstr("exported"));
    EXPECT_LE(testing::MaxContractError(RunOnnxRuntime(out), Probabilities(model)),
              testing::kReferenceTolerance);
  }
}

TEST_F(OnnxE2ETest, AnExportedModelDroppedIntoARepositoryKeepsItsLabels) {
  // A native model with its own labels, exported by one server...
  auto mlp = testing::MakeModel("mnist_mlp", 4);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  v1::SavedModel saved = (*mlp)->ToSavedModel();
  std::vector<std::string> names;
  for (int i = 0; i < kClasses; ++i) {
    names.push_back(absl::StrCat("digit ", i, " \xc3\xa9"));  // UTF-8 too
    saved.mutable_spec()->add_labels(names.back());
  }
  auto labelled = Model::FromSavedModel(saved);
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  ASSERT_TRUE(testing::PublishModel(repo_.path(), "native", 1, **labelled).ok());
  StartServer();
  v1::ExportModelResponse exported;
  grpc::Status status = Export("native", 1, v1::EXPORT_FORMAT_ONNX, &exported);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // ...and dropped in as model.onnx, with no labels.txt and no config labels.
  const std::string dir = repo_.Join("imported/1");
  testing::MakeDirs(dir);
  testing::WriteFileOrDie(dir + "/.model.onnx.tmp", exported.data());
  std::filesystem::rename(dir + "/.model.onnx.tmp", dir + "/model.onnx");
  ASSERT_TRUE(testing::Eventually(
      [&] { return Info("imported", 1).state() == v1::VERSION_STATE_AVAILABLE; },
      absl::Seconds(30)))
      << Info("imported", 1).error();
  const v1::VersionInfo info = Info("imported", 1);
  EXPECT_EQ(info.format(), "onnx");
  EXPECT_THAT(info.labels(), ::testing::ElementsAreArray(names));
  v1::PredictResponse reply;
  const std::vector<float> imported = Probabilities("imported", 1, nullptr, &reply);
  ASSERT_EQ(reply.predictions_size(), kImages);
  for (const v1::Prediction& p : reply.predictions()) {
    ASSERT_EQ(p.label(), names[p.class_index()]);
  }
  EXPECT_LE(testing::MaxContractError(imported, Probabilities("native", 1)),
            testing::kReferenceTolerance);
}

TEST_F(OnnxE2ETest, ExportErrorsHaveTheirCodes) {
  Drop("mnist_mlp", "m", 1);
  StartServer();
  v1::ExportModelResponse out;
  EXPECT_EQ(Export("nope", 0, v1::EXPORT_FORMAT_ONNX, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Export("m", 7, v1::EXPORT_FORMAT_ONNX, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Export("m", 0, v1::EXPORT_FORMAT_UNSPECIFIED, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Export("m", 0, static_cast<v1::ExportFormat>(42), &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Export("m", -1, v1::EXPORT_FORMAT_ONNX, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  const std::string file = dir_.Join("x.onnx");
  testing::RunResult bad_format = testing::RunNnctl(
      {"--target=" + server_->target(), "export", "--model=m", "--format=pt",
       "--out=" + file});
  EXPECT_EQ(bad_format.exit_code, 2) << bad_format.err;
  testing::RunResult unknown = testing::RunNnctl(
      {"--target=" + server_->target(), "export", "--model=nope", "--out=" + file});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
  EXPECT_FALSE(std::filesystem::exists(file));
}

}  // namespace
}  // namespace nn
