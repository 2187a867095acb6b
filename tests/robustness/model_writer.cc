// model_writer: writes model files with the engine's WriteModelFile, for the
// fault tests (tests/robustness/fault_test.cc), which kill it mid-write, run
// it under a file-size limit or on a full file system, and then check what
// is left. Models are the tutorial MLP (models/mnist_mlp.textproto, so run
// it from the repository root) with seeded weights: the same seed gives the
// same parameters, so a file can be checked against the model it should
// hold.
//
//   model_writer write-one PATH SEED [FSIZE_LIMIT_BYTES]
//       Writes one file. With a limit, RLIMIT_FSIZE is set first and SIGXFSZ
//       ignored, so writing past it fails with EFBIG like a full disk.
//       Exit 0 if written, 3 if WriteModelFile failed (its status on stdout).
//   model_writer write-versions REPO MODEL FIRST COUNT
//       Writes REPO/MODEL/<v>/model.nnm for v = FIRST .. FIRST+COUNT-1 with
//       seed v, printing "wrote <v>" after each.
//   model_writer rewrite PATH COUNT
//       Rewrites PATH COUNT times, alternating seeds 1 and 2.
//   model_writer check PATH SEED...
//       Exit 0 if PATH loads (ReadModelFile + Model::FromSavedModel) and its
//       parameters are those of one of the seeds (printed); 4 otherwise.
#include <signal.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "nnserve/v1/model.pb.h"
#include "tests/support/model_fixtures.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: model_writer write-one PATH SEED [FSIZE_LIMIT_BYTES]\n"
               "       model_writer write-versions REPO MODEL FIRST COUNT\n"
               "       model_writer rewrite PATH COUNT\n"
               "       model_writer check PATH SEED...\n");
  return 2;
}

int64_t ToInt(const char* text) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    std::fprintf(stderr, "model_writer: not a number: %s\n", text);
    std::exit(2);
  }
  return value;
}

// The SavedModel of the tutorial MLP with weights from `seed`.
nnserve::v1::SavedModel MakeSaved(int64_t seed) {
  absl::StatusOr<std::shared_ptr<const nn::Model>> model =
      nn::testing::MakeModel("mnist_mlp", static_cast<uint64_t>(seed));
  if (!model.ok()) {
    std::fprintf(stderr, "model_writer: %s\n", model.status().ToString().c_str());
    std::exit(2);
  }
  return (*model)->ToSavedModel();
}

// Spec and parameters only (no timestamps), for comparing contents.
std::string Contents(const nnserve::v1::SavedModel& saved) {
  nnserve::v1::SavedModel contents;
  *contents.mutable_spec() = saved.spec();
  *contents.mutable_parameters() = saved.parameters();
  return contents.SerializeAsString();
}

bool Write(const std::string& path, const nnserve::v1::SavedModel& saved) {
  std::error_code ignored;
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path(), ignored);
  const absl::Status status = nn::WriteModelFile(path, saved);
  std::printf("%s\n", status.ToString().c_str());
  std::fflush(stdout);
  return status.ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string mode = argv[1];
  if (mode == "write-one" && (argc == 4 || argc == 5)) {
    const nnserve::v1::SavedModel saved = MakeSaved(ToInt(argv[3]));
    if (argc == 5) {
      const rlim_t limit = static_cast<rlim_t>(ToInt(argv[4]));
      struct rlimit rl = {limit, limit};
      ::signal(SIGXFSZ, SIG_IGN);
      if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) {
        std::perror("setrlimit");
        return 2;
      }
    }
    return Write(argv[2], saved) ? 0 : 3;
  }
  if (mode == "write-versions" && argc == 6) {
    const std::string repo = argv[2], model = argv[3];
    const int64_t first = ToInt(argv[4]), count = ToInt(argv[5]);
    for (int64_t v = first; v < first + count; ++v) {
      if (!Write(absl::StrCat(repo, "/", model, "/", v, "/model.nnm"),
                 MakeSaved(v))) {
        return 3;
      }
      std::printf("wrote %lld\n", static_cast<long long>(v));
      std::fflush(stdout);
    }
    return 0;
  }
  if (mode == "rewrite" && argc == 4) {
    const nnserve::v1::SavedModel saved[2] = {MakeSaved(1), MakeSaved(2)};
    const int64_t count = ToInt(argv[3]);
    for (int64_t i = 0; i < count; ++i) {
      if (!Write(argv[2], saved[i % 2])) return 3;
    }
    return 0;
  }
  if (mode == "check" && argc >= 4) {
    absl::StatusOr<nnserve::v1::SavedModel> read = nn::ReadModelFile(argv[2]);
    if (!read.ok()) {
      std::printf("unreadable: %s\n", read.status().ToString().c_str());
      return 4;
    }
    const std::string contents = Contents(*read);
    absl::StatusOr<std::shared_ptr<const nn::Model>> model =
        nn::Model::FromSavedModel(*std::move(read));
    if (!model.ok()) {
      std::printf("invalid: %s\n", model.status().ToString().c_str());
      return 4;
    }
    for (int i = 3; i < argc; ++i) {
      if (Contents(MakeSaved(ToInt(argv[i]))) == contents) {
        std::printf("seed %s\n", argv[i]);
        return 0;
      }
    }
    std::printf("loads, but matches none of the seeds\n");
    return 4;
  }
  return Usage();
}
