// The typed client (client/client.h) and the nnctl commands that need a
// full server (list, info, train, health), against an in-process fake
// InferenceService on 127.0.0.1 with an ephemeral port.
#include "client/client.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/client/local_server.h"
#include "tests/support/subprocess.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::nn::testing::RunNnctl;
using ::nn::testing::RunResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kToken[] = "s3cret";

template <typename Message>
Message ParseText(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message));
  return message;
}

v1::ModelStatus MlpStatus() {
  return ParseText<v1::ModelStatus>(R"pb(
    name: "mnist_mlp"
    default_version: 2
    batching { max_batch_size: 64 workers: 2 threads_per_worker: 1 }
    versions {
      version: 2
      state: VERSION_STATE_AVAILABLE
      path: "repo/mnist_mlp/2/model.nnm"
      labels: [ "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" ]
      layers { name: "flatten" kind: "Flatten" output_shape: 784 }
      layers { name: "dense" kind: "Dense" output_shape: 128 parameters: 100480 }
      layers { name: "dense_1" kind: "Dense" output_shape: 10 parameters: 1290 }
      total_parameters: 101770
      history {
        dataset: "mnist"
        train_examples: 7996
        epochs { epoch: 1 loss: 0.3 accuracy: 0.91 seconds: 1.5 }
      }
    }
  )pb");
}

v1::TrainingJob Job(v1::JobState state, int epoch, int batch) {
  v1::TrainingJob job;
  job.set_job_id("j1");
  job.set_model("mnist_cnn");
  job.set_state(state);
  job.set_epoch(epoch);
  job.set_epochs(2);
  job.set_batch(batch);
  job.set_batches_per_epoch(10);
  job.set_progress_ratio((epoch - 1 + batch / 10.0) / 2);
  return job;
}

// The progress stream of a two-epoch job: started, batch, epoch end, batch,
// epoch end, result.
std::vector<v1::TrainProgress> TwoEpochStream() {
  std::vector<v1::TrainProgress> stream(6);
  *stream[0].mutable_job() = Job(v1::JOB_STATE_QUEUED, 1, 0);
  stream[0].set_started(true);
  *stream[1].mutable_job() = Job(v1::JOB_STATE_RUNNING, 1, 5);
  stream[1].set_batch(true);
  *stream[2].mutable_job() = Job(v1::JOB_STATE_RUNNING, 1, 10);
  stream[2].mutable_epoch_end()->set_epoch(1);
  stream[2].mutable_epoch_end()->set_loss(0.5f);
  stream[2].mutable_epoch_end()->set_accuracy(0.8f);
  *stream[3].mutable_job() = Job(v1::JOB_STATE_RUNNING, 2, 5);
  stream[3].set_batch(true);
  *stream[4].mutable_job() = Job(v1::JOB_STATE_RUNNING, 2, 10);
  stream[4].mutable_epoch_end()->set_epoch(2);
  stream[4].mutable_epoch_end()->set_loss(0.25f);
  stream[4].mutable_epoch_end()->set_accuracy(0.9f);
  *stream[5].mutable_job() = Job(v1::JOB_STATE_SUCCEEDED, 2, 10);
  stream[5].mutable_result()->set_version(4);
  stream[5].mutable_result()->set_has_test(true);
  stream[5].mutable_result()->set_test_accuracy(0.97f);
  stream[5].mutable_result()->set_test_loss(0.1f);
  return stream;
}

