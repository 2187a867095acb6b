#include "engine/network.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "engine/initializers.h"
#include "engine/onednn.h"
#include "engine/threading.h"

namespace nn {

using nnserve::v1::LayerSpec;

namespace {

std::string Label(const Layer& layer, int index) {
  return absl::StrCat("layer ", index, " ", DoubleQuote(layer.name()), " (",
                      layer.kind(), ")");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Network>> Network::Create(
    const Shape& input_shape,
    google::protobuf::RepeatedPtrField<LayerSpec> layers) {
  RETURN_IF_ERROR(ResolveLayerNames(&layers));
  std::unique_ptr<Network> network(new Network());
  ASSIGN_OR_RETURN(network->layers_, BuildLayers(input_shape, layers));
  network->input_shape_ = input_shape;
  for (int i = 0; i < network->num_layers(); ++i) {
    const Layer& layer = *network->layers_[i];
    network->first_parameter_.push_back(
        static_cast<int>(network->slots_.size()));
    for (size_t p = 0; p < layer.parameters().size(); ++p) {
      network->slots_.push_back(
          {i, static_cast<int>(p),
           absl::StrCat(layer.name(), "/", layer.parameters()[p].name)});
      network->parameters_.emplace_back(layer.parameters()[p].shape);
    }
  }
  network->specs_ = std::move(layers);
  return network;
}

absl::StatusOr<std::vector<std::unique_ptr<Layer>>> Network::BuildLayers(
    const Shape& input_shape,
    google::protobuf::RepeatedPtrField<LayerSpec> layers) {
  if (input_shape.empty() || input_shape.size() > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("the input shape must have 1 to 3 dimensions, got ",
                     ShapeToString(input_shape)));
  }
  for (int64_t dim : input_shape) {
    if (dim < 1 || dim > kMaxInputDimension) {
      return absl::InvalidArgumentError(
          absl::StrCat("input dimensions must be in [1, ", kMaxInputDimension,
                       "], got ", ShapeToString(input_shape)));
    }
  }
  if (NumElements(input_shape) > kMaxSampleElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input ", ShapeToString(input_shape), " is too large"));
  }
  if (layers.empty()) return absl::InvalidArgumentError("no layers");
  if (layers.size() > kMaxLayers) {
    return absl::InvalidArgumentError(absl::StrCat(
        layers.size(), " layers; at most ", kMaxLayers, " are allowed"));
  }
  RETURN_IF_ERROR(ResolveLayerNames(&layers));

  std::vector<std::unique_ptr<Layer>> result;
  Shape shape = input_shape;
  int64_t total_parameters = 0;
  for (int i = 0; i < layers.size(); ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<Layer> layer,
                     CreateLayer(layers[i], i, shape));
    if (NumElements(layer->output_shape()) > kMaxSampleElements) {
      return absl::InvalidArgumentError(absl::StrCat(
          Label(*layer, i), ": output ", ShapeToString(layer->output_shape()),
          " is too large (more than ", kMaxSampleElements, " elements)"));
    }
    total_parameters += layer->parameter_count();
    if (total_parameters > kMaxNetworkParameters) {
      return absl::InvalidArgumentError(
          absl::StrCat(Label(*layer, i), ": the network exceeds ",
                       kMaxNetworkParameters, " parameters"));
    }
    if (layer->ends_in_softmax()) {
      if (i + 1 != layers.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Label(*layer, i),
            ": softmax is only allowed in the last layer, this is layer ", i,
            " of ", layers.size()));
      }
      if (layer->output_shape().size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            Label(*layer, i), ": softmax needs a 1-D output, got ",
            ShapeToString(layer->output_shape()), "; add a Flatten layer"));
      }
    }
    shape = layer->output_shape();
    result.push_back(std::move(layer));
  }
  return result;
}

const Shape& Network::output_shape() const {
  return layers_.back()->output_shape();
}

int64_t Network::forward_flops() const {
  int64_t flops = 0;
  for (const std::unique_ptr<Layer>& layer : layers_) {
    flops += layer->forward_flops();
  }
  return flops;
}

int64_t Network::activation_bytes_per_sample() const {
  int64_t floats = NumElements(input_shape_);
  for (const std::unique_ptr<Layer>& layer : layers_) {
    floats += NumElements(layer->output_shape());
  }
  return floats * static_cast<int64_t>(sizeof(float));
}

const ParameterSpec& Network::parameter_spec(int id) const {
  return layers_[slots_[id].layer]->parameters()[slots_[id].index_in_layer];
}

Tensor* Network::mutable_parameter(int id) {
  weight_cache_.Clear();
  return &parameters_[id];
}

int64_t Network::total_parameters() const {
  int64_t total = 0;
  for (const Tensor& tensor : parameters_) total += tensor.size();
  return total;
}

