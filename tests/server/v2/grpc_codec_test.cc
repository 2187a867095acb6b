// The gRPC form of the V2 codec (server/v2/grpc_codec.h) and the model
// mapping behind it: every input form, both content forms, outputs and the
// classification extension, and every error with the tensor, the expected
// and the actual value in its message.
#include "server/v2/grpc_codec.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/v2/codec_test_util.h"

namespace nn::v2 {
namespace {

using ::absl::StatusCode;
using ::inference::ModelInferRequest;
using ::inference::ModelInferResponse;
using testing::DigitSignature;
using testing::Pixels;
using testing::Png;
using testing::RawBytes;
using testing::RawFloats;
using testing::Unit;

ModelInferRequest Request(const std::string& datatype,
                          std::vector<int64_t> shape) {
  ModelInferRequest r;
  r.set_model_name("mnist_mlp");
  auto* in = r.add_inputs();
  in->set_name("images");
  in->set_datatype(datatype);
  for (int64_t d : shape) in->add_shape(d);
  return r;
}

absl::StatusOr<DecodedRequest> Decode(const ModelInferRequest& r,
                                      CodecLimits limits = {}) {
  return DecodeGrpcInferRequest(r, DigitSignature(), limits);
}

TEST(GrpcCodecTest, RawFp32DecodesInEveryAcceptedShape) {
  const std::vector<float> expected = Unit(Pixels(2));
  for (std::vector<int64_t> shape : std::vector<std::vector<int64_t>>{
           {2, 28, 28}, {2, 784}, {2, 28, 28, 1}, {2, 1, 28, 28}}) {
    ModelInferRequest r = Request("FP32", shape);
    r.add_raw_input_contents(RawFloats(expected));
    absl::StatusOr<DecodedRequest> d = Decode(r);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->images.count, 2);
    EXPECT_EQ(d->images.pixels, expected);
  }
}

TEST(GrpcCodecTest, TypedFp32ContentsDecodeLikeRaw) {
  const std::vector<float> expected = Unit(Pixels(3));
  ModelInferRequest r = Request("FP32", {3, 28, 28});
  for (float v : expected) r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(v);
  absl::StatusOr<DecodedRequest> d = Decode(r);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->images.count, 3);
  EXPECT_EQ(d->images.pixels, expected);
}

TEST(GrpcCodecTest, Uint8RawAndTypedGiveThePixelsOver255) {
  const std::vector<uint8_t> pixels = Pixels(2);
  ModelInferRequest raw = Request("UINT8", {2, 28, 28});
  raw.add_raw_input_contents(std::string(pixels.begin(), pixels.end()));
  ModelInferRequest typed = Request("UINT8", {2, 784});
  for (uint8_t p : pixels) typed.mutable_inputs(0)->mutable_contents()->add_uint_contents(p);
  for (const ModelInferRequest& r : {raw, typed}) {
    absl::StatusOr<DecodedRequest> d = Decode(r);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->images.pixels, Unit(pixels));
  }
}

TEST(GrpcCodecTest, BytesPngsDecodeAsTypedAndAsRaw) {
  const std::vector<uint8_t> pixels = Pixels(2);
  const std::vector<std::string> pngs = {Png(pixels, 0), Png(pixels, 1)};
  ModelInferRequest typed = Request("BYTES", {2});
  for (const std::string& p : pngs) typed.mutable_inputs(0)->mutable_contents()->add_bytes_contents(p);
  ModelInferRequest raw = Request("BYTES", {2, 1});
  raw.add_raw_input_contents(RawBytes(pngs));
  for (const ModelInferRequest& r : {typed, raw}) {
    absl::StatusOr<DecodedRequest> d = Decode(r);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->images.count, 2);
    EXPECT_EQ(d->images.pixels, Unit(pixels));
  }
}

TEST(GrpcCodecTest, MixingRawAndTypedContentsIsInvalid) {
  ModelInferRequest r = Request("FP32", {1, 784});
  r.add_raw_input_contents(RawFloats(Unit(Pixels(1))));
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
  EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument, "'images'",
                "raw_input_contents", "contents");
}

