// Labels from an ONNX model's metadata_props (engine/onnx/onnx_import.h,
// "Labels"): nnserve's export writes "label_<i>" entries and the import reads
// them back; entries that do not form one label per class are ignored as a
// whole, with the reason, and never refuse the model.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model.h"
#include "engine/onnx/onnx_export.h"
#include "engine/onnx/onnx_import.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/engine/test_util.h"

namespace nn {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int kClasses = 10;

std::vector<std::string> Names() {
  std::vector<std::string> names;
  for (int i = 0; i < kClasses; ++i) names.push_back(absl::StrCat("class ", i));
  return names;
}

// The tutorial MLP exported with `labels` in its spec (none if empty).
onnx::ModelProto Exported(const std::vector<std::string>& labels) {
  std::shared_ptr<const Model> model = testing::TutorialModel("mnist_mlp");
  onnx::ModelProto proto;
  if (model == nullptr) {
    ADD_FAILURE() << "no tutorial model";
    return proto;
  }
  nnserve::v1::SavedModel saved = model->ToSavedModel();
  for (const std::string& label : labels) saved.mutable_spec()->add_labels(label);
  absl::StatusOr<std::string> bytes = ExportOnnx(saved);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (bytes.ok()) {
    EXPECT_TRUE(proto.ParseFromString(*bytes));
  }
  return proto;
}

// The metadata entries of `proto` with key `key`.
onnx::StringStringEntryProto* Entry(onnx::ModelProto& proto, const std::string& key) {
  for (onnx::StringStringEntryProto& entry : *proto.mutable_metadata_props()) {
    if (entry.key() == key) return &entry;
  }
  ADD_FAILURE() << "no metadata entry " << key;
  return proto.add_metadata_props();
}

void Add(onnx::ModelProto& proto, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* entry = proto.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

void RemoveEntry(onnx::ModelProto& proto, const std::string& key) {
  auto* entries = proto.mutable_metadata_props();
  for (int i = 0; i < entries->size(); ++i) {
    if (entries->Get(i).key() == key) {
      entries->DeleteSubrange(i, 1);
      return;
    }
  }
  ADD_FAILURE() << "no metadata entry " << key;
}

ImportedModel Import(const onnx::ModelProto& proto) {
  absl::StatusOr<ImportedModel> imported = ImportOnnx(proto.SerializeAsString());
  EXPECT_TRUE(imported.ok()) << imported.status();
  return imported.ok() ? *std::move(imported) : ImportedModel();
}

std::vector<std::string> SpecLabels(const ImportedModel& imported) {
  return {imported.saved.spec().labels().begin(), imported.saved.spec().labels().end()};
}

TEST(OnnxLabelsTest, TheExportsLabelsComeBackWithTheImport) {
  const ImportedModel imported = Import(Exported(Names()));
  EXPECT_THAT(SpecLabels(imported), ElementsAreArray(Names()));
  EXPECT_THAT(imported.labels_ignored, IsEmpty());
  auto model = Model::FromSavedModel(imported.saved);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT((*model)->labels(), ElementsAreArray(Names()));
}

TEST(OnnxLabelsTest, OrderOfEntriesAndOtherKeysDoNotMatter) {
  onnx::ModelProto proto = Exported(Names());
  // Reversed, with unrelated keys (some starting "label_") among them.
  auto* entries = proto.mutable_metadata_props();
  std::reverse(entries->begin(), entries->end());
  Add(proto, "label_smoothing", "0.1");
  Add(proto, "label_01", "not class 1");
  Add(proto, "labels", "a,b");
  Add(proto, "author", "someone");
  const ImportedModel imported = Import(proto);
  EXPECT_THAT(SpecLabels(imported), ElementsAreArray(Names()));
  EXPECT_THAT(imported.labels_ignored, IsEmpty());
}

TEST(OnnxLabelsTest, AModelWithoutLabelEntriesHasNoLabelsAndNoComplaint) {
  onnx::ModelProto proto = Exported(Names());
  proto.clear_metadata_props();
  const ImportedModel imported = Import(proto);
  EXPECT_THAT(SpecLabels(imported), IsEmpty());
  EXPECT_THAT(imported.labels_ignored, IsEmpty());
}

struct BadCase {
  const char* what;
  void (*edit)(onnx::ModelProto&);
  const char* reason;
};

const BadCase kBadCases[] = {
    {"gap", [](onnx::ModelProto& p) { RemoveEntry(p, "label_3"); },
     "label_3 is missing (9 label entries for 10 classes)"},
    {"too few", [](onnx::ModelProto& p) { RemoveEntry(p, "label_9"); },
     "label_9 is missing"},
    {"too many", [](onnx::ModelProto& p) { Add(p, "label_10", "eleventh"); },
     "label_10 is beyond the 10 classes (label_0 .. label_9)"},
    {"overlong",
     [](onnx::ModelProto& p) {
       Entry(p, "label_4")->set_value(std::string(kMaxOnnxLabelBytes + 1, 'x'));
     },
     "label_4 is 4097 bytes (at most 4096)"},
    {"not UTF-8", [](onnx::ModelProto& p) { Entry(p, "label_5")->set_value("caf\xe9"); },
     "label_5 is not UTF-8 text"},
    {"a surrogate in UTF-8 form",
     [](onnx::ModelProto& p) { Entry(p, "label_6")->set_value("\xed\xa0\x80"); },
     "label_6 is not UTF-8 text"},
};

TEST(OnnxLabelsTest, MalformedLabelEntriesAreIgnoredAsAWholeWithTheReason) {
  for (const BadCase& c : kBadCases) {
    SCOPED_TRACE(c.what);
    onnx::ModelProto proto = Exported(Names());
    c.edit(proto);
    const ImportedModel imported = Import(proto);  // still imports
    EXPECT_THAT(SpecLabels(imported), IsEmpty());
    EXPECT_THAT(imported.labels_ignored, HasSubstr(c.reason));
    auto model = Model::FromSavedModel(imported.saved);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->labels()[7], "7");  // the class indices serve
  }
}

TEST(OnnxLabelsTest, ADuplicateKeyIsRefusedByOnnxsChecker) {
  // onnx.checker refuses any repeated metadata key, labels or not.
  onnx::ModelProto proto = Exported(Names());
  Add(proto, "label_2", "again");
  absl::StatusOr<ImportedModel> imported = ImportOnnx(proto.SerializeAsString());
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(imported.status().message()),
              HasSubstr("duplicate keys in metadata_props"));
}

TEST(OnnxLabelsTest, ALabelOfTheMaximumLengthAndMultibyteTextAreKept) {
  onnx::ModelProto proto = Exported(Names());
  Entry(proto, "label_0")->set_value(std::string(kMaxOnnxLabelBytes, 'x'));
  Entry(proto, "label_1")->set_value("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");  // é € 😀
  Entry(proto, "label_2")->set_value("");
  const ImportedModel imported = Import(proto);
  ASSERT_EQ(imported.saved.spec().labels_size(), kClasses) << imported.labels_ignored;
  EXPECT_EQ(imported.saved.spec().labels(0).size(), static_cast<size_t>(kMaxOnnxLabelBytes));
  EXPECT_EQ(imported.saved.spec().labels(1), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(imported.saved.spec().labels(2), "");
}

}  // namespace
}  // namespace nn
