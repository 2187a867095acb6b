#include "client/image_input.h"

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/data/idx.h"
#include "engine/data/pgm.h"
#include "engine/data/png.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A per-test scratch directory under gtest's temporary directory.
class ImageInputTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    return absl::StrCat(::testing::TempDir(), "image_input_", info->name(),
                        "_", name);
  }
  std::string Write(const std::string& name, const std::string& bytes) const {
    const std::string path = Path(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string WriteGzip(const std::string& name, const std::string& bytes) {
    const std::string path = Path(name);
    gzFile file = gzopen(path.c_str(), "wb");
    gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(file);
    return path;
  }
};

GrayImage Image(int height, int width, uint8_t first) {
  GrayImage image{height, width, {}};
  for (int i = 0; i < height * width; ++i) {
    image.pixels.push_back(static_cast<uint8_t>(first + i));
  }
  return image;
}

// Three 2x2 images with pixels 0.., 10.., 20.. and labels 7, 8, 9.
std::string ImagesIdx() {
  IdxArray images{{3, 2, 2}, {}};
  for (int i = 0; i < 3; ++i) {
    for (int p = 0; p < 4; ++p) images.data.push_back(static_cast<uint8_t>(10 * i + p));
  }
  return SerializeIdx(images);
}
std::string LabelsIdx() { return SerializeIdx(IdxArray{{3}, {7, 8, 9}}); }

TEST_F(ImageInputTest, ReadsPngAndKeepsItsBytes) {
  const std::string png = *EncodePng(Image(28, 28, 0));
  const std::string path = Write("digit.png", png);
  absl::StatusOr<std::vector<InputImage>> images = ReadImageFile(path);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ((*images)[0].source, path);
  EXPECT_EQ((*images)[0].image.pixels, Image(28, 28, 0).pixels);
  EXPECT_EQ((*images)[0].png, png);
  EXPECT_EQ((*images)[0].label, -1);
}

TEST_F(ImageInputTest, ReadsPgmWhateverItsName) {
  const std::string path = Write("digit.png", EncodePgm(Image(3, 2, 5)));
  absl::StatusOr<std::vector<InputImage>> images = ReadImageFile(path);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ((*images)[0].image.height, 3);
  EXPECT_EQ((*images)[0].image.width, 2);
  EXPECT_THAT((*images)[0].image.pixels, ElementsAre(5, 6, 7, 8, 9, 10));
  EXPECT_TRUE((*images)[0].png.empty());
}

TEST_F(ImageInputTest, ReadsIdxWithSiblingLabels) {
  const std::string path = Write("t-images-idx3-ubyte", ImagesIdx());
  Write("t-labels-idx1-ubyte", LabelsIdx());
  absl::StatusOr<std::vector<InputImage>> images = ReadImageFile(path);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 3u);
  EXPECT_EQ((*images)[1].source, path + "[1]");
  EXPECT_THAT((*images)[1].image.pixels, ElementsAre(10, 11, 12, 13));
  EXPECT_EQ((*images)[0].label, 7);
  EXPECT_EQ((*images)[2].label, 9);
}

TEST_F(ImageInputTest, ReadsGzipIdxWithGzipLabelsAndSelects) {
  const std::string path = WriteGzip("t-images-idx3-ubyte.gz", ImagesIdx());
  WriteGzip("t-labels-idx1-ubyte.gz", LabelsIdx());
  absl::StatusOr<std::vector<InputImage>> one = ReadImageFile(path, {2, -1});
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].label, 9);
  absl::StatusOr<std::vector<InputImage>> from_one =
      ReadImageFile(path, {1, 5});
  ASSERT_TRUE(from_one.ok());
  EXPECT_EQ(from_one->size(), 2u);
  absl::StatusOr<std::vector<InputImage>> first_two =
      ReadImageFile(path, {-1, 2});
  ASSERT_TRUE(first_two.ok());
  ASSERT_EQ(first_two->size(), 2u);
  EXPECT_EQ((*first_two)[1].label, 8);
  absl::StatusOr<std::vector<InputImage>> out_of_range =
      ReadImageFile(path, {3, -1});
  EXPECT_EQ(out_of_range.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out_of_range.status().message(), HasSubstr("holds 3 images"));
}

TEST_F(ImageInputTest, IdxWithoutLabelFileHasUnknownLabels) {
  const std::string path = Write("u-images-idx3-ubyte", ImagesIdx());
  absl::StatusOr<std::vector<InputImage>> images = ReadImageFile(path);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ((*images)[0].label, -1);
}

TEST_F(ImageInputTest, LabelFileWithWrongCountIsAnError) {
  const std::string path = Write("v-images-idx3-ubyte", ImagesIdx());
  Write("v-labels-idx1-ubyte", SerializeIdx(IdxArray{{2}, {1, 2}}));
  absl::StatusOr<std::vector<InputImage>> images = ReadImageFile(path);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(images.status().message(), HasSubstr("v-labels-idx1-ubyte"));
}

