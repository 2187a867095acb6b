// The Train RPC end to end: nnserve trains on the real digits while a client
// keeps predicting, publishes a new version and serves it; fine-tuning on
// inline examples; cancellation; reattaching; authorisation and every error
// code. Training here is kept short (the digits set, one or two epochs).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "tests/support/grpc_calls.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace nn {
namespace {

using ::nnserve::v1::InferenceService;
using ::nnserve::v1::PredictRequest;
using ::nnserve::v1::PredictResponse;
using ::nnserve::v1::TrainProgress;
using ::nnserve::v1::TrainRequest;
using ::testing::HasSubstr;
using testing::ServerProcess;
using testing::TempDir;

// Lists every file under `dir` (relative paths), to compare repositories.
std::set<std::string> ListTree(const std::string& dir) {
  std::set<std::string> files;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir)) {
    files.insert(std::filesystem::relative(entry.path(), dir).string());
  }
  return files;
}

struct TrainOutcome {
  grpc::Status status;
  std::vector<TrainProgress> messages;
  const TrainProgress* result() const {
    for (const auto& m : messages) {
      if (m.has_result()) return &m;
    }
    return nullptr;
  }
  int epoch_ends() const {
    return static_cast<int>(std::count_if(
        messages.begin(), messages.end(),
        [](const TrainProgress& m) { return m.has_epoch_end(); }));
  }
};

TrainOutcome RunTrain(InferenceService::Stub& stub, const TrainRequest& request,
                      const std::string& token = "") {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  TrainOutcome outcome;
  auto reader = stub.Train(&context, request);
  TrainProgress message;
  while (reader->Read(&message)) outcome.messages.push_back(message);
  outcome.status = reader->Finish();
  return outcome;
}

TrainRequest MlpOnDigits(const std::string& model, int epochs) {
  TrainRequest request;
  request.set_model(model);
  auto spec = testing::LoadTutorialSpec("mnist_mlp");
  EXPECT_TRUE(spec.ok());
  *request.mutable_spec() = *spec;
  request.set_dataset("mnist");
  request.mutable_config()->set_epochs(epochs);
  request.mutable_config()->set_batch_size(32);
  request.mutable_config()->set_seed(7);
  request.set_progress_interval_millis(50);
  return request;
}

PredictRequest DigitsRequest(const std::string& model,
                             const testing::TestImages& images, int64_t count,
                             int64_t version = 0) {
  PredictRequest request;
  request.set_model(model);
  request.set_version(version);
  request.mutable_images()->mutable_pixels()->set_data(
      std::string(images.pixels.begin(), images.pixels.begin() + count * 784));
  return request;
}

double Accuracy(InferenceService::Stub& stub, const PredictRequest& request,
                const std::vector<int>& labels, int64_t* version = nullptr) {
  grpc::ClientContext context;
  PredictResponse response;
  grpc::Status status = stub.Predict(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  if (version != nullptr) *version = response.version();
  int correct = 0;
  for (int i = 0; i < response.predictions_size(); ++i) {
    correct += response.predictions(i).class_index() == labels[i] ? 1 : 0;
  }
  return response.predictions_size() == 0
             ? 0
             : static_cast<double>(correct) / response.predictions_size();
}

// Latency percentile (0..1) of sorted samples, in microseconds.
double Percentile(std::vector<double> micros, double q) {
  if (micros.empty()) return 0;
  std::sort(micros.begin(), micros.end());
  return micros[std::min(micros.size() - 1,
                         static_cast<size_t>(q * micros.size()))];
}

// Reads a Train stream until its first per-batch progress message; returns
// the job id ("" if the stream ended first). `message` keeps the last read.
std::string ReadUntilFirstBatch(grpc::ClientReader<TrainProgress>& reader,
                                TrainProgress* message) {
  while (reader.Read(message)) {
    if (message->batch()) return message->job().job_id();
  }
  return "";
}

class TrainE2ETest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--model_repository=" + repo_.path(), "--enable_training",
        "--data_dir=data", "--repository_poll_interval=200ms",
        "--drain_grace=0s"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start({.args = args});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = testing::NewStub(server_->target());
  }
  void PublishInitial(const std::string& name, const std::string& spec) {
    auto model = testing::MakeModel(spec, 3);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(testing::PublishModel(repo_.path(), name, 1, **model).ok());
  }

  TempDir repo_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<InferenceService::Stub> stub_;
};

