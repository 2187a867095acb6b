#include "common/text_proto.h"

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nnserve/v1/model.pb.h"

namespace nn {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ParseTextProtoTest, ParsesIntoTheMessage) {
  nnserve::v1::ModelSpec spec;
  spec.set_name("stale");
  ASSERT_TRUE(ParseTextProto("layers { dense { units: 3 } }", &spec).ok());
  EXPECT_EQ(spec.name(), "");  // cleared first
  ASSERT_EQ(spec.layers_size(), 1);
  EXPECT_EQ(spec.layers(0).dense().units(), 3);
}

TEST(ParseTextProtoTest, TheFirstErrorIsNamedWithItsLineAndColumn) {
  nnserve::v1::ModelSpec spec;
  const absl::Status status =
      ParseTextProto("name: \"m\"\nlayers { dense { unitz: 3 } }", &spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith("not a nnserve.v1.ModelSpec in text format: line 2, "
                         "column "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("unitz"));
  EXPECT_THAT(
      std::string(ParseTextProto("layers {", &spec, "ModelSpec").message()),
      StartsWith("not a ModelSpec in text format: line 1"));
}

TEST(ReadTextProtoFileTest, ErrorsNameTheFile) {
  nnserve::v1::ModelSpec spec;
  const absl::Status missing =
      ReadTextProtoFile("models/none.textproto", &spec);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(),
            "cannot open models/none.textproto: no such file");
  const std::string path = ::testing::TempDir() + "text_proto_test.textproto";
  std::ofstream(path) << "layers { what";
  EXPECT_THAT(std::string(ReadTextProtoFile(path, &spec).message()),
              StartsWith(path + ": not a nnserve.v1.ModelSpec in text format: "
                                "line 1"));
}

TEST(ReadTextProtoFileTest, ReadsTheTutorialSpecs) {
  for (const char* name : {"mnist_mlp", "mnist_cnn", "mnist_rnn"}) {
    nnserve::v1::ModelSpec spec;
    const absl::Status read =
        ReadTextProtoFile(std::string("models/") + name + ".textproto", &spec);
    EXPECT_TRUE(read.ok()) << read;
    EXPECT_GT(spec.layers_size(), 1) << name;
  }
}

}  // namespace
}  // namespace nn
