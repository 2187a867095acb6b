// The repository's plan as a pure function: what is on disk + the version
// policy + what is held -> what to load, unload and forget.
#include "server/repository_plan.h"

#include <map>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ModelFileOnDisk File(int64_t size, int64_t mtime = 1) {
  return ModelFileOnDisk{"model.nnm", size, mtime};
}

// Versions on disk, each with one model.nnm of `size` 100 + version.
ModelOnDisk Disk(const std::vector<int64_t>& versions) {
  ModelOnDisk disk;
  for (int64_t v : versions) {
    disk.versions[v].dir = "/repo/m/" + std::to_string(v);
    disk.versions[v].files = {File(100 + v)};
  }
  return disk;
}

nnserve::v1::VersionPolicy Policy(const std::string& text) {
  nnserve::v1::VersionPolicy policy;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &policy))
      << text;
  return policy;
}

HeldVersion Available() { return HeldVersion{HeldVersion::State::kAvailable, {}}; }
HeldVersion Failed(std::vector<ModelFileOnDisk> files) {
  return HeldVersion{HeldVersion::State::kFailed, std::move(files)};
}

TEST(RepositoryPlanTest, NoPolicyLoadsOnlyTheNewestVersion) {
  const VersionPlan plan = PlanVersions(Disk({1, 2, 3}), Policy(""), {});
  EXPECT_THAT(plan.selected, ElementsAre(3));
  EXPECT_THAT(plan.load, ElementsAre(3));
  EXPECT_THAT(plan.unload, IsEmpty());
  EXPECT_THAT(plan.forget, IsEmpty());
}

TEST(RepositoryPlanTest, LatestNLoadsTheNHighestNewestFirst) {
  const VersionPlan plan = PlanVersions(
      Disk({1, 2, 5, 9}), Policy("latest { num_versions: 3 }"), {});
  EXPECT_THAT(plan.selected, ElementsAre(2, 5, 9));
  EXPECT_THAT(plan.load, ElementsAre(9, 5, 2));
}

TEST(RepositoryPlanTest, LatestZeroOrNegativeMeansOne) {
  EXPECT_THAT(PlanVersions(Disk({1, 2}), Policy("latest { num_versions: 0 }"),
                           {}).selected,
              ElementsAre(2));
  EXPECT_THAT(PlanVersions(Disk({1, 2}), Policy("latest { num_versions: -4 }"),
                           {}).selected,
              ElementsAre(2));
}

TEST(RepositoryPlanTest, AllSelectsEveryVersionOnDisk) {
  const VersionPlan plan = PlanVersions(Disk({1, 4, 7}), Policy("all {}"), {});
  EXPECT_THAT(plan.selected, ElementsAre(1, 4, 7));
  EXPECT_THAT(plan.load, ElementsAre(7, 4, 1));
}

TEST(RepositoryPlanTest, SpecificSelectsOnlyListedVersionsThatExist) {
  const VersionPlan plan = PlanVersions(
      Disk({1, 2, 3}), Policy("specific { versions: [1, 3, 8] }"), {});
  EXPECT_THAT(plan.selected, ElementsAre(1, 3));
  EXPECT_THAT(plan.load, ElementsAre(3, 1));
}

TEST(RepositoryPlanTest, AvailableVersionsAreNotLoadedAgain) {
  const VersionPlan plan =
      PlanVersions(Disk({1, 2}), Policy("all {}"), {{1, Available()}});
  EXPECT_THAT(plan.load, ElementsAre(2));
  EXPECT_THAT(plan.unload, IsEmpty());
}

TEST(RepositoryPlanTest, NothingToDoWhenTheSelectedVersionIsAvailable) {
  const VersionPlan plan =
      PlanVersions(Disk({1, 2}), Policy(""), {{2, Available()}});
  EXPECT_EQ(plan, (VersionPlan{{2}, {}, {}, {}}));
}

TEST(RepositoryPlanTest, ANewerVersionReplacesTheAvailableOneOnlyAfterLoading) {
  // The newer one is to load; the old one is unloaded by this plan only
  // because it is no longer selected: the apply step unloads from the plan
  // it makes after loading, when the new version is AVAILABLE.
  const VersionPlan before =
      PlanVersions(Disk({1, 2}), Policy(""), {{1, Available()}});
  EXPECT_THAT(before.load, ElementsAre(2));
  const VersionPlan after = PlanVersions(
      Disk({1, 2}), Policy(""), {{1, Available()}, {2, Available()}});
  EXPECT_THAT(after.load, IsEmpty());
  EXPECT_THAT(after.unload, ElementsAre(1));
}