TEST_F(TrainE2ETest, TrainsWhileServingAndServesTheNewVersion) {
  PublishInitial("digits", "mnist_mlp");
  StartServer();
  auto images = testing::LoadTestDigits(200);
  ASSERT_TRUE(images.ok());

  // A client predicting on the model all along, recording latencies.
  std::atomic<bool> training{false}, stop{false};
  absl::Mutex mu;
  std::vector<double> idle_micros, busy_micros;
  std::map<int, int64_t> codes;
  std::thread predictor([&] {
    auto stub = testing::NewStub(server_->target());
    const PredictRequest request = DigitsRequest("digits", *images, 1);
    for (int i = 0; i < 100000 && !stop.load(); ++i) {
      const bool during = training.load();
      const absl::Time start = absl::Now();
      grpc::ClientContext context;
      PredictResponse response;
      grpc::Status status = stub->Predict(&context, request, &response);
      const double micros = absl::ToDoubleMicroseconds(absl::Now() - start);
      absl::MutexLock lock(&mu);
      ++codes[status.error_code()];
      (during ? busy_micros : idle_micros).push_back(micros);
      absl::SleepFor(absl::Microseconds(500));
    }
  });
  auto calls = [&] {
    absl::MutexLock lock(&mu);
    return idle_micros.size() + busy_micros.size();
  };
  // An idle baseline of 200 calls.
  ASSERT_TRUE(testing::Eventually([&] { return calls() >= 200; },
                                  testing::Scaled(absl::Seconds(60))));

  training.store(true);
  TrainOutcome outcome = RunTrain(*stub_, MlpOnDigits("digits", 2));
  training.store(false);
  // And 100 calls after the job published its version.
  const size_t after_training = calls() + 100;
  EXPECT_TRUE(testing::Eventually([&] { return calls() >= after_training; },
                                  testing::Scaled(absl::Seconds(60))));
  stop.store(true);
  predictor.join();

  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_FALSE(outcome.messages.empty());
  EXPECT_TRUE(outcome.messages.front().started());
  const std::string job_id = outcome.messages.front().job().job_id();
  EXPECT_FALSE(job_id.empty());
  EXPECT_EQ(outcome.epoch_ends(), 2);
  EXPECT_GT(std::count_if(outcome.messages.begin(), outcome.messages.end(),
                          [](const TrainProgress& m) { return m.batch(); }),
            0);
  const TrainProgress* result = outcome.result();
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(result->result().version(), 2);
  EXPECT_TRUE(result->result().has_test());
  EXPECT_GT(result->result().test_accuracy(), 0.85);
  EXPECT_THAT(result->result().path(), HasSubstr("digits/2/model.nnm"));
  EXPECT_EQ(result->job().state(), nnserve::v1::JOB_STATE_SUCCEEDED);

  // Zero failed requests for the predicting client.
  {
    absl::MutexLock lock(&mu);
    int64_t failures = 0;
    for (const auto& [code, n] : codes) failures += code == 0 ? 0 : n;
    EXPECT_EQ(failures, 0);
    const double idle_p99 = Percentile(idle_micros, 0.99);
    const double busy_p99 = Percentile(busy_micros, 0.99);
    std::cout << "[ metric ] Predict p99 idle " << idle_p99 << " us ("
              << idle_micros.size() << " calls), during training "
              << busy_p99 << " us (" << busy_micros.size()
              << " calls), ratio " << busy_p99 / std::max(1.0, idle_p99)
              << "\n";
  }

  // The new version is listed with its history and is served.
  grpc::ClientContext info_context;
  nnserve::v1::ModelInfoRequest info_request;
  info_request.set_model("digits");
  nnserve::v1::ModelInfoResponse info;
  ASSERT_TRUE(stub_->ModelInfo(&info_context, info_request, &info).ok());
  EXPECT_EQ(info.model().default_version(), 2);
  ASSERT_GE(info.model().versions_size(), 1);
  const auto& v2 = info.model().versions(0);
  EXPECT_EQ(v2.version(), 2);
  EXPECT_EQ(v2.state(), nnserve::v1::VERSION_STATE_AVAILABLE);
  ASSERT_EQ(v2.history_size(), 1);
  EXPECT_EQ(v2.history(0).epochs_size(), 2);
  EXPECT_EQ(v2.history(0).dataset(), "mnist");
  ASSERT_GE(info.training_jobs_size(), 1);
  EXPECT_EQ(info.training_jobs(0).job_id(), job_id);
  EXPECT_EQ(info.training_jobs(0).published_version(), 2);

  int64_t version = 0;
  const double accuracy = Accuracy(
      *stub_, DigitsRequest("digits", *images, 200), images->labels, &version);
  EXPECT_EQ(version, 2);
  EXPECT_GT(accuracy, 0.8);
}