void Network::InitializeParameters(uint64_t seed) {
  weight_cache_.Clear();
  for (int id = 0; id < num_parameter_tensors(); ++id) {
    Random random(MixSeed(seed, static_cast<uint64_t>(id)));
    // Copied into the existing storage: its address never changes.
    const Tensor value = InitialValue(parameter_spec(id), random);
    std::copy(value.values().begin(), value.values().end(),
              parameters_[id].data());
  }
}

absl::Status Network::SetParameters(
    const google::protobuf::RepeatedPtrField<nnserve::v1::Parameter>&
        parameters) {
  absl::flat_hash_map<std::string, int> ids;
  for (int id = 0; id < num_parameter_tensors(); ++id) {
    ids[parameter_name(id)] = id;
  }
  std::vector<const nnserve::v1::Parameter*> found(parameters_.size(), nullptr);
  for (const nnserve::v1::Parameter& parameter : parameters) {
    auto it = ids.find(parameter.name());
    if (it == ids.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter \"", parameter.name(),
          "\" does not belong to any layer of the model"));
    }
    const int id = it->second;
    const std::string where =
        absl::StrCat(Label(*layers_[slots_[id].layer], slots_[id].layer),
                     ": parameter \"", parameter.name(), "\"");
    if (found[id] != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, " appears twice"));
    }
    const Shape& expected = parameter_spec(id).shape;
    const Shape shape(parameter.shape().begin(), parameter.shape().end());
    if (shape != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has shape ", ShapeToString(shape),
                       ", the spec needs ", ShapeToString(expected)));
    }
    if (parameter.values_size() != NumElements(expected)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " has ", parameter.values_size(), " values, its shape ",
          ShapeToString(expected), " needs ", NumElements(expected)));
    }
    const bool variance = parameter_spec(id).name == "moving_variance";
    for (int i = 0; i < parameter.values_size(); ++i) {
      const float value = parameter.values(i);
      if (!std::isfinite(value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " value ", i, " is ", std::isnan(value) ? "NaN" : "infinite"));
      }
      if (variance && value < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " value ", i, " is a negative variance"));
      }
    }
    found[id] = &parameter;
  }
  for (int id = 0; id < num_parameter_tensors(); ++id) {
    if (found[id] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          Label(*layers_[slots_[id].layer], slots_[id].layer), ": parameter \"",
          parameter_name(id), "\" is missing"));
    }
  }
  weight_cache_.Clear();
  for (int id = 0; id < num_parameter_tensors(); ++id) {
    std::copy(found[id]->values().begin(), found[id]->values().end(),
              parameters_[id].data());
  }
  return absl::OkStatus();
}

void Network::ExportParameters(
    google::protobuf::RepeatedPtrField<nnserve::v1::Parameter>* out) const {
  for (int id = 0; id < num_parameter_tensors(); ++id) {
    nnserve::v1::Parameter* parameter = out->Add();
    parameter->set_name(parameter_name(id));
    for (int64_t dim : parameters_[id].shape()) parameter->add_shape(dim);
    parameter->mutable_values()->Add(parameters_[id].values().begin(),
                                     parameters_[id].values().end());
  }
}

absl::StatusOr<std::unique_ptr<ExecutionPlan>> Network::BuildInferencePlan(
    int64_t batch_size, dnnl::stream& stream) const {
  std::unique_ptr<ExecutionPlan> plan;
  RETURN_IF_ERROR(CatchOneDnn(
      absl::StrCat("building the plan for batch size ", batch_size), [&] {
        PlanBuilder b(batch_size, PlainDesc(input_shape_, batch_size),
                      weight_cache_, parameters_, stream);
        for (int i = 0; i < num_layers();) {
          const Layer& layer = *layers_[i];
          // Fold the element-wise Activation layers that follow into this
          // layer's primitive where it can take them as post-ops.
          std::vector<Activation> fused;
          int next = i + 1;
          for (; next < num_layers(); ++next) {
            const LayerSpec& spec = layers_[next]->spec();
            if (!spec.has_activation()) break;
            const Activation a = spec.activation().activation();
            if (!EltwiseAlgorithm(a).has_value()) {
              if (a == nnserve::v1::ACTIVATION_SOFTMAX) break;
              continue;  // linear: the identity
            }
            if (!layer.CanFuse(fused, a)) break;
            fused.push_back(a);
          }
          b.BeginLayer(i, first_parameter_[i]);
          if (next < num_layers() &&
              layer.AbsorbsAtInference(fused, *layers_[next])) {
            RETURN_IF_ERROR(
                layer.AppendForwardAbsorbing(b, fused, *layers_[next]));
            i = next + 1;
            continue;
          }
          // At inference the returned backward half is empty.
          RETURN_IF_ERROR(layer.AppendForward(b, fused).status());
          i = next;
        }
        ASSIGN_OR_RETURN(plan, b.Finish(PlainDesc(output_shape(), batch_size)));
        return absl::OkStatus();
      }));
  return plan;
}

