#include "server/v2_rest_adapter.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "server/inference_call.h"

namespace nn::v2rest {

absl::StatusOr<std::shared_ptr<ServableVersion>> ResolveV2(
    const ModelRepository& repository, const std::string& model,
    const std::string& version) {
  int64_t number = 0;
  if (!version.empty() &&
      (!absl::ascii_isdigit(version[0]) ||
       !absl::SimpleAtoi(version, &number) || number < 1)) {
    return absl::NotFoundError(absl::StrCat(
        "model ", Quote(model), " has no version ", Quote(version),
        " (versions are positive integers)"));
  }
  return ResolveVersion(repository, model, number);
}

v2::ModelDescription DescribeV2(const ModelRepository& repository,
                                const ServableVersion& servable) {
  v2::ModelDescription d;
  d.name = servable.model_name();
  for (const nnserve::v1::ModelStatus& status : repository.ListModels()) {
    if (status.name() != d.name) continue;
    for (const nnserve::v1::VersionInfo& v : status.versions()) {
      if (v.state() == nnserve::v1::VERSION_STATE_AVAILABLE) {
        d.versions.push_back(absl::StrCat(v.version()));
      }
    }
  }
  std::reverse(d.versions.begin(), d.versions.end());  // oldest first
  if (absl::EndsWith(servable.path(), ".onnx")) {
    d.platform = std::string(v2::kPlatformOnnx);
  }
  d.signature.height = servable.model().input_height();
  d.signature.width = servable.model().input_width();
  d.signature.labels = servable.labels();
  d.max_batch_size = servable.batching().max_batch_size();
  d.max_queue_delay_microseconds = servable.batching().max_queue_delay_micros();
  return d;
}

}  // namespace nn::v2rest