TEST_F(TrainE2ETest, FineTuningOnInlineExamplesRaisesTheirAccuracy) {
  PublishInitial("digits", "mnist_mlp");  // untrained: about chance
  StartServer();
  // 64 real digits spread over the whole test set (which is stored in digit
  // order), so every class is present.
  auto all = testing::LoadTestDigits(2004);
  ASSERT_TRUE(all.ok());
  testing::TestImages picked;
  for (int64_t i = 0; i < 64; ++i) {
    const int64_t index = i * 31;
    picked.pixels.insert(picked.pixels.end(),
                         all->pixels.begin() + index * 784,
                         all->pixels.begin() + (index + 1) * 784);
    picked.labels.push_back(all->labels[index]);
  }
  picked.count = 64;
  const std::set<int> classes(picked.labels.begin(), picked.labels.end());
  ASSERT_EQ(classes.size(), 10u);
  const testing::TestImages* images = &picked;
  const double before =
      Accuracy(*stub_, DigitsRequest("digits", *images, 64), images->labels);

  TrainRequest request;
  request.set_model("digits");
  request.set_base_version(1);
  auto* examples = request.mutable_examples();
  examples->mutable_images()->mutable_pixels()->set_data(
      std::string(images->pixels.begin(), images->pixels.end()));
  for (int label : images->labels) examples->add_labels(label);
  request.mutable_config()->set_epochs(15);
  request.mutable_config()->set_batch_size(16);
  TrainOutcome outcome = RunTrain(*stub_, request);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_NE(outcome.result(), nullptr);
  EXPECT_EQ(outcome.result()->result().version(), 2);
  EXPECT_EQ(outcome.result()->result().history().base_version(), 1);
  EXPECT_EQ(outcome.result()->result().history().dataset(), "inline");

  int64_t version = 0;
  const double after = Accuracy(*stub_, DigitsRequest("digits", *images, 64),
                                images->labels, &version);
  EXPECT_EQ(version, 2);
  std::cout << "[ metric ] fine-tuning on 64 inline digits: accuracy "
            << before << " -> " << after << "\n";
  EXPECT_GT(after, before + 0.3);
  EXPECT_GT(after, 0.9);
}

TEST_F(TrainE2ETest, CancellingAJobLeavesTheRepositoryUnchanged) {
  PublishInitial("digits", "mnist_mlp");
  StartServer();
  const std::set<std::string> before = ListTree(repo_.path());

  TrainRequest request = MlpOnDigits("digits", 50);
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, request);
  TrainProgress message;
  const std::string job_id = ReadUntilFirstBatch(*reader, &message);
  ASSERT_FALSE(job_id.empty()) << "the stream ended before a batch";
  grpc::ClientContext cancel_context;
  nnserve::v1::CancelTrainingRequest cancel;
  cancel.set_job_id(job_id);
  nnserve::v1::CancelTrainingResponse cancelled;
  ASSERT_TRUE(stub_->CancelTraining(&cancel_context, cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.job().state(), nnserve::v1::JOB_STATE_CANCELLED);
  while (reader->Read(&message)) {
    EXPECT_FALSE(message.has_result());
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::CANCELLED) << status.error_message();

  grpc::ClientContext list_context;
  nnserve::v1::ListTrainingJobsResponse jobs;
  ASSERT_TRUE(stub_->ListTrainingJobs(&list_context, {}, &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).state(), nnserve::v1::JOB_STATE_CANCELLED);
  // The job's thread logs its end once it has stopped (after the batch it
  // was computing): from then on nothing can write to the repository.
  EXPECT_TRUE(testing::Eventually(
      [&] {
        return absl::StrContains(
            server_->Log(),
            absl::StrCat("training ", job_id, ": JOB_STATE_CANCELLED"));
      },
      testing::Scaled(absl::Seconds(60))))
      << server_->Log();
  EXPECT_EQ(ListTree(repo_.path()), before);
}

