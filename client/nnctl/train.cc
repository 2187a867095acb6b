// nnctl train: starts a training job on the server and follows its stream
// (or watches, cancels or lists jobs).
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/format.h"
#include "client/nnctl/command.h"
#include "common/text_proto.h"
#include "common/training_flags.h"

ABSL_FLAG(std::string, spec, "",
          "Train a new network from this ModelSpec in protobuf text format "
          "(e.g. models/mnist_cnn.textproto). Without it, fine-tune "
          "--base_version of --model.");
ABSL_FLAG(int64_t, base_version, 0,
          "Version of --model to fine-tune; 0 = the newest.");
ABSL_FLAG(std::string, dataset, "mnist",
          "Server-side data set: mnist or fashion-mnist.");
ABSL_FLAG(double, l1, 0,
          "With --spec: L1 penalty on the kernel of every Dense, Conv2D and "
          "SimpleRNN layer (overrides the spec's).");
ABSL_FLAG(double, l2, 0,
          "With --spec: L2 penalty on the kernel of every Dense, Conv2D and "
          "SimpleRNN layer (overrides the spec's), as Keras' l2(x).");
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

namespace nn::nnctl {
namespace {

namespace v1 = ::nnserve::v1;

absl::StatusOr<v1::ModelSpec> ReadSpec(const std::string& path) {
  v1::ModelSpec spec;
  const absl::Status read = ReadTextProtoFile(path, &spec);
  if (!read.ok()) return read;
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
                          std::find(GlobalFlags().begin(), GlobalFlags().end(),
                                    flag) != GlobalFlags().end();
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
    absl::StatusOr<v1::TrainingConfig> config = TrainingConfigFromFlags();
    if (!config.ok()) return Fail(kExitUsage, config.status());
    *request.mutable_config() = *std::move(config);
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

}  // namespace

Command TrainCommand() {
  return {
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
      &RunTrain};
}

}  // namespace nn::nnctl
