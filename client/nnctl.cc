// nnctl: the command-line client of nnserve.
//
//   nnctl [--target=HOST:PORT] [--tls_ca=FILE] [--timeout=10s] COMMAND ...
//
// Commands: predict, list, info, train, health, bench (see kCommands below or
// `nnctl help COMMAND`).
//
// Exit codes (also in `nnctl --help`):
//   0  success
//   1  an RPC failed, including an unreachable server (the message names the
//      gRPC code)
//   2  usage error: unknown command or flag, bad or missing flag value
//   3  local error: a file could not be read or decoded, bad input
//   4  answered, but not good: `health` is not SERVING; `bench` had failed
//      requests (the report is printed all the same)
// Errors are one line on stderr: "nnctl: CODE: message".
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/cli.h"
#include "client/client.h"
#include "client/format.h"
#include "client/image_input.h"
#include "client/load_generator.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "common/process_tuning.h"

// Global flags.
ABSL_FLAG(std::string, target, "localhost:50051",
          "Server address, host:port (or any gRPC target URI).");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the server's certificate; enables "
          "TLS. Empty: plaintext.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mTLS (with --tls_key and --tls_ca).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Deadline of each unary call, connecting included (bench: of each "
          "request). Training streams have none.");

// Shared by several commands.
ABSL_FLAG(std::string, model, "", "Model name (a repository directory).");
ABSL_FLAG(int64_t, version, 0, "Model version; 0 = the newest available.");
ABSL_FLAG(bool, json, false, "Print JSON instead of text.");
ABSL_FLAG(std::string, encoding, "uint8",
          "How images travel: uint8 (raw bytes, 784 an image), float (a "
          "[N,28,28] tensor of byte/255) or png (PNG files are sent as they "
          "are; other images are encoded).");

// predict
ABSL_FLAG(int64_t, index, -1,
          "IDX files: classify only image INDEX (0-based), or --limit images "
          "from it.");
ABSL_FLAG(int64_t, limit, -1, "IDX files: classify at most this many images.");
ABSL_FLAG(int32_t, top_k, 0,
          "Also print the k most probable classes of each image.");
ABSL_FLAG(int32_t, batch, 32, "Images per Predict request.");

// health
ABSL_FLAG(std::string, service, "",
          "Health of this service name (e.g. nnserve.v1.InferenceService); "
          "empty: the whole server.");

// train
ABSL_FLAG(std::string, spec, "",
          "Train a new network from this ModelSpec in protobuf text format "
          "(e.g. models/mnist_cnn.textproto). Without it, fine-tune "
          "--base_version of --model.");
ABSL_FLAG(int64_t, base_version, 0,
          "Version of --model to fine-tune; 0 = the newest.");
ABSL_FLAG(std::string, dataset, "mnist",
          "Server-side data set: mnist or fashion-mnist.");
ABSL_FLAG(int32_t, epochs, 0, "Passes over the training set; 0 = 5.");
ABSL_FLAG(int32_t, batch_size, 0, "Images per mini-batch; 0 = 32.");
ABSL_FLAG(std::string, optimizer, "adam", "adam, sgd or momentum.");
ABSL_FLAG(double, learning_rate, 0,
          "Step size; 0 = 0.001 for adam, 0.01 for sgd and momentum.");
ABSL_FLAG(double, momentum, 0, "Momentum of --optimizer=momentum; 0 = 0.9.");
ABSL_FLAG(bool, nesterov, false, "Nesterov momentum (--optimizer=momentum).");
ABSL_FLAG(double, l1, 0,
          "With --spec: L1 penalty on the kernel of every Dense, Conv2D and "
          "SimpleRNN layer (overrides the spec's).");
ABSL_FLAG(double, l2, 0,
          "With --spec: L2 penalty on the kernel of every Dense, Conv2D and "
          "SimpleRNN layer (overrides the spec's), as Keras' l2(x).");
ABSL_FLAG(double, validation_split, 0,
          "Fraction of the training images held out for validation; 0 = use "
          "the test set.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of initialisation and shuffling; 0 = 1.");
