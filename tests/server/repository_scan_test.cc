// The repository's scan on temporary directories, and the loader registry
// that decides which files are model files and which loader a version uses.
#include "server/repository_scan.h"

#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_loader.h"
#include "tests/support/temp_dir.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;

const std::vector<std::string> kNnm = {"model.nnm"};

// Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the calling thread's
// effective set while it lives (they stay permitted and come back), so that
// chmod 000 makes a directory unreadable to a test running as root.
class WithoutDacOverride {
 public:
  WithoutDacOverride() {
    header_.version = _LINUX_CAPABILITY_VERSION_3;
    header_.pid = 0;
    if (::syscall(SYS_capget, &header_, saved_) != 0) return;
    __user_cap_data_struct lowered[2];
    std::memcpy(lowered, saved_, sizeof(lowered));
    lowered[0].effective &=
        ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    dropped_ = ::syscall(SYS_capset, &header_, lowered) == 0;
  }
  ~WithoutDacOverride() {
    if (dropped_) ::syscall(SYS_capset, &header_, saved_);
  }

 private:
  __user_cap_header_struct header_{};
  __user_cap_data_struct saved_[2]{};
  bool dropped_ = false;
};

TEST(RepositoryScanTest, FindsModelsVersionsAndConfig) {
  testing::TempDir repo;
  testing::WriteFileOrDie(repo.Join("a/1/model.nnm"), "x");
  testing::WriteFileOrDie(repo.Join("a/12/model.nnm"), "yyy");
  testing::WriteFileOrDie(repo.Join("a/config.textproto"), "labels: \"q\"");
  testing::WriteFileOrDie(repo.Join("b-2.x/3/model.nnm"), "z");
  auto disk = ScanRepository(repo.path(), kNnm);
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_TRUE(disk->error.ok());
  EXPECT_THAT(disk->unreadable, IsEmpty());
  ASSERT_THAT(disk->models, ElementsAre(Key("a"), Key("b-2.x")));
  const ModelOnDisk& a = disk->models.at("a");
  ASSERT_THAT(a.versions, ElementsAre(Key(1), Key(12)));
  EXPECT_EQ(a.versions.at(12).dir, repo.Join("a/12"));
  ASSERT_EQ(a.versions.at(12).files.size(), 1u);
  EXPECT_EQ(a.versions.at(12).files[0].name, "model.nnm");
  EXPECT_EQ(a.versions.at(12).files[0].size, 3);
  EXPECT_GT(a.versions.at(12).files[0].mtime_nanos, 0);
  ASSERT_TRUE(a.config_text.has_value());
  EXPECT_EQ(*a.config_text, "labels: \"q\"");
  EXPECT_FALSE(disk->models.at("b-2.x").config_text.has_value());
}

TEST(RepositoryScanTest, IgnoresWhatIsNotAModelOrAVersion) {
  testing::TempDir repo;
  testing::WriteFileOrDie(repo.Join(".hidden/1/model.nnm"), "x");
  testing::WriteFileOrDie(repo.Join("bad name/1/model.nnm"), "x");
  testing::WriteFileOrDie(repo.Join("plainfile"), "x");
  testing::WriteFileOrDie(repo.Join("m/07/model.nnm"), "x");     // not canonical
  testing::WriteFileOrDie(repo.Join("m/0/model.nnm"), "x");      // not positive
  testing::WriteFileOrDie(repo.Join("m/-3/model.nnm"), "x");
  testing::WriteFileOrDie(repo.Join("m/v2/model.nnm"), "x");
  testing::WriteFileOrDie(repo.Join("m/4/.model.nnm.77.0.tmp"), "x");  // half written
  testing::WriteFileOrDie(repo.Join("m/5/notes.txt"), "x");
  testing::MakeDirs(repo.Join("m/6"));                             // reserved, empty
  testing::MakeDirs(repo.Join("m/8/model.nnm"));                   // a directory
  testing::WriteFileOrDie(repo.Join("m/9/model.nnm"), "x");
  auto disk = ScanRepository(repo.path(), kNnm);
  ASSERT_TRUE(disk.ok()) << disk.status();
  ASSERT_THAT(disk->models, ElementsAre(Key("m")));
  EXPECT_THAT(disk->models.at("m").versions, ElementsAre(Key(9)));
}

TEST(RepositoryScanTest, RecordsEveryRegisteredModelFileOfAVersionSorted) {
  testing::TempDir repo;
  testing::WriteFileOrDie(repo.Join("m/1/model.onnx"), "onnx");
  testing::WriteFileOrDie(repo.Join("m/1/model.nnm"), "nnm");
  testing::WriteFileOrDie(repo.Join("m/2/model.onnx"), "onnx");
  auto model = ScanModelDirectory(repo.Join("m"), {"model.onnx", "model.nnm"});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_THAT(model->versions, ElementsAre(Key(1), Key(2)));
  EXPECT_THAT(model->versions.at(1).file_names(),
              ElementsAre("model.nnm", "model.onnx"));
  EXPECT_THAT(model->versions.at(2).file_names(), ElementsAre("model.onnx"));
  // With only model.nnm registered, version 2 has no model file yet.
  auto nnm_only = ScanModelDirectory(repo.Join("m"), kNnm);
  ASSERT_TRUE(nnm_only.ok());
  EXPECT_THAT(nnm_only->versions, ElementsAre(Key(1)));
}

