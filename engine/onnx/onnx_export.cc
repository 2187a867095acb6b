#include "engine/onnx/onnx_export.h"

#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"  // defines ONNX_API, includes onnx-ml.pb.h

namespace nn {
namespace {

using nnserve::v1::LayerSpec;
using onnx::NodeProto;
using onnx::TensorProto;

// Where the ONNX tensor is relative to the engine's channels-last one.
enum class Layout {
  kRows,      // engine {A,B} as [N,A,B] (an image {H,W} or a sequence {T,F})
  kNchw,      // engine {H,W,C} as [N,C,H,W]
  kFeatures,  // engine {F} as [N,F]
};

class Exporter {
 public:
  Exporter(const Model& model, onnx::GraphProto* graph)
      : model_(model), graph_(graph) {
    nnserve::v1::SavedModel saved = model.ToSavedModel();
    for (nnserve::v1::Parameter& p : *saved.mutable_parameters()) {
      parameters_[p.name()] = std::move(p);
    }
  }

  absl::Status Run() {
    const std::vector<LayerSummary> summary = model_.Summary();
    const auto& layers = model_.spec().layers();
    std::vector<int64_t> shape = {model_.input_height(), model_.input_width()};
    for (int i = 0; i < layers.size(); ++i) {
      RETURN_IF_ERROR(Layer(layers[i], shape));
      shape = summary[i].output_shape;
    }
    Node("Identity", "output", {current_}, "probabilities");
    return absl::OkStatus();
  }