TEST(RepositoryPlanTest, AFailedVersionWithTheSameFilesMakesTheOlderOneEligible) {
  const ModelOnDisk disk = Disk({1, 2});
  const VersionPlan plan = PlanVersions(
      disk, Policy(""), {{1, Available()}, {2, Failed(disk.versions.at(2).files)}});
  EXPECT_THAT(plan.selected, ElementsAre(1));
  EXPECT_THAT(plan.load, IsEmpty());
  EXPECT_THAT(plan.unload, IsEmpty());
  EXPECT_THAT(plan.forget, IsEmpty());  // still on disk: stays FAILED
}

TEST(RepositoryPlanTest, AFailedVersionIsRetriedWhenItsFileChanges) {
  const VersionPlan size_changed =
      PlanVersions(Disk({1, 2}), Policy(""),
                   {{1, Available()}, {2, Failed({File(5)})}});
  EXPECT_THAT(size_changed.load, ElementsAre(2));
  ModelOnDisk touched = Disk({2});
  const std::vector<ModelFileOnDisk> old_files = {File(102, /*mtime=*/0)};
  EXPECT_THAT(PlanVersions(touched, Policy(""), {{2, Failed(old_files)}}).load,
              ElementsAre(2));
}

TEST(RepositoryPlanTest, AFailedVersionIsRetriedWhenItsSetOfFilesChanges) {
  // It failed holding two model files; one was removed.
  ModelOnDisk disk = Disk({3});
  std::vector<ModelFileOnDisk> both = disk.versions.at(3).files;
  both.push_back(ModelFileOnDisk{"model.onnx", 7, 1});
  EXPECT_THAT(PlanVersions(disk, Policy(""), {{3, Failed(both)}}).load,
              ElementsAre(3));
}

TEST(RepositoryPlanTest, AllVersionsFailedSelectsNothing) {
  const ModelOnDisk disk = Disk({1, 2});
  const VersionPlan plan = PlanVersions(
      disk, Policy(""),
      {{1, Failed(disk.versions.at(1).files)},
       {2, Failed(disk.versions.at(2).files)}});
  EXPECT_EQ(plan, VersionPlan{});
}

TEST(RepositoryPlanTest, AnAvailableVersionGoneFromDiskIsUnloaded) {
  const VersionPlan plan = PlanVersions(
      Disk({2}), Policy("all {}"), {{1, Available()}, {2, Available()}});
  EXPECT_THAT(plan.unload, ElementsAre(1));
  EXPECT_THAT(plan.load, IsEmpty());
}

TEST(RepositoryPlanTest, APolicyThatNoLongerSelectsAVersionUnloadsIt) {
  const VersionPlan plan =
      PlanVersions(Disk({1, 2, 3}), Policy("specific { versions: [2] }"),
                   {{1, Available()}, {3, Available()}});
  EXPECT_THAT(plan.load, ElementsAre(2));
  EXPECT_THAT(plan.unload, ElementsAre(1, 3));
}

TEST(RepositoryPlanTest, AFailedVersionGoneFromDiskIsForgotten) {
  const VersionPlan plan = PlanVersions(
      Disk({1}), Policy(""), {{1, Available()}, {4, Failed({File(1)})}});
  EXPECT_THAT(plan.forget, ElementsAre(4));
  EXPECT_THAT(plan.unload, IsEmpty());
}

TEST(RepositoryPlanTest, AnEmptyModelDirectoryUnloadsEverything) {
  const VersionPlan plan =
      PlanVersions(ModelOnDisk{}, Policy(""), {{1, Available()}});
  EXPECT_THAT(plan.selected, IsEmpty());
  EXPECT_THAT(plan.unload, ElementsAre(1));
}

TEST(RepositoryPlanTest, SelectVersionsOfNoCandidatesIsEmpty) {
  EXPECT_THAT(SelectVersions(Policy("all {}"), {}), IsEmpty());
  EXPECT_THAT(SelectVersions(Policy(""), {}), IsEmpty());
  EXPECT_THAT(SelectVersions(Policy("specific { versions: 1 }"), {}), IsEmpty());
}

}  // namespace
}  // namespace nn
