// The Open Inference Protocol (KServe V2) model mapping: how an nnserve
// image classifier looks as V2 tensors, and the protocol-neutral half of
// the codec that both wire forms (grpc_codec.h, rest_codec.h) share.
//
// # The model mapping (every model kind: MLP, CNN, RNN, imported ONNX)
//
// Model name = the repository directory; versions = the served versions as
// strings; an empty version is the newest (the caller resolves versions).
//
// Input `images` (exactly one input, that name). Advertised as FP32
// [-1,H,W] (H = W = 28). Accepted:
//   datatype  shape                                  values
//   FP32      [N,H,W], [N,H*W], [N,H,W,1], [N,1,H,W]  finite, in [0, 1]
//   UINT8     the same four shapes                   raw pixels 0..255
//                                                    (divided by 255, as
//                                                    nnserve.v1 pixels)
//   BYTES     [N] or [N,1]                           one PNG file an element
//                                                    (any PNG color type,
//                                                    converted to gray; must
//                                                    be W x H, never resized)
// with 1 <= N <= CodecLimits::max_images. Elements come row-major, as typed
// contents (fp32_contents / uint_contents / bytes_contents, or JSON `data`,
// flat or nested) or raw little-endian bytes (raw_input_contents, or the
// binary tensor data extension; BYTES elements as a 4-byte little-endian
// length, then the bytes).
//
// Outputs (both, in this order, unless the request's `outputs` names some):
//   probabilities  FP32  [N, num_classes]  softmax, in label order
//   class_index    INT64 [N, 1]            argmax of probabilities (lowest
//                                          index on a tie, as Predict)
// Output parameter `classification: k` (Triton's classification extension,
// the V2 form of top_k; only on `probabilities`, 1 <= k <= num_classes)
// turns that output into BYTES [N, k] of "<probability>:<index>:<label>",
// most probable first (ties: lower index first).
//
// # Errors (absl::Status; grpc_codec.h / rest_codec.h map them to the wire)
//   INVALID_ARGUMENT    anything malformed: an unknown, missing or extra
//                       input, an unknown or repeated output, a datatype or
//                       shape not in the table above, a byte or element
//                       count that disagrees with the shape, a pixel that
//                       is NaN, Inf or outside its range, a PNG that does
//                       not decode or has the wrong size, a bad parameter.
//                       The message names the tensor, what was expected and
//                       what arrived (client values quoted within a bound,
//                       common/quote.h).
//   RESOURCE_EXHAUSTED  N > max_images (checked from the shape, before any
//                       element is read or any buffer sized).
// Nothing here allocates from a size the client claims before checking it
// against the bytes or elements present.
#ifndef NNSERVE_SERVER_V2_MODEL_MAPPING_H_
#define NNSERVE_SERVER_V2_MODEL_MAPPING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace nn::v2 {

// The protocol's tensor datatypes ("Tensor Data Types" of the
// specification).
enum class DataType {
  kInvalid,
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBf16,
  kBytes,
};

// "FP32", "BYTES", ...; ParseDataType gives kInvalid for an unknown name
// (names are case-sensitive, as the specification says).
absl::string_view DataTypeName(DataType type);
DataType ParseDataType(absl::string_view name);

// The served model as V2 sees it. A view: `labels` points into storage
// (the served version's labels) that must outlive the signature, so a
// request builds it without copying a label.
struct ModelSignature {
  int height = 28;
  int width = 28;
  // One label a class, in class order (num_classes = labels.size() > 0).
  absl::Span<const std::string> labels;
};

struct CodecLimits {
  // Most images one request may carry; more is RESOURCE_EXHAUSTED (the
  // server's --max_images_per_request).
  int64_t max_images = 1024;
  // Largest REST body (JSON and binary data together), in bytes; more is
  // RESOURCE_EXHAUSTED (HTTP 413), checked before parsing. (gRPC bodies are
  // bounded by the server's max receive message size.)
  int64_t max_request_bytes = int64_t{64} << 20;
};

inline constexpr absl::string_view kInputName = "images";
inline constexpr absl::string_view kProbabilitiesName = "probabilities";
inline constexpr absl::string_view kClassIndexName = "class_index";

// One input tensor as a wire form carried it. Views into the request (and
// into storage of the wire decoder), which must outlive it.
struct InputTensor {
  enum class Contents { kNone, kRaw, kFp32, kUint, kBytes, kOther };
  absl::string_view name;
  absl::string_view datatype;  // as sent
  absl::InlinedVector<int64_t, 4> shape;  // as sent (no allocation for
                                          // the shapes the mapping takes)
  Contents contents = Contents::kNone;
  // Where the elements came from, for messages: "raw_input_contents[0]",
  // "binary data", "contents.fp32_contents", "data" (static text).
  absl::string_view source;
  absl::string_view raw;                    // kRaw
  absl::Span<const float> fp32;             // kFp32
  absl::Span<const uint32_t> uints;         // kUint
  std::vector<absl::string_view> bytes;     // kBytes
  // kOther: the typed field that was set instead ("contents.int64_contents",
  // "data of strings").
  std::string other;
};