TEST(RepositoryScanTest, AMissingRootIsNotFound) {
  testing::TempDir repo;
  auto disk = ScanRepository(repo.Join("nope"), kNnm);
  EXPECT_EQ(disk.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(disk.status().message()), HasSubstr("nope"));
}

TEST(RepositoryScanTest, AnUnreadableModelDirectoryIsReportedNotFatal) {
  testing::TempDir repo;
  testing::WriteFileOrDie(repo.Join("ok/1/model.nnm"), "x");
  testing::WriteFileOrDie(repo.Join("locked/1/model.nnm"), "x");
  ASSERT_EQ(::chmod(repo.Join("locked").c_str(), 0), 0);
  absl::StatusOr<RepositoryOnDisk> disk;
  {
    WithoutDacOverride unprivileged;
    // stat, not access(): access() checks root with its permitted set.
    struct stat st;
    if (::stat(repo.Join("locked/1").c_str(), &st) == 0) {
      ::chmod(repo.Join("locked").c_str(), 0755);
      GTEST_SKIP() << "permissions are not enforced for this process";
    }
    disk = ScanRepository(repo.path(), kNnm);
  }
  ::chmod(repo.Join("locked").c_str(), 0755);
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_THAT(disk->models, ElementsAre(Key("ok")));
  EXPECT_THAT(disk->unreadable, ElementsAre("locked"));
  EXPECT_EQ(disk->error.code(), absl::StatusCode::kPermissionDenied);
}

TEST(RepositoryScanTest, ListVersionNumbersCountsEmptyVersionDirectories) {
  testing::TempDir repo;
  testing::WriteFileOrDie(repo.Join("m/2/model.nnm"), "x");
  testing::MakeDirs(repo.Join("m/10"));
  testing::MakeDirs(repo.Join("m/010"));
  testing::WriteFileOrDie(repo.Join("m/config.textproto"), "");
  auto versions = ListVersionNumbers(repo.Join("m"));
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_THAT(*versions, ElementsAre(2, 10));
}

TEST(RepositoryScanTest, ModelAndVersionNames) {
  EXPECT_TRUE(IsValidModelName("mnist_mlp-2.v1"));
  EXPECT_FALSE(IsValidModelName(""));
  EXPECT_FALSE(IsValidModelName(".x"));
  EXPECT_FALSE(IsValidModelName("a/b"));
  EXPECT_FALSE(IsValidModelName(std::string(129, 'a')));
  int64_t v = 0;
  EXPECT_TRUE(ParseVersionName("42", &v));
  EXPECT_EQ(v, 42);
  for (const char* bad : {"0", "007", "+3", "-1", "1e3", "", "99999999999999999999"}) {
    EXPECT_FALSE(ParseVersionName(bad, &v)) << bad;
  }
}

// --- The loader registry ------------------------------------------------------

ModelLoader FakeLoader(const std::string& file_name) {
  return ModelLoader{file_name, "fake",
                     [](const std::string&) -> absl::StatusOr<std::shared_ptr<const Model>> {
                       return absl::UnimplementedError("fake");
                     }};
}

TEST(ModelLoaderRegistryTest, TheDefaultRegistryKnowsModelNnmAndModelOnnx) {
  const ModelLoaderRegistry registry = ModelLoaderRegistry::Default();
  EXPECT_THAT(registry.file_names(), ElementsAre("model.nnm", "model.onnx"));
  auto chosen = registry.Choose({"model.nnm"});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ((*chosen)->file_name, "model.nnm");
  EXPECT_EQ((*chosen)->format, "nnserve");
  chosen = registry.Choose({"model.onnx"});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ((*chosen)->format, "onnx");
}

TEST(ModelLoaderRegistryTest, AnotherFormatIsOneMoreLoader) {
  ModelLoaderRegistry registry;
  ASSERT_TRUE(registry.Add(FakeLoader("model.nnm")).ok());
  ASSERT_TRUE(registry.Add(FakeLoader("model.other")).ok());
  EXPECT_THAT(registry.file_names(), ElementsAre("model.nnm", "model.other"));
  auto chosen = registry.Choose({"model.other"});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ((*chosen)->format, "fake");
  EXPECT_EQ((*chosen)->load("x").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ModelLoaderRegistryTest, TwoModelFilesInOneVersionAreRefusedNamingBoth) {
  const ModelLoaderRegistry registry = ModelLoaderRegistry::Default();
  auto chosen = registry.Choose({"model.nnm", "model.onnx"});
  EXPECT_EQ(chosen.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(chosen.status().message()),
              HasSubstr("model.nnm, model.onnx"));
}

TEST(ModelLoaderRegistryTest, NoOrUnknownFileIsNotFound) {
  const ModelLoaderRegistry registry = ModelLoaderRegistry::Default();
  EXPECT_EQ(registry.Choose({}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Choose({"model.pt"}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ModelLoaderRegistryTest, RefusesBadOrDuplicateLoaders) {
  ModelLoaderRegistry registry = ModelLoaderRegistry::Default();
  EXPECT_EQ(registry.Add(FakeLoader("model.nnm")).code(),
            absl::StatusCode::kAlreadyExists);
  for (const char* bad : {"", ".model", "a/model", "model.tmp", "config.textproto"}) {
    EXPECT_EQ(registry.Add(FakeLoader(bad)).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  ModelLoader no_function = FakeLoader("model.x");
  no_function.load = nullptr;
  EXPECT_EQ(registry.Add(no_function).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.file_names(), ElementsAre("model.nnm", "model.onnx"));
}

}  // namespace
}  // namespace nn
