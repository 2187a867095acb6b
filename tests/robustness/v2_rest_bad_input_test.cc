// Hostile and broken requests on the /v2 REST entry point of a real nnserve
// (HTTP on 127.0.0.1): oversized bodies, lying lengths (Content-Length,
// Inference-Header-Content-Length, binary_data_size, BYTES element
// lengths), deep nesting, truncated binary data, bad pixels, bad UTF-8.
// Each gets a bounded, clear error with the right status and a JSON body;
// none crashes the server or stops it serving. Then load: many REST clients
// at once are all answered, and a full queue answers 503.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/e2e/v2_rest_support.h"
#include "tests/robustness/robustness_util.h"
#include "tests/support/http_client.h"

namespace nn::robustness {
namespace {

using ::testing::HasSubstr;
using testing::HttpMessage;
using testing::HttpResponse;

constexpr char kInfer[] = "/v2/models/mnist_mlp/infer";
constexpr int64_t kBodyLimit = 200000;

std::string RawHeader(int64_t content_length, const std::string& extra = "") {
  return absl::StrCat("POST ", kInfer, " HTTP/1.1\r\nHost: x\r\n",
                      "Connection: close\r\nContent-Length: ", content_length,
                      "\r\n", extra, "\r\n");
}

class V2RestBadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<ServedRepository> served = ServeRepository(
        {.flags = {"--max_images_per_request=64",
                   absl::StrCat("--max_http_body_bytes=", kBodyLimit)}});
    ASSERT_TRUE(served.ok()) << served.status();
    served_ = new ServedRepository(*std::move(served));
  }
  static void TearDownTestSuite() { delete served_; }
  void TearDown() override {
    // Whatever the case sent, the server still answers a good request.
    const std::vector<float> image(784, 0.5f);
    const HttpResponse r = Send(testing::V2Post(
        kInfer, testing::InferJson("FP32", {1, 784},
                                   testing::JsonNumbers(image), 0)));
    EXPECT_EQ(r.status, 200) << r.body;
  }

  static int port() { return served_->server->http_port(); }
  static HttpResponse Send(const HttpMessage& m) {
    auto r = testing::SendHttp(port(), m);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  }
  static HttpResponse Raw(const std::string& bytes) {
    auto r = testing::SendRawHttp(port(), bytes, absl::Seconds(20));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  // The answer is `status` with {"error": "...<part>..."} as JSON.
  static void ExpectError(const HttpResponse& r, int status,
                          const std::string& part) {
    EXPECT_EQ(r.status, status) << r.body;
    auto type = r.headers.find("content-type");
    ASSERT_NE(type, r.headers.end());
    EXPECT_EQ(type->second, "application/json");
    rapidjson::Document doc;
    doc.Parse(r.body.data(), r.body.size());
    ASSERT_TRUE(!doc.HasParseError() && doc.IsObject() &&
                doc.HasMember("error") && doc["error"].IsString())
        << r.body;
    EXPECT_THAT(doc["error"].GetString(), HasSubstr(part));
    EXPECT_LT(r.body.size(), 4096u) << "error messages are bounded";
  }

  static ServedRepository* served_;
};
ServedRepository* V2RestBadInputTest::served_ = nullptr;

TEST_F(V2RestBadInputTest, OversizedBodiesAre413BeforeTheyAreRead) {
  // Declared over the limit, nothing sent: refused at once.
  ExpectError(Raw(RawHeader(int64_t{1} << 40)), 413, "limit");
  // Chunked, growing past the limit.
  std::string chunked = absl::StrCat(
      "POST ", kInfer, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  const std::string chunk(50000, ' ');
  for (int i = 0; i < 5; ++i) absl::StrAppend(&chunked, "c350\r\n", chunk, "\r\n");
  ExpectError(Raw(chunked + "0\r\n\r\n"), 413, "more than");
}

TEST_F(V2RestBadInputTest, ABodyShorterThanItsContentLengthIs400) {
  ExpectError(Raw(RawHeader(5000) + R"({"inputs":[)"), 400, "ended after 11");
}

TEST_F(V2RestBadInputTest, AContentLengthShorterThanTheJsonCutsTheJson) {
  const std::string body = testing::InferJson("FP32", {1, 784}, "[0.5]", 0);
  ExpectError(Raw(RawHeader(20) + body), 400, "not valid JSON");
}

TEST_F(V2RestBadInputTest, LyingInferenceHeaderContentLengthIs400) {
  const std::string body = testing::InferJson("UINT8", {1, 784}, "", 784) +
                           std::string(784, '\x10');
  for (const std::string& header : {std::string("999999"), std::string("-4"),
                                    std::string("12abc"), std::string("")}) {
    SCOPED_TRACE(header);
    HttpMessage m = testing::V2Post(kInfer, body);
    m.headers.push_back({"Inference-Header-Content-Length", header});
    ExpectError(Send(m), 400, "Inference-Header-Content-Length");
  }
  // A JSON size that cuts the JSON short.
  ExpectError(Send(testing::V2Post(kInfer, body, 10)), 400, "not valid JSON");
}

TEST_F(V2RestBadInputTest, TruncatedOrLyingBinaryDataIs400) {
  // binary_data_size larger than what follows.
  std::string head = testing::InferJson("FP32", {1, 784}, "", 3136);
  ExpectError(Send(testing::V2Post(kInfer, head + std::string(100, '\0'),
                                   head.size())),
              400, "binary_data_size is 3136; 100 bytes");
  // binary_data_size absurdly large: no allocation from it.
  head = testing::InferJson("FP32", {1, 784}, "", int64_t{1} << 50);
  ExpectError(Send(testing::V2Post(kInfer, head + "x", head.size())), 400,
              "binary_data_size");
  // Consistent sizes, too few bytes for the shape.
  head = testing::InferJson("FP32", {2, 784}, "", 3136);
  ExpectError(Send(testing::V2Post(kInfer, head + std::string(3136, '\0'),
                                   head.size())),
              400, "holds 3136 bytes");
  // Bytes left over after every input.
  head = testing::InferJson("UINT8", {1, 784}, "", 784);
  ExpectError(Send(testing::V2Post(kInfer, head + std::string(800, '\0'),
                                   head.size())),
              400, "belong to no input");
  // A BYTES element whose length prefix claims more than is there.
  std::string png = std::string("\xff\xff\xff\x7f", 4) + "PNG";
  head = testing::InferJson("BYTES", {1}, "", png.size());
  ExpectError(Send(testing::V2Post(kInfer, head + png, head.size())), 400,
              "claims");
  // A BYTES element that is not a PNG.
  png = std::string("\x03\0\0\0", 4) + "abc";
  head = testing::InferJson("BYTES", {1}, "", png.size());
  ExpectError(Send(testing::V2Post(kInfer, head + png, head.size())), 400,
              "not a usable PNG");
}

TEST_F(V2RestBadInputTest, DeepNestingIs400WithoutRecursion) {
  // 90,000 levels: the parser is iterative and the data walk bounded.
  const std::string deep =
      std::string(90000, '[') + "0.5" + std::string(90000, ']');
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson("FP32", {1, 784}, deep, 0))),
              400, "nested deeper");
  ExpectError(Send(testing::V2Post(kInfer, std::string(90000, '{'))), 400,
              "not valid JSON");
}