TEST(GrpcCodecTest, TwoTypedFieldsAreInvalid) {
  ModelInferRequest r = Request("FP32", {1, 784});
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
  r.mutable_inputs(0)->mutable_contents()->add_uint_contents(1);
  EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument,
                "contents.uint_contents", "contents.fp32_contents");
}

TEST(GrpcCodecTest, TypedFieldOfAnotherDatatypeIsInvalid) {
  ModelInferRequest r = Request("FP32", {1, 784});
  r.mutable_inputs(0)->mutable_contents()->add_int64_contents(1);
  EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument, "'images'",
                "FP32", "fp32_contents", "contents.int64_contents");
}

TEST(GrpcCodecTest, NoDataIsInvalid) {
  EXPECT_STATUS(Decode(Request("FP32", {1, 784})).status(),
                StatusCode::kInvalidArgument, "'images'", "no data");
}

TEST(GrpcCodecTest, MoreRawEntriesThanInputsAreInvalid) {
  ModelInferRequest r = Request("UINT8", {1, 784});
  r.add_raw_input_contents(std::string(784, '\0'));
  r.add_raw_input_contents(std::string(784, '\0'));
  EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument,
                "raw_input_contents has 2 entries for 1 input");
}

TEST(GrpcCodecTest, RawByteCountMustMatchTheShape) {
  ModelInferRequest r = Request("FP32", {2, 28, 28});
  r.add_raw_input_contents(std::string(784 * 4, '\0'));
  EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument, "'images'",
                "raw_input_contents[0] holds 3136 bytes", "[2,28,28]",
                "needs 6272");
}

TEST(GrpcCodecTest, TypedValueCountMustMatchTheShape) {
  ModelInferRequest r = Request("FP32", {1, 784});
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
  EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument,
                "contents.fp32_contents holds 1 values", "needs 784");
}

TEST(GrpcCodecTest, UnacceptedDatatypeAndShapeNameWhatIsAccepted) {
  ModelInferRequest int32 = Request("INT32", {1, 784});
  int32.add_raw_input_contents(std::string(784 * 4, '\0'));
  EXPECT_STATUS(Decode(int32).status(), StatusCode::kInvalidArgument,
                "'images'", "'INT32'", "FP32 or UINT8", "BYTES");
  ModelInferRequest lower = Request("fp32", {1, 784});
  lower.add_raw_input_contents(std::string(784 * 4, '\0'));
  EXPECT_STATUS(Decode(lower).status(), StatusCode::kInvalidArgument, "'fp32'");
  for (std::vector<int64_t> shape : std::vector<std::vector<int64_t>>{
           {1, 27, 28}, {784}, {1, 28, 28, 3}, {1, 3, 28, 28}, {1, 1, 1, 28, 28}}) {
    ModelInferRequest r = Request("FP32", shape);
    r.add_raw_input_contents(std::string(784 * 4, '\0'));
    EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument, "'images'",
                  "is not accepted", "[N,28,28]", "[N,784]");
  }
  ModelInferRequest bytes = Request("BYTES", {1, 2});
  bytes.mutable_inputs(0)->mutable_contents()->add_bytes_contents("x");
  EXPECT_STATUS(Decode(bytes).status(), StatusCode::kInvalidArgument, "[1,2]",
                "BYTES [N]");
}

TEST(GrpcCodecTest, PixelsOutsideTheirRangeAreInvalid) {
  for (float bad : {-0.1f, 1.5f, NAN, INFINITY}) {
    std::vector<float> values = Unit(Pixels(2));
    values[784 + 5] = bad;
    ModelInferRequest r = Request("FP32", {2, 784});
    r.add_raw_input_contents(RawFloats(values));
    EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument, "'images'",
                  "element 789 (image 1)", "finite and in [0, 1]");
  }
  ModelInferRequest r = Request("UINT8", {1, 784});
  for (int i = 0; i < 784; ++i) {
    r.mutable_inputs(0)->mutable_contents()->add_uint_contents(i == 3 ? 256 : 0);
  }
  EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument,
                "element 3 (image 0) is 256", "0..255");
}

