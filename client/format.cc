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

double Micros(int64_t nanos) { return static_cast<double>(nanos) / 1000.0; }

// `value` rounded to `decimals` places, so that JSON prints it short.
double Rounded(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

std::string ErrorsText(const std::map<std::string, int64_t>& errors,
                       absl::string_view separator,
                       absl::string_view joiner) {
  std::vector<std::string> parts;
  for (const auto& [code, count] : errors) {
    parts.push_back(absl::StrCat(code, separator, count));
  }
  return absl::StrJoin(parts, joiner);
}

int CorrectCount(absl::Span<const PredictedImage> images, int* labelled) {
  int correct = 0;
  *labelled = 0;
  for (const PredictedImage& image : images) {
    if (image.input->label < 0) continue;
    ++*labelled;
    if (image.prediction->class_index() == image.input->label) ++correct;
  }
  return correct;
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
    if (version.has_input()) {
      absl::StrAppend(&out, "  input: ",
                      version.input().height() == 0 ? 28
                                                    : version.input().height(),
                      "x",
                      version.input().width() == 0 ? 28 : version.input().width(),
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

std::string FormatTrainingJobs(
    const google::protobuf::RepeatedPtrField<v1::TrainingJob>& jobs) {
  std::string out = absl::StrFormat("%-16s %-20s %-10s %7s %9s %8s %8s  %s\n",
                                    "JOB", "MODEL", "STATE", "EPOCH", "BATCH",
                                    "LOSS", "ACCURACY", "ETA/RESULT");
  for (const v1::TrainingJob& job : jobs) {
    std::string result;
    switch (job.state()) {
      case v1::JOB_STATE_SUCCEEDED:
        result = absl::StrCat("version ", job.published_version());
        break;
      case v1::JOB_STATE_FAILED:
      case v1::JOB_STATE_CANCELLED:
        result = job.error();
        break;
      default:
        result = absl::StrCat("eta ", FormatSeconds(job.eta_seconds()));
    }
    absl::StrAppendFormat(
        &out, "%-16s %-20s %-10s %7s %9s %8.4f %8.4f  %s\n", job.job_id(),
        job.model(), JobStateName(job.state()),
        absl::StrCat(job.epoch(), "/", job.epochs()),
        absl::StrCat(job.batch(), "/", job.batches_per_epoch()), job.loss(),
        job.accuracy(), result);
  }
  return out;
}

std::string FormatJobProgress(const v1::TrainingJob& job) {
  return absl::StrFormat(
      "epoch %d/%d  batch %d/%d  loss %.4f  accuracy %.4f  %s img/s  eta %s",
      job.epoch(), job.epochs(), job.batch(), job.batches_per_epoch(),
      job.loss(), job.accuracy(),
      WithThousands(std::llround(job.images_per_second())),
      FormatSeconds(job.eta_seconds()));
}

std::string FormatProgressBar(const v1::TrainingJob& job, int bar_width) {
  const double ratio = std::clamp(job.progress_ratio(), 0.0, 1.0);
  const int filled = static_cast<int>(ratio * bar_width);
  return absl::StrFormat("[%s%s] %3d%%  %s", std::string(filled, '#'),
                         std::string(bar_width - filled, '.'),
                         static_cast<int>(ratio * 100), FormatJobProgress(job));
}

std::string FormatEpochEnd(const v1::EpochRecord& epoch, int epochs) {
  std::string out =
      absl::StrFormat("epoch %d/%d: loss %.4f  accuracy %.4f", epoch.epoch(),
                      epochs, epoch.loss(), epoch.accuracy());
  if (epoch.has_validation()) {
    absl::StrAppendFormat(&out, "  val_loss %.4f  val_accuracy %.4f",
                          epoch.val_loss(), epoch.val_accuracy());
  }
  absl::StrAppendFormat(&out, "  %.1fs  %s img/s", epoch.seconds(),
                        WithThousands(std::llround(epoch.images_per_second())));
  return out;
}

std::string FormatTrainResult(absl::string_view model,
                              const v1::TrainResult& result) {
  std::string out =
      absl::StrCat("published ", model, " version ", result.version());
  if (result.has_test()) {
    absl::StrAppendFormat(&out, ": test accuracy %.4f (loss %.4f)",
                          result.test_accuracy(), result.test_loss());
  } else if (!result.history().epochs().empty()) {
    const v1::EpochRecord& last =
        *result.history().epochs().rbegin();
    absl::StrAppendFormat(&out, ": training accuracy %.4f", last.accuracy());
  }
  if (!result.path().empty()) absl::StrAppend(&out, " (", result.path(), ")");
  return out;
}

std::string FormatPredictionsText(absl::Span<const PredictedImage> images,
                                  absl::string_view model,
                                  absl::Span<const int64_t> versions) {
  bool any_label = false;
  bool any_top_k = false;
  size_t source_width = 6;
  for (const PredictedImage& image : images) {
    any_label |= image.input->label >= 0;
    any_top_k |= image.prediction->top_k_size() > 0;
    source_width = std::max(source_width, image.input->source.size());
  }
  source_width = std::min<size_t>(source_width, 60);
  std::string out = absl::StrFormat("%-*s  %5s  %-14s  %10s", source_width,
                                    "SOURCE", "CLASS", "LABEL", "CONFIDENCE");
  if (any_label) absl::StrAppend(&out, "  EXPECTED");
  if (any_top_k) absl::StrAppend(&out, "  TOP_K");
  absl::StrAppend(&out, "\n");
  for (const PredictedImage& image : images) {
    const v1::Prediction& p = *image.prediction;
    absl::StrAppendFormat(&out, "%-*s  %5d  %-14s  %10.4f", source_width,
                          image.input->source, p.class_index(), p.label(),
                          p.confidence());
    if (any_label) {
      if (image.input->label < 0) {
        absl::StrAppend(&out, "  -       ");
      } else {
        absl::StrAppendFormat(
            &out, "  %-8s",
            absl::StrCat(image.input->label,
                         image.input->label == p.class_index() ? "" : " (!)"));
      }
    }
    if (any_top_k) {
      std::vector<std::string> top;
      for (const v1::ClassScore& score : p.top_k()) {
        top.push_back(absl::StrFormat("%s:%.4f", score.label().empty()
                                                     ? absl::StrCat(
                                                           score.class_index())
                                                     : score.label(),
                                      score.probability()));
      }
      absl::StrAppend(&out, "  ", absl::StrJoin(top, " "));
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "model ", model, " version",
                  versions.size() > 1 ? "s " : " ",
                  absl::StrJoin(versions, ","), ", ", images.size(),
                  images.size() == 1 ? " image" : " images");
  int labelled = 0;
  const int correct = CorrectCount(images, &labelled);
  if (labelled > 0) {
    absl::StrAppendFormat(&out, ", accuracy %.4f (%d/%d)",
                          static_cast<double>(correct) / labelled, correct,
                          labelled);
  }
  absl::StrAppend(&out, "\n");
  return out;
}

std::string FormatPredictionsJson(absl::Span<const PredictedImage> images,
                                  absl::string_view model,
                                  absl::Span<const int64_t> versions) {
  JsonWriter json;
  json.BeginObject().Key("model").String(model).Key("versions").BeginArray();
  for (int64_t version : versions) json.Int(version);
  json.EndArray().Key("predictions").BeginArray();
  for (const PredictedImage& image : images) {
    const v1::Prediction& p = *image.prediction;
    json.BeginObject()
        .Key("source")
        .String(image.input->source)
        .Key("class_index")
        .Int(p.class_index())
        .Key("label")
        .String(p.label())
        .Key("confidence")
        .Float(p.confidence())
        .Key("probabilities")
        .BeginArray();
    for (float probability : p.probabilities()) json.Float(probability);
    json.EndArray();
    if (p.top_k_size() > 0) {
      json.Key("top_k").BeginArray();
      for (const v1::ClassScore& score : p.top_k()) {
        json.BeginObject()
            .Key("class_index")
            .Int(score.class_index())
            .Key("label")
            .String(score.label())
            .Key("probability")
            .Float(score.probability())
            .EndObject();
      }
      json.EndArray();
    }
    if (image.input->label >= 0) {
      json.Key("expected").Int(image.input->label);
      json.Key("correct").Bool(image.input->label == p.class_index());
    }
    json.EndObject();
  }
  json.EndArray();
  int labelled = 0;
  const int correct = CorrectCount(images, &labelled);
  if (labelled > 0) {
    json.Key("accuracy")
        .BeginObject()
        .Key("correct")
        .Int(correct)
        .Key("total")
        .Int(labelled)
        .Key("value")
        .Number(static_cast<double>(correct) / labelled)
        .EndObject();
  }
  json.EndObject();
  return json.str();
}

std::string FormatBenchTable(const BenchReport& report) {
  std::string out = absl::StrFormat(
      "target %s  model %s  encoding %s  images/request %d  duration %s  "
      "warmup %s\n",
      report.target, report.model, ImageEncodingName(report.encoding),
      report.images_per_request, absl::FormatDuration(report.duration),
      absl::FormatDuration(report.warmup));
  absl::StrAppendFormat(&out, "%11s %9s %7s %10s %10s %9s %9s %9s %9s %9s\n",
                        "concurrency", "requests", "errors", "req/s", "img/s",
                        "p50_us", "p90_us", "p95_us", "p99_us", "max_us");
  for (const LevelResult& level : report.levels) {
    const LogLinearHistogram& h = level.latency_nanos;
    absl::StrAppendFormat(
        &out, "%11d %9d %7d %10.1f %10.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n",
        level.concurrency, level.requests, level.failed_requests(),
        level.requests_per_second(), level.images_per_second(),
        Micros(h.ValueAtQuantile(0.50)), Micros(h.ValueAtQuantile(0.90)),
        Micros(h.ValueAtQuantile(0.95)), Micros(h.ValueAtQuantile(0.99)),
        Micros(h.max()));
  }
  for (const LevelResult& level : report.levels) {
    if (level.errors_by_code.empty()) continue;
    absl::StrAppend(&out, "errors at concurrency ", level.concurrency, ": ",
                    ErrorsText(level.errors_by_code, " ", ", "), " (",
                    level.first_error, ")\n");
  }
  return out;
}

std::string FormatBenchCsv(const BenchReport& report) {
  std::string out =
      "model,encoding,images_per_request,concurrency,channels,requests,"
      "ok_requests,failed_requests,warmup_requests,seconds,"
      "requests_per_second,images_per_second,p50_us,p90_us,p95_us,p99_us,"
      "max_us,mean_us,errors_by_code\n";
  for (const LevelResult& level : report.levels) {
    const LogLinearHistogram& h = level.latency_nanos;
    absl::StrAppendFormat(
        &out,
        "%s,%s,%d,%d,%d,%d,%d,%d,%d,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
        "%.1f,%s\n",
        report.model, ImageEncodingName(report.encoding),
        report.images_per_request, level.concurrency, level.channels,
        level.requests, level.ok_requests, level.failed_requests(),
        level.warmup_requests, absl::ToDoubleSeconds(level.elapsed),
        level.requests_per_second(), level.images_per_second(),
        Micros(h.ValueAtQuantile(0.50)), Micros(h.ValueAtQuantile(0.90)),
        Micros(h.ValueAtQuantile(0.95)), Micros(h.ValueAtQuantile(0.99)),
        Micros(h.max()), h.mean() / 1000.0,
        ErrorsText(level.errors_by_code, ":", ";"));
  }
  return out;
}

std::string FormatBenchJson(const BenchReport& report) {
  JsonWriter json;
  json.BeginObject()
      .Key("target")
      .String(report.target)
      .Key("model")
      .String(report.model)
      .Key("encoding")
      .String(ImageEncodingName(report.encoding))
      .Key("images_per_request")
      .Int(report.images_per_request)
      .Key("calls_per_channel")
      .Int(report.calls_per_channel)
      .Key("duration_seconds")
      .Number(absl::ToDoubleSeconds(report.duration))
      .Key("warmup_seconds")
      .Number(absl::ToDoubleSeconds(report.warmup))
      .Key("levels")
      .BeginArray();
  for (const LevelResult& level : report.levels) {
    const LogLinearHistogram& h = level.latency_nanos;
    json.BeginObject()
        .Key("concurrency")
        .Int(level.concurrency)
        .Key("channels")
        .Int(level.channels)
        .Key("requests")
        .Int(level.requests)
        .Key("ok_requests")
        .Int(level.ok_requests)
        .Key("failed_requests")
        .Int(level.failed_requests())
        .Key("warmup_requests")
        .Int(level.warmup_requests)
        .Key("seconds")
        .Number(Rounded(absl::ToDoubleSeconds(level.elapsed), 6))
        .Key("requests_per_second")
        .Number(Rounded(level.requests_per_second(), 1))
        .Key("images_per_second")
        .Number(Rounded(level.images_per_second(), 1))
        .Key("latency_us")
        .BeginObject()
        .Key("p50")
        .Number(Micros(h.ValueAtQuantile(0.50)))
        .Key("p90")
        .Number(Micros(h.ValueAtQuantile(0.90)))
        .Key("p95")
        .Number(Micros(h.ValueAtQuantile(0.95)))
        .Key("p99")
        .Number(Micros(h.ValueAtQuantile(0.99)))
        .Key("max")
        .Number(Micros(h.max()))
        .Key("mean")
        .Number(Rounded(h.mean() / 1000.0, 3))
        .EndObject()
        .Key("errors_by_code")
        .BeginObject();
    for (const auto& [code, count] : level.errors_by_code) {
      json.Key(code).Int(count);
    }
    json.EndObject();
    if (!level.first_error.empty()) {
      json.Key("first_error").String(level.first_error);
    }
    json.EndObject();
  }
  json.EndArray().EndObject();
  return json.str();
}

}  // namespace nn
