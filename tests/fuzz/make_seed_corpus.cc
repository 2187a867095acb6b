// make_seed_corpus OUT_DIR: writes the seed corpora (seed_corpus.h) as
// OUT_DIR/<target>/seed_<n>, for scripts/fuzz.sh. Run from the repository
// root (it reads data/mnist, models/ and tests/testdata/).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/fuzz/seed_corpus.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus OUT_DIR\n");
    return 2;
  }
  auto corpora = nn::fuzz::MakeSeedCorpora();
  if (!corpora.ok()) {
    std::fprintf(stderr, "make_seed_corpus: %s\n",
                 corpora.status().ToString().c_str());
    return 1;
  }
  for (const auto& [target, seeds] : *corpora) {
    const std::filesystem::path dir = std::filesystem::path(argv[1]) / target;
    std::filesystem::create_directories(dir);
    for (size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream out(dir / ("seed_" + std::to_string(i)), std::ios::binary);
      out.write(seeds[i].data(), static_cast<std::streamsize>(seeds[i].size()));
      if (!out) {
        std::fprintf(stderr, "make_seed_corpus: cannot write %s\n",
                     dir.c_str());
        return 1;
      }
    }
    std::printf("%s: %zu seeds\n", target.c_str(), seeds.size());
  }
  return 0;
}