 private:
  // A node named "<scope>/<op>" reading `inputs`; returns its first output.
  std::string Node(const std::string& op, const std::string& scope,
                   std::vector<std::string> inputs, std::string output = "",
                   int outputs = 1) {
    NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(absl::StrCat(scope, "/", op, "_", graph_->node_size()));
    for (std::string& in : inputs) node->add_input(std::move(in));
    if (output.empty()) output = absl::StrCat(node->name(), "_output");
    node->add_output(output);
    for (int i = 1; i < outputs; ++i) node->add_output(absl::StrCat(output, "_", i));
    last_ = node;
    return output;
  }
  void IntsAttr(const std::string& name, const std::vector<int64_t>& values) {
    onnx::AttributeProto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  void IntAttr(const std::string& name, int64_t value) {
    onnx::AttributeProto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  void FloatAttr(const std::string& name, float value) {
    onnx::AttributeProto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  std::string Initializer(const std::string& name, std::vector<int64_t> dims,
                          const std::vector<float>& values) {
    TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->mutable_raw_data()->assign(reinterpret_cast<const char*>(values.data()),
                                  values.size() * sizeof(float));
    return name;
  }
  std::string Ints(const std::string& name, const std::vector<int64_t>& values) {
    TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }
  const std::vector<float> Values(const std::string& layer, const char* param) {
    const nnserve::v1::Parameter& p = parameters_.at(absl::StrCat(layer, "/", param));
    return std::vector<float>(p.values().begin(), p.values().end());
  }

  void Activation(nnserve::v1::Activation activation, const std::string& scope) {
    switch (activation) {
      case nnserve::v1::ACTIVATION_RELU: current_ = Node("Relu", scope, {current_}); break;
      case nnserve::v1::ACTIVATION_SIGMOID: current_ = Node("Sigmoid", scope, {current_}); break;
      case nnserve::v1::ACTIVATION_TANH: current_ = Node("Tanh", scope, {current_}); break;
      case nnserve::v1::ACTIVATION_SOFTMAX:
        current_ = Node("Softmax", scope, {current_});
        IntAttr("axis", -1);
        break;
      default: break;
    }
  }

  void ToNchw(const std::string& scope) {
    if (layout_ == Layout::kRows) {
      current_ = Node("Unsqueeze", scope, {current_, Ints(scope + "/channel_axis", {1})});
      layout_ = Layout::kNchw;
    }
  }

  // Keras 'same' pads {top, left, bottom, right} for a window on `shape`.
  static std::vector<int64_t> Pads(bool same, const std::vector<int64_t>& shape,
                                   int64_t kh, int64_t kw, int64_t sh, int64_t sw) {
    if (!same) return {0, 0, 0, 0};
    const auto pad = [](int64_t size, int64_t k, int64_t s) {
      const int64_t out = (size + s - 1) / s;
      return std::max<int64_t>((out - 1) * s + k - size, 0);
    };
    const int64_t ph = pad(shape[0], kh, sh), pw = pad(shape[1], kw, sw);
    return {ph / 2, pw / 2, ph - ph / 2, pw - pw / 2};
  }

  absl::Status Layer(const LayerSpec& layer, const std::vector<int64_t>& in) {
    const std::string& s = layer.name();
    switch (layer.kind_case()) {
      case LayerSpec::kDense: {
        const int64_t units = layer.dense().units();
        current_ = Node("Gemm", s, {current_,
                                    Initializer(s + "/kernel", {in[0], units}, Values(s, "kernel")),
                                    Initializer(s + "/bias", {units}, Values(s, "bias"))});
        Activation(layer.dense().activation(), s);
        layout_ = Layout::kFeatures;
        return absl::OkStatus();
      }
      case LayerSpec::kConv2D: {
        const nnserve::v1::Conv2DLayer& c = layer.conv2d();
        const int64_t kh = c.kernel_height(), kw = c.kernel_width(), f = c.filters();
        const int64_t channels = in.size() == 3 ? in[2] : 1;
        const int64_t sh = c.stride_height() ? c.stride_height() : 1;
        const int64_t sw = c.stride_width() ? c.stride_width() : 1;
        // Keras kernel {kh, kw, C, F} -> ONNX W [F, C, kh, kw].
        const std::vector<float> k = Values(s, "kernel");
        std::vector<float> w(k.size());
        for (int64_t o = 0; o < f; ++o)
          for (int64_t ch = 0; ch < channels; ++ch)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j)
                w[((o * channels + ch) * kh + i) * kw + j] = k[((i * kw + j) * channels + ch) * f + o];
        ToNchw(s);
        current_ = Node("Conv", s, {current_, Initializer(s + "/kernel", {f, channels, kh, kw}, w),
                                    Initializer(s + "/bias", {f}, Values(s, "bias"))});
        IntsAttr("kernel_shape", {kh, kw});
        IntsAttr("strides", {sh, sw});
        IntsAttr("pads", Pads(c.padding() == nnserve::v1::PADDING_SAME, in, kh, kw, sh, sw));
        Activation(c.activation(), s);
        return absl::OkStatus();
      }
      case LayerSpec::kMaxPooling2D: {
        const nnserve::v1::MaxPooling2DLayer& p = layer.max_pooling2d();
        const int64_t kh = p.pool_height(), kw = p.pool_width();
        const int64_t sh = p.stride_height() ? p.stride_height() : kh;
        const int64_t sw = p.stride_width() ? p.stride_width() : kw;
        ToNchw(s);
        current_ = Node("MaxPool", s, {current_});
        IntsAttr("kernel_shape", {kh, kw});
        IntsAttr("strides", {sh, sw});
        IntsAttr("pads", Pads(p.padding() == nnserve::v1::PADDING_SAME, in, kh, kw, sh, sw));
        return absl::OkStatus();
      }
      case LayerSpec::kFlatten:
        if (layout_ == Layout::kNchw) {
          current_ = Node("Transpose", s, {current_});
          IntsAttr("perm", {0, 2, 3, 1});
        }
        current_ = Node("Flatten", s, {current_});
        IntAttr("axis", 1);
        layout_ = Layout::kFeatures;
        return absl::OkStatus();
      case LayerSpec::kSimpleRnn: {
        const int64_t units = layer.simple_rnn().units(), features = in[1];
        const std::vector<float> k = Values(s, "kernel");          // {F, H}
        const std::vector<float> r = Values(s, "recurrent_kernel");  // {H, H}
        std::vector<float> w(k.size()), rr(r.size()), b(2 * units, 0.0f);
        for (int64_t j = 0; j < units; ++j) {
          for (int64_t x = 0; x < features; ++x) w[j * features + x] = k[x * units + j];
          for (int64_t i = 0; i < units; ++i) rr[j * units + i] = r[i * units + j];
        }
        const std::vector<float> bias = Values(s, "bias");
        std::copy(bias.begin(), bias.end(), b.begin());
        current_ = Node("Transpose", s, {current_});
        IntsAttr("perm", {1, 0, 2});
        const std::string y = Node("RNN", s, {current_,
                                              Initializer(s + "/W", {1, units, features}, w),
                                              Initializer(s + "/R", {1, units, units}, rr),
                                              Initializer(s + "/B", {1, 2 * units}, b)},
                                   "", 2);
        IntAttr("hidden_size", units);
        if (layer.simple_rnn().return_sequences()) {
          current_ = Node("Squeeze", s, {y, Ints(s + "/direction_axis", {1})});
          current_ = Node("Transpose", s, {current_});
          IntsAttr("perm", {1, 0, 2});
          layout_ = Layout::kRows;
        } else {
          current_ = Node("Squeeze", s, {y + "_1", Ints(s + "/direction_axis", {0})});
          layout_ = Layout::kFeatures;
        }
        return absl::OkStatus();
      }
      case LayerSpec::kDropout: {
        TensorProto* ratio = graph_->add_initializer();
        ratio->set_name(s + "/ratio");
        ratio->set_data_type(TensorProto::FLOAT);
        ratio->add_float_data(layer.dropout().rate());
        current_ = Node("Dropout", s, {current_, s + "/ratio"});
        return absl::OkStatus();
      }
      case LayerSpec::kBatchNormalization: {
        const nnserve::v1::BatchNormalizationLayer& bn = layer.batch_normalization();
        const bool transpose = layout_ == Layout::kRows;
        if (transpose) {
          current_ = Node("Transpose", s, {current_});
          IntsAttr("perm", {0, 2, 1});
        }
        const int64_t features = in.back();
        current_ = Node("BatchNormalization", s,
                        {current_, Initializer(s + "/gamma", {features}, Values(s, "gamma")),
                         Initializer(s + "/beta", {features}, Values(s, "beta")),
                         Initializer(s + "/moving_mean", {features}, Values(s, "moving_mean")),
                         Initializer(s + "/moving_variance", {features},
                                     Values(s, "moving_variance"))});
        FloatAttr("epsilon", bn.epsilon() > 0 ? bn.epsilon() : 0.001f);
        FloatAttr("momentum", bn.momentum() > 0 ? bn.momentum() : 0.99f);
        if (transpose) {
          current_ = Node("Transpose", s, {current_});
          IntsAttr("perm", {0, 2, 1});
        }
        return absl::OkStatus();
      }
      case LayerSpec::kActivation:
        Activation(layer.activation().activation(), s);
        return absl::OkStatus();
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("layer ", s, " has a kind ONNX export does not know"));
    }
  }

  const Model& model_;
  onnx::GraphProto* graph_;
  absl::flat_hash_map<std::string, nnserve::v1::Parameter> parameters_;
  NodeProto* last_ = nullptr;
  std::string current_ = "input";
  Layout layout_ = Layout::kRows;
};

void TensorInfo(onnx::ValueInfoProto* info, const std::string& name,
                std::vector<int64_t> dims) {
  info->set_name(name);
  onnx::TypeProto_Tensor* t = info->mutable_type()->mutable_tensor_type();
  t->set_elem_type(TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

}  // namespace

absl::StatusOr<std::string> ExportOnnx(const nnserve::v1::SavedModel& saved) {
  ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::FromSavedModel(saved));
  onnx::ModelProto proto;
  proto.set_ir_version(7);
  proto.set_producer_name("nnserve");
  proto.set_producer_version(saved.producer());
  onnx::OperatorSetIdProto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kExportOnnxOpset);
  onnx::GraphProto* graph = proto.mutable_graph();
  graph->set_name(model->spec().name().empty() ? "nnserve_model" : model->spec().name());
  TensorInfo(graph->add_input(), "input", {model->input_height(), model->input_width()});
  TensorInfo(graph->add_output(), "probabilities", {model->num_classes()});
  const std::vector<std::string> labels = model->labels();
  for (size_t i = 0; i < labels.size(); ++i) {
    onnx::StringStringEntryProto* entry = proto.add_metadata_props();
    entry->set_key(absl::StrCat("label_", i));
    entry->set_value(labels[i]);
  }
  Exporter exporter(*model, graph);
  RETURN_IF_ERROR(exporter.Run());
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("exported ONNX model fails onnx.checker: ", e.what()));
  }
  return proto.SerializeAsString();
}

}  // namespace nn