// INVALID_ARGUMENT for a request whose inputs are not exactly one: both wire
// forms give the same answer. `names`: the inputs the request has.
absl::Status WrongInputCountError(absl::Span<const std::string> names);

// The images of a request: count * height * width floats in [0, 1].
struct ImageBatch {
  int64_t count = 0;
  std::vector<float> pixels;
};

// Checks `input` against the mapping above and decodes it.
absl::StatusOr<ImageBatch> DecodeImagesInput(const InputTensor& input,
                                             const ModelSignature& signature,
                                             const CodecLimits& limits);

// An output as the request named it, with the parameters this codec reads.
struct RequestedOutput {
  std::string name;
  std::optional<int64_t> classification;  // "classification"
  std::optional<bool> binary;             // REST "binary_data"
};

enum class OutputKind { kProbabilities, kClassIndex, kClassification };

// An output to produce, resolved and checked.
struct OutputSpec {
  OutputKind kind = OutputKind::kProbabilities;
  int classification = 0;  // k, for kClassification
  bool binary = false;     // REST: as binary data after the JSON
};

// Resolves the request's outputs: empty `requested` means both outputs
// (each binary iff `binary_default`). INVALID_ARGUMENT for an unknown or
// repeated name, or a bad classification count.
absl::StatusOr<std::vector<OutputSpec>> ResolveOutputs(
    absl::Span<const RequestedOutput> requested, bool binary_default,
    const ModelSignature& signature);

// A protocol-neutral decoded infer request. (The model name and version
// travel outside it: the caller chose the model before decoding.)
struct DecodedRequest {
  std::string id;  // echoed
  ImageBatch images;
  std::vector<OutputSpec> outputs;  // in reply order
  // gRPC: reply in InferTensorContents instead of raw_output_contents.
  bool typed_output_contents = false;
  // The request parameter "timeout" (Triton's, in microseconds, >= 0): the
  // request's deadline, counted from its arrival. REST only (gRPC has the
  // call's deadline); none: no deadline.
  std::optional<int64_t> timeout_micros;
};

// An output tensor ready for a wire form.
struct OutputTensor {
  std::string name;
  DataType datatype = DataType::kInvalid;
  std::vector<int64_t> shape;
  // The elements as raw little-endian bytes (BYTES: 4-byte length + bytes
  // per element), the form of raw_output_contents and binary data.
  std::string raw;
  // The same elements, typed: the one vector of `datatype` is filled
  // (typed contents and JSON are written from it).
  std::vector<float> fp32;          // FP32
  std::vector<int64_t> int64;       // INT64
  std::vector<std::string> strings; // BYTES
};

// Which forms of an OutputTensor's elements MakeOutputs fills: `raw`, the
// typed vector, or both (a wire that writes one form need not build the
// other).
struct OutputForms {
  bool raw = true;
  bool typed = true;
};

// The name, datatype and shape ({rows, columns}) of the output `spec` for
// `count` images.
struct OutputHeader {
  absl::string_view name;  // static text
  DataType datatype = DataType::kInvalid;
  int64_t rows = 0;
  int64_t columns = 0;
};
OutputHeader HeaderOf(const OutputSpec& spec, int64_t count,
                      const ModelSignature& signature);

// Appends the elements of the output `spec` to `raw` as raw little-endian
// bytes (OutputTensor::raw's form), from `probabilities` (count *
// labels.size() floats, row-major): a wire writes them straight into its
// reply's buffer.
void AppendRawOutput(const OutputSpec& spec,
                     absl::Span<const float> probabilities, int64_t count,
                     const ModelSignature& signature, std::string* raw);

// Builds the outputs `specs` asks for from the model's result:
// `probabilities` holds count * labels.size() floats, row-major.
std::vector<OutputTensor> MakeOutputs(absl::Span<const OutputSpec> specs,
                                      absl::Span<const float> probabilities,
                                      int64_t count,
                                      const ModelSignature& signature,
                                      OutputForms forms = {});

// Shortest text that reads back as exactly `value` ("0.25", "1e-07"); used
// for JSON numbers and classification strings.
std::string FloatText(float value);

}  // namespace nn::v2

#endif  // NNSERVE_SERVER_V2_MODEL_MAPPING_H_
