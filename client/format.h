// Human- and machine-readable renderings of nnserve's replies for nnctl.
// Pure functions from messages to text, so every output is unit-tested
// without a server. Text outputs end with a newline; JSON outputs are one
// line without one.
#ifndef NNSERVE_CLIENT_FORMAT_H_
#define NNSERVE_CLIENT_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/image_input.h"
#include "client/load_generator.h"
#include "nnserve/v1/inference.pb.h"

namespace nn {

// 1234567 -> "1,234,567".
std::string WithThousands(int64_t value);
// VERSION_STATE_AVAILABLE -> "AVAILABLE"; JOB_STATE_RUNNING -> "RUNNING".
std::string VersionStateName(nnserve::v1::VersionState state);
std::string JobStateName(nnserve::v1::JobState state);
// 75.2 -> "1m15s"; 3.4 -> "3s"; 7300 -> "2h01m".
std::string FormatSeconds(double seconds);

// `list`: a header and one line per model version (MODEL VERSION STATE
// DEFAULT LOAD_S DETAIL), a model without versions on a line of its own.
std::string FormatModelList(const nnserve::v1::ListModelsResponse& response);

// Keras' model.summary() for one version:
//   Model: "mnist_mlp"
//   _________________________________________________________________
//    Layer (type)                Output Shape              Param #
//   =================================================================
//    dense (Dense)               (None, 128)               100480
//   ...
//   =================================================================
//   Total params: 101,770
//   _________________________________________________________________
std::string FormatLayerSummary(absl::string_view model_name,
                               const nnserve::v1::VersionInfo& version);

// One table row per epoch (epoch, loss, accuracy, val_loss, val_accuracy,
// seconds), preceded by the run's configuration and followed by its test
// result.
std::string FormatTrainingHistory(const nnserve::v1::TrainingHistory& history);

// `info`: the model's default version and batching, then for every version
// its state (and error), path, input, labels, summary table and training
// history, then the model's training jobs.
std::string FormatModelInfo(const nnserve::v1::ModelInfoResponse& response);

// A table of jobs (ID MODEL STATE EPOCH BATCH LOSS ACCURACY ETA/RESULT).
std::string FormatTrainingJobs(
    const google::protobuf::RepeatedPtrField<nnserve::v1::TrainingJob>& jobs);

// One line of progress: "epoch 2/5  batch 120/250  loss 0.3412  accuracy
// 0.9012  1,234 img/s  eta 12s".
std::string FormatJobProgress(const nnserve::v1::TrainingJob& job);
// The same behind a bar of `bar_width` cells: "[#####.....]  42%  epoch ...".
std::string FormatProgressBar(const nnserve::v1::TrainingJob& job,
                              int bar_width);
// "epoch 1/5: loss 0.3100  accuracy 0.9100  val_loss ...  2.3s".
std::string FormatEpochEnd(const nnserve::v1::EpochRecord& epoch, int epochs);
// "published mnist_mlp version 4: test accuracy 0.9712 (loss 0.0990)".
std::string FormatTrainResult(absl::string_view model,
                              const nnserve::v1::TrainResult& result);

// One classified image: the input and the server's prediction for it.
struct PredictedImage {
  const InputImage* input = nullptr;
  const nnserve::v1::Prediction* prediction = nullptr;
};

// `predict` as text: a header, one line per image (SOURCE CLASS LABEL
// CONFIDENCE [EXPECTED] [TOP_K]), then a summary line with the model, the
// version(s) and, over labelled images, the accuracy.
std::string FormatPredictionsText(absl::Span<const PredictedImage> images,
                                  absl::string_view model,
                                  absl::Span<const int64_t> versions);
// `predict --json`: {"model":..,"versions":[..],"predictions":[{"source",
// "class_index","label","confidence","probabilities",["top_k"],
// ["expected","correct"]}],["accuracy":{"correct","total","value"}]}.
std::string FormatPredictionsJson(absl::Span<const PredictedImage> images,
                                  absl::string_view model,
                                  absl::Span<const int64_t> versions);

// What a `bench` run measured, and how.
struct BenchReport {
  std::string target;
  std::string model;
  ImageEncoding encoding = ImageEncoding::kUint8;
  int images_per_request = 1;
  absl::Duration duration;
  absl::Duration warmup;
  int calls_per_channel = 0;
  std::vector<LevelResult> levels;
};

// A table, one row per level: concurrency, requests, errors, req/s, img/s,
// latency p50/p90/p95/p99/max in microseconds; then errors by code.
std::string FormatBenchTable(const BenchReport& report);
// CSV with a header row; latencies in microseconds; errors_by_code as
// "CODE:count;CODE:count".
std::string FormatBenchCsv(const BenchReport& report);
// {"target","model","encoding","images_per_request","duration_seconds",
//  "warmup_seconds","levels":[{"concurrency","channels","requests",
//  "ok_requests","failed_requests","warmup_requests","seconds",
//  "requests_per_second","images_per_second","latency_us":{"p50","p90",
//  "p95","p99","max","mean"},"errors_by_code":{..},"first_error"}]}
std::string FormatBenchJson(const BenchReport& report);

}  // namespace nn

#endif  // NNSERVE_CLIENT_FORMAT_H_
