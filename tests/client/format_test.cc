#include "client/format.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

#include "client/json_writer.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;
using ::testing::HasSubstr;
using ::testing::Not;

template <typename Message>
Message ParseText(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

// Parses `json` as a JSON object (fails the test if it is not valid JSON).
google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok())
      << json;
  return parsed;
}

// What nnserve would say about the tutorial's MLP, by hand: Flatten ->
// Dense(128) -> Dense(10): 784*128+128 = 100,480 and 128*10+10 = 1,290.
v1::ModelInfoResponse MlpInfo() {
  return ParseText<v1::ModelInfoResponse>(R"pb(
    model {
      name: "mnist_mlp"
      default_version: 2
      batching {
        max_batch_size: 64
        max_queue_delay_micros: 500
        max_queue_size: 1024
        workers: 2
        threads_per_worker: 1
      }
      versions {
        version: 2
        state: VERSION_STATE_AVAILABLE
        path: "models/repository/mnist_mlp/2/model.nnm"
        load_seconds: 0.125
        input { height: 28 width: 28 }
        labels: [ "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" ]
        layers { name: "flatten" kind: "Flatten" output_shape: 784 }
        layers {
          name: "dense"
          kind: "Dense"
          output_shape: 128
          parameters: 100480
        }
        layers {
          name: "dense_1"
          kind: "Dense"
          output_shape: 10
          parameters: 1290
        }
        total_parameters: 101770
        architecture: "mnist_mlp"
        history {
          config { epochs: 2 batch_size: 32 optimizer: OPTIMIZER_ADAM
                   learning_rate: 0.001 seed: 7 }
          dataset: "mnist"
          train_examples: 7996
          epochs { epoch: 1 loss: 0.41234 accuracy: 0.8821
                   has_validation: true val_loss: 0.2101 val_accuracy: 0.9401
                   seconds: 2.31 }
          epochs { epoch: 2 loss: 0.2 accuracy: 0.94 seconds: 2.2 }
          has_test: true
          test_loss: 0.099
          test_accuracy: 0.9712
          total_seconds: 4.6
          threads: 1
        }
      }
      versions {
        version: 1
        state: VERSION_STATE_FAILED
        error: "checksum mismatch"
        path: "models/repository/mnist_mlp/1/model.nnm"
      }
    }
    training_jobs {
      job_id: "job-7"
      model: "mnist_mlp"
      state: JOB_STATE_RUNNING
      epoch: 2
      epochs: 5
      batch: 120
      batches_per_epoch: 250
      loss: 0.25
      accuracy: 0.93
      eta_seconds: 75
    }
  )pb");
}

TEST(FormatTest, LayerSummaryIsKerasShapedWithTotals) {
  const v1::ModelInfoResponse info = MlpInfo();
  const std::string expected =
      "Model: \"mnist_mlp\"\n"
      "_________________________________________________________________\n"
      " Layer (type)                Output Shape              Param #\n"
      "=================================================================\n"
      " flatten (Flatten)           (None, 784)               0\n"
      "\n"
      " dense (Dense)               (None, 128)               100480\n"
      "\n"
      " dense_1 (Dense)             (None, 10)                1290\n"
      "=================================================================\n"
      "Total params: 101,770\n"
      "_________________________________________________________________\n";
  EXPECT_EQ(FormatLayerSummary("mnist_mlp", info.model().versions(0)),
            expected);
}

