// nntrain: trains a model from a spec on an IDX data set and writes the
// model file.
//
//   nntrain --spec=models/mnist_cnn.textproto --data=data/mnist --epochs=5
//       --batch_size=32 --optimizer=adam --learning_rate=0.001
//       --out=models/repository/mnist_cnn/1/model.nnm [--threads=N]
//       [--seed=S] [--json]
//
// Output (stdout): on a terminal, a progress bar (batch counter, loss,
// accuracy, ETA) and a line per epoch; otherwise only the line per epoch;
// with --json, one JSON object per epoch and a final one with test_accuracy,
// test_loss and total_seconds (null when there is no test set). The model
// file is written atomically (WriteModelFile). Errors: one line on stderr,
// exit status 1 (2 for bad flags, from the flags library or ours).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "common/text_proto.h"
#include "common/training_flags.h"
#include "engine/data/dataset.h"
#include "engine/defaults.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "engine/onnx/onnx_export.h"
#include "engine/training/trainer.h"

ABSL_FLAG(std::string, spec, "",
          "model spec in protobuf text format (e.g. models/mnist_cnn.textproto)");
ABSL_FLAG(std::string, data, "",
          "IDX data set directory (train-*, optional t10k-* files)");
ABSL_FLAG(std::string, out, "", "model file to write (.nnm), atomically");
ABSL_FLAG(std::string, export_onnx, "",
          "also write the trained model as ONNX (opset 13) to this file "
          "(engine/onnx/onnx_export.h)");
ABSL_FLAG(std::string, base, "",
          "fine-tune this model file instead of training --spec from scratch");
ABSL_FLAG(std::string, dataset_name, "",
          "name recorded in the history; default: the --data directory's name");
ABSL_FLAG(std::string, labels, "",
          "comma-separated class names; default: the spec's, else the known "
          "data set's (mnist: 0..9, fashion-mnist: T-shirt/top, ...)");
// The hyper-parameters (--epochs, --batch_size, --optimizer, --seed, ...)
// are the training flag set shared with nnctl train (common/training_flags.h).
ABSL_FLAG(int, threads, 0, "oneDNN threads; 0 = one per core");
ABSL_FLAG(bool, json, false, "JSON lines instead of text");

