// ONNX import on graphs built here: nnserve's own exports of every layer
// kind imported again (the same outputs), and each refusal of
// engine/onnx/onnx_import.h on a graph edited to show it. No generated files
// or external tools (onnx_pytorch_test covers PyTorch's exports).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model.h"
#include "engine/onnx/onnx_export.h"
#include "engine/onnx/onnx_import.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/engine/test_util.h"
#include "tests/onnx/onnx_test_util.h"
#include "tests/support/numerical_contract.h"

namespace nn {
namespace {

using ::testing::HasSubstr;

std::vector<float> Inputs(const Model& model, int64_t n) {
  if (model.input_height() == 28 && model.input_width() == 28) {
    return testing::MnistTestImages(n);
  }
  return testing::RandomInput(n * model.input_height() * model.input_width(), 3);
}

TEST(OnnxRoundTripTest, EveryLayerKindExportsAndImportsToTheSameOutputs) {
  absl::StatusOr<std::vector<testing::ExportCase>> cases = testing::ExportCases();
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 6u);
  for (const testing::ExportCase& c : *cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::shared_ptr<const Model>> original = Model::FromSavedModel(c.saved);
    ASSERT_TRUE(original.ok()) << original.status();
    absl::StatusOr<std::string> bytes = ExportOnnx(c.saved);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    absl::StatusOr<ImportedModel> imported = ImportOnnx(*bytes);
    ASSERT_TRUE(imported.ok()) << imported.status();
    EXPECT_EQ(imported->output, OnnxOutputKind::kProbabilities);
    EXPECT_FALSE(imported->softmax_appended);
    EXPECT_EQ(imported->opset, kExportOnnxOpset);
    EXPECT_EQ(imported->producer_name, "nnserve");
    absl::StatusOr<std::shared_ptr<const Model>> again =
        Model::FromSavedModel(imported->saved);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ((*again)->total_parameters(), (*original)->total_parameters());
    const std::vector<float> input = Inputs(**original, 64);
    absl::StatusOr<std::vector<float>> want = testing::RunModel(**original, input, 64);
    absl::StatusOr<std::vector<float>> got = testing::RunModel(**again, input, 64);
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_LE(testing::MaxContractError(*got, *want), testing::kRunToRunTolerance);
  }
}

// An exported model, as a ModelProto to edit.
onnx::ModelProto Exported(const std::string& name) {
  absl::StatusOr<std::vector<testing::ExportCase>> cases = testing::ExportCases();
  EXPECT_TRUE(cases.ok()) << cases.status();
  onnx::ModelProto proto;
  if (!cases.ok()) return proto;
  for (const testing::ExportCase& c : *cases) {
    if (c.name != name) continue;
    absl::StatusOr<std::string> bytes = ExportOnnx(c.saved);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    if (bytes.ok()) {
      EXPECT_TRUE(proto.ParseFromString(*bytes));
    }
  }
  return proto;
}

onnx::NodeProto* FindNode(onnx::ModelProto& proto, const std::string& op) {
  for (onnx::NodeProto& node : *proto.mutable_graph()->mutable_node()) {
    if (node.op_type() == op) return &node;
  }
  ADD_FAILURE() << "no " << op;
  return proto.mutable_graph()->add_node();
}

void SetStrings(onnx::NodeProto* node, const std::string& name,
                std::vector<std::string> values, bool single = false) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  if (single) {
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(values[0]);
    return;
  }
  a->set_type(onnx::AttributeProto::STRINGS);
  for (std::string& v : values) a->add_strings(std::move(v));
}

std::string Refusal(const onnx::ModelProto& proto) {
  absl::StatusOr<ImportedModel> imported = ImportOnnx(proto.SerializeAsString());
  if (imported.ok()) return "accepted";
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument)
      << imported.status();
  return std::string(imported.status().message());
}

TEST(OnnxRefusalTest, ReluRnnNamesTheActivation) {
  onnx::ModelProto proto = Exported("mnist_rnn");
  SetStrings(FindNode(proto, "RNN"), "activations", {"Relu"});
  EXPECT_THAT(Refusal(proto), HasSubstr("activation 'Relu' (SimpleRNN runs tanh only)"));
}

TEST(OnnxRefusalTest, NonZeroInitialStateIsRefused) {
  onnx::ModelProto proto = Exported("mnist_rnn");
  onnx::NodeProto* rnn = FindNode(proto, "RNN");
  while (rnn->input_size() < 5) rnn->add_input("");
  rnn->add_input("h0");
  onnx::TensorProto* h0 = proto.mutable_graph()->add_initializer();
  h0->set_name("h0");
  h0->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {1, 1, 64}) h0->add_dims(d);
  for (int i = 0; i < 64; ++i) h0->add_float_data(0.5f);
  EXPECT_THAT(Refusal(proto), HasSubstr("initial_h is not zero"));
}

