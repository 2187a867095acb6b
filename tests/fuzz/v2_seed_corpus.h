// Seeds of the Open Inference Protocol fuzz targets (v2_rest, v2_grpc), made
// from real digits and their PNGs by seed_corpus.cc.
#ifndef NNSERVE_TESTS_FUZZ_V2_SEED_CORPUS_H_
#define NNSERVE_TESTS_FUZZ_V2_SEED_CORPUS_H_

#include <map>
#include <string>
#include <vector>

namespace nn::fuzz {

// `digits`: at least two 784-byte images; `pngs`: at least two 28x28 PNGs.
// Adds every wire form of the V2 mapping to corpora["v2_rest"] and
// corpora["v2_grpc"]; each seed is accepted by its target.
void AddV2Seeds(const std::vector<std::string>& digits,
                const std::vector<std::string>& pngs,
                std::map<std::string, std::vector<std::string>>* corpora);

}  // namespace nn::fuzz

#endif  // NNSERVE_TESTS_FUZZ_V2_SEED_CORPUS_H_
