#include "engine/model.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/defaults.h"

namespace nn {

using nnserve::v1::ModelSpec;

namespace {

absl::StatusOr<Shape> InputShape(const ModelSpec& spec) {
  const int height =
      spec.input().height() == 0 ? kDefaultImageSide : spec.input().height();
  const int width =
      spec.input().width() == 0 ? kDefaultImageSide : spec.input().width();
  if (height < 0 || width < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input height and width must be positive, got ", height,
                     " x ", width));
  }
  return Shape{height, width};
}

// The classifier rules on a network built from `spec`: a softmax at the end
// over a 1-D output, and labels that match it.
absl::Status CheckClassifier(
    const ModelSpec& spec, absl::Span<const std::unique_ptr<Layer>> layers) {
  const int last = static_cast<int>(layers.size()) - 1;
  const Layer& layer = *layers[last];
  if (!layer.ends_in_softmax()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", last, " ", DoubleQuote(layer.name()), " (", layer.kind(),
        "): the last layer must end in a softmax (a Dense with softmax "
        "activation or an Activation softmax layer)"));
  }
  // Network guarantees a softmax layer's output is 1-D.
  const int64_t classes = layer.output_shape()[0];
  if (spec.labels_size() != 0 && spec.labels_size() != classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the spec has ", spec.labels_size(), " labels for ",
                     classes, " classes"));
  }
  return absl::OkStatus();
}

class ModelInferenceContext final : public InferenceContext {
 public:
  explicit ModelInferenceContext(std::unique_ptr<NetworkContext> context)
      : context_(std::move(context)) {}

  absl::Status Run(absl::Span<const float> input, int64_t n,
                   absl::Span<float> output) override {
    return context_->Run(input, n, output);
  }
  absl::Status Prepare(int64_t n) override { return context_->Prepare(n); }

 private:
  std::unique_ptr<NetworkContext> context_;
};

}  // namespace

absl::StatusOr<ModelSpecSummary> CheckModelSpec(const ModelSpec& spec) {
  ASSIGN_OR_RETURN(Shape input, InputShape(spec));
  ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Layer>> layers,
                   Network::BuildLayers(input, spec.layers()));
  RETURN_IF_ERROR(CheckClassifier(spec, layers));
  ModelSpecSummary summary;
  summary.input_height = static_cast<int>(input[0]);
  summary.input_width = static_cast<int>(input[1]);
  summary.num_classes = static_cast<int>(layers.back()->output_shape()[0]);
  return summary;
}

absl::Status ValidateModelSpec(const ModelSpec& spec) {
  return CheckModelSpec(spec).status();
}

absl::StatusOr<std::unique_ptr<Model>> Model::Build(
    const ModelSpec& spec, std::unique_ptr<Network>* network) {
  ASSIGN_OR_RETURN(Shape input, InputShape(spec));
  ASSIGN_OR_RETURN(*network, Network::Create(input, spec.layers()));
  RETURN_IF_ERROR(CheckClassifier(spec, (*network)->layers()));
  std::unique_ptr<Model> model(new Model());
  model->spec_ = spec;
  *model->spec_.mutable_layers() = (*network)->layer_specs();
  model->input_height_ = static_cast<int>(input[0]);
  model->input_width_ = static_cast<int>(input[1]);
  model->num_classes_ = static_cast<int>((*network)->output_shape()[0]);
  return model;
}

absl::StatusOr<std::shared_ptr<const Model>> Model::Create(
    const ModelSpec& spec, uint64_t seed) {
  std::unique_ptr<Network> network;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Build(spec, &network));
  network->InitializeParameters(seed);
  model->network_ = std::move(network);
  return std::shared_ptr<const Model>(std::move(model));
}

absl::StatusOr<std::shared_ptr<const Model>> Model::FromSavedModel(
    nnserve::v1::SavedModel saved) {
  if (saved.format_version() != kSavedModelFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported SavedModel format_version ", saved.format_version(),
        " (this engine reads version ", kSavedModelFormatVersion, ")"));
  }
  std::unique_ptr<Network> network;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Build(saved.spec(), &network));
  RETURN_IF_ERROR(network->SetParameters(saved.parameters()));
  model->network_ = std::move(network);
  model->history_ = std::move(*saved.mutable_history());
  model->producer_ = std::move(*saved.mutable_producer());
  model->created_unix_seconds_ = saved.created_unix_seconds();
  return std::shared_ptr<const Model>(std::move(model));
}

std::vector<std::string> Model::labels() const {
  if (spec_.labels_size() != 0) {
    return {spec_.labels().begin(), spec_.labels().end()};
  }
  std::vector<std::string> labels;
  labels.reserve(num_classes_);
  for (int i = 0; i < num_classes_; ++i) labels.push_back(absl::StrCat(i));
  return labels;
}

std::vector<LayerSummary> Model::Summary() const {
  std::vector<LayerSummary> summary;
  for (int i = 0; i < network_->num_layers(); ++i) {
    const Layer& layer = network_->layer(i);
    summary.push_back({layer.name(), std::string(layer.kind()),
                       layer.output_shape(), layer.parameter_count()});
  }
  return summary;
}

nnserve::v1::SavedModel Model::ToSavedModel() const {
  nnserve::v1::SavedModel saved;
  saved.set_format_version(kSavedModelFormatVersion);
  *saved.mutable_spec() = spec_;
  network_->ExportParameters(saved.mutable_parameters());
  *saved.mutable_history() = history_;
  saved.set_producer(producer_);
  saved.set_created_unix_seconds(created_unix_seconds_);
  return saved;
}

std::unique_ptr<InferenceContext> Model::NewInferenceContext(
    const ContextOptions& options) const {
  return std::make_unique<ModelInferenceContext>(
      NetworkContext::Create(network_, options));
}

}  // namespace nn