ABSL_FLAG(int32_t, early_stopping_patience, 0,
          "Stop after this many epochs without val_loss improvement; 0 = "
          "never.");
ABSL_FLAG(int32_t, max_train_examples, 0,
          "Train on the first N images only; 0 = all.");
ABSL_FLAG(absl::Duration, progress_interval, absl::ZeroDuration(),
          "Least time between progress messages; 0 = the server's 250ms.");
ABSL_FLAG(std::string, token, "",
          "Training token, sent as \"authorization: Bearer TOKEN\". Default: "
          "the environment variable NNCTL_TOKEN.");
ABSL_FLAG(bool, detach, false,
          "Start the job, print its id and exit; it keeps running.");
ABSL_FLAG(std::string, watch, "", "Follow the progress of job WATCH.");
ABSL_FLAG(std::string, cancel, "", "Cancel job CANCEL.");
ABSL_FLAG(bool, jobs, false, "List the server's training jobs.");

// bench
ABSL_FLAG(std::vector<std::string>, concurrency, {"1"},
          "Calls in flight, one level or a comma-separated sweep (1,8,64).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "Measured time of each level.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2),
          "Uncounted time before each level's measurement.");
ABSL_FLAG(int32_t, images_per_request, 1, "Images in each request.");
ABSL_FLAG(int64_t, max_requests, 0,
          "Most measured requests of a level; 0 = no limit (duration only).");
ABSL_FLAG(std::string, data, "data/mnist/t10k-images-idx3-ubyte",
          "IDX image file the requests' images come from.");
ABSL_FLAG(bool, csv, false, "Print CSV instead of a table.");
ABSL_FLAG(int32_t, calls_per_channel, 16,
          "In-flight calls per gRPC channel (one TCP connection each).");

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

enum ExitCode {
  kExitOk = 0,
  kExitRpcError = 1,
  kExitUsage = 2,
  kExitLocalError = 3,
  kExitNotGood = 4,
};

const std::vector<std::string> kGlobalFlags = {"target", "tls_ca", "tls_cert",
                                               "tls_key", "timeout"};

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"predict", "--model=NAME [flags] FILE...",
       "classify PNG, PGM or IDX images",
       "Prints one line per image: source, class, label, confidence. Files\n"
       "are recognised by content. For an IDX file X-images-idx3-ubyte[.gz]\n"
       "whose sibling X-labels-idx1-ubyte[.gz] exists, each line shows the\n"
       "expected class and the summary line the accuracy.\n",
       {"model", "version", "index", "limit", "encoding", "top_k", "json",
        "batch"}},
      {"list", "[--json]", "list the models and their versions",
       "One line per model version: state, whether it is the default, load\n"
       "time, and the file path (or why it failed to load).\n",
       {"json"}},
      {"info", "--model=NAME [--version=N] [--json]", "describe a model",
       "Versions and states, input, labels, a Keras-style layer summary,\n"
       "batching configuration, training history and training jobs.\n",
       {"model", "version", "json"}},
      {"train", "--model=NAME [--spec=FILE] [flags]  |  --watch=JOB  |  "
                "--cancel=JOB  |  --jobs",
       "train or fine-tune a model on the server",
       "Starts a training job and follows its progress (a live bar on a\n"
       "terminal, plain lines otherwise) to the published version and its\n"
       "accuracy. The job belongs to the server: interrupting nnctl does not\n"
       "stop it (reattach with --watch, stop it with --cancel).\n",
       {"model", "spec", "base_version", "dataset", "epochs", "batch_size",
        "optimizer", "learning_rate", "momentum", "nesterov", "l1", "l2",
        "validation_split", "seed", "early_stopping_patience",
        "max_train_examples", "progress_interval", "token", "detach", "watch",
        "cancel", "jobs"}},
      {"health", "[--service=NAME]", "check the server's health",
       "Prints SERVING, NOT_SERVING or SERVICE_UNKNOWN (grpc.health.v1).\n"
       "Exit code 0 only when SERVING, 4 otherwise.\n",
       {"service"}},
      {"bench", "--model=NAME [flags]", "measure Predict throughput and latency",
       "A closed-loop load generator: at each --concurrency level it holds\n"
       "exactly that many Predict calls in flight (gRPC callback API, one\n"
       "channel per --calls_per_channel calls) for --warmup, then --duration\n"
       "(or --max_requests), and reports requests/s, images/s, errors by code\n"
       "and latency percentiles (microseconds, from a log-linear histogram,\n"
       "within 0.4 %). Before the first level one Predict checks that the\n"
       "model answers; it is not counted. Exit code 4 if any measured request\n"
       "failed.\n",
       {"model", "version", "concurrency", "duration", "warmup",
        "images_per_request", "encoding", "max_requests", "data", "json",
        "csv", "calls_per_channel"}},
  };
  return *commands;
}