TEST_F(V2RestBadInputTest, BadValuesAndTypesAre400NamingTheProblem) {
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson("FP32", {1, 784}, "[2.5]", 0))),
              400, "784");
  std::vector<float> image(784, 0.5f);
  image[3] = 1.5f;
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson("FP32", {1, 784},
                                             testing::JsonNumbers(image), 0))),
              400, "element 3");
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson("INT64", {1, 784}, "[1]", 0))),
              400, "INT64");
  ExpectError(Send(testing::V2Post(
                  kInfer, testing::InferJson("UINT8", {-1, 784}, "[1]", 0))),
              400, "shape");
  ExpectError(Send(testing::V2Post(kInfer, "{\"id\":\"\xff\xfe\"}")), 400,
              "not valid JSON");
  ExpectError(Send(testing::V2Post(kInfer, "[]")), 400, "JSON object");
  ExpectError(Send(testing::V2Post(kInfer, "")), 400, "not valid JSON");
}

TEST_F(V2RestBadInputTest, BadPathsAndMethodsAre404And405) {
  ExpectError(Send({.method = "DELETE", .path = kInfer}), 405, "POST");
  ExpectError(Send({.method = "POST", .path = "/v2/health/live"}), 405, "GET");
  ExpectError(Send({.path = "/v2/models/%zz/ready"}), 400, "percent");
  ExpectError(Send({.path = "/v2/models/a/versions/1/infer/more"}), 404,
              "no endpoint");
  ExpectError(Send({.path = "/v2/models/" + std::string(3000, 'a')}), 400,
              "");
}

TEST_F(V2RestBadInputTest, ManyClientsAtOnceAreAllAnswered) {
  const std::vector<float> image(784, 0.25f);
  const std::string body =
      testing::InferJson("FP32", {1, 784}, testing::JsonNumbers(image), 0);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 12; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = testing::SendHttp(port(), testing::V2Post(kInfer, body));
        if (r.ok() && r->status == 200) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(ok.load(), 120);
}

TEST(V2RestOverloadTest, AFullQueueIs503) {
  // One worker, no fast path, room for one 64-image request in the queue.
  absl::StatusOr<ServedRepository> served = ServeRepository(
      {.models = {{"mnist_cnn", "mnist_cnn"}},
       .flags = {"--workers=1", "--max_inline_images=0", "--max_batch_size=64",
                 "--max_queue_size=64", "--max_images_per_request=64",
                 "--http_threads=16"}});
  ASSERT_TRUE(served.ok()) << served.status();
  const int port = served->server->http_port();
  const std::string raw(64 * 784, '\x40');
  const std::string head =
      testing::InferJson("UINT8", {64, 784}, "", raw.size());
  std::atomic<int> full{0}, ok{0}, other{0};
  std::string full_body;
  for (int round = 0; round < 20 && full.load() == 0; ++round) {
    std::vector<std::thread> clients;
    for (int t = 0; t < 12; ++t) {
      clients.emplace_back([&] {
        auto r = testing::SendHttp(
            port, testing::V2Post("/v2/models/mnist_cnn/infer", head + raw,
                                  head.size()));
        if (r.ok() && r->status == 503) {
          if (full.fetch_add(1) == 0) full_body = r->body;
        } else if (r.ok() && r->status == 200) {
          ok.fetch_add(1);
        } else {
          other.fetch_add(1);
        }
      });
    }
    for (std::thread& c : clients) c.join();
  }
  EXPECT_GT(full.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_THAT(full_body, HasSubstr("queue full"));
}

}  // namespace
}  // namespace nn::robustness
