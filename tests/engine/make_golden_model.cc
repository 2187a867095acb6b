// Writes tests/testdata/golden_mlp_v1.nnm (run once from the repository root
// when the golden file is made; never again for the same format version) and
// prints the probabilities that model_file_test expects for GoldenInput().
//
//   build-engine/bin/make_golden_model [OUTPUT]
#include <cstdio>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/model_file.h"
#include "google/protobuf/text_format.h"
#include "tests/engine/golden_model.h"

int main(int argc, char** argv) {
  using namespace nn;  // NOLINT(build/namespaces)
  const std::string path = argc > 1 ? argv[1] : testing::kGoldenModelPath;
  nnserve::v1::SavedModel saved;
  saved.set_format_version(kSavedModelFormatVersion);
  if (!google::protobuf::TextFormat::ParseFromString(testing::kGoldenSpec,
                                                     saved.mutable_spec())) {
    std::fprintf(stderr, "bad golden spec\n");
    return 1;
  }
  absl::StatusOr<std::shared_ptr<const Model>> initial =
      Model::Create(saved.spec(), 1);
  if (!initial.ok()) {
    std::fprintf(stderr, "%s\n", initial.status().ToString().c_str());
    return 1;
  }
  *saved.mutable_parameters() = (*initial)->ToSavedModel().parameters();
  for (int id = 0; id < saved.parameters_size(); ++id) {
    auto* values = saved.mutable_parameters(id)->mutable_values();
    for (int i = 0; i < values->size(); ++i) {
      values->Set(i, testing::GoldenParameterValue(id, i));
    }
  }
  nnserve::v1::TrainingHistory* history = saved.add_history();
  history->set_dataset("golden");
  history->set_train_examples(2);
  history->mutable_config()->set_epochs(1);
  nnserve::v1::EpochRecord* epoch = history->add_epochs();
  epoch->set_epoch(1);
  epoch->set_loss(0.5f);
  epoch->set_accuracy(0.75f);
  saved.set_created_unix_seconds(1764345600);  // fixed, for a stable file
  saved.set_producer("make_golden_model");

  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::FromSavedModel(saved);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  const std::vector<float> input = testing::GoldenInput();
  std::vector<float> output(6);
  absl::Status status =
      (*model)->NewInferenceContext()->Run(input, 2, absl::MakeSpan(output));
  if (!status.ok() || !(status = WriteModelFile(path, saved)).ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("wrote %s; expected probabilities:\n", path.c_str());
  for (float p : output) std::printf("%.9g\n", p);
  return 0;
}
