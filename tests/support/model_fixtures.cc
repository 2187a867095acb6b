#include "tests/support/model_fixtures.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/text_proto.h"
#include "engine/data/dataset.h"
#include "engine/model_file.h"
#include "tests/support/temp_dir.h"

namespace nn::testing {

absl::StatusOr<nnserve::v1::ModelSpec> LoadTutorialSpec(const std::string& name) {
  const std::string path = absl::StrCat("models/", name, ".textproto");
  nnserve::v1::ModelSpec spec;
  RETURN_IF_ERROR(ReadTextProtoFile(path, &spec));
  return spec;
}

absl::StatusOr<std::shared_ptr<const Model>> MakeModel(
    const std::string& spec_name, uint64_t seed) {
  ASSIGN_OR_RETURN(nnserve::v1::ModelSpec spec, LoadTutorialSpec(spec_name));
  return Model::Create(spec, seed);
}

absl::StatusOr<std::string> PublishModel(const std::string& repo,
                                         const std::string& model_name,
                                         int64_t version, const Model& model) {
  const std::string dir = absl::StrCat(repo, "/", model_name, "/", version);
  MakeDirs(dir);
  const std::string path = absl::StrCat(dir, "/model.nnm");
  RETURN_IF_ERROR(WriteModelFile(path, model.ToSavedModel()));
  return path;
}

absl::StatusOr<TestImages> LoadTestDigits(int64_t count, int64_t offset) {
  ASSIGN_OR_RETURN(Dataset digits, LoadDataset("data/mnist"));
  if (offset + count > digits.test.count) {
    return absl::OutOfRangeError("not that many test digits");
  }
  TestImages images;
  images.count = count;
  const int64_t size = digits.test.image_size();
  images.pixels.assign(digits.test.image(offset),
                       digits.test.image(offset) + count * size);
  images.floats.resize(images.pixels.size());
  PixelsToUnit(images.pixels.data(), images.pixels.size(),
               images.floats.data());
  for (int64_t i = 0; i < count; ++i) {
    images.labels.push_back(digits.test.labels[offset + i]);
  }
  return images;
}

}  // namespace nn::testing
