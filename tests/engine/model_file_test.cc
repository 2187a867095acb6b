#include "engine/model_file.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/engine/golden_model.h"
#include "tests/engine/reference.h"
#include "tests/engine/test_util.h"
#include "tests/support/numerical_contract.h"

namespace nn {
namespace {

using ::nn::testing::MnistTestImages;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/nnserve_model_file_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (const std::string& name : Files()) {
      std::remove((dir_ + "/" + name).c_str());
    }
    ::rmdir(dir_.c_str());
  }

  // Names in the test directory, including hidden ones.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir(dir_.c_str())) {
      while (const dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(name);
      }
      ::closedir(dir);
    }
    return names;
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  static std::string ReadBytes(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    return bytes.str();
  }
  static void WriteBytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  static nnserve::v1::SavedModel CnnSavedModel() {
    nnserve::v1::SavedModel saved =
        ::nn::testing::TutorialModel("mnist_cnn", 3)->ToSavedModel();
    saved.set_producer("model_file_test");
    saved.add_history()->set_dataset("mnist");
    return saved;
  }

  // Loads `bytes` written as a file: the status of LoadModel.
  absl::Status LoadBytes(const std::string& bytes) {
    const std::string path = Path("damaged.nnm");
    WriteBytes(path, bytes);
    return LoadModel(path).status();
  }

  // A file around `payload` built by hand from the documented layout, with
  // its own bitwise CRC-32 (IEEE), independent of the engine's writer.
  static std::string Frame(const std::string& payload, uint32_t version) {
    uint32_t crc = 0xffffffffu;
    for (unsigned char c : payload) {
      crc ^= c;
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    crc = ~crc;
    std::string file = "NNSMODEL";
    auto append = [&file](uint64_t value, int bytes) {
      for (int i = 0; i < bytes; ++i) {
        file.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
      }
    };
    append(version, 4);
    append(payload.size(), 8);
    append(crc, 4);
    return file + payload;
  }

  std::string dir_;
};

std::vector<float> Predict(const Model& model, const std::vector<float>& images,
                           int64_t n) {
  std::vector<float> output(static_cast<size_t>(n * model.num_classes()));
  absl::Status status =
      model.NewInferenceContext()->Run(images, n, absl::MakeSpan(output));
  EXPECT_TRUE(status.ok()) << status;
  return output;
}

TEST_F(ModelFileTest, SaveLoadRoundTripGivesIdenticalMessageAndOutputs) {
  const nnserve::v1::SavedModel saved = CnnSavedModel();
  ASSERT_TRUE(WriteModelFile(Path("model.nnm"), saved).ok());
  absl::StatusOr<std::shared_ptr<const Model>> loaded =
      LoadModel(Path("model.nnm"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      (*loaded)->ToSavedModel(), saved));
  EXPECT_EQ((*loaded)->history()[0].dataset(), "mnist");

  absl::StatusOr<std::shared_ptr<const Model>> original =
      Model::FromSavedModel(saved);
  ASSERT_TRUE(original.ok());
  const std::vector<float> images = MnistTestImages(16);
  EXPECT_EQ(Predict(**loaded, images, 16), Predict(**original, images, 16));
}

TEST_F(ModelFileTest, WriteLeavesNoTemporaryFileAndReplacesTheOldFile) {
  nnserve::v1::SavedModel saved = CnnSavedModel();
  ASSERT_TRUE(WriteModelFile(Path("model.nnm"), saved).ok());
  saved.set_producer("second");
  ASSERT_TRUE(WriteModelFile(Path("model.nnm"), saved).ok());
  EXPECT_THAT(Files(), ElementsAre("model.nnm"));
  absl::StatusOr<nnserve::v1::SavedModel> read = ReadModelFile(Path("model.nnm"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->producer(), "second");
}

TEST_F(ModelFileTest, TemporaryNamesAreRecognisable) {
  EXPECT_TRUE(IsTemporaryModelFileName(".model.nnm.123.0.tmp"));
  EXPECT_TRUE(IsTemporaryModelFileName("x.tmp"));
  EXPECT_TRUE(IsTemporaryModelFileName(".hidden"));
  EXPECT_FALSE(IsTemporaryModelFileName("model.nnm"));
}

TEST_F(ModelFileTest, WriteRefusesAnUnknownFormatVersion) {
  nnserve::v1::SavedModel saved = CnnSavedModel();
  saved.set_format_version(0);
  absl::Status status = WriteModelFile(Path("model.nnm"), saved);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Files(), ::testing::IsEmpty());
}

