// The bodies of nnserve's fuzz targets, as plain functions so that the
// libFuzzer binaries (fuzzer_main.cc, one per target) and the replay tests
// (tests/robustness/fuzz_regression_test.cc, any compiler, any sanitizer)
// run exactly the same code.
//
// Each takes untrusted bytes, feeds them to one parser or validator, and on
// success checks the result's documented invariants, aborting (a "crash" to
// the fuzzer) when one is broken. Each returns whether the input was
// accepted, so that tests can check that the seeds are meaningful.
//
//   target        what the bytes are                       code under test
//   model_file    byte 0 even: a whole .nnm file; odd: a   ParseModelFile,
//                 SavedModel payload given a valid header  Model::FromSavedModel,
//                 (so mutations get past the checksum)     one inference
//   model_spec    byte 0 even: binary ModelSpec; odd:      ValidateModelSpec
//                 text format
//   predict       a serialized nnserve.v1.Images           DecodeImages (28x28)
//   png           a PNG file                               DecodePng
//   idx           an uncompressed IDX file                 ParseIdx
//   v2_rest       byte 0 even: an infer request body;      DecodeRestInferRequest,
//                 odd: bytes 1-4 pick an Inference-Header-  EncodeRestInferResponse
//                 Content-Length, the body follows         (server/v2)
//                 (v2_fuzz_targets.cc)
//   v2_grpc       a serialized inference.ModelInferRequest DecodeGrpcInferRequest,
//                                                          EncodeGrpcInferResponse
//   onnx_import   a serialized onnx.ModelProto             ImportOnnx,
//                                                          Model::FromSavedModel,
//                                                          one inference,
//                                                          ExportOnnx + import
//   v1_json       a /v1/training/jobs request body        ParseJsonBody (TrainRequest),
//                 (protobuf JSON of nnserve.v1.TrainRequest) ToJson (server/v1_json.h)
#ifndef NNSERVE_TESTS_FUZZ_FUZZ_TARGETS_H_
#define NNSERVE_TESTS_FUZZ_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nn::fuzz {

bool FuzzModelFile(const uint8_t* data, size_t size);
bool FuzzModelSpec(const uint8_t* data, size_t size);
bool FuzzPredict(const uint8_t* data, size_t size);
bool FuzzPng(const uint8_t* data, size_t size);
bool FuzzIdx(const uint8_t* data, size_t size);
bool FuzzV2Rest(const uint8_t* data, size_t size);
bool FuzzV2Grpc(const uint8_t* data, size_t size);
bool FuzzOnnxImport(const uint8_t* data, size_t size);
bool FuzzV1Json(const uint8_t* data, size_t size);

using FuzzFunction = bool (*)(const uint8_t*, size_t);

struct FuzzTarget {
  const char* name;  // "model_file", ...: the corpus directory's name
  FuzzFunction function;
};

// Every target, in the order of the table above.
const std::vector<FuzzTarget>& AllFuzzTargets();

// The model_file input that frames `payload` (a serialized SavedModel) with
// a valid header, and the one that is a whole file.
std::string ModelFilePayloadInput(const std::string& payload);
std::string ModelFileRawInput(const std::string& file);

}  // namespace nn::fuzz

#endif  // NNSERVE_TESTS_FUZZ_FUZZ_TARGETS_H_