std::string MainHelp() {
  std::string out =
      "nnctl: the command-line client of nnserve, the model server.\n\n"
      "usage: nnctl [--target=HOST:PORT] [--tls_ca=FILE] [--timeout=10s] "
      "COMMAND [flags] [args]\n\ncommands:\n";
  for (const CommandSpec& command : Commands()) {
    absl::StrAppend(&out, "  ", command.name,
                    std::string(9 - command.name.size(), ' '),
                    command.summary, "\n");
  }
  absl::StrAppend(
      &out,
      "\nRun \"nnctl help COMMAND\" or \"nnctl COMMAND --help\" for its "
      "flags.\n\nglobal flags:\n",
      FlagsHelp(kGlobalFlags),
      "\nexit codes:\n"
      "  0  success\n"
      "  1  an RPC failed, including an unreachable server\n"
      "  2  usage error: unknown command or flag, bad or missing flag value\n"
      "  3  local error: a file could not be read or decoded, bad input\n"
      "  4  answered but not good: health not SERVING; bench had failed "
      "requests\n"
      "Errors are one line on stderr: \"nnctl: CODE: message\".\n");
  return out;
}

std::string CommandHelp(const CommandSpec& command) {
  return absl::StrCat("usage: nnctl ", command.name, " ", command.usage,
                      "\n\n", command.description, "\nflags:\n",
                      FlagsHelp(command.flags), "\nglobal flags:\n",
                      FlagsHelp(kGlobalFlags));
}

// Prints "nnctl: CODE: message" and returns `exit_code`.
int Fail(int exit_code, const absl::Status& status) {
  std::string message(status.message());
  if (message.empty()) message = "(no message)";
  // One line, whatever the server put in the message.
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "nnctl: " << absl::StatusCodeToString(status.code()) << ": "
            << message << std::endl;
  return exit_code;
}

int UsageError(const std::string& message) {
  return Fail(kExitUsage, absl::InvalidArgumentError(message));
}

ClientOptions GetClientOptions() {
  ClientOptions options;
  options.channel.target = absl::GetFlag(FLAGS_target);
  options.channel.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.channel.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.channel.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.token = absl::GetFlag(FLAGS_token);
  if (options.token.empty()) {
    if (const char* env = std::getenv("NNCTL_TOKEN")) options.token = env;
  }
  return options;
}

// The client, or an exit code when TLS files are unusable.
absl::StatusOr<std::unique_ptr<Client>> MakeClient() {
  return Client::Create(GetClientOptions());
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a message of a linked-in type cannot fail.
  if (!google::protobuf::util::MessageToJsonString(message, &json, options)
           .ok()) {
    return "{}";
  }
  return json;
}

// --- predict -----------------------------------------------------------------

