#include "common/file.h"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

using ::testing::HasSubstr;

std::string Scratch(const std::string& name) {
  return ::testing::TempDir() + "file_test_" + name;
}

TEST(ReadFileTest, ReadsEveryByteOfABinaryFile) {
  const std::string path = Scratch("binary");
  const std::string bytes =
      std::string("a\0b\n\xff", 5) + std::string(100000, 'x');
  std::ofstream(path, std::ios::binary) << bytes;
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);
}

TEST(ReadFileTest, AMissingFileIsNotFoundNamingThePath) {
  absl::StatusOr<std::string> read = ReadFile("no/such/file.png");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(read.status().message(), "no/such/file.png: no such file");
}

TEST(ReadFileTest, ADirectoryIsInvalidArgument) {
  const std::string dir = Scratch("dir");
  ::mkdir(dir.c_str(), 0755);
  absl::StatusOr<std::string> read = ReadFile(dir);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(read.status().message(), dir + ": is a directory");
}

TEST(ReadFileTest, AFileOverTheBoundIsRefused) {
  const std::string path = Scratch("large");
  std::ofstream(path, std::ios::binary) << std::string(1001, 'x');
  EXPECT_TRUE(ReadFile(path, 1001).ok());
  absl::StatusOr<std::string> read = ReadFile(path, 1000);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(read.status().message(), path + ": larger than 1000 bytes");
}

TEST(ReadFileTest, ADeviceWithoutAnEndStopsAtTheBound) {
  absl::StatusOr<std::string> read = ReadFile("/dev/zero", 1 << 20);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(read.status().message()),
              HasSubstr("larger than 1048576 bytes"));
}

}  // namespace
}  // namespace nn