TEST(GrpcCodecTest, RangeEdgesAreAcceptedAndNeighboursRefused) {
  // The range check reads float bits: its edges must agree with
  // "v >= 0 && v <= 1".
  for (float good : {0.0f, -0.0f, 1.0f, 1e-45f, 0.99999994f}) {
    std::vector<float> values = Unit(Pixels(1));
    values[7] = good;
    ModelInferRequest r = Request("FP32", {1, 784});
    r.add_raw_input_contents(RawFloats(values));
    absl::StatusOr<DecodedRequest> d = Decode(r);
    ASSERT_TRUE(d.ok()) << good << ": " << d.status();
    EXPECT_EQ(d->images.pixels[7], good);
  }
  for (float bad : {1.0000001f, -1e-45f, -INFINITY, -NAN}) {
    std::vector<float> values = Unit(Pixels(1));
    values[783] = bad;
    ModelInferRequest r = Request("FP32", {1, 784});
    r.add_raw_input_contents(RawFloats(values));
    EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument,
                  "element 783 (image 0)", "finite and in [0, 1]");
  }
}

// Raw FP32 bytes at any address (REST binary data follows a JSON header of
// any length): an aligned view is copied as floats, an unaligned one
// converted; both decode alike and check every pixel.
TEST(GrpcCodecTest, RawFloatsDecodeAlikeAlignedOrNot) {
  std::vector<float> values = Unit(Pixels(2));
  const std::string raw = RawFloats(values);
  for (size_t offset : {0, 1, 2, 3, 4}) {
    SCOPED_TRACE(offset);
    std::string storage = std::string(offset, 'x') + raw;
    InputTensor in;
    in.name = kInputName;
    in.datatype = "FP32";
    in.shape = {2, 28, 28};
    in.contents = InputTensor::Contents::kRaw;
    in.source = "binary data";
    in.raw = absl::string_view(storage).substr(offset);
    absl::StatusOr<ImageBatch> batch =
        DecodeImagesInput(in, DigitSignature(), CodecLimits{});
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_EQ(batch->count, 2);
    EXPECT_EQ(batch->pixels, values);
    // A bad pixel in the last image is found either way.
    const float nan = NAN;
    std::memcpy(storage.data() + offset + 4 * (784 + 783), &nan, 4);
    EXPECT_STATUS(DecodeImagesInput(in, DigitSignature(), CodecLimits{}).status(),
                  StatusCode::kInvalidArgument, "element 1567 (image 1)",
                  "finite and in [0, 1]");
  }
}

TEST(GrpcCodecTest, ImageCountIsCheckedBeforeAnyElement) {
  // The shape claims 10^12 images over 0 bytes: refused from the shape, no
  // buffer sized from it.
  ModelInferRequest huge = Request("FP32", {1000000000000, 784});
  huge.add_raw_input_contents("");
  EXPECT_STATUS(Decode(huge).status(), StatusCode::kResourceExhausted,
                "1000000000000 images", "limit is 1024");
  ModelInferRequest over = Request("UINT8", {3, 784});
  over.add_raw_input_contents(std::string(3 * 784, '\0'));
  EXPECT_STATUS(Decode(over, CodecLimits{.max_images = 2}).status(),
                StatusCode::kResourceExhausted, "3 images", "limit is 2");
  for (int64_t n : {0, -1}) {
    ModelInferRequest none = Request("UINT8", {n, 784});
    none.add_raw_input_contents("");
    EXPECT_STATUS(Decode(none).status(), StatusCode::kInvalidArgument,
                  "no images");
  }
}

