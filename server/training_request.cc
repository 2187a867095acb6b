// The Train request's side of the training service: validating a request
// (spec or base version, data set or inline examples, limits) into a
// Prepared job, and the named data sets it loads (cached for the server's
// life).
#include "server/training_request.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "server/image_decoding.h"
#include "common/mutex.h"

namespace nn {
namespace {

using ::nnserve::v1::TrainRequest;

// Inline examples -> an ImageSet of bytes, each label in [0, num_classes).
// Float pixels are quantised to bytes (round(v * 255)), the form every data
// set has.
absl::StatusOr<ImageSet> DecodeInlineExamples(
    const nnserve::v1::InlineExamples& examples, const TrainingDataShape& shape,
    int64_t max_examples) {
  ImageDecodingOptions options;
  options.height = shape.height;
  options.width = shape.width;
  options.max_images = max_examples;
  std::vector<float> floats;
  absl::StatusOr<int64_t> n =
      DecodeImages(examples.images(), options, &floats);
  if (!n.ok()) {
    return absl::Status(n.status().code(),
                        absl::StrCat("examples.", n.status().message()));
  }
  if (examples.labels_size() != *n) {
    return absl::InvalidArgumentError(
        absl::StrCat("examples.labels: ", examples.labels_size(),
                     " labels for ", *n, " images"));
  }
  ImageSet set;
  set.count = *n;
  set.height = shape.height;
  set.width = shape.width;
  set.pixels.resize(floats.size());
  for (size_t i = 0; i < floats.size(); ++i) {
    set.pixels[i] = static_cast<uint8_t>(std::lround(floats[i] * 255.0f));
  }
  for (int i = 0; i < examples.labels_size(); ++i) {
    const int label = examples.labels(i);
    if (label < 0 || label >= shape.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "examples.labels[", i, "]: ", label,
          " is not one of the model's classes [0, ", shape.num_classes, ")"));
    }
    set.labels.push_back(static_cast<uint8_t>(label));
  }
  return set;
}

}  // namespace

const std::vector<std::string>& TrainingService::DatasetNames() {
  static const std::vector<std::string>* names =
      new std::vector<std::string>{"mnist", "fashion-mnist"};
  return *names;
}
absl::StatusOr<std::shared_ptr<const Dataset>> TrainingService::LoadNamedDataset(
    const std::string& name) {
  {
    MutexLock lock(mu_);
    auto it = datasets_.find(name);
    if (it != datasets_.end()) return it->second;
  }
  MutexLock load_lock(dataset_load_mu_);
  {
    MutexLock lock(mu_);
    auto it = datasets_.find(name);
    if (it != datasets_.end()) return it->second;
  }
  absl::StatusOr<Dataset> loaded =
      LoadDataset(absl::StrCat(options_.data_dir, "/", name), name);
  if (!loaded.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data set '", name, "' is not available on the server (",
        loaded.status().message(), ")"));
  }
  auto shared = std::make_shared<const Dataset>(*std::move(loaded));
  MutexLock lock(mu_);
  datasets_[name] = shared;
  return shared;
}
absl::StatusOr<std::unique_ptr<TrainingService::Prepared>>
TrainingService::Prepare(const TrainRequest& request) {
  // Everything is validated before a job takes a slot.
  RETURN_IF_ERROR(ValidateModelName(request.model()));
  auto prepared = std::make_unique<Prepared>();
  prepared->config = request.config();
  RETURN_IF_ERROR(ValidateTrainingConfig(prepared->config));
  if (prepared->config.epochs() > options_.max_epochs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.epochs: ", prepared->config.epochs(),
        " exceeds this server's limit of ", options_.max_epochs,
        " (--max_training_epochs)"));
  }

  TrainingDataShape shape;  // what the data must fit
  switch (request.architecture_case()) {
    case TrainRequest::kSpec: {
      prepared->spec = request.spec();
      absl::StatusOr<ModelSpecSummary> summary = CheckModelSpec(prepared->spec);
      if (!summary.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("spec: ", summary.status().message()));
      }
      shape = {summary->input_height, summary->input_width,
               summary->num_classes};
      break;
    }
    case TrainRequest::kBaseVersion: {
      RETURN_IF_ERROR(
          ValidateVersionNumber("base_version", request.base_version()));
      ASSIGN_OR_RETURN(std::shared_ptr<ServableVersion> base,
                       repository_->Get(request.model(), request.base_version()));
      prepared->base = base->shared_model();
      prepared->base_version = base->version();
      prepared->base_origin = base->origin();
      shape = {prepared->base->input_height(), prepared->base->input_width(),
               prepared->base->num_classes()};
      break;
    }
    case TrainRequest::ARCHITECTURE_NOT_SET:
      return absl::InvalidArgumentError(
          "architecture: set spec (train a new network) or base_version "
          "(fine-tune an existing version)");
  }

  switch (request.data_case()) {
    case TrainRequest::kDataset: {
      const auto& names = DatasetNames();
      if (std::find(names.begin(), names.end(), request.dataset()) ==
          names.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("dataset: ", Quote(request.dataset()),
                         " is unknown; use one of ", absl::StrJoin(names, ", ")));
      }
      ASSIGN_OR_RETURN(prepared->dataset, LoadNamedDataset(request.dataset()));
      prepared->data_name = request.dataset();
      if (prepared->dataset->train.height != shape.height ||
          prepared->dataset->train.width != shape.width) {
        return absl::InvalidArgumentError(absl::StrCat(
            "dataset: ", Quote(request.dataset()), " has ",
            prepared->dataset->train.height, "x",
            prepared->dataset->train.width, " images; the model takes ",
            shape.height, "x", shape.width));
      }
      if (request.has_spec() && prepared->spec.labels().empty()) {
        for (const std::string& label : DatasetLabels(request.dataset())) {
          prepared->spec.add_labels(label);
        }
      }
      break;
    }
    case TrainRequest::kExamples: {
      ASSIGN_OR_RETURN(prepared->inline_examples,
                       DecodeInlineExamples(request.examples(), shape,
                                            options_.max_inline_examples));
      prepared->data_name = "inline";
      break;
    }
    case TrainRequest::DATA_NOT_SET:
      return absl::InvalidArgumentError(absl::StrCat(
          "data: set dataset (", absl::StrJoin(DatasetNames(), ", "),
          ") or examples"));
  }

  // What the trainer would refuse at its first batch is refused here, before
  // a job exists: labels outside the model's classes, a split that leaves
  // nothing to train on, early stopping without validation data.
  if (absl::Status s =
          ValidateTrainingData(prepared->data(), prepared->config, shape);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        request.has_dataset()
            ? absl::StrCat("dataset: ", Quote(request.dataset()), ": ")
            : std::string("examples: "),
        s.message()));
  }
  return prepared;
}

}  // namespace nn