TEST(FormatTest, ModelInfoShowsVersionsStatesLabelsBatchingHistoryAndJobs) {
  const std::string text = FormatModelInfo(MlpInfo());
  EXPECT_THAT(text, HasSubstr("model mnist_mlp  default version 2\n"));
  EXPECT_THAT(text, HasSubstr("batching: max_batch_size 64, max_queue_delay "
                              "500 us, max_queue_size 1024, workers 2, "
                              "threads_per_worker 1\n"));
  EXPECT_THAT(text, HasSubstr("version 2: AVAILABLE (loaded in 0.12 s)\n"));
  EXPECT_THAT(text, HasSubstr("version 1: FAILED\n  error: checksum mismatch\n"));
  EXPECT_THAT(text, HasSubstr("  labels: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\n"));
  EXPECT_THAT(text, HasSubstr("  input: 28x28 (height x width) grayscale\n"));
  EXPECT_THAT(text, HasSubstr("Total params: 101,770\n"));
  EXPECT_THAT(text, HasSubstr("training run 1 of 1: trained on mnist (7,996 "
                              "examples), adam lr 0.001, batch 32, seed 7, "
                              "1 threads, 4.6 s\n"));
  EXPECT_THAT(text, HasSubstr("  epoch      loss  accuracy  val_loss  "
                              "val_accuracy  seconds\n"));
  EXPECT_THAT(text, HasSubstr("      1    0.4123    0.8821    0.2101        "
                              "0.9401     2.31\n"));
  // An epoch without validation shows dashes.
  EXPECT_THAT(text, HasSubstr("      2    0.2000    0.9400         -         "
                              "    -     2.20\n"));
  EXPECT_THAT(text, HasSubstr("  test accuracy 0.9712 (loss 0.0990)\n"));
  EXPECT_THAT(text, HasSubstr("job-7"));
  EXPECT_THAT(text, HasSubstr("RUNNING"));
  EXPECT_THAT(text, HasSubstr("eta 1m15s"));
}

TEST(FormatTest, ModelListHasOneLinePerVersionAndMarksTheDefault) {
  v1::ListModelsResponse list;
  *list.add_models() = MlpInfo().model();
  list.add_models()->set_name("empty_model");
  const std::string text = FormatModelList(list);
  EXPECT_EQ(text,
            "MODEL                VERSION  STATE       DEFAULT  LOAD_S  DETAIL\n"
            "mnist_mlp                  2  AVAILABLE   *          0.12  "
            "models/repository/mnist_mlp/2/model.nnm\n"
            "mnist_mlp                  1  FAILED                 0.00  "
            "checksum mismatch\n"
            "empty_model                -  -                            "
            "(no versions)\n");
}

TEST(FormatTest, HelpersFormatNumbersAndDurations) {
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(1000), "1,000");
  EXPECT_EQ(WithThousands(101770), "101,770");
  EXPECT_EQ(WithThousands(-1234567), "-1,234,567");
  EXPECT_EQ(FormatSeconds(3.4), "3s");
  EXPECT_EQ(FormatSeconds(75.2), "1m15s");
  EXPECT_EQ(FormatSeconds(7300), "2h01m");
  EXPECT_EQ(FormatSeconds(-1), "?");
  EXPECT_EQ(VersionStateName(v1::VERSION_STATE_UNLOADING), "UNLOADING");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_PUBLISHING), "PUBLISHING");
}

TEST(FormatTest, TrainingProgressLinesAndBar) {
  const v1::TrainingJob job = MlpInfo().training_jobs(0);
  v1::TrainingJob with_ratio = job;
  with_ratio.set_progress_ratio(0.5);
  with_ratio.set_images_per_second(12345.4);
  EXPECT_EQ(FormatProgressBar(with_ratio, 10),
            "[#####.....]  50%  epoch 2/5  batch 120/250  loss 0.2500  "
            "accuracy 0.9300  12,345 img/s  eta 1m15s");
  const v1::EpochRecord epoch =
      MlpInfo().model().versions(0).history(0).epochs(0);
  EXPECT_EQ(FormatEpochEnd(epoch, 5),
            "epoch 1/5: loss 0.4123  accuracy 0.8821  val_loss 0.2101  "
            "val_accuracy 0.9401  2.3s  0 img/s");
  v1::TrainResult result;
  result.set_version(4);
  result.set_has_test(true);
  result.set_test_accuracy(0.97125f);
  result.set_test_loss(0.1f);
  result.set_path("/repo/m/4/model.nnm");
  EXPECT_EQ(FormatTrainResult("m", result),
            "published m version 4: test accuracy 0.9712 (loss 0.1000) "
            "(/repo/m/4/model.nnm)");
}

