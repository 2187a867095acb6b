#include "engine/threading.h"

#include <omp.h>

#include <algorithm>

namespace nn {

void SetThreadOneDnnThreads(int threads) {
  omp_set_num_threads(std::max(threads, 1));
}

int ThreadOneDnnThreads() { return omp_get_max_threads(); }

}  // namespace nn