namespace nn {
namespace {

constexpr char kProducer[] = "nntrain 0.1";

// The spec at `path`; nntrain's users know it as a ModelSpec
// (models/*.textproto).
absl::StatusOr<nnserve::v1::ModelSpec> ReadSpec(const std::string& path) {
  nnserve::v1::ModelSpec spec;
  RETURN_IF_ERROR(ReadTextProtoFile(path, &spec, "ModelSpec"));
  return spec;
}

// The training flag set, then the trainer's own checks of the values.
absl::StatusOr<nnserve::v1::TrainingConfig> ConfigFromFlags() {
  ASSIGN_OR_RETURN(nnserve::v1::TrainingConfig config,
                   TrainingConfigFromFlags());
  RETURN_IF_ERROR(ValidateTrainingConfig(config));
  return config;
}

// The last path component of `dir` ("data/mnist/" -> "mnist").
std::string BaseName(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.6g", value);
}

std::string JsonString(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string FormatSeconds(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// Prints progress in one of the three styles.
class Reporter {
 public:
  Reporter(bool json, bool terminal) : json_(json), terminal_(terminal) {}

  void Progress(const TrainingProgress& p) {
    if (p.epoch_end != nullptr) {
      Epoch(p, *p.epoch_end);
      return;
    }
    if (json_ || !terminal_) return;
    // At most ~10 redraws a second, and always the epoch's last batch.
    const auto now = std::chrono::steady_clock::now();
    if (p.batch != p.batches_per_epoch && now - last_draw_ < kRedraw) return;
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int filled = p.batch * kWidth / p.batches_per_epoch;
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    std::cout << absl::StrFormat(
                     "\r\033[Kepoch %d/%d [%s] %d/%d loss %.4f acc %.4f "
                     "%.0f img/s ETA %s",
                     p.epoch, p.epochs, bar, p.batch, p.batches_per_epoch,
                     p.loss, p.accuracy, p.images_per_second,
                     FormatSeconds(p.eta_seconds))
              << std::flush;
  }

  void Epoch(const TrainingProgress& p, const nnserve::v1::EpochRecord& e) {
    if (json_) {
      std::string line = absl::StrCat(
          "{\"epoch\":", e.epoch(), ",\"epochs\":", p.epochs,
          ",\"loss\":", JsonNumber(e.loss()),
          ",\"accuracy\":", JsonNumber(e.accuracy()));
      if (e.has_validation()) {
        absl::StrAppend(&line, ",\"val_loss\":", JsonNumber(e.val_loss()),
                        ",\"val_accuracy\":", JsonNumber(e.val_accuracy()));
      }
      absl::StrAppend(&line, ",\"seconds\":", JsonNumber(e.seconds()),
                      ",\"images_per_second\":",
                      JsonNumber(e.images_per_second()), "}");
      std::cout << line << "\n" << std::flush;
      return;
    }
    std::string line = absl::StrFormat(
        "epoch %d/%d: loss %.4f accuracy %.4f", e.epoch(), p.epochs, e.loss(),
        e.accuracy());
    if (e.has_validation()) {
      absl::StrAppendFormat(&line, " val_loss %.4f val_accuracy %.4f",
                            e.val_loss(), e.val_accuracy());
    }
    absl::StrAppendFormat(&line, " (%.2f s, %.0f images/s)", e.seconds(),
                          e.images_per_second());
    std::cout << (terminal_ ? "\r\033[K" : "") << line << "\n" << std::flush;
  }

  void Done(const std::string& out, const nnserve::v1::TrainingHistory& h) {
    if (json_) {
      std::cout << "{\"done\":true,\"out\":" << JsonString(out)
                << ",\"epochs_run\":" << h.epochs_size()
                << ",\"train_examples\":" << h.train_examples()
                << ",\"test_loss\":"
                << (h.has_test() ? JsonNumber(h.test_loss()) : "null")
                << ",\"test_accuracy\":"
                << (h.has_test() ? JsonNumber(h.test_accuracy()) : "null")
                << ",\"total_seconds\":" << JsonNumber(h.total_seconds())
                << ",\"threads\":" << h.threads() << "}\n";
      return;
    }
    std::string line = absl::StrCat("wrote ", out);
    if (h.has_test()) {
      absl::StrAppendFormat(&line, ": test_loss %.4f test_accuracy %.4f",
                            h.test_loss(), h.test_accuracy());
    }
    absl::StrAppendFormat(&line, " (%d epoch%s in %.1f s, %d thread%s)",
                          h.epochs_size(), h.epochs_size() == 1 ? "" : "s",
                          h.total_seconds(), h.threads(),
                          h.threads() == 1 ? "" : "s");
    std::cout << line << "\n";
  }

 private:
  static constexpr std::chrono::milliseconds kRedraw{100};
  const bool json_;
  const bool terminal_;
  std::chrono::steady_clock::time_point last_draw_;
};

absl::Status Main() {
  const std::string spec_path = absl::GetFlag(FLAGS_spec);
  const std::string base_path = absl::GetFlag(FLAGS_base);
  const std::string data_dir = absl::GetFlag(FLAGS_data);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (spec_path.empty() == base_path.empty()) {
    return absl::InvalidArgumentError(
        "give either --spec (train a new model) or --base (fine-tune one)");
  }
  if (data_dir.empty()) return absl::InvalidArgumentError("--data is required");
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  ASSIGN_OR_RETURN(const nnserve::v1::TrainingConfig config, ConfigFromFlags());
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 0) return absl::InvalidArgumentError("--threads: must be >= 0");
  if (threads == 0) {
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }

  std::shared_ptr<const Model> base;
  nnserve::v1::ModelSpec spec;
  if (!base_path.empty()) {
    ASSIGN_OR_RETURN(base, LoadModel(base_path));
    spec = base->spec();
  } else {
    ASSIGN_OR_RETURN(spec, ReadSpec(spec_path));
    absl::Status valid = ValidateModelSpec(spec);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec_path, ": ", valid.message()));
    }
  }
  const std::string name = absl::GetFlag(FLAGS_dataset_name).empty()
                               ? BaseName(data_dir)
                               : absl::GetFlag(FLAGS_dataset_name);
  ASSIGN_OR_RETURN(const Dataset dataset, LoadDataset(data_dir, name));