TEST(GrpcCodecTest, InputsOtherThanOneImagesTensorAreInvalid) {
  ModelInferRequest none;
  EXPECT_STATUS(Decode(none).status(), StatusCode::kInvalidArgument,
                "exactly one input", "has 0");
  ModelInferRequest two = Request("UINT8", {1, 784});
  two.add_inputs()->set_name("extra");
  EXPECT_STATUS(Decode(two).status(), StatusCode::kInvalidArgument, "has 2",
                "'images'", "'extra'");
  ModelInferRequest wrong = Request("UINT8", {1, 784});
  wrong.mutable_inputs(0)->set_name("input0");
  wrong.add_raw_input_contents(std::string(784, '\0'));
  EXPECT_STATUS(Decode(wrong).status(), StatusCode::kInvalidArgument,
                "unknown input 'input0'", "'images'");
}

TEST(GrpcCodecTest, MalformedRawBytesElementsAreInvalid) {
  const std::string png = Png(Pixels(1), 0);
  struct Case {
    std::string raw;
    const char* message;
  } cases[] = {
      {RawBytes({png}).substr(0, 2), "inside the 4-byte length"},
      {std::string("\xff\xff\xff\x7f", 4) + "abc", "claims 2147483647 bytes"},
      {RawBytes({png, png}), "after its 1 BYTES elements"},
      {"", "holds 0 BYTES elements"},
  };
  for (const Case& c : cases) {
    ModelInferRequest r = Request("BYTES", {1});
    r.add_raw_input_contents(c.raw);
    EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument, "'images'",
                  c.message);
  }
}

TEST(GrpcCodecTest, BadOrWrongSizePngsAreInvalid) {
  ModelInferRequest garbage = Request("BYTES", {1});
  garbage.mutable_inputs(0)->mutable_contents()->add_bytes_contents("not a png");
  EXPECT_STATUS(Decode(garbage).status(), StatusCode::kInvalidArgument,
                "element 0 is not a usable PNG");
  ModelInferRequest small = Request("BYTES", {1});
  small.mutable_inputs(0)->mutable_contents()->add_bytes_contents(
      Png(Pixels(1), 0, 14, 56));
  EXPECT_STATUS(Decode(small).status(), StatusCode::kInvalidArgument,
                "56x14 PNG", "28x28");
}

ModelInferRequest OneImage() {
  ModelInferRequest r = Request("UINT8", {2, 784});
  r.add_raw_input_contents(std::string(2 * 784, '\x10'));
  return r;
}

TEST(GrpcCodecTest, ResponseHasBothOutputsRawByDefaultAndEchoes) {
  ModelInferRequest r = OneImage();
  r.set_id("req-7");
  absl::StatusOr<DecodedRequest> d = Decode(r);
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<float> p = testing::Probabilities(2);
  ModelInferResponse response;
  EncodeGrpcInferResponse(*d, "mnist_mlp", "3", p, DigitSignature(), &response);
  EXPECT_EQ(response.model_name(), "mnist_mlp");
  EXPECT_EQ(response.model_version(), "3");
  EXPECT_EQ(response.id(), "req-7");
  ASSERT_EQ(response.outputs_size(), 2);
  ASSERT_EQ(response.raw_output_contents_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "probabilities");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(response.outputs(0).shape().begin(),
                                 response.outputs(0).shape().end()),
            (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(response.raw_output_contents(0), RawFloats(p));
  EXPECT_EQ(response.outputs(1).name(), "class_index");
  EXPECT_EQ(response.outputs(1).datatype(), "INT64");
  const int64_t classes[2] = {0, 1};
  EXPECT_EQ(response.raw_output_contents(1),
            std::string(reinterpret_cast<const char*>(classes), 16));
  EXPECT_FALSE(response.outputs(0).has_contents());
}

TEST(GrpcCodecTest, TypedOutputContentsOnRequest) {
  ModelInferRequest r = OneImage();
  (*r.mutable_parameters())["typed_output_contents"].set_bool_param(true);
  absl::StatusOr<DecodedRequest> d = Decode(r);
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<float> p = testing::Probabilities(2);
  ModelInferResponse response;
  EncodeGrpcInferResponse(*d, "m", "1", p, DigitSignature(), &response);
  EXPECT_EQ(response.raw_output_contents_size(), 0);
  const auto& fp32 = response.outputs(0).contents().fp32_contents();
  EXPECT_EQ(std::vector<float>(fp32.begin(), fp32.end()), p);
  const auto& ints = response.outputs(1).contents().int64_contents();
  EXPECT_EQ(std::vector<int64_t>(ints.begin(), ints.end()),
            (std::vector<int64_t>{0, 1}));

  ModelInferRequest bad = OneImage();
  (*bad.mutable_parameters())["typed_output_contents"].set_string_param("yes");
  EXPECT_STATUS(Decode(bad).status(), StatusCode::kInvalidArgument,
                "typed_output_contents", "bool_param");
}

TEST(GrpcCodecTest, RequestedOutputsAreHonouredInTheirOrder) {
  ModelInferRequest r = OneImage();
  r.add_outputs()->set_name("class_index");
  absl::StatusOr<DecodedRequest> d = Decode(r);
  ASSERT_TRUE(d.ok()) << d.status();
  ModelInferResponse response;
  EncodeGrpcInferResponse(*d, "m", "1", testing::Probabilities(2),
                          DigitSignature(), &response);
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "class_index");

  ModelInferRequest unknown = OneImage();
  unknown.add_outputs()->set_name("logits");
  EXPECT_STATUS(Decode(unknown).status(), StatusCode::kInvalidArgument,
                "unknown output 'logits'", "'probabilities'", "'class_index'");
  ModelInferRequest twice = OneImage();
  twice.add_outputs()->set_name("probabilities");
  twice.add_outputs()->set_name("probabilities");
  EXPECT_STATUS(Decode(twice).status(), StatusCode::kInvalidArgument,
                "requested twice");
}