// Nice values of the process's threads (Linux /proc/PID/task/TID/stat,
// field 19; the command name in field 2 may hold spaces, so parse after ')').
std::vector<int> ThreadNiceValues(pid_t pid) {
  std::vector<int> values;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string stat =
        testing::ReadFileOrEmpty((entry.path() / "stat").string());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    // After ')': state is field 3, so nice (19) is the 17th from here.
    for (int i = 3; i <= 19 && fields >> field; ++i) {
      if (i == 19) values.push_back(std::stoi(field));
    }
  }
  return values;
}

TEST_F(TrainE2ETest, TrainingThreadsRunAtTrainingNice) {
  PublishInitial("digits", "mnist_mlp");
  StartServer({"--training_nice=17"});
  EXPECT_TRUE(absl::c_none_of(ThreadNiceValues(server_->pid()),
                              [](int nice) { return nice == 17; }));
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, MlpOnDigits("digits", 50));
  TrainProgress message;
  const std::string job_id = ReadUntilFirstBatch(*reader, &message);
  ASSERT_FALSE(job_id.empty()) << "the stream ended before a batch";
  // Listing /proc/PID/task is not atomic: a thread that exits during the
  // listing (gRPC's pool comes and goes under load) can make it skip others,
  // the training thread among them (seen 1 read in 8 beside two busy loops).
  // So read until the listing shows it, within a bound.
  std::vector<int> nice;
  testing::Eventually(
      [&] {
        nice = ThreadNiceValues(server_->pid());
        return absl::c_count(nice, 17) == 1;
      },
      testing::Scaled(absl::Seconds(2)));
  EXPECT_EQ(absl::c_count(nice, 17), 1)
      << "one training thread; nice values: " << absl::StrJoin(nice, ",");
  EXPECT_GT(absl::c_count(nice, 0), 3) << "serving threads keep nice 0";
  grpc::ClientContext cancel_context;
  nnserve::v1::CancelTrainingRequest cancel;
  cancel.set_job_id(job_id);
  nnserve::v1::CancelTrainingResponse cancelled;
  EXPECT_TRUE(stub_->CancelTraining(&cancel_context, cancel, &cancelled).ok());
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::CANCELLED);
}

TEST_F(TrainE2ETest, JobOutlivesItsStreamAndCanBeWatchedAgain) {
  PublishInitial("digits", "mnist_mlp");
  StartServer();
  std::string job_id;
  {
    grpc::ClientContext context;
    auto reader = stub_->Train(&context, MlpOnDigits("digits", 3));
    TrainProgress message;
    ASSERT_TRUE(reader->Read(&message));
    job_id = message.job().job_id();
    context.TryCancel();  // the client goes away
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::CANCELLED);
  }
  grpc::ClientContext context;
  nnserve::v1::WatchTrainingRequest watch;
  watch.set_job_id(job_id);
  auto reader = stub_->WatchTraining(&context, watch);
  std::vector<TrainProgress> messages;
  TrainProgress message;
  while (reader->Read(&message)) messages.push_back(message);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(messages.empty());
  EXPECT_TRUE(messages.front().started());
  ASSERT_TRUE(messages.back().has_result());
  EXPECT_EQ(messages.back().result().version(), 2);
}