TEST_F(ModelFileTest, WriteIntoAMissingDirectoryIsNotFound) {
  EXPECT_EQ(WriteModelFile(Path("no/such/dir/model.nnm"), CnnSavedModel())
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelFileTest, MissingFileIsNotFound) {
  absl::Status status = LoadModel(Path("absent.nnm")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("absent.nnm"));
}

TEST_F(ModelFileTest, TruncatedFilesAreDataLoss) {
  const std::string bytes = *SerializeModelFile(CnnSavedModel());
  for (size_t size : {size_t{12}, kModelFileHeaderBytes,
                      kModelFileHeaderBytes + 100, bytes.size() - 1}) {
    absl::Status status = LoadBytes(bytes.substr(0, size));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << size;
    EXPECT_THAT(status.message(), HasSubstr("truncated")) << size;
  }
  EXPECT_EQ(LoadBytes("NNSM").code(), absl::StatusCode::kDataLoss);
}

TEST_F(ModelFileTest, TrailingBytesAreDataLoss) {
  absl::Status status = LoadBytes(*SerializeModelFile(CnnSavedModel()) + "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("1 bytes after the declared payload"));
}

TEST_F(ModelFileTest, BitFlipsInThePayloadAreDataLoss) {
  const std::string bytes = *SerializeModelFile(CnnSavedModel());
  for (size_t offset : {kModelFileHeaderBytes, bytes.size() / 2,
                        bytes.size() - 1}) {
    std::string damaged = bytes;
    damaged[offset] ^= 0x10;
    absl::Status status = LoadBytes(damaged);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << offset;
    EXPECT_THAT(status.message(), HasSubstr("checksum mismatch")) << offset;
  }
}

TEST_F(ModelFileTest, WrongMagicIsInvalidArgument) {
  std::string bytes = *SerializeModelFile(CnnSavedModel());
  bytes[0] = 'X';
  absl::Status status = LoadBytes(bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("bad magic"));
  EXPECT_EQ(LoadBytes("").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(LoadBytes("{\"json\": true}").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelFileTest, WrongVersionIsInvalidArgument) {
  std::string bytes = *SerializeModelFile(CnnSavedModel());
  bytes[8] = 2;
  absl::Status status = LoadBytes(bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("unsupported model file format version 2"));
}

TEST_F(ModelFileTest, HeaderIsLaidOutAsDocumented) {
  const nnserve::v1::SavedModel saved = CnnSavedModel();
  EXPECT_EQ(*SerializeModelFile(saved), Frame(saved.SerializeAsString(), 1));
}

TEST_F(ModelFileTest, PayloadVersionMustMatchTheHeader) {
  nnserve::v1::SavedModel saved = CnnSavedModel();
  saved.set_format_version(7);
  absl::Status status = LoadBytes(Frame(saved.SerializeAsString(), 1));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("format_version 7 disagrees with the header's 1"));
  EXPECT_THAT(Model::FromSavedModel(saved).status().message(),
              HasSubstr("unsupported SavedModel format_version 7"));
}

TEST_F(ModelFileTest, GarbagePayloadWithValidChecksumIsDataLoss) {
  const std::string garbage = "\xff\xff\xff\xff garbage";
  absl::Status status = LoadBytes(Frame(garbage, 1));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("not a valid SavedModel"));
}

// A well-framed file whose contents disagree with its spec.
class InconsistentModelTest : public ModelFileTest {
 protected:
  absl::Status LoadModified(
      const std::function<void(nnserve::v1::SavedModel&)>& modify) {
    nnserve::v1::SavedModel saved = CnnSavedModel();
    modify(saved);
    EXPECT_TRUE(WriteModelFile(Path("model.nnm"), saved).ok());
    return LoadModel(Path("model.nnm")).status();
  }
};

TEST_F(InconsistentModelTest, WrongParameterShapeNamesTheLayer) {
  absl::Status status = LoadModified([](nnserve::v1::SavedModel& saved) {
    // dense/kernel {1600, 64} declared as {64, 1600}.
    nnserve::v1::Parameter* kernel = saved.mutable_parameters(4);
    ASSERT_EQ(kernel->name(), "dense/kernel");
    kernel->set_shape(0, 64);
    kernel->set_shape(1, 1600);
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("layer 5 \"dense\" (Dense)"),
                    HasSubstr("\"dense/kernel\" has shape {64,1600}"),
                    HasSubstr("{1600,64}")));
}

TEST_F(InconsistentModelTest, TooFewValuesNamesTheParameter) {
  absl::Status status = LoadModified([](nnserve::v1::SavedModel& saved) {
    saved.mutable_parameters(1)->mutable_values()->RemoveLast();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("\"conv2d/bias\" has 31 values"),
                                      HasSubstr("needs 32")));
}

TEST_F(InconsistentModelTest, NaNAndInfinityAreRejected) {
  absl::Status nan = LoadModified([](nnserve::v1::SavedModel& saved) {
    saved.mutable_parameters(2)->set_values(5, std::nanf(""));
  });
  EXPECT_EQ(nan.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nan.message(), AllOf(HasSubstr("conv2d_1/kernel"),
                                   HasSubstr("value 5 is NaN")));
  absl::Status inf = LoadModified([](nnserve::v1::SavedModel& saved) {
    saved.mutable_parameters(6)->set_values(0, INFINITY);
  });
  EXPECT_THAT(inf.message(), HasSubstr("dense_1/kernel\" value 0 is infinite"));
}

TEST_F(InconsistentModelTest, MissingUnknownAndRepeatedParametersAreRejected) {
  absl::Status missing = LoadModified([](nnserve::v1::SavedModel& saved) {
    saved.mutable_parameters()->RemoveLast();
  });
  EXPECT_THAT(missing.message(),
              HasSubstr("layer 6 \"dense_1\" (Dense): parameter "
                        "\"dense_1/bias\" is missing"));
  absl::Status unknown = LoadModified([](nnserve::v1::SavedModel& saved) {
    saved.mutable_parameters(0)->set_name("conv9/kernel");
  });
  EXPECT_THAT(unknown.message(),
              HasSubstr("\"conv9/kernel\" does not belong to any layer"));
  absl::Status repeated = LoadModified([](nnserve::v1::SavedModel& saved) {
    *saved.add_parameters() = saved.parameters(0);
  });
  EXPECT_THAT(repeated.message(), HasSubstr("\"conv2d/kernel\" appears twice"));
}

TEST_F(InconsistentModelTest, InvalidSpecInAFileIsInvalidArgument) {
  absl::Status status = LoadModified([](nnserve::v1::SavedModel& saved) {
    saved.mutable_spec()->mutable_layers()->DeleteSubrange(4, 1);  // Flatten
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("model.nnm: "),
                                      HasSubstr("\"dense\" (Dense)"),
                                      HasSubstr("Flatten")));
}

TEST_F(InconsistentModelTest, NegativeVarianceIsRejected) {
  nnserve::v1::SavedModel saved;
  saved.set_format_version(kSavedModelFormatVersion);
  *saved.mutable_spec() = ::nn::testing::ParseSpec(R"pb(
    layers { flatten {} } layers { batch_normalization {} }
    layers { dense { units: 2 activation: ACTIVATION_SOFTMAX } })pb");
  *saved.mutable_parameters() =
      (*Model::Create(saved.spec(), 1))->ToSavedModel().parameters();
  saved.mutable_parameters(3)->set_values(7, -0.5f);
  absl::Status status = Model::FromSavedModel(saved).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("\"batch_normalization/moving_variance\" value 7 is a "
                        "negative variance"));
}

// The golden file, written once by make_golden_model: every later version of
// the engine must keep loading it with the same results.
TEST(GoldenModelFileTest, StillLoadsWithItsKnownOutputs) {
  absl::StatusOr<std::shared_ptr<const Model>> model =
      LoadModel(::nn::testing::kGoldenModelPath);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->spec().name(), "golden_mlp");
  EXPECT_THAT((*model)->labels(), ElementsAre("cat", "dog", "bird"));
  ASSERT_EQ((*model)->history().size(), 1);
  EXPECT_EQ((*model)->history()[0].epochs(0).accuracy(), 0.75f);
  const nnserve::v1::SavedModel saved = (*model)->ToSavedModel();
  EXPECT_EQ(saved.producer(), "make_golden_model");
  ASSERT_EQ(saved.parameters_size(), 4);
  for (int id = 0; id < 4; ++id) {
    for (int i = 0; i < saved.parameters(id).values_size(); ++i) {
      ASSERT_EQ(saved.parameters(id).values(i),
                ::nn::testing::GoldenParameterValue(id, i))
          << saved.parameters(id).name() << " " << i;
    }
  }
  const std::vector<float> output =
      Predict(**model, ::nn::testing::GoldenInput(), 2);
  // Printed by make_golden_model when the file was made, on another CPU:
  // close, not bit-identical (the numerical contract, engine/model.h).
  const float expected[] = {0.400671124f, 0.325570643f, 0.273758113f,
                            0.420882702f, 0.31737417f,  0.261743039f};
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(output[i], expected[i], ::nn::testing::kRunToRunTolerance) << i;
  }
}

}  // namespace
}  // namespace nn
