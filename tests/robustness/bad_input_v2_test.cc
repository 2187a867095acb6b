// Bad input for the Open Inference Protocol's ModelInfer over real gRPC
// (the V2 side of bad_input_test.cc): hostile shapes and byte counts, lying
// BYTES lengths, PNG bombs in BYTES elements, thousands of inputs, huge
// names, versions and parameters, 100 MB messages, and bytes that parse as
// no request on every V2 method, against one nnserve with the default limits
// (16 MB messages, 1024 images a request). Each is answered with its
// documented code (never INTERNAL or UNKNOWN), quickly, with a bounded
// message; afterwards the same process answers a good request as Predict
// does.
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/v2_grpc_util.h"
#include "tests/robustness/png_builder.h"
#include "tests/robustness/robustness_util.h"
#include "tests/support/model_fixtures.h"

namespace nn::robustness {
namespace {

using ::testing::HasSubstr;
using Request = inference::ModelInferRequest;
using testing::InputForm;

constexpr char kModel[] = "mnist_mlp";
// A status message travels in a header; a default client refuses > 8 KB.
constexpr size_t kMaxMessageBytes = 4096;

std::string LittleEndian32(uint32_t value) {
  std::string bytes(4, '\0');
  std::memcpy(bytes.data(), &value, 4);
  return bytes;
}

class BadV2InputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<ServedRepository> served = ServeRepository({});
    ASSERT_TRUE(served.ok()) << served.status();
    served_ = new ServedRepository(*std::move(served));
  }
  static void TearDownTestSuite() { delete served_; }
  void SetUp() override {
    ASSERT_NE(served_, nullptr);
    stub_ = testing::NewV2Stub(served_->server->target());
    auto images = testing::LoadTestDigits(2);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }
  Request Good() const {
    return testing::FloatRequest(kModel, images_, 1, {1, 28, 28},
                                 InputForm::kRaw);
  }
  // `edit` applied to a good request must get `code` with `message` in it.
  void Expect(const std::string& what, const std::function<void(Request*)>& edit,
              grpc::StatusCode code, const std::string& message) {
    SCOPED_TRACE(what);
    Request request = Good();
    edit(&request);
    inference::ModelInferResponse response;
    const absl::Time start = absl::Now();
    grpc::Status status =
        testing::Infer(*stub_, request, &response, absl::Seconds(60));
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(message));
    EXPECT_LT(status.error_message().size(), kMaxMessageBytes);
    EXPECT_EQ(response.outputs_size(), 0);
    EXPECT_LT(absl::Now() - start, Scaled(absl::Seconds(5)));
  }

  static ServedRepository* served_;
  std::unique_ptr<testing::V2Stub> stub_;
  testing::TestImages images_;
};
ServedRepository* BadV2InputTest::served_ = nullptr;

TEST_F(BadV2InputTest, HostileShapesAreRejectedBeforeAnyElementIsRead) {
  auto shape = [](std::vector<int64_t> dims) {
    return [dims](Request* r) {
      r->mutable_inputs(0)->clear_shape();
      for (int64_t d : dims) r->mutable_inputs(0)->add_shape(d);
    };
  };
  Expect("2^40 images", shape({int64_t{1} << 40, 28, 28}),
         grpc::RESOURCE_EXHAUSTED, "images");
  Expect("1025 images (over the default limit)", shape({1025, 28, 28}),
         grpc::RESOURCE_EXHAUSTED, "images");
  Expect("negative dimension", shape({-1, 28, 28}), grpc::INVALID_ARGUMENT,
         "images");
  Expect("zero images", shape({0, 28, 28}), grpc::INVALID_ARGUMENT, "images");
  Expect("product overflows int64", shape({1, int64_t{1} << 62, 1 << 4}),
         grpc::INVALID_ARGUMENT, "images");
  std::vector<int64_t> many(10000, 1);
  many[0] = 1;
  Expect("rank 10000", shape(many), grpc::INVALID_ARGUMENT, "images");
  Expect("raw bytes claim more than sent",
         [](Request* r) { r->mutable_raw_input_contents(0)->resize(7); },
         grpc::INVALID_ARGUMENT, "images");
  Expect("BYTES with a length past the end",
         [](Request* r) {
           r->mutable_inputs(0)->set_datatype("BYTES");
           r->mutable_inputs(0)->clear_shape();
           r->mutable_inputs(0)->add_shape(1);
           *r->mutable_raw_input_contents(0) =
               LittleEndian32(0xffffffffu) + "\x89PNG";
         },
         grpc::INVALID_ARGUMENT, "images");
  Expect("BYTES element count disagrees with the shape",
         [](Request* r) {
           r->mutable_inputs(0)->set_datatype("BYTES");
           r->mutable_inputs(0)->clear_shape();
           r->mutable_inputs(0)->add_shape(1000);
           *r->mutable_raw_input_contents(0) = LittleEndian32(0);
         },
         grpc::INVALID_ARGUMENT, "images");
  Expect("10,000 inputs",
         [](Request* r) {
           for (int i = 0; i < 9999; ++i) *r->add_inputs() = r->inputs(0);
         },
         grpc::INVALID_ARGUMENT, "images");
  Expect("10,000 outputs",
         [](Request* r) {
           for (int i = 0; i < 10000; ++i) {
             r->add_outputs()->set_name(absl::StrCat("o", i));
           }
         },
         grpc::INVALID_ARGUMENT, "o0");
}

