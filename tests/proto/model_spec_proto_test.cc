// The three tutorial specs parse from text format and survive binary and text
// round trips unchanged.
#include <fstream>
#include <sstream>
#include <string>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nnserve/v1/model.pb.h"

namespace nn {
namespace {

using ::google::protobuf::TextFormat;
using ::google::protobuf::util::MessageDifferencer;
using ::nnserve::v1::ModelSpec;

ModelSpec ParseSpecFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  ModelSpec spec;
  EXPECT_TRUE(TextFormat::ParseFromString(text.str(), &spec)) << path;
  return spec;
}

class TutorialSpecTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TutorialSpecTest, RoundTripsThroughBinaryAndText) {
  const ModelSpec spec =
      ParseSpecFile(std::string("models/") + GetParam() + ".textproto");
  EXPECT_EQ(spec.name(), GetParam());
  EXPECT_EQ(spec.input().height(), 28);
  EXPECT_EQ(spec.input().width(), 28);

  ModelSpec from_binary;
  ASSERT_TRUE(from_binary.ParseFromString(spec.SerializeAsString()));
  EXPECT_TRUE(MessageDifferencer::Equals(spec, from_binary));

  std::string text;
  ASSERT_TRUE(TextFormat::PrintToString(spec, &text));
  ModelSpec from_text;
  ASSERT_TRUE(TextFormat::ParseFromString(text, &from_text));
  EXPECT_TRUE(MessageDifferencer::Equals(spec, from_text));
}

INSTANTIATE_TEST_SUITE_P(Models, TutorialSpecTest,
                         ::testing::Values("mnist_mlp", "mnist_cnn",
                                           "mnist_rnn"));

TEST(TutorialSpecTest, MlpHasTheTutorialLayers) {
  const ModelSpec spec = ParseSpecFile("models/mnist_mlp.textproto");
  ASSERT_EQ(spec.layers_size(), 3);
  EXPECT_TRUE(spec.layers(0).has_flatten());
  EXPECT_EQ(spec.layers(1).dense().units(), 128);
  EXPECT_EQ(spec.layers(1).dense().activation(), nnserve::v1::ACTIVATION_RELU);
  EXPECT_EQ(spec.layers(2).dense().units(), 10);
  EXPECT_EQ(spec.layers(2).dense().activation(),
            nnserve::v1::ACTIVATION_SOFTMAX);
}

TEST(TutorialSpecTest, CnnHasTheTutorialLayers) {
  const ModelSpec spec = ParseSpecFile("models/mnist_cnn.textproto");
  ASSERT_EQ(spec.layers_size(), 7);
  EXPECT_EQ(spec.layers(0).conv2d().filters(), 32);
  EXPECT_EQ(spec.layers(0).conv2d().kernel_height(), 3);
  EXPECT_EQ(spec.layers(1).max_pooling2d().pool_height(), 2);
  EXPECT_EQ(spec.layers(2).conv2d().filters(), 64);
  EXPECT_TRUE(spec.layers(4).has_flatten());
  EXPECT_EQ(spec.layers(5).dense().units(), 64);
  EXPECT_EQ(spec.layers(6).dense().units(), 10);
}

TEST(TutorialSpecTest, RnnHasTheTutorialLayers) {
  const ModelSpec spec = ParseSpecFile("models/mnist_rnn.textproto");
  ASSERT_EQ(spec.layers_size(), 3);
  EXPECT_EQ(spec.layers(0).simple_rnn().units(), 64);
  EXPECT_TRUE(spec.layers(0).simple_rnn().return_sequences());
  EXPECT_EQ(spec.layers(1).simple_rnn().units(), 64);
  EXPECT_FALSE(spec.layers(1).simple_rnn().return_sequences());
  EXPECT_EQ(spec.layers(2).dense().units(), 10);
}

TEST(TutorialSpecTest, UnknownFieldInTextIsRejected) {
  ModelSpec spec;
  EXPECT_FALSE(TextFormat::ParseFromString("layers { dense { unitz: 3 } }",
                                           &spec));
}

}  // namespace
}  // namespace nn
