// Seed corpora for the fuzz targets (fuzz_targets.h), made from real files
// at build/test time: the golden model file, the three tutorial specs, small
// engine-made CNN/RNN/BatchNorm models, real handwritten digits from
// data/mnist as pixels, tensors and PNGs of several formats, and IDX slices
// of the digit files, ONNX exports (nnserve's own of the small models; and
// PyTorch's from $NNSERVE_ONNX_MODELS_DIR when set), and Open Inference
// Protocol requests (REST and gRPC) of those digits (v2_seed_corpus.h). Run
// from the repository root.
#ifndef NNSERVE_TESTS_FUZZ_SEED_CORPUS_H_
#define NNSERVE_TESTS_FUZZ_SEED_CORPUS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nn::fuzz {

// Target name (FuzzTarget::name) -> seed inputs, every one of which the
// target accepts.
absl::StatusOr<std::map<std::string, std::vector<std::string>>>
MakeSeedCorpora();

}  // namespace nn::fuzz

#endif  // NNSERVE_TESTS_FUZZ_SEED_CORPUS_H_