int RunPredict(const ParsedCommandLine& cl) {
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) return UsageError("predict needs --model=NAME");
  if (cl.args.empty()) return UsageError("predict needs at least one FILE");
  const int batch = absl::GetFlag(FLAGS_batch);
  if (batch < 1) return UsageError("--batch must be at least 1");
  if (absl::GetFlag(FLAGS_top_k) < 0) {
    return UsageError("--top_k must not be negative");
  }
  absl::StatusOr<ImageEncoding> encoding =
      ParseImageEncoding(absl::GetFlag(FLAGS_encoding));
  if (!encoding.ok()) return Fail(kExitUsage, encoding.status());

  std::vector<InputImage> images;
  const IdxSelection selection{absl::GetFlag(FLAGS_index),
                               absl::GetFlag(FLAGS_limit)};
  for (const std::string& path : cl.args) {
    absl::StatusOr<std::vector<InputImage>> read =
        ReadImageFile(path, selection);
    if (!read.ok()) return Fail(kExitLocalError, read.status());
    for (InputImage& image : *read) images.push_back(std::move(image));
  }
  if (images.empty()) {
    return Fail(kExitLocalError,
                absl::InvalidArgumentError("the files hold no images"));
  }

  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());

  std::vector<v1::Prediction> predictions;
  predictions.reserve(images.size());
  std::vector<int64_t> versions;
  for (size_t first = 0; first < images.size(); first += batch) {
    const size_t end = std::min(images.size(), first + batch);
    std::vector<const InputImage*> chunk;
    for (size_t i = first; i < end; ++i) chunk.push_back(&images[i]);
    v1::PredictRequest request;
    request.set_model(model);
    request.set_version(absl::GetFlag(FLAGS_version));
    request.set_top_k(absl::GetFlag(FLAGS_top_k));
    absl::StatusOr<v1::Images> encoded = EncodeImages(chunk, *encoding);
    if (!encoded.ok()) return Fail(kExitLocalError, encoded.status());
    *request.mutable_images() = *std::move(encoded);
    absl::StatusOr<v1::PredictResponse> response = (*client)->Predict(request);
    if (!response.ok()) return Fail(kExitRpcError, response.status());
    if (response->predictions_size() != static_cast<int>(chunk.size())) {
      return Fail(kExitRpcError,
                  absl::InternalError(absl::StrCat(
                      "the server returned ", response->predictions_size(),
                      " predictions for ", chunk.size(), " images")));
    }
    if (std::find(versions.begin(), versions.end(), response->version()) ==
        versions.end()) {
      versions.push_back(response->version());
    }
    for (v1::Prediction& p : *response->mutable_predictions()) {
      predictions.push_back(std::move(p));
    }
  }
  std::vector<PredictedImage> results;
  for (size_t i = 0; i < images.size(); ++i) {
    results.push_back({&images[i], &predictions[i]});
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << FormatPredictionsJson(results, model, versions) << "\n";
  } else {
    std::cout << FormatPredictionsText(results, model, versions);
  }
  return kExitOk;
}

// --- list, info, health -------------------------------------------------------

int RunList(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("list takes no arguments");
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  absl::StatusOr<v1::ListModelsResponse> response = (*client)->ListModels();
  if (!response.ok()) return Fail(kExitRpcError, response.status());
  std::cout << (absl::GetFlag(FLAGS_json) ? ToJson(*response) + "\n"
                                          : FormatModelList(*response));
  return kExitOk;
}

int RunInfo(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("info takes no arguments");
  v1::ModelInfoRequest request;
  request.set_model(absl::GetFlag(FLAGS_model));
  request.set_version(absl::GetFlag(FLAGS_version));
  if (request.model().empty()) return UsageError("info needs --model=NAME");
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  absl::StatusOr<v1::ModelInfoResponse> response =
      (*client)->ModelInfo(request);
  if (!response.ok()) return Fail(kExitRpcError, response.status());
  std::cout << (absl::GetFlag(FLAGS_json) ? ToJson(*response) + "\n"
                                          : FormatModelInfo(*response));
  return kExitOk;
}

int RunHealth(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("health takes no arguments");
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> status =
      (*client)->Health(absl::GetFlag(FLAGS_service));
  if (!status.ok()) return Fail(kExitRpcError, status.status());
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                   *status)
            << "\n";
  return *status == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitNotGood;
}

// --- train --------------------------------------------------------------------

// Collects the first syntax error of a text-format parse.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::StatusOr<v1::ModelSpec> ReadSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  std::stringstream text;
  text << in.rdbuf();
  v1::ModelSpec spec;
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &spec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a nnserve.v1.ModelSpec in text format: ",
                     errors.error()));
  }
  return spec;
}