TEST_F(TrainE2ETest, TrainingErrorsHaveTheirCodes) {
  PublishInitial("digits", "mnist_mlp");
  StartServer({"--max_training_epochs=20", "--max_inline_examples=10"});
  struct Case {
    std::string what;
    TrainRequest request;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  auto add = [&](std::string what, grpc::StatusCode code, std::string message,
                 auto edit) {
    TrainRequest request = MlpOnDigits("digits", 1);
    edit(request);
    cases.push_back({std::move(what), std::move(request), code,
                     std::move(message)});
  };
  add("negative learning rate", grpc::INVALID_ARGUMENT, "config.learning_rate",
      [](TrainRequest& r) { r.mutable_config()->set_learning_rate(-1); });
  add("too many epochs", grpc::INVALID_ARGUMENT, "config.epochs",
      [](TrainRequest& r) { r.mutable_config()->set_epochs(21); });
  add("negative batch size", grpc::INVALID_ARGUMENT, "config.batch_size",
      [](TrainRequest& r) { r.mutable_config()->set_batch_size(-3); });
  add("validation split of 1", grpc::INVALID_ARGUMENT,
      "config.validation_split",
      [](TrainRequest& r) { r.mutable_config()->set_validation_split(1.0f); });
  add("unknown data set", grpc::INVALID_ARGUMENT, "dataset",
      [](TrainRequest& r) { r.set_dataset("cifar"); });
  add("no data", grpc::INVALID_ARGUMENT, "data",
      [](TrainRequest& r) { r.clear_dataset(); });
  add("no architecture", grpc::INVALID_ARGUMENT, "architecture",
      [](TrainRequest& r) { r.clear_spec(); });
  add("invalid spec", grpc::INVALID_ARGUMENT, "spec",
      [](TrainRequest& r) { r.mutable_spec()->mutable_layers(1)->mutable_dense()->set_units(0); });
  add("path-like model name", grpc::INVALID_ARGUMENT, "model",
      [](TrainRequest& r) { r.set_model("../x"); });
  add("unknown base model", grpc::NOT_FOUND, "not found",
      [](TrainRequest& r) { r.set_model("nope"); r.set_base_version(1); });
  add("unknown base version", grpc::NOT_FOUND, "version 9",
      [](TrainRequest& r) { r.set_base_version(9); });
  add("labels do not match images", grpc::INVALID_ARGUMENT, "examples.labels",
      [](TrainRequest& r) {
        r.mutable_examples()->mutable_images()->mutable_pixels()->set_data(
            std::string(2 * 784, 0));
        r.mutable_examples()->add_labels(1);
      });
  add("too many inline examples", grpc::RESOURCE_EXHAUSTED, "limit is 10",
      [](TrainRequest& r) {
        r.mutable_examples()->mutable_images()->mutable_pixels()->set_data(
            std::string(11 * 784, 0));
        for (int i = 0; i < 11; ++i) r.mutable_examples()->add_labels(1);
      });
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TrainOutcome outcome = RunTrain(*stub_, c.request);
    EXPECT_EQ(outcome.status.error_code(), c.code)
        << outcome.status.error_message();
    EXPECT_THAT(outcome.status.error_message(), HasSubstr(c.message));
    EXPECT_TRUE(outcome.messages.empty());
  }

  // A second job while one runs: RESOURCE_EXHAUSTED.
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, MlpOnDigits("digits", 20));
  TrainProgress first;
  ASSERT_TRUE(reader->Read(&first));
  TrainOutcome second = RunTrain(*stub_, MlpOnDigits("other", 1));
  EXPECT_EQ(second.status.error_code(), grpc::RESOURCE_EXHAUSTED);
  grpc::ClientContext cancel_context;
  nnserve::v1::CancelTrainingRequest cancel;
  cancel.set_job_id(first.job().job_id());
  nnserve::v1::CancelTrainingResponse cancelled;
  ASSERT_TRUE(stub_->CancelTraining(&cancel_context, cancel, &cancelled).ok());
  context.TryCancel();
  (void)reader->Finish();

  for (const char* id : {"job-999", ""}) {
    grpc::ClientContext c1;
    nnserve::v1::CancelTrainingRequest unknown;
    unknown.set_job_id(id);
    nnserve::v1::CancelTrainingResponse r1;
    EXPECT_EQ(stub_->CancelTraining(&c1, unknown, &r1).error_code(),
              grpc::NOT_FOUND);
    grpc::ClientContext c2;
    nnserve::v1::WatchTrainingRequest watch;
    watch.set_job_id(id);
    auto watch_reader = stub_->WatchTraining(&c2, watch);
    TrainProgress m;
    EXPECT_FALSE(watch_reader->Read(&m));
    EXPECT_EQ(watch_reader->Finish().error_code(), grpc::NOT_FOUND);
  }
}