  // Class names: --labels, else the spec's, else the data set's.
  std::vector<std::string> labels;
  if (!absl::GetFlag(FLAGS_labels).empty()) {
    labels = absl::StrSplit(absl::GetFlag(FLAGS_labels), ',');
  } else if (spec.labels_size() == 0) {
    labels = DatasetLabels(name);
  }
  if (!labels.empty()) {
    if (base != nullptr && !absl::GetFlag(FLAGS_labels).empty()) {
      return absl::InvalidArgumentError(
          "--labels: a fine-tuned model keeps its base's labels");
    }
    if (base == nullptr) {
      spec.clear_labels();
      for (const std::string& label : labels) spec.add_labels(label);
      absl::Status valid = ValidateModelSpec(spec);
      if (!valid.ok() && !absl::GetFlag(FLAGS_labels).empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--labels: ", valid.message()));
      }
      if (!valid.ok()) spec.clear_labels();  // the data set's do not fit
    }
  }

  const bool json = absl::GetFlag(FLAGS_json);
  Reporter reporter(json, !json && isatty(STDOUT_FILENO) == 1);
  TrainerOptions options;
  options.config = config;
  options.threads = threads;
  options.on_progress = [&](const TrainingProgress& p) { reporter.Progress(p); };
  const TrainingData data{
      .train = &dataset.train,
      .test = dataset.test.count > 0 ? &dataset.test : nullptr,
      .name = name};
  absl::StatusOr<nnserve::v1::SavedModel> saved =
      base != nullptr ? FineTuneModel(*base, data, options)
                      : TrainNewModel(spec, data, options);
  if (!saved.ok()) return saved.status();
  saved->set_producer(kProducer);
  absl::Status written = WriteModelFile(out, *saved);
  if (!written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat(out, ": ", written.message()));
  }
  if (const std::string onnx_path = absl::GetFlag(FLAGS_export_onnx);
      !onnx_path.empty()) {
    ASSIGN_OR_RETURN(const std::string onnx, ExportOnnx(*saved));
    RETURN_IF_ERROR(WriteFileAtomically(onnx_path, onnx));
  }
  reporter.Done(out, saved->history(saved->history_size() - 1));
  return absl::OkStatus();
}

}  // namespace
}  // namespace nn

int main(int argc, char** argv) {
  // --help lists this file's flags and the shared training flag set.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "nntrain.cc") ||
           absl::EndsWith(file, "training_flags.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(absl::StrCat(
      "trains a model and writes its .nnm file\n"
      "  nntrain --spec=models/mnist_cnn.textproto --data=data/mnist "
      "--out=PATH [--epochs=",
      nn::kDefaultEpochs, " --batch_size=", nn::kDefaultBatchSize,
      " --optimizer=adam --learning_rate=", nn::kDefaultAdamLearningRate,
      " --threads=N --seed=S --json]"));
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "nntrain: unexpected argument \"" << rest[1]
              << "\" (flags are --name=value)\n";
    return 2;
  }
  const absl::Status status = nn::Main();
  if (!status.ok()) {
    std::cout << std::flush;
    std::cerr << "nntrain: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