void SetKernelRegularizers(float l1, float l2, v1::ModelSpec& spec) {
  for (v1::LayerSpec& layer : *spec.mutable_layers()) {
    v1::Regularizer* regularizer = nullptr;
    if (layer.has_dense()) {
      regularizer = layer.mutable_dense()->mutable_kernel_regularizer();
    } else if (layer.has_conv2d()) {
      regularizer = layer.mutable_conv2d()->mutable_kernel_regularizer();
    } else if (layer.has_simple_rnn()) {
      regularizer = layer.mutable_simple_rnn()->mutable_kernel_regularizer();
    }
    if (regularizer != nullptr) {
      regularizer->set_l1(l1);
      regularizer->set_l2(l2);
    }
  }
}

// Prints a training stream: a live bar on a terminal, lines otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool detach)
      : terminal_(isatty(STDOUT_FILENO) == 1), detach_(detach) {}

  bool OnProgress(const v1::TrainProgress& progress) {
    const v1::TrainingJob& job = progress.job();
    model_ = job.model();
    if (progress.has_started()) {
      job_id_ = job.job_id();
      if (detach_) {
        std::cout << job.job_id() << std::endl;
        return false;
      }
      Line(absl::StrCat("job ", job.job_id(), ": training ", job.model(),
                        " for ", job.epochs(), " epochs of ",
                        job.batches_per_epoch(), " batches"));
    } else if (progress.has_batch()) {
      if (terminal_) {
        std::cout << "\r" << FormatProgressBar(job, 30) << "\x1b[K"
                  << std::flush;
        bar_shown_ = true;
      } else {
        Line(FormatJobProgress(job));
      }
    } else if (progress.has_epoch_end()) {
      Line(FormatEpochEnd(progress.epoch_end(), job.epochs()));
    } else if (progress.has_result()) {
      Line(FormatTrainResult(job.model(), progress.result()));
    }
    return true;
  }

  // Ends a bar left on screen (before an error message).
  void Finish() {
    if (bar_shown_) std::cout << "\n" << std::flush;
    bar_shown_ = false;
  }

 private:
  void Line(const std::string& text) {
    if (bar_shown_) std::cout << "\r\x1b[K";
    bar_shown_ = false;
    std::cout << text << std::endl;
  }

  const bool terminal_;
  const bool detach_;
  bool bar_shown_ = false;
  std::string model_;
  std::string job_id_;
};

absl::StatusOr<v1::Optimizer> ParseOptimizer(const std::string& name) {
  if (name == "adam") return v1::OPTIMIZER_ADAM;
  if (name == "sgd") return v1::OPTIMIZER_SGD;
  if (name == "momentum") return v1::OPTIMIZER_MOMENTUM;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown --optimizer=", name, "; use adam, sgd or momentum"));
}