// A scripted server: fixed answers, the token checked on training calls,
// the last TrainRequest kept for inspection.
class FakeService final : public v1::InferenceService::Service {
 public:
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                          v1::ListModelsResponse* response) override {
    *response->add_models() = MlpStatus();
    return grpc::Status::OK;
  }

  grpc::Status ModelInfo(grpc::ServerContext*,
                         const v1::ModelInfoRequest* request,
                         v1::ModelInfoResponse* response) override {
    if (request->model() == "slow") {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (request->model() != "mnist_mlp") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "model \"" + request->model() + "\" not found");
    }
    *response->mutable_model() = MlpStatus();
    return grpc::Status::OK;
  }

  grpc::Status Train(grpc::ServerContext* context,
                     const v1::TrainRequest* request,
                     grpc::ServerWriter<v1::TrainProgress>* writer) override {
    if (grpc::Status auth = CheckToken(*context); !auth.ok()) return auth;
    {
      absl::MutexLock lock(&mu_);
      last_train_ = *request;
    }
    if (request->model() == "broken") {
      writer->Write(TwoEpochStream()[0]);
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "spec: the last layer must end in a softmax");
    }
    return WriteStream(writer);
  }

  grpc::Status WatchTraining(
      grpc::ServerContext* context, const v1::WatchTrainingRequest* request,
      grpc::ServerWriter<v1::TrainProgress>* writer) override {
    if (grpc::Status auth = CheckToken(*context); !auth.ok()) return auth;
    if (request->job_id() != "j1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no training job \"" + request->job_id() + "\"");
    }
    return WriteStream(writer);
  }

  grpc::Status CancelTraining(grpc::ServerContext* context,
                              const v1::CancelTrainingRequest* request,
                              v1::CancelTrainingResponse* response) override {
    if (grpc::Status auth = CheckToken(*context); !auth.ok()) return auth;
    *response->mutable_job() = Job(v1::JOB_STATE_CANCELLED, 1, 3);
    response->mutable_job()->set_job_id(request->job_id());
    response->mutable_job()->set_error("cancelled by request");
    return grpc::Status::OK;
  }

  grpc::Status ListTrainingJobs(grpc::ServerContext* context,
                                const v1::ListTrainingJobsRequest*,
                                v1::ListTrainingJobsResponse* response) override {
    if (grpc::Status auth = CheckToken(*context); !auth.ok()) return auth;
    *response->add_jobs() = Job(v1::JOB_STATE_RUNNING, 2, 5);
    *response->add_jobs() = Job(v1::JOB_STATE_SUCCEEDED, 2, 10);
    response->mutable_jobs(1)->set_job_id("j0");
    response->mutable_jobs(1)->set_published_version(3);
    return grpc::Status::OK;
  }

  v1::TrainRequest last_train() {
    absl::MutexLock lock(&mu_);
    return last_train_;
  }

 private:
  static grpc::Status CheckToken(const grpc::ServerContext& context) {
    const auto& metadata = context.client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end() ||
        std::string(it->second.data(), it->second.size()) !=
            absl::StrCat("Bearer ", kToken)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "training needs the token");
    }
    return grpc::Status::OK;
  }

  static grpc::Status WriteStream(
      grpc::ServerWriter<v1::TrainProgress>* writer) {
    for (const v1::TrainProgress& progress : TwoEpochStream()) {
      if (!writer->Write(progress)) return grpc::Status::CANCELLED;
    }
    return grpc::Status::OK;
  }

  absl::Mutex mu_;
  v1::TrainRequest last_train_ ABSL_GUARDED_BY(mu_);
};

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { grpc::EnableDefaultHealthCheckService(true); }

  void SetUp() override {
    LocalServer local = StartLocalServer(&service_);
    server_ = std::move(local.server);
    ASSERT_NE(server_, nullptr);
    target_ = local.target;
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<Client> NewClient(const std::string& token = kToken,
                                    absl::Duration timeout = absl::Seconds(10)) {
    ClientOptions options;
    options.channel.target = target_;
    options.token = token;
    options.timeout = timeout;
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  RunResult Nnctl(std::vector<std::string> args,
                  const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), "--target=" + target_);
    return RunNnctl(args, env);
  }

  FakeService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

TEST_F(ClientTest, UnaryCallsReturnTheReplyOrTheServersCode) {
  std::unique_ptr<Client> client = NewClient();
  absl::StatusOr<v1::ListModelsResponse> list = client->ListModels();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->models(0).name(), "mnist_mlp");
  v1::ModelInfoRequest request;
  request.set_model("nope");
  absl::StatusOr<v1::ModelInfoResponse> info = client->ModelInfo(request);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(info.status().message(), "model \"nope\" not found");
}