NetworkContext::NetworkContext(std::shared_ptr<const Network> network,
                               Options options)
    : network_(std::move(network)),
      options_(options),
      owner_(std::this_thread::get_id()) {
  int64_t cap = std::max<int64_t>(options_.max_batch_size, 1);
  if (options_.chunk_activation_bytes > 0) {
    // Per oneDNN thread of the creating (and only running) thread.
    const int64_t budget =
        static_cast<int64_t>(options_.chunk_activation_bytes) *
        std::max(ThreadOneDnnThreads(), 1);
    const int64_t per_sample =
        std::max<int64_t>(network_->activation_bytes_per_sample(), 1);
    cap = std::min<int64_t>(cap, budget / per_sample);
  }
  max_chunk_ = LargestPlanBatchSize(std::max<int64_t>(cap, 1));
}

std::unique_ptr<NetworkContext> NetworkContext::Create(
    std::shared_ptr<const Network> network, Options options) {
  options.max_cached_plans = std::max(options.max_cached_plans, 1);
  return std::unique_ptr<NetworkContext>(
      new NetworkContext(std::move(network), options));
}

absl::StatusOr<ExecutionPlan*> NetworkContext::PlanFor(int64_t n) {
  if (std::this_thread::get_id() != owner_) {
    return absl::FailedPreconditionError(
        "an inference context is used on a thread other than the one that "
        "created it");
  }
  if (n < 1 || n > options_.max_batch_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch size ", n, " is outside [1, ",
                     options_.max_batch_size, "]"));
  }
  ++uses_;
  if (auto it = plans_.find(n); it != plans_.end()) {
    it->second.last_use = uses_;
    return it->second.plan.get();
  }
  if (!stream_.has_value()) {
    RETURN_IF_ERROR(CatchOneDnn("creating a stream", [&] {
      stream_.emplace(CpuEngine());
      return absl::OkStatus();
    }));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ExecutionPlan> plan,
                   network_->BuildInferencePlan(n, *stream_));
  if (plan->arena_bytes() > arena_.bytes()) {
    try {
      arena_ = AlignedBuffer(plan->arena_bytes());
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot allocate ", plan->arena_bytes(),
          " bytes of activations for batch size ", n));
    }
  }
  if (static_cast<int>(plans_.size()) >= options_.max_cached_plans) {
    auto oldest = plans_.begin();
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    plans_.erase(oldest);
  }
  ExecutionPlan* result = plan.get();
  plans_[n] = {std::move(plan), uses_};
  return result;
}

int64_t LargestPlanBatchSize(int64_t n) {
  if (n <= 3) return std::max<int64_t>(n, 1);
  int64_t power = 1;  // largest power of two <= n
  while (power <= n / 2) power *= 2;
  return n >= power + power / 2 ? power + power / 2 : power;
}

std::vector<int64_t> PlanBatchSizes(int64_t max_n) {
  // Down from the largest, each the largest plan size below the last.
  std::vector<int64_t> sizes;
  for (int64_t n = max_n; n >= 1; n = sizes.back() - 1) {
    sizes.push_back(LargestPlanBatchSize(n));
  }
  std::reverse(sizes.begin(), sizes.end());
  return sizes;
}

absl::Status NetworkContext::Prepare(int64_t n) {
  if (n < 1) return PlanFor(n).status();
  for (int64_t left = n; left > 0;) {
    const int64_t chunk = LargestPlanBatchSize(std::min(left, max_chunk_));
    RETURN_IF_ERROR(PlanFor(chunk).status());
    left -= chunk;
  }
  return absl::OkStatus();
}

absl::Status NetworkContext::Run(absl::Span<const float> input, int64_t n,
                                 absl::Span<float> output) {
  const int64_t in_size = NumElements(network_->input_shape());
  const int64_t out_size = NumElements(network_->output_shape());
  if (n >= 1 && n <= options_.max_batch_size &&
      (static_cast<int64_t>(input.size()) != n * in_size ||
       static_cast<int64_t>(output.size()) != n * out_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch of ", n, " needs ", n * in_size, " input and ", n * out_size,
        " output floats, got ", input.size(), " and ", output.size()));
  }
  if (n < 1 || n > options_.max_batch_size) return PlanFor(n).status();
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = LargestPlanBatchSize(std::min(n - done, max_chunk_));
    ASSIGN_OR_RETURN(ExecutionPlan * plan, PlanFor(chunk));
    RETURN_IF_ERROR(plan->Execute(input.data() + done * in_size,
                                  output.data() + done * out_size,
                                  arena_.data(), *stream_));
    done += chunk;
  }
  return absl::OkStatus();
}

}  // namespace nn
