#include "engine/data/idx.h"

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(IdxTest, ReadsFashionMnistTrainingSetFromGzip) {
  absl::StatusOr<Dataset> dataset = LoadDataset("data/fashion-mnist");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->name, "fashion-mnist");
  EXPECT_EQ(dataset->train.count, 60000);
  EXPECT_EQ(dataset->train.height, 28);
  EXPECT_EQ(dataset->train.width, 28);
  EXPECT_EQ(dataset->train.pixels.size(), 60000u * 784u);
  EXPECT_EQ(dataset->test.count, 10000);
  // The first labels of the published files.
  EXPECT_THAT(std::vector<int>(dataset->train.labels.begin(),
                               dataset->train.labels.begin() + 10),
              ElementsAre(9, 0, 0, 3, 0, 2, 7, 2, 5, 5));
  EXPECT_THAT(std::vector<int>(dataset->test.labels.begin(),
                               dataset->test.labels.begin() + 5),
              ElementsAre(9, 2, 1, 1, 6));
}

TEST(IdxTest, ReadsRealDigitsWithTheDocumentedSplit) {
  absl::StatusOr<Dataset> dataset = LoadDataset("data/mnist");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->train.count, 7996);
  EXPECT_EQ(dataset->test.count, 2004);
  // Digit order: 800 zeros first (80 % of the 1,001 zeros), 782 nines last.
  EXPECT_EQ(dataset->train.labels[0], 0);
  EXPECT_EQ(dataset->train.labels[799], 0);
  EXPECT_EQ(dataset->train.labels[800], 1);
  EXPECT_EQ(dataset->train.labels[7995], 9);
  EXPECT_EQ(dataset->test.labels[0], 0);
  EXPECT_EQ(dataset->test.labels[200], 0);
  EXPECT_EQ(dataset->test.labels[201], 1);
  EXPECT_EQ(dataset->test.labels[2003], 9);
  // A real digit, not a blank: ink in the first image, full white present.
  int ink = 0;
  for (int i = 0; i < 784; ++i) ink += dataset->train.image(0)[i];
  EXPECT_EQ(ink, 31095);
}

TEST(IdxTest, RoundTripsThroughSerialize) {
  IdxArray array{{2, 3}, {1, 2, 3, 4, 5, 6}};
  absl::StatusOr<IdxArray> parsed = ParseIdx(SerializeIdx(array));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->dims, ElementsAre(2, 3));
  EXPECT_THAT(parsed->data, ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(IdxTest, TruncatedFileIsDataLoss) {
  std::string bytes = SerializeIdx(IdxArray{{2, 3}, {1, 2, 3, 4, 5, 6}});
  bytes.pop_back();
  absl::StatusOr<IdxArray> parsed = ParseIdx(bytes);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("truncated"));
}

TEST(IdxTest, TrailingBytesAreDataLoss) {
  std::string bytes = SerializeIdx(IdxArray{{1}, {7}});
  bytes.push_back('x');
  EXPECT_EQ(ParseIdx(bytes).status().code(), absl::StatusCode::kDataLoss);
}

TEST(IdxTest, WrongMagicIsInvalidArgument) {
  absl::StatusOr<IdxArray> parsed = ParseIdx(std::string("\x01\x00\x08\x01", 4));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("magic"));
}

TEST(IdxTest, NonByteElementTypeIsRejected) {
  // Type 0x0D is float32.
  absl::StatusOr<IdxArray> parsed =
      ParseIdx(std::string("\x00\x00\x0d\x01\x00\x00\x00\x00", 8));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("type"));
}

TEST(IdxTest, HugeDimensionsAreRejectedWithoutAllocating) {
  absl::StatusOr<IdxArray> parsed = ParseIdx(
      std::string("\x00\x00\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                  "\xff\xff",
                  16));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(IdxTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadIdxFile("data/no-such-file").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadDataset("data/no-such-dir").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(IdxTest, KnownDatasetsHaveTenLabels) {
  EXPECT_EQ(DatasetLabels("mnist").size(), 10u);
  EXPECT_EQ(DatasetLabels("fashion-mnist")[9], "Ankle boot");
  EXPECT_TRUE(DatasetLabels("other").empty());
}

// The vectorized conversion gives PixelToUnit's bits for every byte value,
// at every length and alignment around a vector's width (its remainder
// loops), and writes nothing past `count`.
TEST(PixelsToUnitTest, GivesPixelToUnitsBitsForEveryByteLengthAndOffset) {
  std::vector<uint8_t> bytes(256 + 80);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<uint8_t>(i * 7 + 3);  // every value, mixed order
  }
  for (int64_t offset = 0; offset < 4; ++offset) {
    for (int64_t count : {0, 1, 7, 15, 16, 17, 31, 33, 63, 65, 255, 256, 300}) {
      std::vector<float> out(count + 5, -1.0f);
      PixelsToUnit(bytes.data() + offset, count, out.data());
      for (int64_t i = 0; i < count; ++i) {
        const float expected = PixelToUnit(bytes[offset + i]);
        ASSERT_EQ(std::bit_cast<uint32_t>(out[i]),
                  std::bit_cast<uint32_t>(expected))
            << "byte " << int{bytes[offset + i]} << " at " << i << " of "
            << count << ", offset " << offset;
      }
      for (int64_t i = count; i < count + 5; ++i) {
        ASSERT_EQ(out[i], -1.0f) << "wrote past count " << count;
      }
    }
  }
  // And PixelToUnit is byte / 255 correctly rounded: 0 -> 0, 255 -> 1.
  EXPECT_EQ(PixelToUnit(0), 0.0f);
  EXPECT_EQ(PixelToUnit(255), 1.0f);
  EXPECT_EQ(PixelToUnit(51), 0.2f);
}

}  // namespace
}  // namespace nn