TEST_F(TrainE2ETest, TokenIsRequiredWhenConfigured) {
  PublishInitial("digits", "mnist_mlp");
  StartServer({"--training_token=s3cret"});
  TrainRequest request = MlpOnDigits("digits", 1);
  request.mutable_config()->set_max_train_examples(256);
  EXPECT_EQ(RunTrain(*stub_, request).status.error_code(),
            grpc::UNAUTHENTICATED);
  EXPECT_EQ(RunTrain(*stub_, request, "wrong").status.error_code(),
            grpc::UNAUTHENTICATED);
  grpc::ClientContext context;
  nnserve::v1::ListTrainingJobsResponse jobs;
  EXPECT_EQ(stub_->ListTrainingJobs(&context, {}, &jobs).error_code(),
            grpc::UNAUTHENTICATED);
  TrainOutcome ok = RunTrain(*stub_, request, "s3cret");
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
}

TEST(TrainSecurityTest, RefusesUnauthenticatedTrainingOnAPublicAddress) {
  TempDir repo;
  auto server = ServerProcess::Start(
      {.args = {"--listen_address=0.0.0.0", "--port=0",
                "--port_file=" + repo.Join("port"), "--http_port=-1",
                "--model_repository=" + repo.path(), "--enable_training"},
       .add_port_flags = false});
  ASSERT_TRUE(server.ok());
  auto exit_code = (*server)->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 1);
  EXPECT_THAT((*server)->Log(), HasSubstr("--training_token"));
}

TEST(TrainSecurityTest, RefusesATrainingNiceOutsideItsRange) {
  for (const char* nice : {"-1", "20"}) {
    TempDir repo;
    auto server = ServerProcess::Start(
        {.args = {"--listen_address=127.0.0.1", "--port=0",
                  "--port_file=" + repo.Join("port"), "--http_port=-1",
                  "--model_repository=" + repo.path(), "--enable_training",
                  absl::StrCat("--training_nice=", nice)},
         .add_port_flags = false});
    ASSERT_TRUE(server.ok());
    auto exit_code = (*server)->Wait(absl::Seconds(20));
    ASSERT_TRUE(exit_code.ok());
    EXPECT_EQ(*exit_code, 1) << nice;
    EXPECT_THAT((*server)->Log(), HasSubstr("--training_nice must be in 0..19"));
  }
}

TEST_F(TrainE2ETest, KillDuringTrainingLeavesTheLastGoodVersionServing) {
  PublishInitial("digits", "mnist_mlp");
  StartServer();
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, MlpOnDigits("digits", 50));
  TrainProgress message;
  while (reader->Read(&message) && !message.batch()) {
  }
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(absl::Seconds(10)).ok());
  context.TryCancel();
  (void)reader->Finish();

  StartServer();
  auto images = testing::LoadTestDigits(1);
  ASSERT_TRUE(images.ok());
  grpc::ClientContext predict_context;
  PredictResponse response;
  ASSERT_TRUE(stub_->Predict(&predict_context,
                             DigitsRequest("digits", *images, 1), &response)
                  .ok());
  EXPECT_EQ(response.version(), 1);
  grpc::ClientContext info_context;
  nnserve::v1::ModelInfoRequest info_request;
  info_request.set_model("digits");
  nnserve::v1::ModelInfoResponse info;
  ASSERT_TRUE(stub_->ModelInfo(&info_context, info_request, &info).ok());
  ASSERT_EQ(info.model().versions_size(), 1);
  EXPECT_EQ(info.model().versions(0).state(),
            nnserve::v1::VERSION_STATE_AVAILABLE);
}

}  // namespace
}  // namespace nn
