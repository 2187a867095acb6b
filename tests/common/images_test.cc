#include "common/images.h"

#include <string>

#include "gtest/gtest.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

TEST(CountImagesTest, CountsWhatEachEncodingClaims) {
  v1::Images images;
  EXPECT_EQ(CountImages(images, 784), 0);  // no encoding
  images.mutable_pixels()->set_data(std::string(3 * 784 + 5, '\0'));
  EXPECT_EQ(CountImages(images, 784), 3);  // whole images only
  EXPECT_EQ(CountImages(images, 0), 0);
  images.mutable_tensor()->add_shape(7);
  images.mutable_tensor()->add_shape(784);
  EXPECT_EQ(CountImages(images, 784), 7);  // the first dimension
  images.mutable_encoded()->add_png("a");
  images.mutable_encoded()->add_png("b");
  EXPECT_EQ(CountImages(images, 784), 2);
}

}  // namespace
}  // namespace nn
