// format.h's training renderings: jobs, progress lines and bars, epoch
// ends, results.
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

namespace v1 = ::nnserve::v1;

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

}  // namespace nn
