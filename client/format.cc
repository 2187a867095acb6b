#include "client/format.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/json_writer.h"
#include "common/limits.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

constexpr int kSummaryWidth = 65;

std::string StripEnumPrefix(const std::string& name, absl::string_view prefix) {
  return std::string(absl::StripPrefix(name, prefix));
}

std::string OptimizerName(v1::Optimizer optimizer) {
  switch (optimizer) {
    case v1::OPTIMIZER_SGD:
      return "sgd";
    case v1::OPTIMIZER_MOMENTUM:
      return "momentum";
    case v1::OPTIMIZER_ADAM:
    case v1::OPTIMIZER_UNSPECIFIED:
    default:
      return "adam";
  }
}

std::string ShapeText(const v1::LayerSummary& layer) {
  std::vector<std::string> dims = {"None"};
  for (int64_t d : layer.output_shape()) dims.push_back(absl::StrCat(d));
  return absl::StrCat("(", absl::StrJoin(dims, ", "), ")");
}

}  // namespace

std::string WithThousands(int64_t value) {
  const bool negative = value < 0;
  std::string digits = absl::StrCat(negative ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

std::string VersionStateName(v1::VersionState state) {
  return StripEnumPrefix(v1::VersionState_Name(state), "VERSION_STATE_");
}

std::string JobStateName(v1::JobState state) {
  return StripEnumPrefix(v1::JobState_Name(state), "JOB_STATE_");
}

std::string FormatSeconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t total = static_cast<int64_t>(std::llround(seconds));
  if (total < 60) return absl::StrCat(total, "s");
  if (total < 3600) return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  return absl::StrFormat("%dh%02dm", total / 3600, (total % 3600) / 60);
}

std::string FormatModelList(const v1::ListModelsResponse& response) {
  std::string out = absl::StrFormat("%-20s %7s  %-11s %-7s %7s  %s\n", "MODEL",
                                    "VERSION", "STATE", "DEFAULT", "LOAD_S",
                                    "DETAIL");
  for (const v1::ModelStatus& model : response.models()) {
    if (model.versions().empty()) {
      absl::StrAppendFormat(&out, "%-20s %7s  %-11s %-7s %7s  %s\n",
                            model.name(), "-", "-", "", "", "(no versions)");
    }
    for (const v1::VersionInfo& version : model.versions()) {
      const bool failed = version.state() == v1::VERSION_STATE_FAILED;
      absl::StrAppendFormat(
          &out, "%-20s %7d  %-11s %-7s %7.2f  %s\n", model.name(),
          version.version(), VersionStateName(version.state()),
          version.version() == model.default_version() ? "*" : "",
          version.load_seconds(), failed ? version.error() : version.path());
    }
  }
  return out;
}

std::string FormatLayerSummary(absl::string_view model_name,
                               const v1::VersionInfo& version) {
  const std::string thin(kSummaryWidth, '_');
  const std::string thick(kSummaryWidth, '=');
  std::string out = absl::StrCat("Model: \"", model_name, "\"\n", thin, "\n");
  absl::StrAppendFormat(&out, " %-27s %-25s %s\n", "Layer (type)",
                        "Output Shape", "Param #");
  absl::StrAppend(&out, thick, "\n");
  for (int i = 0; i < version.layers_size(); ++i) {
    const v1::LayerSummary& layer = version.layers(i);
    absl::StrAppendFormat(&out, " %-27s %-25s %d\n",
                          absl::StrCat(layer.name(), " (", layer.kind(), ")"),
                          ShapeText(layer), layer.parameters());
    if (i + 1 < version.layers_size()) absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, thick, "\n", "Total params: ",
                  WithThousands(version.total_parameters()), "\n", thin, "\n");
  return out;
}

std::string FormatTrainingHistory(const v1::TrainingHistory& history) {
  const v1::TrainingConfig& config = history.config();
  std::string out = absl::StrCat(
      "trained on ", history.dataset().empty() ? "?" : history.dataset(), " (",
      WithThousands(history.train_examples()), " examples), ",
      OptimizerName(config.optimizer()));
  if (config.learning_rate() > 0) {
    absl::StrAppend(&out, " lr ", absl::StrFormat("%g", config.learning_rate()));
  }
  if (config.batch_size() > 0) {
    absl::StrAppend(&out, ", batch ", config.batch_size());
  }
  if (config.seed() != 0) absl::StrAppend(&out, ", seed ", config.seed());
  if (history.base_version() != 0) {
    absl::StrAppend(&out, ", from version ", history.base_version());
  }
  if (history.threads() > 0) {
    absl::StrAppend(&out, ", ", history.threads(), " threads");
  }
  absl::StrAppendFormat(&out, ", %.1f s\n", history.total_seconds());
  absl::StrAppendFormat(&out, "  %5s  %8s  %8s  %8s  %12s  %7s\n", "epoch",
                        "loss", "accuracy", "val_loss", "val_accuracy",
                        "seconds");
  for (const v1::EpochRecord& epoch : history.epochs()) {
    const std::string val_loss =
        epoch.has_validation() ? absl::StrFormat("%.4f", epoch.val_loss()) : "-";
    const std::string val_accuracy =
        epoch.has_validation() ? absl::StrFormat("%.4f", epoch.val_accuracy())
                               : "-";
    absl::StrAppendFormat(&out, "  %5d  %8.4f  %8.4f  %8s  %12s  %7.2f\n",
                          epoch.epoch(), epoch.loss(), epoch.accuracy(),
                          val_loss, val_accuracy, epoch.seconds());
  }
  if (history.has_test()) {
    absl::StrAppendFormat(&out, "  test accuracy %.4f (loss %.4f)\n",
                          history.test_accuracy(), history.test_loss());
  }
  return out;
}

std::string FormatModelInfo(const v1::ModelInfoResponse& response) {
  const v1::ModelStatus& model = response.model();
  std::string out = absl::StrCat("model ", model.name(), "  default version ",
                                 model.default_version() == 0
                                     ? std::string("none available")
                                     : absl::StrCat(model.default_version()),
                                 "\n");
  const v1::BatchingConfig& batching = model.batching();
  absl::StrAppend(&out, "batching: max_batch_size ", batching.max_batch_size(),
                  ", max_queue_delay ", batching.max_queue_delay_micros(),
                  " us, max_queue_size ", batching.max_queue_size(),
                  ", workers ", batching.workers(), ", threads_per_worker ",
                  batching.threads_per_worker(), "\n");
  for (const v1::VersionInfo& version : model.versions()) {
    absl::StrAppendFormat(&out, "\nversion %d: %s", version.version(),
                          VersionStateName(version.state()));
    if (version.load_seconds() > 0) {
      absl::StrAppendFormat(&out, " (loaded in %.2f s)",
                            version.load_seconds());
    }
    absl::StrAppend(&out, "\n");
    if (!version.error().empty()) {
      absl::StrAppend(&out, "  error: ", version.error(), "\n");
    }
    if (!version.path().empty()) {
      absl::StrAppend(&out, "  path: ", version.path(), "\n");
    }
    if (!version.architecture().empty()) {
      absl::StrAppend(&out, "  architecture: ", version.architecture(), "\n");
    }
    if (!version.origin().empty()) {
      absl::StrAppend(&out, "  origin: ", version.origin(),
                      version.softmax_appended()
                          ? " (softmax appended to its output)"
                          : "",
                      "\n");
    }
    if (version.has_input()) {
      absl::StrAppend(&out, "  input: ",
                      version.input().height() == 0 ? kImageHeight
                                                    : version.input().height(),
                      "x",
                      version.input().width() == 0 ? kImageWidth
                                                   : version.input().width(),
                      " (height x width) grayscale\n");
    }
    if (!version.labels().empty()) {
      absl::StrAppend(&out, "  labels: ", absl::StrJoin(version.labels(), ", "),
                      "\n");
    }
    if (!version.layers().empty()) {
      absl::StrAppend(&out, FormatLayerSummary(model.name(), version));
    }
    for (int i = 0; i < version.history_size(); ++i) {
      absl::StrAppend(&out, "training run ", i + 1, " of ",
                      version.history_size(), ": ",
                      FormatTrainingHistory(version.history(i)));
    }
  }
  if (!response.training_jobs().empty()) {
    absl::StrAppend(&out, "\ntraining jobs:\n",
                    FormatTrainingJobs(response.training_jobs()));
  }
  return out;
}

}  // namespace nn
