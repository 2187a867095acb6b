// NN_FUZZ_CHECK(condition): an invariant of an accepted input is broken:
// abort, so the fuzzer keeps the input as a crash (and a replay test fails).
#ifndef NNSERVE_TESTS_FUZZ_FUZZ_CHECK_H_
#define NNSERVE_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define NN_FUZZ_CHECK(condition)                                          \
  do {                                                                    \
    if (!(condition)) {                                                   \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, \
                   __LINE__, #condition);                                 \
      std::abort();                                                       \
    }                                                                     \
  } while (false)

#endif  // NNSERVE_TESTS_FUZZ_FUZZ_CHECK_H_
