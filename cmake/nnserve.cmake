# Shared build settings for nnserve's own targets.

# nn_strict(TARGET): warnings as errors on our code (never on generated code).
# NNSERVE_WERROR=OFF keeps the warnings but not the errors: the sanitizer
# and fuzzing builds (scripts/sanitize.sh) use clang, whose warnings differ
# from GCC's, and must not fail on a warning the GCC build does not have.
option(NNSERVE_WERROR "Treat warnings in nnserve's code as errors" ON)
function(nn_strict target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(NNSERVE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false positives inside std::string at -O3 (GCC bug
    # 105329). Clang has no such warning (and would reject the option).
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
endfunction()

# Sanitizer builds (scripts/sanitize.sh), for every target of the tree.
# Flags go through add_compile_options/add_link_options before any target is
# defined, so generated protobuf code and the test binaries get them too.
#   address  AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer):
#            any UB report aborts (-fno-sanitize-recover), so it fails a test.
#   thread   ThreadSanitizer. Debian's libabsl, libgomp (oneDNN's OpenMP) and
#            gRPC are not instrumented: our code uses std::mutex (not
#            absl::Mutex) where threads meet; sanitize.sh preloads
#            tests/robustness/tsan_abseil_annotations.cc for gRPC's
#            absl::Mutex, and tests/tsan.supp lists the rest, each explained.
# Works with GCC 12 and Clang 14 (clang needs libclang-rt-14-dev).
if(NNSERVE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(NNSERVE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT NNSERVE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "NNSERVE_SANITIZE must be address, thread or empty")
endif()

# libFuzzer (scripts/fuzz.sh): coverage instrumentation for the whole tree;
# the <target>_fuzzer binaries (tests/fuzz) link libFuzzer's main. Other
# binaries still link and run normally (the sanitizer runtimes define the
# coverage hooks), so one clang build serves both the ASan test suite and
# the fuzzers: configure with -DNNSERVE_SANITIZE=address -DNNSERVE_FUZZ=ON.
if(NNSERVE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "NNSERVE_FUZZ needs clang: configure with "
                        "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# Test code compiles for build speed (CI builds the tree three times on 2
# cores). A test's own sources are mostly GoogleTest, gMock, gRPC and
# protobuf template instantiations; at -O3 they took about 40 % more compile
# time than at -Og (GCC) / -O0 (clang), for no test speed that matters: the
# code under test (every library, nnserve, nnctl) keeps the build type's
# flags. The test binaries also share one precompiled header of those
# libraries' headers (tests/support: nn_test_pch), which takes about a
# third off each test's remaining compile time.
#   NNSERVE_TEST_OPT  the test sources' optimisation flag (appended after
#                     the build type's, so it wins)
#   NNSERVE_TEST_PCH  OFF: no precompiled header (e.g. for a compiler cache
#                     without pch sloppiness)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(NN_TEST_OPT_DEFAULT -Og)
else()
  set(NN_TEST_OPT_DEFAULT -O0)
endif()
set(NNSERVE_TEST_OPT "${NN_TEST_OPT_DEFAULT}" CACHE STRING
    "Optimisation flag for the tests' own sources")
option(NNSERVE_TEST_PCH "Precompiled header for the test binaries" ON)

# nn_test_code(TARGET): the flags of test code, the same for every test
# binary and for nn_test_pch (a precompiled header is only reused under the
# flags it was built with).
# In sanitizer builds test code also goes without UBSan's pointer-overflow
# check, which RapidJSON 1.1.0 trips (nn_use_rapidjson): so the tests that
# parse JSON share the header too. The code under test keeps the check.
function(nn_test_code target)
  nn_strict(${target})
  target_compile_options(${target} PRIVATE ${NNSERVE_TEST_OPT} -pthread)
  if(NOT NNSERVE_SANITIZE STREQUAL "")
    target_compile_options(${target} PRIVATE -fno-sanitize=pointer-overflow)
  endif()
endfunction()

# nn_test(NAME SOURCES... LIBS ...): a GoogleTest binary registered with CTest.
# Tests run from the source root so they find data/ and models/.
# NO_PCH: compile without the shared precompiled header (for a target whose
# flags must differ from it: clang refuses a header built with other
# sanitizer checks or language options).
function(nn_test name)
  cmake_parse_arguments(ARG "NO_PCH" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  nn_test_code(${name})
  if(NNSERVE_TEST_PCH AND TARGET nn_test_pch AND NOT ARG_NO_PCH)
    target_precompile_headers(${name} REUSE_FROM nn_test_pch)
  endif()
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock
                        GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT "NNSERVE_BIN_DIR=${CMAKE_BINARY_DIR}/bin;NNSERVE_REQUIRE_TEST_TOOLS=1")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# nn_use_rapidjson(TARGET): RapidJSON's headers (Debian's rapidjson-dev
# 1.1.0, header-only) for a target that instantiates its templates.
# RapidJSON 1.1.0's internal::Stack::Reserve computes `stackTop_ + n` while
# the stack is still unallocated (null), on the first push of every parse
# and every writer; UBSan's pointer-overflow check reports it ("applying
# non-zero offset to null pointer", rapidjson/internal/stack.h:117) and the
# sanitizer builds abort on any report. The arithmetic only feeds a
# comparison that is true either way, and upstream rewrote it after 1.1.0 as
# a difference of the two pointers. So in sanitizer builds, that one check
# is off in the targets that instantiate RapidJSON (all of them must: an
# inline template's copies are merged at link time); every other check stays.
function(nn_use_rapidjson target)
  find_package(RapidJSON CONFIG REQUIRED QUIET)
  target_include_directories(${target} SYSTEM PRIVATE ${RAPIDJSON_INCLUDE_DIRS})
  if(NOT NNSERVE_SANITIZE STREQUAL "")
    target_compile_options(${target} PRIVATE -fno-sanitize=pointer-overflow)
  endif()
endfunction()