int RunTrain(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("train takes no arguments");
  const bool jobs = absl::GetFlag(FLAGS_jobs);
  const std::string watch = absl::GetFlag(FLAGS_watch);
  const std::string cancel = absl::GetFlag(FLAGS_cancel);
  if (int(jobs) + int(!watch.empty()) + int(!cancel.empty()) > 1) {
    return UsageError("--jobs, --watch and --cancel exclude each other");
  }
  const bool start = !jobs && watch.empty() && cancel.empty();
  for (const std::string& flag : cl.given) {
    const bool job_flag = flag == "jobs" || flag == "watch" ||
                          flag == "cancel" || flag == "token" ||
                          flag == "detach" ||
                          std::find(kGlobalFlags.begin(), kGlobalFlags.end(),
                                    flag) != kGlobalFlags.end();
    if (!start && !job_flag) {
      return UsageError(absl::StrCat(
          "--", flag, " configures a new job; it does not go with --jobs, "
          "--watch or --cancel"));
    }
  }
  if (!start && absl::GetFlag(FLAGS_detach) && watch.empty()) {
    return UsageError("--detach goes with starting a job");
  }

  v1::TrainRequest request;
  if (start) {
    request.set_model(absl::GetFlag(FLAGS_model));
    if (request.model().empty()) return UsageError("train needs --model=NAME");
    const std::string spec_path = absl::GetFlag(FLAGS_spec);
    const bool regularize = cl.given.count("l1") || cl.given.count("l2");
    if (!spec_path.empty()) {
      if (cl.given.count("base_version")) {
        return UsageError("--spec (a new network) and --base_version "
                          "(fine-tuning) exclude each other");
      }
      absl::StatusOr<v1::ModelSpec> spec = ReadSpec(spec_path);
      if (!spec.ok()) return Fail(kExitLocalError, spec.status());
      if (regularize) {
        SetKernelRegularizers(static_cast<float>(absl::GetFlag(FLAGS_l1)),
                              static_cast<float>(absl::GetFlag(FLAGS_l2)),
                              *spec);
      }
      *request.mutable_spec() = *std::move(spec);
    } else {
      if (regularize) {
        return UsageError("--l1 and --l2 change a --spec; a fine-tuned model "
                          "keeps its own regularisation");
      }
      request.set_base_version(absl::GetFlag(FLAGS_base_version));
    }
    request.set_dataset(absl::GetFlag(FLAGS_dataset));
    v1::TrainingConfig* config = request.mutable_config();
    config->set_epochs(absl::GetFlag(FLAGS_epochs));
    config->set_batch_size(absl::GetFlag(FLAGS_batch_size));
    absl::StatusOr<v1::Optimizer> optimizer =
        ParseOptimizer(absl::GetFlag(FLAGS_optimizer));
    if (!optimizer.ok()) return Fail(kExitUsage, optimizer.status());
    config->set_optimizer(*optimizer);
    config->set_learning_rate(
        static_cast<float>(absl::GetFlag(FLAGS_learning_rate)));
    config->set_momentum(static_cast<float>(absl::GetFlag(FLAGS_momentum)));
    config->set_nesterov(absl::GetFlag(FLAGS_nesterov));
    config->set_validation_split(
        static_cast<float>(absl::GetFlag(FLAGS_validation_split)));
    config->set_seed(absl::GetFlag(FLAGS_seed));
    config->set_early_stopping_patience(
        absl::GetFlag(FLAGS_early_stopping_patience));
    config->set_max_train_examples(absl::GetFlag(FLAGS_max_train_examples));
    request.set_progress_interval_millis(static_cast<int32_t>(
        absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_progress_interval))));
  }

  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  if (jobs) {
    absl::StatusOr<v1::ListTrainingJobsResponse> response =
        (*client)->ListTrainingJobs();
    if (!response.ok()) return Fail(kExitRpcError, response.status());
    std::cout << FormatTrainingJobs(response->jobs());
    return kExitOk;
  }
  if (!cancel.empty()) {
    absl::StatusOr<v1::TrainingJob> job = (*client)->CancelTraining(cancel);
    if (!job.ok()) return Fail(kExitRpcError, job.status());
    google::protobuf::RepeatedPtrField<v1::TrainingJob> one;
    *one.Add() = *std::move(job);
    std::cout << FormatTrainingJobs(one);
    return kExitOk;
  }
  ProgressPrinter printer(absl::GetFlag(FLAGS_detach));
  auto on_progress = [&printer](const v1::TrainProgress& progress) {
    return printer.OnProgress(progress);
  };
  const absl::Status status =
      start ? (*client)->Train(request, on_progress)
            : (*client)->WatchTraining(watch, on_progress);
  printer.Finish();
  if (!status.ok()) return Fail(kExitRpcError, status);
  return kExitOk;
}

// --- bench --------------------------------------------------------------------