TEST_F(BadV2InputTest, PngBombsInBytesElementsAreRejectedQuickly) {
  // A huge declared size (refused from the header), and a 28x28 image whose
  // data inflates to 1 MB (refused one byte past its rows).
  for (auto [width, height] :
       std::vector<std::pair<uint32_t, uint32_t>>{{100000, 100000},
                                                  {28, 28}}) {
    const std::string bomb = DecompressionBomb(width, height, 1 << 20);
    Expect(absl::StrCat("bomb ", width, "x", height),
           [&](Request* r) {
             r->mutable_inputs(0)->set_datatype("BYTES");
             r->mutable_inputs(0)->clear_shape();
             r->mutable_inputs(0)->add_shape(1);
             r->clear_raw_input_contents();
             r->mutable_inputs(0)->mutable_contents()->add_bytes_contents(bomb);
           },
           grpc::INVALID_ARGUMENT, "images");
  }
}

TEST_F(BadV2InputTest, HugeNamesVersionsAndParametersGetBoundedMessages) {
  const std::string huge(200000, 'x');
  Expect("huge model name", [&](Request* r) { r->set_model_name(huge); },
         grpc::INVALID_ARGUMENT, "model");
  Expect("huge version", [&](Request* r) { r->set_model_version(huge); },
         grpc::NOT_FOUND, "version");
  Expect("version past int64",
         [](Request* r) { r->set_model_version("99999999999999999999999"); },
         grpc::NOT_FOUND, "version");
  Expect("huge input name",
         [&](Request* r) { r->mutable_inputs(0)->set_name(huge); },
         grpc::INVALID_ARGUMENT, "images");
  Expect("huge datatype",
         [&](Request* r) { r->mutable_inputs(0)->set_datatype(huge); },
         grpc::INVALID_ARGUMENT, "images");
  Expect("huge output name",
         [&](Request* r) { r->add_outputs()->set_name(huge); },
         grpc::INVALID_ARGUMENT, "output");
  Expect("classification of 2^62",
         [](Request* r) {
           auto* o = r->add_outputs();
           o->set_name("probabilities");
           (*o->mutable_parameters())["classification"].set_int64_param(
               int64_t{1} << 62);
         },
         grpc::INVALID_ARGUMENT, "classification");
  Expect("100 MB message",
         [](Request* r) {
           r->mutable_raw_input_contents(0)->resize(100 << 20);
         },
         grpc::RESOURCE_EXHAUSTED, "");
}

TEST_F(BadV2InputTest, UnparseableRequestsAreInvalidArgumentOnEveryV2Method) {
  std::mt19937 random(21);  // fixed: the same bytes every run
  std::string noise(20000, '\0');
  for (char& c : noise) c = static_cast<char>(random());
  const std::vector<std::string> garbage = {"\x0f\x01", "\x0a\x64" "abc",
                                            "\x0a\x02\xc3\x28", noise};
  for (const char* method :
       {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata",
        "ModelMetadata", "ModelInfer", "ModelConfig", "ModelStatistics",
        "RepositoryIndex"}) {
    for (size_t g = 0; g < garbage.size(); ++g) {
      SCOPED_TRACE(absl::StrCat(method, " garbage ", g));
      grpc::Status status = RawCall(
          served_->server->target(),
          absl::StrCat("/inference.GRPCInferenceService/", method), garbage[g]);
      // Messages without a string field 1 may parse the UTF-8 case.
      if (g == 2 && status.ok()) continue;
      EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
          << status.error_message();
      EXPECT_THAT(status.error_message(),
                  HasSubstr("could not be parsed as inference."));
    }
  }
}

// Runs last in the file: the same server survived everything above.
TEST_F(BadV2InputTest, AfterTheBarrageTheServerAnswersAsPredictDoes) {
  EXPECT_TRUE(served_->server->running()) << served_->server->Log();
  EXPECT_EQ(CheckHealth(served_->server->target(),
                        "inference.GRPCInferenceService"),
            1);
  inference::ModelInferResponse response;
  grpc::Status status = testing::Infer(
      *stub_,
      testing::FloatRequest(kModel, images_, 2, {2, 784}, InputForm::kRaw),
      &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(testing::OutputFloats(response, 0),
            testing::PredictProbabilities(served_->server->target(), kModel,
                                          images_, 2));
}

}  // namespace
}  // namespace nn::robustness
