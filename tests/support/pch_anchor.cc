// The one source of nn_test_pch (tests/support/CMakeLists.txt): an object
// library needs a source to exist; the target's product is its
// precompiled header, which every nn_test binary reuses.