TEST_F(ImageInputTest, ReadsTheRealTestDigitsWithLabels) {
  absl::StatusOr<std::vector<InputImage>> images =
      ReadImageFile("data/mnist/t10k-images-idx3-ubyte", {200, 2});
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 2u);
  // The split lists each digit's images together: 201 zeros, then ones.
  EXPECT_EQ((*images)[0].label, 0);
  EXPECT_EQ((*images)[1].label, 1);
  EXPECT_EQ((*images)[0].image.height, 28);
}

TEST_F(ImageInputTest, ErrorsNameTheFile) {
  absl::StatusOr<std::vector<InputImage>> missing =
      ReadImageFile(Path("missing.png"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.png"));

  const std::string garbage = Write("garbage.bin", "hello, world");
  EXPECT_EQ(ReadImageFile(garbage).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ReadImageFile(garbage).status().message(),
              HasSubstr("not a PNG, PGM or IDX file"));

  const std::string broken = Write("broken.png", "\x89PNG\r\n\x1a\n broken");
  EXPECT_EQ(ReadImageFile(broken).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ReadImageFile(broken).status().message(),
              HasSubstr("broken.png: invalid PNG"));

  const std::string labels = Write("labels", LabelsIdx());
  EXPECT_THAT(ReadImageFile(labels).status().message(),
              HasSubstr("3 dimensions"));
}

TEST(LabelFileCandidatesTest, FollowsTheMnistNamingPattern) {
  EXPECT_THAT(LabelFileCandidates("d/t10k-images-idx3-ubyte"),
              ElementsAre("d/t10k-labels-idx1-ubyte",
                          "d/t10k-labels-idx1-ubyte.gz"));
  EXPECT_THAT(LabelFileCandidates("train-images-idx3-ubyte.gz"),
              ElementsAre("train-labels-idx1-ubyte.gz",
                          "train-labels-idx1-ubyte"));
  EXPECT_TRUE(LabelFileCandidates("digits.idx").empty());
}

std::vector<InputImage> TwoInputs() {
  std::vector<InputImage> inputs(2);
  inputs[0].source = "a";
  inputs[0].image = Image(2, 2, 0);
  inputs[1].source = "b";
  inputs[1].image = Image(2, 2, 251);
  return inputs;
}

TEST(EncodeImagesTest, FloatIsATensorOfBytesOver255) {
  const std::vector<InputImage> inputs = TwoInputs();
  const std::vector<const InputImage*> batch = {&inputs[0], &inputs[1]};
  absl::StatusOr<v1::Images> images = EncodeImages(batch, ImageEncoding::kFloat);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_TRUE(images->has_tensor());
  EXPECT_THAT(images->tensor().shape(), ElementsAre(2, 2, 2));
  ASSERT_EQ(images->tensor().values_size(), 8);
  EXPECT_EQ(images->tensor().values(1), 1.0f / 255.0f);
  EXPECT_EQ(images->tensor().values(7), 254.0f / 255.0f);
}

TEST(EncodeImagesTest, Uint8ConcatenatesPixels) {
  const std::vector<InputImage> inputs = TwoInputs();
  const std::vector<const InputImage*> batch = {&inputs[0], &inputs[1]};
  absl::StatusOr<v1::Images> images = EncodeImages(batch, ImageEncoding::kUint8);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->pixels().data(),
            std::string("\x00\x01\x02\x03\xfb\xfc\xfd\xfe", 8));
}

TEST(EncodeImagesTest, PngKeepsOriginalFilesAndEncodesTheRest) {
  std::vector<InputImage> inputs = TwoInputs();
  inputs[0].png = "original bytes";
  const std::vector<const InputImage*> batch = {&inputs[0], &inputs[1]};
  absl::StatusOr<v1::Images> images = EncodeImages(batch, ImageEncoding::kPng);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->encoded().png_size(), 2);
  EXPECT_EQ(images->encoded().png(0), "original bytes");
  absl::StatusOr<GrayImage> decoded = DecodePng(images->encoded().png(1));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->pixels, inputs[1].image.pixels);
}

TEST(EncodeImagesTest, RejectsMixedSizesAndEmptyBatches) {
  std::vector<InputImage> inputs = TwoInputs();
  inputs[1].image = Image(3, 2, 0);
  const std::vector<const InputImage*> batch = {&inputs[0], &inputs[1]};
  absl::StatusOr<v1::Images> mixed = EncodeImages(batch, ImageEncoding::kUint8);
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.status().message(), HasSubstr("different sizes"));
  EXPECT_EQ(EncodeImages({}, ImageEncoding::kUint8).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EncodeImagesTest, EncodingNamesRoundTrip) {
  for (ImageEncoding e :
       {ImageEncoding::kFloat, ImageEncoding::kUint8, ImageEncoding::kPng}) {
    EXPECT_EQ(*ParseImageEncoding(ImageEncodingName(e)), e);
  }
  EXPECT_EQ(ParseImageEncoding("jpeg").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
