#include "engine/tensor.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

using ::testing::ElementsAre;

TEST(TensorTest, NewTensorIsZeroWithItsShape) {
  Tensor tensor({2, 3});
  EXPECT_THAT(tensor.shape(), ElementsAre(2, 3));
  EXPECT_EQ(tensor.size(), 6);
  EXPECT_THAT(tensor.values(), ::testing::Each(0.0f));
  EXPECT_EQ(ShapeToString(tensor.shape()), "{2,3}");
  EXPECT_EQ(NumElements({}), 1);
}

TEST(TensorTest, FromValuesChecksTheCount) {
  EXPECT_TRUE(Tensor::FromValues({2, 2}, {1, 2, 3, 4}).ok());
  absl::StatusOr<Tensor> bad = Tensor::FromValues({2, 2}, {1, 2, 3});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, SliceBatchViewsSamplesWithoutCopying) {
  Tensor batch = *Tensor::FromValues({3, 2}, {1, 2, 3, 4, 5, 6});
  absl::StatusOr<TensorView> slice = SliceBatch(batch.view(), 1, 2);
  ASSERT_TRUE(slice.ok());
  EXPECT_THAT(slice->shape(), ElementsAre(2, 2));
  EXPECT_EQ(slice->data(), batch.data() + 2);
  EXPECT_THAT(slice->span(), ElementsAre(3, 4, 5, 6));
  EXPECT_EQ(SliceBatch(batch.view(), 3, 0)->size(), 0);
  EXPECT_FALSE(SliceBatch(batch.view(), 2, 2).ok());
  EXPECT_FALSE(SliceBatch(batch.view(), -1, 1).ok());
}

TEST(TensorTest, ConcatBatchJoinsEqualSampleShapes) {
  Tensor a = *Tensor::FromValues({1, 2}, {1, 2});
  Tensor b = *Tensor::FromValues({2, 2}, {3, 4, 5, 6});
  const TensorView parts[] = {a.view(), b.view()};
  absl::StatusOr<Tensor> joined = ConcatBatch(parts);
  ASSERT_TRUE(joined.ok());
  EXPECT_THAT(joined->shape(), ElementsAre(3, 2));
  EXPECT_THAT(joined->values(), ElementsAre(1, 2, 3, 4, 5, 6));
  Tensor c = *Tensor::FromValues({1, 3}, {1, 2, 3});
  const TensorView mismatched[] = {a.view(), c.view()};
  EXPECT_FALSE(ConcatBatch(mismatched).ok());
  EXPECT_FALSE(ConcatBatch({}).ok());
}

}  // namespace
}  // namespace nn
