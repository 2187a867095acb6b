#include "common/file.h"

#include <dirent.h>
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

TEST(WriteFileAtomicallyTest, ReplacesTheFileAndLeavesNoTemporary) {
  const std::string dir = Scratch("atomic");
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/model.onnx";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::string("se\0cond", 7)).ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, std::string("se\0cond", 7));
  int entries = 0;
  DIR* d = ::opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* e = ::readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") {
      ++entries;
      EXPECT_EQ(std::string(e->d_name), "model.onnx");
    }
  }
  ::closedir(d);
  EXPECT_EQ(entries, 1);
}

TEST(WriteFileAtomicallyTest, AMissingDirectoryNamesTheTemporaryFile) {
  absl::Status written =
      WriteFileAtomically(Scratch("no-such-dir") + "/x.onnx", "bytes");
  EXPECT_EQ(written.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(written.message()), HasSubstr("cannot create"));
  EXPECT_THAT(std::string(written.message()), HasSubstr(".x.onnx."));
}

}  // namespace
}  // namespace nn