int RunBench(const ParsedCommandLine& cl) {
  if (!cl.args.empty()) return UsageError("bench takes no arguments");
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) return UsageError("bench needs --model=NAME");
  if (absl::GetFlag(FLAGS_json) && absl::GetFlag(FLAGS_csv)) {
    return UsageError("--json and --csv exclude each other");
  }
  absl::StatusOr<ImageEncoding> encoding =
      ParseImageEncoding(absl::GetFlag(FLAGS_encoding));
  if (!encoding.ok()) return Fail(kExitUsage, encoding.status());

  LoadOptions options;
  const ClientOptions client_options = GetClientOptions();
  options.channel = client_options.channel;
  options.request_timeout = client_options.timeout;
  options.concurrency_levels.clear();
  for (const std::string& level : absl::GetFlag(FLAGS_concurrency)) {
    int value = 0;
    if (!absl::SimpleAtoi(level, &value) || value < 1) {
      return UsageError(absl::StrCat(
          "--concurrency takes positive integers separated by commas, got \"",
          level, "\""));
    }
    options.concurrency_levels.push_back(value);
  }
  options.duration = absl::GetFlag(FLAGS_duration);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.max_requests = absl::GetFlag(FLAGS_max_requests);
  options.images_per_request = absl::GetFlag(FLAGS_images_per_request);
  options.calls_per_channel = absl::GetFlag(FLAGS_calls_per_channel);
  if (options.images_per_request < 1) {
    return UsageError("--images_per_request must be at least 1");
  }
  if (options.duration <= absl::ZeroDuration() ||
      options.warmup < absl::ZeroDuration() || options.max_requests < 0 ||
      options.calls_per_channel < 1) {
    return UsageError(
        "--duration must be positive, --warmup and --max_requests not "
        "negative, --calls_per_channel at least 1");
  }

  absl::StatusOr<std::vector<InputImage>> images =
      ReadImageFile(absl::GetFlag(FLAGS_data));
  if (!images.ok()) return Fail(kExitLocalError, images.status());
  // 256 distinct requests: enough variety, bounded memory.
  absl::StatusOr<std::vector<v1::PredictRequest>> requests =
      BuildPredictRequests(*images, model, absl::GetFlag(FLAGS_version),
                           options.images_per_request, *encoding, 256);
  if (!requests.ok()) return Fail(kExitLocalError, requests.status());
  options.requests = *std::move(requests);

  // One call first: a dead server or unknown model is one clear error, not a
  // table of failures.
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(client_options);
  if (!client.ok()) return Fail(kExitLocalError, client.status());
  absl::StatusOr<v1::PredictResponse> probe =
      (*client)->Predict(options.requests.front());
  if (!probe.ok()) return Fail(kExitRpcError, probe.status());
  client->reset();

  absl::StatusOr<std::vector<LevelResult>> levels = RunLoad(options);
  if (!levels.ok()) return Fail(kExitUsage, levels.status());
  BenchReport report;
  report.target = options.channel.target;
  report.model = model;
  report.encoding = *encoding;
  report.images_per_request = options.images_per_request;
  report.duration = options.duration;
  report.warmup = options.warmup;
  report.calls_per_channel = options.calls_per_channel;
  report.levels = *std::move(levels);
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << FormatBenchJson(report) << "\n";
  } else if (absl::GetFlag(FLAGS_csv)) {
    std::cout << FormatBenchCsv(report);
  } else {
    std::cout << FormatBenchTable(report);
  }
  for (const LevelResult& level : report.levels) {
    if (level.failed_requests() > 0) return kExitNotGood;
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  DisableAbslDeadlockDetection();
  const std::vector<std::string> args(argv, argv + argc);
  absl::StatusOr<ParsedCommandLine> cl =
      ParseCommandLine(args, Commands(), kGlobalFlags);
  if (!cl.ok()) {
    Fail(kExitUsage, cl.status());
    std::cerr << "Run \"nnctl --help\" for usage." << std::endl;
    return kExitUsage;
  }
  if (cl->command.empty() && !cl->help) {
    std::cerr << MainHelp();
    return kExitUsage;
  }
  if (cl->help) {
    const CommandSpec* command = nullptr;
    for (const CommandSpec& c : Commands()) {
      if (c.name == cl->command) command = &c;
    }
    std::cout << (command ? CommandHelp(*command) : MainHelp());
    return kExitOk;
  }
  if (cl->command == "predict") return RunPredict(*cl);
  if (cl->command == "list") return RunList(*cl);
  if (cl->command == "info") return RunInfo(*cl);
  if (cl->command == "train") return RunTrain(*cl);
  if (cl->command == "health") return RunHealth(*cl);
  if (cl->command == "bench") return RunBench(*cl);
  return UsageError(absl::StrCat("unknown command ", cl->command));
}

}  // namespace
}  // namespace nn

int main(int argc, char** argv) { return nn::Main(argc, argv); }