TEST(OnnxRefusalTest, BranchingGraphIsRefused) {
  onnx::ModelProto proto = Exported("mnist_mlp");
  onnx::NodeProto* flatten = FindNode(proto, "Flatten");
  onnx::NodeProto* extra = proto.mutable_graph()->add_node();
  extra->set_op_type("Relu");
  extra->set_name("side_branch");
  extra->add_input(flatten->output(0));
  extra->add_output("unused");
  EXPECT_THAT(Refusal(proto), HasSubstr("the graph branches"));
}

TEST(OnnxRefusalTest, OperatorAfterTheSoftmaxIsRefused) {
  onnx::ModelProto proto = Exported("mnist_mlp");
  onnx::NodeProto* identity = FindNode(proto, "Identity");
  identity->set_op_type("Relu");
  EXPECT_THAT(Refusal(proto), HasSubstr("follows the final Softmax/LogSoftmax"));
}

TEST(OnnxRefusalTest, DilatedConvolutionIsRefused) {
  onnx::ModelProto proto = Exported("mnist_cnn");
  onnx::AttributeProto* a = FindNode(proto, "Conv")->add_attribute();
  a->set_name("dilations");
  a->set_type(onnx::AttributeProto::INTS);
  a->add_ints(2);
  a->add_ints(2);
  EXPECT_THAT(Refusal(proto), HasSubstr("dilations other than 1"));
}

TEST(OnnxRefusalTest, SecondOutputIsRefused) {
  onnx::ModelProto proto = Exported("mnist_mlp");
  *proto.mutable_graph()->add_output() = proto.graph().input(0);
  EXPECT_THAT(Refusal(proto), HasSubstr("the graph has 2 outputs"));
}

TEST(OnnxRefusalTest, OpsetOutsideElevenToSeventeenIsRefused) {
  onnx::ModelProto proto = Exported("mnist_mlp");
  proto.mutable_opset_import(0)->set_version(18);
  EXPECT_THAT(Refusal(proto), HasSubstr("ONNX opset 18 is not supported"));
}

TEST(OnnxRefusalTest, UnknownInputDimensionIsRefused) {
  onnx::ModelProto proto = Exported("mnist_mlp");
  proto.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()
      ->mutable_shape()->mutable_dim(1)->set_dim_param("H");
  EXPECT_THAT(Refusal(proto), HasSubstr("has shape [N,H,28], which does not fit"));
}

TEST(OnnxRefusalTest, TensorClaimsBeyondItsBytesAreRefusedBeforeAllocation) {
  onnx::ModelProto proto = Exported("mnist_mlp");
  onnx::TensorProto* kernel = proto.mutable_graph()->mutable_initializer(0);
  kernel->clear_dims();
  kernel->add_dims(int64_t{1} << 40);
  kernel->add_dims(int64_t{1} << 40);
  EXPECT_THAT(Refusal(proto), HasSubstr("claims more than 268435456 elements"));
  kernel->clear_dims();
  kernel->add_dims(1 << 14);
  kernel->add_dims(1 << 14);
  EXPECT_THAT(Refusal(proto), HasSubstr("claims 268435456 elements (1073741824 bytes"));
  kernel->clear_raw_data();
  kernel->add_float_data(1.0f);
  EXPECT_THAT(Refusal(proto), HasSubstr("claims 268435456 elements (shape [16384,16384]) "
                                        "but holds 1 in float_data"));
}

TEST(OnnxRefusalTest, BytesThatAreNoModelAreRefused) {
  EXPECT_THAT(std::string(ImportOnnx("").status().message()), HasSubstr("the file is empty"));
  EXPECT_THAT(std::string(ImportOnnx("\xff\xff\xff\xff").status().message()),
              HasSubstr("not an ONNX model"));
  const std::string whole = Exported("mnist_cnn").SerializeAsString();
  for (size_t cut : {size_t{1}, size_t{100}, whole.size() / 3, whole.size() - 1}) {
    absl::StatusOr<ImportedModel> imported = ImportOnnx(whole.substr(0, cut));
    ASSERT_FALSE(imported.ok()) << cut;
    EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument) << cut;
  }
  EXPECT_EQ(ImportOnnxFile("/nonexistent/model.onnx").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(OnnxExportTest, InvalidSavedModelIsRefusedWithTheEnginesMessage) {
  nnserve::v1::SavedModel saved;
  absl::StatusOr<std::string> bytes = ExportOnnx(saved);
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