TEST(GrpcCodecTest, ClassificationGivesTopKStrings) {
  ModelInferRequest r = OneImage();
  auto* out = r.add_outputs();
  out->set_name("probabilities");
  (*out->mutable_parameters())["classification"].set_int64_param(2);
  absl::StatusOr<DecodedRequest> d = Decode(r);
  ASSERT_TRUE(d.ok()) << d.status();
  ModelInferResponse response;
  EncodeGrpcInferResponse(*d, "m", "1", testing::Probabilities(2),
                          DigitSignature(), &response);
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).datatype(), "BYTES");
  EXPECT_EQ(std::vector<int64_t>(response.outputs(0).shape().begin(),
                                 response.outputs(0).shape().end()),
            (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(response.raw_output_contents(0),
            RawBytes({"0.5:0:0", "0.1:3:3", "0.5:1:1", "0.1:4:4"}));

  (*r.mutable_parameters())["typed_output_contents"].set_bool_param(true);
  d = Decode(r);
  ASSERT_TRUE(d.ok()) << d.status();
  EncodeGrpcInferResponse(*d, "m", "1", testing::Probabilities(2),
                          DigitSignature(), &response);
  ASSERT_EQ(response.outputs(0).contents().bytes_contents_size(), 4);
  EXPECT_EQ(response.outputs(0).contents().bytes_contents(2), "0.5:1:1");
}

TEST(GrpcCodecTest, BadClassificationParametersAreInvalid) {
  for (int64_t k : {0, 11, -1}) {
    ModelInferRequest r = OneImage();
    auto* out = r.add_outputs();
    out->set_name("probabilities");
    (*out->mutable_parameters())["classification"].set_int64_param(k);
    EXPECT_STATUS(Decode(r).status(), StatusCode::kInvalidArgument,
                  "classification is", "1 to 10");
  }
  ModelInferRequest on_index = OneImage();
  auto* out = on_index.add_outputs();
  out->set_name("class_index");
  (*out->mutable_parameters())["classification"].set_int64_param(1);
  EXPECT_STATUS(Decode(on_index).status(), StatusCode::kInvalidArgument,
                "'class_index'", "applies to 'probabilities' only");
  ModelInferRequest typed = OneImage();
  out = typed.add_outputs();
  out->set_name("probabilities");
  (*out->mutable_parameters())["classification"].set_string_param("3");
  EXPECT_STATUS(Decode(typed).status(), StatusCode::kInvalidArgument,
                "classification", "int64_param");
}

}  // namespace
}  // namespace nn::v2