struct PredictionFixture {
  std::vector<InputImage> inputs;
  std::vector<v1::Prediction> predictions;
  std::vector<PredictedImage> images() const {
    std::vector<PredictedImage> out;
    for (size_t i = 0; i < inputs.size(); ++i) {
      out.push_back({&inputs[i], &predictions[i]});
    }
    return out;
  }
};

PredictionFixture TwoPredictions() {
  PredictionFixture f;
  f.inputs.resize(2);
  f.inputs[0].source = "digit.png";
  f.inputs[1].source = "t10k[3]";
  f.inputs[1].label = 3;
  f.predictions.push_back(ParseText<v1::Prediction>(R"pb(
    class_index: 7 label: "7" confidence: 0.9981
    probabilities: [ 0.1, 0.0019, 0, 0, 0, 0, 0, 0.9981, 0, 0 ]
    top_k { class_index: 7 label: "7" probability: 0.9981 }
    top_k { class_index: 1 label: "1" probability: 0.0019 }
  )pb"));
  f.predictions.push_back(ParseText<v1::Prediction>(R"pb(
    class_index: 5 label: "5" confidence: 0.5
    probabilities: [ 0, 0, 0, 0.5, 0, 0.5, 0, 0, 0, 0 ]
  )pb"));
  return f;
}

TEST(FormatTest, PredictionsTextHasOneLinePerImageAndAccuracy) {
  const PredictionFixture f = TwoPredictions();
  const std::vector<int64_t> versions = {3};
  EXPECT_EQ(FormatPredictionsText(f.images(), "mnist_mlp", versions),
            "SOURCE     CLASS  LABEL           CONFIDENCE  EXPECTED  TOP_K\n"
            "digit.png      7  7                   0.9981  -         "
            "7:0.9981 1:0.0019\n"
            "t10k[3]        5  5                   0.5000  3 (!)     \n"
            "model mnist_mlp version 3, 2 images, accuracy 0.0000 (0/1)\n");
}

TEST(FormatTest, PredictionsJsonIsValidAndComplete) {
  const PredictionFixture f = TwoPredictions();
  const std::vector<int64_t> versions = {3, 4};
  const std::string json =
      FormatPredictionsJson(f.images(), "mnist_mlp", versions);
  EXPECT_THAT(json, HasSubstr(R"("probabilities":[0.1,0.0019,0,0,0,0,0,0.9981,0,0])"));
  const google::protobuf::Struct parsed = ParseJson(json);
  EXPECT_EQ(parsed.fields().at("model").string_value(), "mnist_mlp");
  EXPECT_EQ(parsed.fields().at("versions").list_value().values_size(), 2);
  const auto& predictions = parsed.fields().at("predictions").list_value();
  ASSERT_EQ(predictions.values_size(), 2);
  const auto& first = predictions.values(0).struct_value().fields();
  EXPECT_EQ(first.at("source").string_value(), "digit.png");
  EXPECT_EQ(first.at("class_index").number_value(), 7);
  EXPECT_EQ(first.at("top_k").list_value().values_size(), 2);
  EXPECT_EQ(first.count("expected"), 0u);
  const auto& second = predictions.values(1).struct_value().fields();
  EXPECT_EQ(second.at("expected").number_value(), 3);
  EXPECT_FALSE(second.at("correct").bool_value());
  const auto& accuracy = parsed.fields().at("accuracy").struct_value().fields();
  EXPECT_EQ(accuracy.at("total").number_value(), 1);
  EXPECT_EQ(accuracy.at("correct").number_value(), 0);
}

BenchReport SampleReport() {
  BenchReport report;
  report.target = "127.0.0.1:5000";
  report.model = "mnist_mlp";
  report.encoding = ImageEncoding::kUint8;
  report.images_per_request = 2;
  report.duration = absl::Seconds(10);
  report.warmup = absl::Seconds(2);
  report.calls_per_channel = 16;
  LevelResult level;
  level.concurrency = 8;
  level.channels = 1;
  level.requests = 1002;
  level.ok_requests = 1000;
  level.warmup_requests = 50;
  level.images_per_request = 2;
  level.elapsed = absl::Seconds(2);
  level.errors_by_code = {{"UNAVAILABLE", 2}};
  level.first_error = "UNAVAILABLE: queue full";
  // 1000 latencies 100..199 us (10 of each microsecond): p50 = 149 us.
  for (int i = 0; i < 1000; ++i) level.latency_nanos.Record((100 + i / 10) * 1000);
  report.levels.push_back(level);
  return report;
}

TEST(FormatTest, BenchTableShowsRatesPercentilesAndErrors) {
  const std::string table = FormatBenchTable(SampleReport());
  EXPECT_THAT(table, HasSubstr("target 127.0.0.1:5000  model mnist_mlp  "
                               "encoding uint8  images/request 2  duration "
                               "10s  warmup 2s\n"));
  // 1000 ok in 2 s: 500 req/s, 1000 img/s; p50 within 0.4 % of 149 us.
  EXPECT_THAT(table, HasSubstr("          8      1002       2      500.0     "
                               "1000.0     149."));
  EXPECT_THAT(table, HasSubstr("errors at concurrency 8: UNAVAILABLE 2 "
                               "(UNAVAILABLE: queue full)\n"));
}

TEST(FormatTest, BenchCsvHasHeaderAndOneRowPerLevel) {
  const std::string csv = FormatBenchCsv(SampleReport());
  const std::vector<std::string> lines = absl::StrSplit(csv, '\n');
  ASSERT_EQ(lines.size(), 3u);  // header, row, "" after the last newline
  EXPECT_THAT(lines[0], HasSubstr("concurrency,channels,requests,ok_requests"));
  EXPECT_THAT(lines[1], HasSubstr("mnist_mlp,uint8,2,8,1,1002,1000,2,50,2.000,"
                                  "500.0,1000.0,"));
  EXPECT_THAT(lines[1], HasSubstr(",UNAVAILABLE:2"));
  EXPECT_EQ(std::count(lines[0].begin(), lines[0].end(), ','),
            std::count(lines[1].begin(), lines[1].end(), ','));
}

TEST(FormatTest, BenchJsonIsValidWithCountsAndPercentiles) {
  const google::protobuf::Struct parsed =
      ParseJson(FormatBenchJson(SampleReport()));
  EXPECT_EQ(parsed.fields().at("encoding").string_value(), "uint8");
  const auto& level = parsed.fields()
                          .at("levels")
                          .list_value()
                          .values(0)
                          .struct_value()
                          .fields();
  EXPECT_EQ(level.at("requests").number_value(), 1002);
  EXPECT_EQ(level.at("warmup_requests").number_value(), 50);
  EXPECT_EQ(level.at("requests_per_second").number_value(), 500);
  const auto& latency = level.at("latency_us").struct_value().fields();
  EXPECT_NEAR(latency.at("p50").number_value(), 149, 149 * 0.004);
  EXPECT_NEAR(latency.at("max").number_value(), 199, 1e-9);
  EXPECT_EQ(level.at("errors_by_code")
                .struct_value()
                .fields()
                .at("UNAVAILABLE")
                .number_value(),
            2);
}

TEST(JsonWriterTest, EscapesStringsAndSeparatesValues) {
  JsonWriter json;
  json.BeginObject()
      .Key("text")
      .String("a \"quoted\" \\ line\nwith\ttab and \x01")
      .Key("list")
      .BeginArray()
      .Int(-3)
      .Bool(true)
      .Float(0.1f)
      .Number(1.0 / 3)
      .Number(std::nan(""))
      .BeginObject()
      .EndObject()
      .EndArray()
      .EndObject();
  EXPECT_EQ(json.str(),
            R"({"text":"a \"quoted\" \\ line\nwith\ttab and \u0001",)"
            R"("list":[-3,true,0.1,0.33333333333333331,null,{}]})");
  ParseJson(json.str());
}

}  // namespace
}  // namespace nn