TEST_F(ClientTest, UnaryCallsStopAtTheTimeout) {
  std::unique_ptr<Client> client = NewClient(kToken, absl::Milliseconds(100));
  v1::ModelInfoRequest request;
  request.set_model("slow");
  EXPECT_EQ(client->ModelInfo(request).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(ClientTest, TrainDeliversEveryProgressMessageInOrder) {
  std::unique_ptr<Client> client = NewClient();
  std::vector<v1::TrainProgress> received;
  v1::TrainRequest request;
  request.set_model("mnist_cnn");
  absl::Status status =
      client->Train(request, [&](const v1::TrainProgress& progress) {
        received.push_back(progress);
        return true;
      });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(received.size(), 6u);
  EXPECT_TRUE(received[0].has_started());
  EXPECT_TRUE(received[2].has_epoch_end());
  EXPECT_EQ(received[5].result().version(), 4);
  EXPECT_EQ(service_.last_train().model(), "mnist_cnn");
}

TEST_F(ClientTest, StoppingTheCallbackDetachesWithOk) {
  std::unique_ptr<Client> client = NewClient();
  int calls = 0;
  absl::Status status =
      client->Train(v1::TrainRequest(), [&](const v1::TrainProgress&) {
        ++calls;
        return false;
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 1);
}

TEST_F(ClientTest, TrainingCallsCarryTheTokenAndFailWithoutIt) {
  EXPECT_EQ(NewClient("")->ListTrainingJobs().status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(NewClient("wrong")
                ->Train(v1::TrainRequest(),
                        [](const v1::TrainProgress&) { return true; })
                .code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<v1::ListTrainingJobsResponse> jobs =
      NewClient()->ListTrainingJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->jobs_size(), 2);
  absl::StatusOr<v1::TrainingJob> cancelled = NewClient()->CancelTraining("j9");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->job_id(), "j9");
  EXPECT_EQ(cancelled->state(), v1::JOB_STATE_CANCELLED);
}

TEST_F(ClientTest, StreamEndingInErrorReturnsIt) {
  v1::TrainRequest request;
  request.set_model("broken");
  int calls = 0;
  absl::Status status =
      NewClient()->Train(request, [&](const v1::TrainProgress&) {
        ++calls;
        return true;
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("softmax"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(NewClient()
                ->WatchTraining("j7", [](const v1::TrainProgress&) { return true; })
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, HealthReportsTheServingStatus) {
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> status =
      NewClient()->Health("");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(NewClient()->Health("no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, NnctlListAndInfoPrintTablesAndJson) {
  RunResult list = Nnctl({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("\nmnist_mlp                  2  AVAILABLE   *"));
  RunResult info = Nnctl({"info", "--model=mnist_mlp"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out,
              HasSubstr(" dense (Dense)               (None, 128)               "
                        "100480\n"));
  EXPECT_THAT(info.out, HasSubstr("Total params: 101,770\n"));
  EXPECT_THAT(info.out, HasSubstr("training run 1 of 1: trained on mnist"));
  RunResult json = Nnctl({"info", "--model=mnist_mlp", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok())
      << json.out;
  v1::ModelInfoResponse round_trip;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &round_trip).ok());
  EXPECT_EQ(round_trip.model().versions(0).total_parameters(), 101770);
  RunResult missing = Nnctl({"info", "--model=nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "nnctl: NOT_FOUND: model \"nope\" not found\n");
}

TEST_F(ClientTest, NnctlTrainSendsEveryFlagAndPrintsProgressAndResult) {
  RunResult r = Nnctl(
      {"train", "--model=mnist_cnn", "--spec=models/mnist_cnn.textproto",
       "--l2=0.001", "--dataset=fashion-mnist", "--epochs=2",
       "--batch_size=64", "--optimizer=momentum", "--learning_rate=0.05",
       "--momentum=0.8", "--nesterov", "--validation_split=0.1", "--seed=9",
       "--early_stopping_patience=2", "--max_train_examples=500",
       "--progress_interval=100ms", "--token=" + std::string(kToken)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "job j1: training mnist_cnn for 2 epochs of 10 batches\n"
            "epoch 1/2  batch 5/10  loss 0.0000  accuracy 0.0000  0 img/s  "
            "eta 0s\n"
            "epoch 1/2: loss 0.5000  accuracy 0.8000  0.0s  0 img/s\n"
            "epoch 2/2  batch 5/10  loss 0.0000  accuracy 0.0000  0 img/s  "
            "eta 0s\n"
            "epoch 2/2: loss 0.2500  accuracy 0.9000  0.0s  0 img/s\n"
            "published mnist_cnn version 4: test accuracy 0.9700 (loss "
            "0.1000)\n");
  const v1::TrainRequest request = service_.last_train();
  EXPECT_EQ(request.model(), "mnist_cnn");
  ASSERT_TRUE(request.has_spec());
  EXPECT_EQ(request.spec().name(), "mnist_cnn");
  int regularized = 0;
  for (const v1::LayerSpec& layer : request.spec().layers()) {
    if (layer.has_conv2d()) {
      EXPECT_FLOAT_EQ(layer.conv2d().kernel_regularizer().l2(), 0.001f);
      ++regularized;
    }
    if (layer.has_dense()) {
      EXPECT_FLOAT_EQ(layer.dense().kernel_regularizer().l2(), 0.001f);
      ++regularized;
    }
  }
  EXPECT_EQ(regularized, 4);  // 2 Conv2D + 2 Dense
  EXPECT_EQ(request.dataset(), "fashion-mnist");
  const v1::TrainingConfig& config = request.config();
  EXPECT_EQ(config.epochs(), 2);
  EXPECT_EQ(config.batch_size(), 64);
  EXPECT_EQ(config.optimizer(), v1::OPTIMIZER_MOMENTUM);
  EXPECT_FLOAT_EQ(config.learning_rate(), 0.05f);
  EXPECT_FLOAT_EQ(config.momentum(), 0.8f);
  EXPECT_TRUE(config.nesterov());
  EXPECT_FLOAT_EQ(config.validation_split(), 0.1f);
  EXPECT_EQ(config.seed(), 9u);
  EXPECT_EQ(config.early_stopping_patience(), 2);
  EXPECT_EQ(config.max_train_examples(), 500);
  EXPECT_EQ(request.progress_interval_millis(), 100);
}

TEST_F(ClientTest, NnctlTrainFineTunesABaseVersionWithTheTokenFromTheEnvironment) {
  RunResult r = Nnctl({"train", "--model=mnist_mlp", "--base_version=3"},
                      {absl::StrCat("NNCTL_TOKEN=", kToken)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const v1::TrainRequest request = service_.last_train();
  EXPECT_EQ(request.architecture_case(), v1::TrainRequest::kBaseVersion);
  EXPECT_EQ(request.base_version(), 3);
  EXPECT_EQ(request.dataset(), "mnist");
  EXPECT_EQ(request.config().optimizer(), v1::OPTIMIZER_ADAM);
}

TEST_F(ClientTest, NnctlTrainSendsTheDefaultsAndRefusesZeroEpochsAsNntrainDoes) {
  const std::string token = "--token=" + std::string(kToken);
  RunResult r = Nnctl({"train", "--model=mnist_mlp", token});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const v1::TrainRequest request = service_.last_train();
  const v1::TrainingConfig& config = request.config();
  EXPECT_EQ(config.epochs(), 5);
  EXPECT_EQ(config.batch_size(), 32);
  EXPECT_EQ(config.seed(), 1u);
  EXPECT_EQ(config.learning_rate(), 0.0f);  // 0 = the optimizer's default
  RunResult zero = Nnctl({"train", "--model=mnist_mlp", "--epochs=0", token});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_EQ(zero.err,
            "nnctl: INVALID_ARGUMENT: --epochs: must be at least 1, got 0\n");
  EXPECT_EQ(Nnctl({"train", "--model=m", "--batch_size=0", token}).exit_code,
            2);
}

TEST_F(ClientTest, NnctlTrainDetachPrintsTheJobIdOnly) {
  RunResult r = Nnctl({"train", "--model=mnist_mlp", "--detach",
                       "--token=" + std::string(kToken)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "j1\n");
}

TEST_F(ClientTest, NnctlTrainJobCommandsAndErrors) {
  const std::string token = "--token=" + std::string(kToken);
  RunResult jobs = Nnctl({"train", "--jobs", token});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_THAT(jobs.out, HasSubstr("\nj1               mnist_cnn            RUNNING"));
  EXPECT_THAT(jobs.out, HasSubstr("version 3"));
  RunResult cancel = Nnctl({"train", "--cancel=j1", token});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr("CANCELLED"));
  EXPECT_THAT(cancel.out, HasSubstr("cancelled by request"));
  RunResult watch = Nnctl({"train", "--watch=j1", token});
  ASSERT_EQ(watch.exit_code, 0) << watch.err;
  EXPECT_THAT(watch.out, HasSubstr("published mnist_cnn version 4"));
  RunResult unknown = Nnctl({"train", "--watch=j5", token});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "nnctl: NOT_FOUND: no training job \"j5\"\n");
  RunResult no_token = Nnctl({"train", "--model=m"});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, StartsWith("nnctl: UNAUTHENTICATED: "));
  RunResult broken = Nnctl({"train", "--model=broken", token});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_THAT(broken.out, HasSubstr("job j1: training"));
  EXPECT_EQ(broken.err,
            "nnctl: INVALID_ARGUMENT: spec: the last layer must end in a "
            "softmax\n");
}

TEST_F(ClientTest, NnctlHealthExitsZeroOnlyWhenServing) {
  RunResult serving = Nnctl({"health"});
  EXPECT_EQ(serving.exit_code, 0) << serving.err;
  EXPECT_EQ(serving.out, "SERVING\n");
  server_->GetHealthCheckService()->SetServingStatus(false);
  RunResult not_serving = Nnctl({"health"});
  EXPECT_EQ(not_serving.exit_code, 4);
  EXPECT_EQ(not_serving.out, "NOT_SERVING\n");
  RunResult unknown = Nnctl({"health", "--service=no.such.Service"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, StartsWith("nnctl: NOT_FOUND"));
}

}  // namespace
}  // namespace nn
