// Tests of the dynamic batcher on a FakeClock, with a processor the test
// holds inside Process() to make "every worker is busy" deterministic. No
// test sleeps; the only real-time waits are 30 s guards against hangs.
#include "server/batching/batcher.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/mutex.h"

namespace nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr int64_t kIn = 4;   // floats per input image
constexpr int64_t kOut = 3;  // floats per output row
constexpr auto kGuard = std::chrono::seconds(30);

// The known function every test processor computes: output[j] = (j + 1) *
// sum(input) for each image.
void Reference(absl::Span<const float> input, int64_t n,
               absl::Span<float> output) {
  for (int64_t i = 0; i < n; ++i) {
    const float sum = std::accumulate(input.begin() + i * kIn,
                                      input.begin() + (i + 1) * kIn, 0.0f);
    for (int64_t j = 0; j < kOut; ++j) output[i * kOut + j] = (j + 1) * sum;
  }
}

// What a processor saw in one Process() call.
struct BatchRecord {
  int64_t n = 0;
  const float* input = nullptr;  // the pointer passed in
  std::vector<float> tags;       // first float of each image
};

// Shared by the test and its processors: records every batch and holds it in
// Process() until the test releases it.
class Gate {
 public:
  // Called by a processor: records the batch, blocks until it is released and
  // returns the status the test chose for it.
  absl::Status Pass(absl::Span<const float> input, int64_t n) {
    MutexLock lock(mu_);
    const int index = static_cast<int>(records_.size());
    BatchRecord record{n, input.data(), {}};
    for (int64_t i = 0; i < n; ++i) record.tags.push_back(input[i * kIn]);
    records_.push_back(std::move(record));
    cv_.notify_all();
    lock.Wait(cv_, [&] { return open_ || released_ > index; });
    auto failure = failures_.find(index);
    return failure == failures_.end() ? absl::OkStatus() : failure->second;
  }

  // Lets `count` more batches return from Process().
  void Release(int count) {
    MutexLock lock(mu_);
    released_ += count;
    cv_.notify_all();
  }
  // Lets every batch through, now and from now on.
  void Open() {
    MutexLock lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Batch number `index` (0-based, in order of entry) returns `status`.
  void FailBatch(int index, absl::Status status) {
    MutexLock lock(mu_);
    failures_[index] = std::move(status);
  }
  // Waits until `count` batches have entered Process().
  [[nodiscard]] bool AwaitEntered(int count) {
    MutexLock lock(mu_);
    return lock.WaitFor(cv_, kGuard, [&] {
      return static_cast<int>(records_.size()) >= count;
    });
  }
  std::vector<BatchRecord> records() {
    MutexLock lock(mu_);
    return records_;
  }
  std::vector<std::vector<float>> tags() {
    MutexLock lock(mu_);
    std::vector<std::vector<float>> tags;
    for (const BatchRecord& record : records_) tags.push_back(record.tags);
    return tags;
  }

  void ProcessorDestroyed() {
    MutexLock lock(mu_);
    ++destroyed_;
    cv_.notify_all();
  }
  [[nodiscard]] bool AwaitProcessorsDestroyed(int count) {
    MutexLock lock(mu_);
    return lock.WaitFor(cv_, kGuard, [&] { return destroyed_ >= count; });
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  std::vector<BatchRecord> records_;
  std::map<int, absl::Status> failures_;
  int released_ = 0;
  bool open_ = false;
  int destroyed_ = 0;
};

class GatedProcessor : public BatchProcessor {
 public:
  explicit GatedProcessor(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  ~GatedProcessor() override { gate_->ProcessorDestroyed(); }

  absl::Status Process(absl::Span<const float> input, int64_t n,
                       absl::Span<float> output) override {
    if (absl::Status status = gate_->Pass(input, n); !status.ok()) {
      return status;
    }
    Reference(input, n, output);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<Gate> gate_;
};

BatchProcessorFactory GatedFactory(std::shared_ptr<Gate> gate) {
  return [gate](int) -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
    return std::make_unique<GatedProcessor>(gate);
  };
}

// One task's buffers and what became of it. Image i's floats all equal
// `first_tag + i`, so a batch's tags say which images it held.
class Probe {
 public:
  Probe(int64_t n, float first_tag)
      : n_(n), input_(n * kIn), output_(n * kOut, -1.0f) {
    for (int64_t i = 0; i < n; ++i) {
      std::fill_n(input_.begin() + i * kIn, kIn, first_tag + i);
    }
  }

  BatchTask Task() {
    BatchTask task;
    task.num_images = n_;
    task.input = input_;
    task.output = absl::MakeSpan(output_);
    task.done = [this](absl::Status status) { Done(std::move(status)); };
    return task;
  }

  void Done(absl::Status status) {
    MutexLock lock(mu_);
    ++done_calls_;
    status_ = std::move(status);
    cv_.notify_all();
  }

  // Waits for `done` and returns its status (DEADLINE_EXCEEDED if it never
  // comes within the guard time).
  absl::Status Await() {
    MutexLock lock(mu_);
    if (!lock.WaitFor(cv_, kGuard, [&] { return done_calls_ > 0; })) {
      return absl::DeadlineExceededError("test guard: done never called");
    }
    return status_;
  }
  int done_calls() {
    MutexLock lock(mu_);
    return done_calls_;
  }
  // Whether every output row equals the reference function of its input.
  bool OutputIsCorrect() {
    std::vector<float> expected(n_ * kOut);
    Reference(input_, n_, absl::MakeSpan(expected));
    return expected == output_;
  }
  float tag(int64_t i) const { return input_[i * kIn]; }
  const float* input_data() const { return input_.data(); }

 private:
  const int64_t n_;
  std::vector<float> input_;
  std::vector<float> output_;
  Mutex mu_;
  std::condition_variable cv_;
  int done_calls_ = 0;
  absl::Status status_;
};

class RecordingObserver : public BatchObserver {
 public:
  void OnTaskStarted(absl::Duration queued) override {
    MutexLock lock(mu_);
    started_.push_back(queued);
  }
  void OnBatchComputed(int64_t images, absl::Duration compute) override {
    MutexLock lock(mu_);
    computed_.emplace_back(images, compute);
  }
  void OnTaskDropped(absl::StatusCode why) override {
    MutexLock lock(mu_);
    dropped_.push_back(why);
  }
  void OnQueueDepthChanged(int64_t queued_images) override {
    MutexLock lock(mu_);
    depths_.push_back(queued_images);
  }

  std::vector<absl::Duration> started() {
    MutexLock lock(mu_);
    return started_;
  }
  std::vector<std::pair<int64_t, absl::Duration>> computed() {
    MutexLock lock(mu_);
    return computed_;
  }
  std::vector<absl::StatusCode> dropped() {
    MutexLock lock(mu_);
    return dropped_;
  }
  std::vector<int64_t> depths() {
    MutexLock lock(mu_);
    return depths_;
  }

 private:
  Mutex mu_;
  std::vector<absl::Duration> started_;
  std::vector<std::pair<int64_t, absl::Duration>> computed_;
  std::vector<absl::StatusCode> dropped_;
  std::vector<int64_t> depths_;
};

Batcher::Options TestOptions() {
  Batcher::Options options;
  options.max_batch_size = 8;
  options.max_queue_delay = absl::InfiniteDuration();
  options.max_queue_size = 64;
  options.num_workers = 1;
  options.input_size = kIn;
  options.output_size = kOut;
  options.name = "test";
  return options;
}

class BatcherTest : public ::testing::Test {
 protected:
  void TearDown() override {
    gate_->Open();
    batcher_.reset();
  }

  void Start(Batcher::Options options = TestOptions()) {
    absl::StatusOr<std::unique_ptr<Batcher>> batcher =
        Batcher::Create(options, GatedFactory(gate_), &clock_, &observer_);
    ASSERT_TRUE(batcher.ok()) << batcher.status();
    batcher_ = *std::move(batcher);
  }

  Probe& NewProbe(int64_t n, float first_tag) {
    return probes_.emplace_back(n, first_tag);
  }

  // Schedules the probes' tasks in order; each must be accepted.
  void ScheduleAll(std::initializer_list<Probe*> probes) {
    for (Probe* probe : probes) {
      ASSERT_TRUE(batcher_->Schedule(probe->Task()).ok());
    }
  }

  // Lets every batch through; each probe must be done once, OK, with the
  // reference outputs.
  void OpenAndExpectSuccess(std::initializer_list<Probe*> probes) {
    gate_->Open();
    for (Probe* probe : probes) {
      EXPECT_TRUE(probe->Await().ok());
      EXPECT_EQ(probe->done_calls(), 1);
      EXPECT_TRUE(probe->OutputIsCorrect());
    }
  }

  // Schedules a one-image task and waits until a worker is computing it, so
  // that worker is busy until the test releases batch 0.
  void OccupyTheWorker() {
    ASSERT_TRUE(batcher_->Schedule(NewProbe(1, -1).Task()).ok());
    ASSERT_TRUE(gate_->AwaitEntered(1));
  }

  FakeClock clock_;
  RecordingObserver observer_;
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  std::deque<Probe> probes_;  // outlive batcher_, which calls their `done`
  std::unique_ptr<Batcher> batcher_;
};

TEST_F(BatcherTest, IdleWorkerComputesASingleTaskAtOnce) {
  Start();
  Probe& a = NewProbe(2, 10);
  ScheduleAll({&a});

  // The clock never moves: the worker took the task without waiting.
  ASSERT_TRUE(gate_->AwaitEntered(1));
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(10, 11)));
  OpenAndExpectSuccess({&a});
}

TEST_F(BatcherTest, TasksArrivingWhileTheWorkerIsBusyShareOneBatch) {
  Start();
  OccupyTheWorker();
  Probe& a = NewProbe(1, 10);
  Probe& b = NewProbe(2, 20);
  Probe& c = NewProbe(1, 30);
  ScheduleAll({&a, &b, &c});
  EXPECT_EQ(batcher_->queued_images(), 4);

  OpenAndExpectSuccess({&a, &b, &c});
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(-1), ElementsAre(10, 20, 21, 30)));
  EXPECT_EQ(batcher_->queued_images(), 0);
}

TEST_F(BatcherTest, TasksWaitingForTwoBusyWorkersShareOneBatch) {
  Batcher::Options options = TestOptions();
  options.num_workers = 2;
  Start(options);
  ASSERT_TRUE(batcher_->Schedule(NewProbe(1, -1).Task()).ok());
  ASSERT_TRUE(gate_->AwaitEntered(1));
  ASSERT_TRUE(batcher_->Schedule(NewProbe(1, -2).Task()).ok());
  ASSERT_TRUE(gate_->AwaitEntered(2));
  Probe& a = NewProbe(1, 10);
  Probe& b = NewProbe(1, 20);
  ScheduleAll({&a, &b});

  OpenAndExpectSuccess({&a, &b});
  ASSERT_EQ(gate_->records().size(), 3u);
  EXPECT_THAT(gate_->records()[2].tags, ElementsAre(10, 20));
}

TEST_F(BatcherTest, BusyBatchesStopAtMaxBatchSizeAndSplitTheTaskThatOverflows) {
  Batcher::Options options = TestOptions();
  options.max_batch_size = 4;
  Start(options);
  OccupyTheWorker();
  Probe& a = NewProbe(3, 10);
  Probe& b = NewProbe(3, 20);
  ScheduleAll({&a, &b});

  OpenAndExpectSuccess({&a, &b});
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(-1), ElementsAre(10, 11, 12, 20),
                          ElementsAre(21, 22)));
}

TEST_F(BatcherTest, LargeTaskIsSplitIntoFullBatchesAndReassembledInOrder) {
  Batcher::Options options = TestOptions();
  options.max_batch_size = 4;
  Start(options);
  Probe& a = NewProbe(10, 100);
  ScheduleAll({&a});

  OpenAndExpectSuccess({&a});
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(100, 101, 102, 103),
                          ElementsAre(104, 105, 106, 107),
                          ElementsAre(108, 109)));
}

TEST_F(BatcherTest, SplitTaskRunsOnSeveralWorkersAndIsReassembled) {
  Batcher::Options options = TestOptions();
  options.max_batch_size = 2;
  options.num_workers = 3;
  Start(options);
  Probe& a = NewProbe(6, 100);
  ASSERT_TRUE(batcher_->Schedule(a.Task()).ok());

  // All three slices are in Process() at once, one per worker.
  ASSERT_TRUE(gate_->AwaitEntered(3));
  EXPECT_EQ(a.done_calls(), 0);
  OpenAndExpectSuccess({&a});
}

TEST_F(BatcherTest, OpenBatchClosesWhenItsOldestTaskHasWaitedMaxQueueDelay) {
  Batcher::Options options = TestOptions();
  options.max_queue_delay = absl::Milliseconds(1);
  Start(options);
  OccupyTheWorker();
  Probe& a = NewProbe(1, 10);
  Probe& b = NewProbe(1, 20);
  Probe& c = NewProbe(1, 30);
  ASSERT_TRUE(batcher_->Schedule(a.Task()).ok());
  clock_.Advance(absl::Microseconds(999));
  ASSERT_TRUE(batcher_->Schedule(b.Task()).ok());  // joins a's batch
  clock_.Advance(absl::Microseconds(1));
  ASSERT_TRUE(batcher_->Schedule(c.Task()).ok());  // a waited 1 ms: new batch

  OpenAndExpectSuccess({&a, &b, &c});
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(-1), ElementsAre(10, 20),
                                         ElementsAre(30)));
}

TEST_F(BatcherTest, ZeroQueueDelayGivesEachTaskItsOwnBatchWhileBusy) {
  Batcher::Options options = TestOptions();
  options.max_queue_delay = absl::ZeroDuration();
  Start(options);
  OccupyTheWorker();
  Probe& a = NewProbe(2, 10);
  Probe& b = NewProbe(1, 20);
  ScheduleAll({&a, &b});

  OpenAndExpectSuccess({&a, &b});
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(-1), ElementsAre(10, 11),
                                         ElementsAre(20)));
}

TEST_F(BatcherTest, InfiniteQueueDelayKeepsFillingTheBatchHoweverLongItWaits) {
  Start();
  OccupyTheWorker();
  Probe& a = NewProbe(1, 10);
  Probe& b = NewProbe(1, 20);
  ASSERT_TRUE(batcher_->Schedule(a.Task()).ok());
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(batcher_->Schedule(b.Task()).ok());

  OpenAndExpectSuccess({&a, &b});
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(-1), ElementsAre(10, 20)));
}

TEST_F(BatcherTest, FullQueueRejectsWithUnavailableAndSaysSo) {
  Batcher::Options options = TestOptions();
  options.max_queue_size = 4;
  Start(options);
  OccupyTheWorker();  // taken by the worker: no longer queued
  Probe& a = NewProbe(3, 10);
  Probe& rejected = NewProbe(2, 20);
  Probe& c = NewProbe(1, 30);
  ASSERT_TRUE(batcher_->Schedule(a.Task()).ok());

  const absl::Status status = batcher_->Schedule(rejected.Task());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "queue full (3 images queued, limit 4)");
  EXPECT_TRUE(batcher_->Schedule(c.Task()).ok());  // exactly fills the queue
  EXPECT_EQ(batcher_->queued_images(), 4);

  OpenAndExpectSuccess({&a, &c});
  batcher_->Shutdown();
  EXPECT_EQ(rejected.done_calls(), 0);
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(-1), ElementsAre(10, 11, 12, 30)));
}

TEST_F(BatcherTest, TaskLargerThanTheQueueIsRejectedWithResourceExhausted) {
  Batcher::Options options = TestOptions();
  options.max_queue_size = 4;
  Start(options);
  Probe& big = NewProbe(5, 10);
  const absl::Status status = batcher_->Schedule(big.Task());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("5 images"));
  batcher_->Shutdown();
  EXPECT_EQ(big.done_calls(), 0);
}

TEST_F(BatcherTest, MalformedTasksAreRejectedWithInvalidArgument) {
  Start();
  Probe& probe = NewProbe(2, 10);
  std::vector<float> short_input(2 * kIn - 1);
  std::vector<float> long_output(2 * kOut + 1);

  BatchTask no_images = probe.Task();
  no_images.num_images = 0;
  BatchTask wrong_input = probe.Task();
  wrong_input.input = short_input;
  BatchTask wrong_output = probe.Task();
  wrong_output.output = absl::MakeSpan(long_output);
  BatchTask no_done = probe.Task();
  no_done.done = nullptr;

  for (BatchTask* task : {&no_images, &wrong_input, &wrong_output, &no_done}) {
    EXPECT_EQ(batcher_->Schedule(std::move(*task)).code(),
              absl::StatusCode::kInvalidArgument);
  }
  batcher_->Shutdown();
  EXPECT_EQ(probe.done_calls(), 0);
  EXPECT_THAT(gate_->records(), IsEmpty());
}

TEST(BatcherCreateTest, RejectsInvalidOptionsWithInvalidArgument) {
  FakeClock clock;
  auto gate = std::make_shared<Gate>();
  std::vector<Batcher::Options> bad(8, TestOptions());
  bad[6].gather_images = -1;
  bad[7].max_gather_delay = absl::Microseconds(-1);
  bad[0].max_batch_size = 0;
  bad[1].max_queue_delay = absl::Milliseconds(-1);
  bad[2].max_queue_size = 0;
  bad[3].num_workers = 0;
  bad[4].input_size = 0;
  bad[5].output_size = 0;
  for (const Batcher::Options& options : bad) {
    EXPECT_EQ(Batcher::Create(options, GatedFactory(gate), &clock).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(Batcher::Create(TestOptions(), nullptr, &clock).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Batcher::Create(TestOptions(), GatedFactory(gate), nullptr).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(BatcherTest, ExpiredDeadlineFailsWithDeadlineExceededWithoutCompute) {
  Start();
  OccupyTheWorker();
  Probe& late = NewProbe(2, 10);
  Probe& on_time = NewProbe(1, 20);
  Probe& no_deadline = NewProbe(1, 30);
  BatchTask late_task = late.Task();
  late_task.deadline = clock_.Now() + absl::Milliseconds(1);
  BatchTask on_time_task = on_time.Task();
  on_time_task.deadline = clock_.Now() + absl::Milliseconds(3);
  ASSERT_TRUE(batcher_->Schedule(std::move(late_task)).ok());
  ASSERT_TRUE(batcher_->Schedule(std::move(on_time_task)).ok());
  ScheduleAll({&no_deadline});
  clock_.Advance(absl::Milliseconds(2));

  OpenAndExpectSuccess({&on_time, &no_deadline});
  EXPECT_EQ(late.Await().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.done_calls(), 1);
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(-1), ElementsAre(20, 30)));
  EXPECT_THAT(observer_.dropped(),
              ElementsAre(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(BatcherTest, CancelledTaskFailsWithCancelledWithoutCompute) {
  Start();
  OccupyTheWorker();
  Probe& cancelled = NewProbe(2, 10);
  Probe& kept = NewProbe(1, 20);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  BatchTask task = cancelled.Task();
  task.is_cancelled = [cancel] { return cancel->load(); };
  ASSERT_TRUE(batcher_->Schedule(std::move(task)).ok());
  ScheduleAll({&kept});
  cancel->store(true);

  OpenAndExpectSuccess({&kept});
  EXPECT_EQ(cancelled.Await().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(-1), ElementsAre(20)));
  EXPECT_THAT(observer_.dropped(), ElementsAre(absl::StatusCode::kCancelled));
}

TEST_F(BatcherTest, ExpiredAndCancelledTaskCountsAsDeadlineExceeded) {
  // gRPC cancels a call whose deadline passed: that is a deadline drop.
  Start();
  OccupyTheWorker();
  Probe& expired = NewProbe(1, 10);
  Probe& kept = NewProbe(1, 20);
  BatchTask task = expired.Task();
  task.deadline = clock_.Now() + absl::Milliseconds(1);
  task.is_cancelled = [] { return true; };
  ASSERT_TRUE(batcher_->Schedule(std::move(task)).ok());
  ScheduleAll({&kept});
  clock_.Advance(absl::Milliseconds(2));

  OpenAndExpectSuccess({&kept});
  EXPECT_EQ(expired.Await().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(observer_.dropped(),
              ElementsAre(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(BatcherTest, CancellingASplitTaskSkipsItsRemainingSlices) {
  Batcher::Options options = TestOptions();
  options.max_batch_size = 2;
  Start(options);
  Probe& a = NewProbe(6, 100);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  BatchTask task = a.Task();
  task.is_cancelled = [cancel] { return cancel->load(); };
  ASSERT_TRUE(batcher_->Schedule(std::move(task)).ok());
  ASSERT_TRUE(gate_->AwaitEntered(1));  // first slice computing
  cancel->store(true);

  gate_->Open();
  EXPECT_EQ(a.Await().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(a.done_calls(), 1);
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(100, 101)));
}

TEST_F(BatcherTest, ProcessorErrorFailsEveryTaskInThatBatchOnly) {
  Start();
  OccupyTheWorker();
  Probe& a = NewProbe(1, 10);
  Probe& b = NewProbe(2, 20);
  ScheduleAll({&a, &b});
  gate_->FailBatch(1, absl::InternalError("oneDNN exploded"));

  gate_->Open();
  for (Probe* probe : {&a, &b}) {
    const absl::Status status = probe->Await();
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(status.message(), "oneDNN exploded");
    EXPECT_EQ(probe->done_calls(), 1);
  }
  Probe& after = NewProbe(1, 30);
  ScheduleAll({&after});
  OpenAndExpectSuccess({&after});
}

TEST_F(BatcherTest, SplitTaskReportsTheFailedSliceAndSkipsTheRest) {
  Batcher::Options options = TestOptions();
  options.max_batch_size = 2;
  Start(options);
  gate_->FailBatch(1, absl::ResourceExhaustedError("out of memory"));
  gate_->Open();
  Probe& a = NewProbe(6, 100);
  ASSERT_TRUE(batcher_->Schedule(a.Task()).ok());

  const absl::Status status = a.Await();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "out of memory");
  EXPECT_EQ(a.done_calls(), 1);
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(100, 101), ElementsAre(102, 103)));
}

TEST_F(BatcherTest, SingleSliceBatchIsComputedInPlaceAndOthersAreGathered) {
  Start();
  OccupyTheWorker();
  Probe& a = NewProbe(2, 10);
  Probe& b = NewProbe(1, 20);
  ScheduleAll({&a, &b});
  gate_->Release(2);
  ASSERT_TRUE(b.Await().ok());
  Probe& c = NewProbe(3, 30);
  ScheduleAll({&c});
  OpenAndExpectSuccess({&a, &b, &c});

  const std::vector<BatchRecord> records = gate_->records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_NE(records[1].input, a.input_data());  // a + b: gathered
  EXPECT_NE(records[1].input, b.input_data());
  EXPECT_EQ(records[2].input, c.input_data());  // c alone: in place
}

TEST_F(BatcherTest, QueuedTasksReuseTheStatesOfFinishedTasks) {
  Start();
  OccupyTheWorker();  // one state, in use
  Probe& a = NewProbe(1, 10);
  Probe& b = NewProbe(2, 20);
  Probe& c = NewProbe(1, 30);
  ScheduleAll({&a, &b, &c});  // three more: none is free yet
  EXPECT_EQ(batcher_->task_states_made(), 4);
  gate_->Release(1);
  // Taking the next batch, the worker gave the first task's state back.
  ASSERT_TRUE(gate_->AwaitEntered(2));
  Probe& d = NewProbe(1, 40);
  ScheduleAll({&d});
  EXPECT_EQ(batcher_->task_states_made(), 4);
  gate_->Release(1);
  ASSERT_TRUE(gate_->AwaitEntered(3));  // a, b and c's states are free
  Probe& e = NewProbe(3, 50);
  Probe& f = NewProbe(1, 60);
  Probe& g = NewProbe(1, 70);
  ScheduleAll({&e, &f, &g});
  EXPECT_EQ(batcher_->task_states_made(), 4);
  // Each reused state served one task at a time: every task is done once,
  // with its own outputs.
  OpenAndExpectSuccess({&a, &b, &c, &d, &e, &f, &g});
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(-1), ElementsAre(10, 20, 21, 30),
                          ElementsAre(40), ElementsAre(50, 51, 52, 60, 70)));
  EXPECT_EQ(batcher_->task_states_made(), 4);
}

TEST_F(BatcherTest, ASplitTaskFreesItsStateOnlyAfterItsLastSlice) {
  Batcher::Options options = TestOptions();
  options.max_batch_size = 2;
  Start(options);
  OccupyTheWorker();
  Probe& big = NewProbe(5, 10);  // slices of 2, 2, 1
  ScheduleAll({&big});
  gate_->Release(2);  // the occupier and big's first slice
  ASSERT_TRUE(gate_->AwaitEntered(3));
  // big is still in the batcher: its state must not be given to c.
  Probe& c = NewProbe(1, 30);
  ScheduleAll({&c});
  EXPECT_EQ(batcher_->task_states_made(), 2);  // c reuses the occupier's
  OpenAndExpectSuccess({&big, &c});
  EXPECT_THAT(gate_->tags(),
              ElementsAre(ElementsAre(-1), ElementsAre(10, 11),
                          ElementsAre(12, 13), ElementsAre(14, 30)));
}

TEST(BatcherCreateTest, FailsWithTheFactoryErrorWhenNoWorkerCanStart) {
  FakeClock clock;
  Batcher::Options options = TestOptions();
  options.num_workers = 2;
  std::atomic<int> calls{0};
  auto failing = [&](int) -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
    ++calls;
    return absl::FailedPreconditionError("no execution plan");
  };
  const absl::Status status =
      Batcher::Create(options, failing, &clock).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("no execution plan"));
  EXPECT_EQ(calls.load(), 2);

  auto null = [](int) -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
    return std::unique_ptr<BatchProcessor>();
  };
  EXPECT_EQ(Batcher::Create(options, null, &clock).status().code(),
            absl::StatusCode::kInternal);
}

TEST(BatcherCreateTest, RunsWithTheWorkersWhoseFactorySucceeded) {
  FakeClock clock;
  auto gate = std::make_shared<Gate>();
  gate->Open();
  Batcher::Options options = TestOptions();
  options.num_workers = 3;
  auto factory =
      [gate](int worker) -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
    if (worker == 1) return absl::InternalError("worker 1 has no plan");
    return std::make_unique<GatedProcessor>(gate);
  };
  Probe a(2, 10);
  absl::StatusOr<std::unique_ptr<Batcher>> batcher =
      Batcher::Create(options, factory, &clock);
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  EXPECT_EQ((*batcher)->num_workers(), 2);
  ASSERT_TRUE((*batcher)->Schedule(a.Task()).ok());
  EXPECT_TRUE(a.Await().ok());
  EXPECT_TRUE(a.OutputIsCorrect());
}

TEST_F(BatcherTest, ShutdownComputesAcceptedTasksAndRejectsNewOnes) {
  Batcher::Options options = TestOptions();
  options.max_queue_size = 1 << 20;
  Start(options);
  OccupyTheWorker();
  std::vector<Probe*> accepted = {&NewProbe(2, 10), &NewProbe(1, 20)};
  for (Probe* probe : accepted) {
    ASSERT_TRUE(batcher_->Schedule(probe->Task()).ok());
  }

  std::thread stopper([&] { batcher_->Shutdown(); });
  // Shutdown blocks on the busy worker; until it has begun, tasks are still
  // accepted (and must complete too). Bounded in count; never sleeps.
  absl::Status status;
  Probe* rejected = nullptr;
  for (int i = 0; i < 1'000'000 && rejected == nullptr; ++i) {
    Probe& probe = NewProbe(1, 1000 + i);
    status = batcher_->Schedule(probe.Task());
    if (status.ok()) {
      accepted.push_back(&probe);
    } else {
      rejected = &probe;
    }
    std::this_thread::yield();
  }
  ASSERT_NE(rejected, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("shutting down"));

  gate_->Open();
  stopper.join();
  // Shutdown returned: every accepted task is done, none is left queued.
  for (Probe* probe : accepted) {
    EXPECT_EQ(probe->done_calls(), 1);
    EXPECT_TRUE(probe->Await().ok());
    EXPECT_TRUE(probe->OutputIsCorrect());
  }
  EXPECT_EQ(rejected->done_calls(), 0);
  EXPECT_EQ(batcher_->queued_images(), 0);
  EXPECT_EQ(batcher_->num_workers(), 0);
  batcher_->Shutdown();  // idempotent
  EXPECT_EQ(batcher_->Schedule(NewProbe(1, 0).Task()).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(BatcherTest, DestroyingTheBatcherFromADoneCallbackFinishesTheRest) {
  Batcher::Options options = TestOptions();
  options.max_batch_size = 1;
  Start(options);
  OccupyTheWorker();
  Probe& a = NewProbe(1, 10);
  Probe& b = NewProbe(1, 20);
  BatchTask task = a.Task();
  task.done = [this, &a](absl::Status status) {
    batcher_.reset();  // on the worker thread, with b still queued
    a.Done(std::move(status));
  };
  ASSERT_TRUE(batcher_->Schedule(std::move(task)).ok());
  ASSERT_TRUE(batcher_->Schedule(b.Task()).ok());

  gate_->Open();
  EXPECT_TRUE(a.Await().ok());
  EXPECT_TRUE(b.Await().ok());
  EXPECT_TRUE(b.OutputIsCorrect());
  // The worker exits by itself and destroys its processor on its thread.
  EXPECT_TRUE(gate_->AwaitProcessorsDestroyed(1));
  EXPECT_EQ(batcher_, nullptr);
}

TEST_F(BatcherTest, ObserverSeesQueueWaitsComputeTimesDropsAndDepth) {
  Start();
  OccupyTheWorker();
  Probe& a = NewProbe(2, 10);
  Probe& late = NewProbe(1, 20);
  BatchTask late_task = late.Task();
  late_task.deadline = clock_.Now() + absl::Milliseconds(1);
  ScheduleAll({&a});
  ASSERT_TRUE(batcher_->Schedule(std::move(late_task)).ok());
  clock_.Advance(absl::Milliseconds(3));  // while the first batch computes

  OpenAndExpectSuccess({&a});
  EXPECT_EQ(late.Await().code(), absl::StatusCode::kDeadlineExceeded);
  batcher_->Shutdown();
  EXPECT_THAT(observer_.started(),
              ElementsAre(absl::ZeroDuration(), absl::Milliseconds(3),
                          absl::Milliseconds(3)));
  EXPECT_THAT(observer_.computed(),
              ElementsAre(Pair(1, absl::Milliseconds(3)),
                          Pair(2, absl::ZeroDuration())));
  EXPECT_THAT(observer_.dropped(),
              ElementsAre(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(observer_.depths(), ElementsAre(1, 0, 2, 3, 0));
}

// The reference function as a processor, for the stress tests' workers and
// their producers' fast path.
class ReferenceProcessor : public BatchProcessor {
 public:
  absl::Status Process(absl::Span<const float> input, int64_t n,
                       absl::Span<float> output) override {
    Reference(input, n, output);
    return absl::OkStatus();
  }
};

// A batcher on the real clock whose workers run ReferenceProcessor.
absl::StatusOr<std::unique_ptr<Batcher>> ReferenceBatcher(
    const Batcher::Options& options) {
  return Batcher::Create(
      options,
      [](int) -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
        return std::make_unique<ReferenceProcessor>();
      },
      Clock::Real());
}

// Many producers against few workers on the real clock, with splits,
// cancellations and a small queue: every accepted task's `done` runs exactly
// once with the right outputs; no rejected task's ever does.
// Producers on 8 threads offer tasks of 1-12 images, some cancelled; with
// `fast_path`, each producer first offers small tasks to RunInlineOrFollow
// with its own processor (runs and followers mix with the workers).
void RunManyProducers(bool fast_path, bool gather = false) {
  constexpr int kProducers = 8;
  constexpr int kTasksEach = 150;
  constexpr int kMaxAttempts = 20'000;
  Batcher::Options options = TestOptions();
  options.max_batch_size = 8;
  options.max_queue_size = 48;
  options.num_workers = 3;
  options.max_queue_delay = absl::Microseconds(50);
  options.max_inline_images = fast_path ? 4 : 0;
  if (gather) {
    options.gather_images = 3;
    options.max_gather_delay = absl::Microseconds(200);
  }
  absl::StatusOr<std::unique_ptr<Batcher>> batcher =
      ReferenceBatcher(options);
  ASSERT_TRUE(batcher.ok()) << batcher.status();

  struct Item {
    Item(int64_t n, float tag, bool cancel) : probe(n, tag), cancelled(cancel) {}
    Probe probe;
    const bool cancelled;
    bool accepted = false;
  };
  std::vector<std::deque<Item>> items(kProducers);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      ReferenceProcessor own;  // this thread's, for the fast path
      for (int t = 0; t < kTasksEach; ++t) {
        const int64_t n = 1 + (p * 31 + t * 7) % 12;
        Item& item = items[p].emplace_back(n, 10'000.0f * p + 20.0f * t,
                                           t % 10 == 3);
        for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
          BatchTask task = item.probe.Task();
          if (item.cancelled) task.is_cancelled = [] { return true; };
          if (fast_path && (*batcher)->RunInlineOrFollow(task, own)) {
            item.accepted = true;
            break;
          }
          const absl::Status status = (*batcher)->Schedule(std::move(task));
          if (status.ok()) {
            item.accepted = true;
            break;
          }
          ASSERT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
          std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();

  int accepted = 0;
  for (std::deque<Item>& list : items) {
    for (Item& item : list) {
      if (!item.accepted) continue;
      ++accepted;
      const absl::Status status = item.probe.Await();
      if (item.cancelled) {
        EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
      } else {
        EXPECT_TRUE(status.ok()) << status;
        EXPECT_TRUE(item.probe.OutputIsCorrect());
      }
    }
  }
  (*batcher)->Shutdown();
  for (std::deque<Item>& list : items) {
    for (Item& item : list) {
      EXPECT_EQ(item.probe.done_calls(), item.accepted ? 1 : 0);
    }
  }
  EXPECT_GT(accepted, kProducers * kTasksEach / 2);
}

TEST(BatcherStressTest, ManyProducersGetEveryTaskDoneOnceWithCorrectOutputs) {
  RunManyProducers(/*fast_path=*/false);
}

TEST(BatcherStressTest, ManyProducersOnTheFastPathGetEveryTaskDoneOnce) {
  RunManyProducers(/*fast_path=*/true);
}

TEST(BatcherStressTest, ManyProducersGatheringGetEveryTaskDoneOnce) {
  RunManyProducers(/*fast_path=*/true, /*gather=*/true);
}

// Producers submit through Submit (the request path: the fast path, then
// the queue) while another thread cancels every third task at some moment
// of its life (before, while or after it is queued, followed or computed):
// each accepted task's `done` runs once, with its reference outputs or
// CANCELLED (only if it was cancelled); a task rejected as cancelled never
// completes; and the pooled task states stay bounded by what can be in the
// batcher at once (the queue, the batches computing and the states waiting
// to return to the pool), far fewer than the tasks.
TEST(BatcherStressTest, ConcurrentCancellationNeverSharesOrLosesATask) {
  constexpr int kProducers = 4;
  constexpr int kTasksEach = 200;
  constexpr int kMaxAttempts = 20'000;
  Batcher::Options options = TestOptions();
  options.max_batch_size = 8;
  options.max_queue_size = 48;
  options.num_workers = 2;
  options.max_inline_images = 4;
  absl::StatusOr<std::unique_ptr<Batcher>> batcher =
      ReferenceBatcher(options);
  ASSERT_TRUE(batcher.ok()) << batcher.status();

  struct Item {
    Item(int64_t n, float tag) : probe(n, tag) {}
    Probe probe;
    std::atomic<bool> cancel{false};
    std::atomic<bool> submitted{false};
    bool accepted = false;
    bool rejected_as_cancelled = false;
  };
  std::deque<Item> items;  // [p * kTasksEach + t]
  for (int p = 0; p < kProducers; ++p) {
    for (int t = 0; t < kTasksEach; ++t) {
      items.emplace_back(1 + (p * 13 + t * 5) % 6, 10'000.0f * p + 20.0f * t);
    }
  }
  std::atomic<bool> producing{true};
  std::thread canceller([&] {
    // Sweeps until the producers are done, cancelling every third task
    // once it is submitted (or about to be).
    while (producing.load()) {
      for (size_t i = 0; i < items.size(); i += 3) {
        if (items[i].submitted.load()) items[i].cancel.store(true);
      }
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      ReferenceProcessor own;  // this thread's, for the fast path
      for (int t = 0; t < kTasksEach; ++t) {
        Item& item = items[p * kTasksEach + t];
        item.submitted.store(true);
        for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
          BatchTask task = item.probe.Task();
          task.is_cancelled = [&item] { return item.cancel.load(); };
          const Admission admission = (*batcher)->Submit(std::move(task), &own);
          if (admission.accepted()) {
            item.accepted = true;
            break;
          }
          if (admission.rejection() == Rejection::kCancelled) {
            item.rejected_as_cancelled = true;
            break;
          }
          ASSERT_EQ(admission.rejection(), Rejection::kQueueFull)
              << admission.status();
          std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  producing.store(false);
  canceller.join();

  int accepted = 0;
  for (Item& item : items) {
    if (!item.accepted) continue;
    ++accepted;
    const absl::Status status = item.probe.Await();
    if (status.ok()) {
      EXPECT_TRUE(item.probe.OutputIsCorrect());
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
      EXPECT_TRUE(item.cancel.load());
    }
  }
  (*batcher)->Shutdown();
  for (Item& item : items) {
    EXPECT_EQ(item.probe.done_calls(), item.accepted ? 1 : 0);
    if (item.rejected_as_cancelled) {
      EXPECT_TRUE(item.cancel.load());
    }
  }
  EXPECT_GT(accepted, kProducers * kTasksEach / 2);
  // Queued tasks (<= 48, one image or more each), tasks in the batches of
  // the 2 workers and of up to 4 runs' followers (8 and 4 images), and as
  // many states again on those threads' way back to the pool.
  EXPECT_LE((*batcher)->task_states_made(), 48 + 2 * (2 * 8 + 4 * 4));
}

}  // namespace
}  // namespace nn

// --- The fast path (RunInlineOrFollow) ---------------------------------------

namespace nn {
namespace {

// The caller's own processor: the reference function, on the calling thread.
class CallerProcessor : public BatchProcessor {
 public:
  absl::Status Process(absl::Span<const float> input, int64_t n,
                       absl::Span<float> output) override {
    threads_.push_back(std::this_thread::get_id());
    Reference(input, n, output);
    return absl::OkStatus();
  }
  const std::vector<std::thread::id>& threads() const { return threads_; }

 private:
  std::vector<std::thread::id> threads_;
};

Batcher::Options InlineOptions() {
  Batcher::Options options = TestOptions();
  options.max_inline_images = 4;
  return options;
}

class BatcherInlineTest : public BatcherTest {
 protected:
  // RunInlineOrFollow, retried while the worker has not reached its idle wait
  // yet (it does so right after start and after each batch); bounded.
  bool RunInlineOnceIdle(BatchTask& task) { return RunOnceIdle(task, caller_); }
  bool RunOnceIdle(BatchTask& task, BatchProcessor& processor) {
    for (int i = 0; i < 1000000; ++i) {
      if (batcher_->RunInlineOrFollow(task, processor)) return true;
      std::this_thread::yield();
    }
    return false;
  }
  CallerProcessor caller_;
};

TEST_F(BatcherInlineTest, IdleBatcherComputesASmallTaskOnTheCallingThread) {
  Start(InlineOptions());
  Probe& a = NewProbe(3, 10);
  BatchTask task = a.Task();
  ASSERT_TRUE(RunInlineOnceIdle(task));
  // Done before returning, on this thread, by the caller's processor.
  EXPECT_EQ(a.done_calls(), 1);
  EXPECT_TRUE(a.Await().ok());
  EXPECT_TRUE(a.OutputIsCorrect());
  EXPECT_THAT(caller_.threads(), ElementsAre(std::this_thread::get_id()));
  EXPECT_TRUE(gate_->tags().empty());  // no worker computed anything
  EXPECT_THAT(observer_.started(), ElementsAre(absl::ZeroDuration()));
  ASSERT_EQ(observer_.computed().size(), 1u);
  EXPECT_EQ(observer_.computed()[0].first, 3);
}

TEST_F(BatcherInlineTest, IsOffByDefault) {
  Start();  // max_inline_images 0
  Probe& a = NewProbe(1, 10);
  BatchTask task = a.Task();
  EXPECT_FALSE(batcher_->RunInlineOrFollow(task, caller_));
  EXPECT_EQ(a.done_calls(), 0);
}

TEST_F(BatcherInlineTest, LargerTasksGoThroughTheQueue) {
  Start(InlineOptions());
  Probe& a = NewProbe(5, 10);  // more than max_inline_images
  BatchTask task = a.Task();
  EXPECT_FALSE(batcher_->RunInlineOrFollow(task, caller_));
  ASSERT_TRUE(batcher_->Schedule(std::move(task)).ok());
  OpenAndExpectSuccess({&a});
  EXPECT_TRUE(caller_.threads().empty());
}

TEST_F(BatcherInlineTest, BusyWorkerOrQueuedTasksDeclineTheFastPath) {
  Start(InlineOptions());
  OccupyTheWorker();
  Probe& a = NewProbe(1, 10);
  BatchTask task = a.Task();
  EXPECT_FALSE(batcher_->RunInlineOrFollow(task, caller_));  // worker busy
  Probe& queued = NewProbe(1, 20);
  ScheduleAll({&queued});
  EXPECT_FALSE(batcher_->RunInlineOrFollow(task, caller_));  // queue not empty
  EXPECT_EQ(a.done_calls(), 0);
  ASSERT_TRUE(batcher_->Schedule(std::move(task)).ok());
  OpenAndExpectSuccess({&queued, &a});
  EXPECT_TRUE(caller_.threads().empty());
}

TEST_F(BatcherInlineTest, ExpiredDeadlineIsDroppedWithoutCompute) {
  Start(InlineOptions());
  Probe& a = NewProbe(1, 10);
  BatchTask task = a.Task();
  task.deadline = clock_.Now();
  ASSERT_TRUE(RunInlineOnceIdle(task));
  EXPECT_EQ(a.Await().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(caller_.threads().empty());
  EXPECT_THAT(observer_.dropped(),
              ElementsAre(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(BatcherInlineTest, UnderLoadOnlyModeWaitsForASingleImageBatch) {
  Batcher::Options options = InlineOptions();
  options.inline_only_when_unloaded = true;
  Start(options);
  // The worker computes a batch of two images: the load is not light.
  Probe& pair = NewProbe(2, 10);
  ScheduleAll({&pair});
  OpenAndExpectSuccess({&pair});
  Probe& a = NewProbe(1, 20);
  BatchTask task = a.Task();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(batcher_->RunInlineOrFollow(task, caller_));
  }
  // A single-image batch through the worker: light load again.
  ASSERT_TRUE(batcher_->Schedule(std::move(task)).ok());
  EXPECT_TRUE(a.Await().ok());
  Probe& b = NewProbe(1, 30);
  BatchTask next = b.Task();
  ASSERT_TRUE(RunInlineOnceIdle(next));
  EXPECT_TRUE(b.OutputIsCorrect());
  EXPECT_EQ(caller_.threads().size(), 1u);
}

// --- Following a fast-path run ------------------------------------------------

class BatcherFollowTest : public BatcherInlineTest {
 protected:
  void TearDown() override {
    run_gate_->Open();
    if (runner_.joinable()) runner_.join();
    BatcherInlineTest::TearDown();
  }

  // Starts a fast-path run of `probe` on a thread of its own whose processor
  // holds each batch in run_gate_ until the test releases it; returns once
  // the run is computing (holding) its own task.
  void StartRun(Probe& probe) {
    runner_ = std::thread([this, &probe] {
      BatchTask task = probe.Task();
      ran_ = RunOnceIdle(task, run_processor_);
    });
    ASSERT_TRUE(run_gate_->AwaitEntered(1));
  }
  // Lets the run finish and waits for its thread.
  void FinishRun() {
    run_gate_->Open();
    runner_.join();
    EXPECT_TRUE(ran_);
  }
  // RunInlineOrFollow from the test thread, with the test's own processor.
  bool Offer(Probe& probe) {
    BatchTask task = probe.Task();
    return batcher_->RunInlineOrFollow(task, caller_);
  }

  std::shared_ptr<Gate> run_gate_ = std::make_shared<Gate>();
  GatedProcessor run_processor_{run_gate_};
  std::thread runner_;
  std::atomic<bool> ran_{false};
};

TEST_F(BatcherFollowTest, FollowersAreComputedByTheRunAfterItsTaskInOneBatch) {
  Start(InlineOptions());  // max_inline_images 4
  Probe& a = NewProbe(1, 10);
  StartRun(a);
  Probe& b = NewProbe(1, 20);
  Probe& c = NewProbe(2, 30);
  ASSERT_TRUE(Offer(b));  // taken at once, computed later by the run
  ASSERT_TRUE(Offer(c));
  EXPECT_EQ(b.done_calls(), 0);
  EXPECT_EQ(batcher_->queued_images(), 3);
  clock_.Advance(absl::Milliseconds(5));
  FinishRun();
  for (Probe* probe : {&a, &b, &c}) {
    EXPECT_TRUE(probe->Await().ok());
    EXPECT_EQ(probe->done_calls(), 1);
    EXPECT_TRUE(probe->OutputIsCorrect());
  }
  // The run's own task alone, then its followers gathered into one batch.
  EXPECT_THAT(run_gate_->tags(), ElementsAre(ElementsAre(10),
                                             ElementsAre(20, 30, 31)));
  EXPECT_TRUE(caller_.threads().empty());  // the followers' thread computed nothing
  EXPECT_TRUE(gate_->tags().empty());      // nor did the worker
  EXPECT_EQ(batcher_->queued_images(), 0);
  EXPECT_THAT(observer_.started(),
              ElementsAre(absl::ZeroDuration(), absl::Milliseconds(5),
                          absl::Milliseconds(5)));
  ASSERT_EQ(observer_.computed().size(), 2u);
  EXPECT_EQ(observer_.computed()[1].first, 3);
}

TEST_F(BatcherFollowTest, ATaskThatDoesNotFitTheFollowersStartsASecondRun) {
  Start(InlineOptions());
  Probe& a = NewProbe(1, 10);
  StartRun(a);
  Probe& b = NewProbe(4, 20);  // the followers' limit, max_inline_images
  ASSERT_TRUE(Offer(b));
  Probe& c = NewProbe(1, 30);
  // A second run, on this thread: its own task, then the followers waiting
  // (whichever run finishes first takes them), all before returning.
  ASSERT_TRUE(Offer(c));
  for (Probe* probe : {&c, &b}) {
    EXPECT_EQ(probe->done_calls(), 1);
    EXPECT_TRUE(probe->OutputIsCorrect());
  }
  EXPECT_THAT(caller_.threads(), ElementsAre(std::this_thread::get_id(),
                                             std::this_thread::get_id()));
  FinishRun();
  EXPECT_TRUE(a.Await().ok());
  EXPECT_THAT(run_gate_->tags(), ElementsAre(ElementsAre(10)));
}

TEST_F(BatcherFollowTest, ARunKeptBusyByFollowersHandsTheRestToTheWorkers) {
  Start(InlineOptions());
  Probe& a = NewProbe(1, 10);
  StartRun(a);
  // Four batches of followers, each joined while the previous one computes.
  std::vector<Probe*> followers;
  for (int round = 0; round < 4; ++round) {
    Probe& f = NewProbe(1, 20 + round);
    followers.push_back(&f);
    ASSERT_TRUE(Offer(f));
    run_gate_->Release(1);
    ASSERT_TRUE(run_gate_->AwaitEntered(2 + round));
  }
  Probe& late = NewProbe(1, 30);
  ASSERT_TRUE(Offer(late));
  FinishRun();
  // The run computed its four batches; the late follower went to the worker.
  EXPECT_THAT(run_gate_->tags(),
              ElementsAre(ElementsAre(10), ElementsAre(20), ElementsAre(21),
                          ElementsAre(22), ElementsAre(23)));
  ASSERT_TRUE(gate_->AwaitEntered(1));
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(30)));
  followers.push_back(&late);
  gate_->Open();
  for (Probe* probe : followers) {
    EXPECT_TRUE(probe->Await().ok());
    EXPECT_EQ(probe->done_calls(), 1);
    EXPECT_TRUE(probe->OutputIsCorrect());
  }
}

TEST_F(BatcherFollowTest, FollowersReuseTheStatesOfFinishedFollowers) {
  Start(InlineOptions());
  Probe& a = NewProbe(1, 10);
  StartRun(a);  // the run's own task needs no state
  Probe& b = NewProbe(1, 20);
  ASSERT_TRUE(Offer(b));
  EXPECT_EQ(batcher_->task_states_made(), 1);
  run_gate_->Release(1);
  ASSERT_TRUE(run_gate_->AwaitEntered(2));  // computing b
  Probe& c = NewProbe(2, 30);
  ASSERT_TRUE(Offer(c));  // b's state is still in use
  EXPECT_EQ(batcher_->task_states_made(), 2);
  run_gate_->Release(1);
  ASSERT_TRUE(run_gate_->AwaitEntered(3));  // computing c; b's state is free
  Probe& d = NewProbe(1, 40);
  ASSERT_TRUE(Offer(d));
  EXPECT_EQ(batcher_->task_states_made(), 2);
  FinishRun();
  for (Probe* probe : {&a, &b, &c, &d}) {
    EXPECT_TRUE(probe->Await().ok());
    EXPECT_EQ(probe->done_calls(), 1);
    EXPECT_TRUE(probe->OutputIsCorrect());
  }
  EXPECT_THAT(run_gate_->tags(),
              ElementsAre(ElementsAre(10), ElementsAre(20),
                          ElementsAre(30, 31), ElementsAre(40)));
}

TEST_F(BatcherFollowTest, FollowerPastItsDeadlineIsDroppedWithoutCompute) {
  Start(InlineOptions());
  Probe& a = NewProbe(1, 10);
  StartRun(a);
  Probe& b = NewProbe(1, 20);
  BatchTask task = b.Task();
  task.deadline = clock_.Now() + absl::Milliseconds(1);
  ASSERT_TRUE(batcher_->RunInlineOrFollow(task, caller_));
  clock_.Advance(absl::Milliseconds(2));
  FinishRun();
  EXPECT_EQ(b.Await().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(run_gate_->tags(), ElementsAre(ElementsAre(10)));
  EXPECT_THAT(observer_.dropped(),
              ElementsAre(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(BatcherFollowTest, UnderLoadOnlyModeNeitherFollowsNorRunsTwice) {
  Batcher::Options options = InlineOptions();
  options.inline_only_when_unloaded = true;
  Start(options);
  Probe& a = NewProbe(1, 10);
  StartRun(a);
  Probe& b = NewProbe(1, 20);
  EXPECT_FALSE(Offer(b));  // for the workers' batches instead
  EXPECT_EQ(batcher_->queued_images(), 0);
  ScheduleAll({&b});
  OpenAndExpectSuccess({&b});
  FinishRun();
  EXPECT_TRUE(a.Await().ok());
  EXPECT_THAT(run_gate_->tags(), ElementsAre(ElementsAre(10)));
  EXPECT_TRUE(caller_.threads().empty());
}

TEST_F(BatcherFollowTest, ShutdownRejectsNewTasksAndTheRunFinishesItsFollowers) {
  Start(InlineOptions());
  Probe& a = NewProbe(1, 10);
  StartRun(a);
  Probe& b = NewProbe(1, 20);
  ASSERT_TRUE(Offer(b));
  batcher_->Shutdown();  // joins the (idle) worker; the run goes on
  Probe& c = NewProbe(1, 30);
  EXPECT_FALSE(Offer(c));
  EXPECT_EQ(batcher_->Schedule(c.Task()).code(), absl::StatusCode::kUnavailable);
  FinishRun();
  EXPECT_TRUE(a.Await().ok());
  EXPECT_TRUE(b.Await().ok());
  EXPECT_TRUE(b.OutputIsCorrect());
  EXPECT_EQ(c.done_calls(), 0);
}


// --- Gathering (Options::gather_images) ----------------------------------------

Batcher::Options GatherOptions() {
  Batcher::Options options = InlineOptions();  // max_inline_images 4
  options.gather_images = 3;
  options.max_gather_delay = absl::Milliseconds(1);
  return options;
}

class BatcherGatherTest : public BatcherFollowTest {
 protected:
  // Offers one-image tasks at one instant (the fake clock stands still, so
  // arrivals are as dense as can be): the first ones are computed at once,
  // until the arrival average says the load is heavy and one waits in a
  // gather. Returns that one.
  Probe& GatherFirst(float tag) {
    for (int i = 0; i < 1000; ++i) {
      Probe& probe = NewProbe(1, tag + i);
      BatchTask task = probe.Task();
      EXPECT_TRUE(RunInlineOnceIdle(task));
      if (probe.done_calls() == 0) return probe;
      ++computed_alone_;
    }
    ADD_FAILURE() << "no task gathered";
    return probes_.back();
  }
  static void ExpectDoneOnceAndCorrect(std::initializer_list<Probe*> probes) {
    for (Probe* probe : probes) {
      EXPECT_TRUE(probe->Await().ok());
      EXPECT_EQ(probe->done_calls(), 1);
      EXPECT_TRUE(probe->OutputIsCorrect());
    }
  }
  int computed_alone_ = 0;
};

TEST_F(BatcherGatherTest, TheTaskThatCompletesAGatherComputesItAsOneBatch) {
  Start(GatherOptions());  // gather 3 images
  Probe& a = GatherFirst(100);
  EXPECT_GT(computed_alone_, 10);  // light load first: computed at once
  EXPECT_EQ(batcher_->queued_images(), 1);
  Probe& b = NewProbe(1, 200);
  ASSERT_TRUE(Offer(b));
  EXPECT_EQ(a.done_calls(), 0);
  EXPECT_EQ(b.done_calls(), 0);
  Probe& c = NewProbe(1, 300);
  ASSERT_TRUE(Offer(c));  // the third image: computed here, before returning
  EXPECT_EQ(c.done_calls(), 1);
  ExpectDoneOnceAndCorrect({&a, &b, &c});
  EXPECT_EQ(caller_.threads().size(), computed_alone_ + 1u);
  EXPECT_EQ(observer_.computed().back().first, 3);
  EXPECT_TRUE(gate_->tags().empty());  // the worker computed nothing
  EXPECT_EQ(batcher_->queued_images(), 0);
}

TEST_F(BatcherGatherTest, FollowersTooFewForAGatherAreLeftAsOne) {
  Start(GatherOptions());  // gather 3 images
  Probe& a = GatherFirst(100);
  Probe& b = NewProbe(1, 200);
  ASSERT_TRUE(Offer(b));
  // c completes the gather on a thread whose processor holds the batch.
  Probe& c = NewProbe(1, 300);
  runner_ = std::thread([this, &c] {
    BatchTask task = c.Task();
    ran_ = batcher_->RunInlineOrFollow(task, run_processor_);
  });
  ASSERT_TRUE(run_gate_->AwaitEntered(1));
  Probe& d = NewProbe(1, 400);
  ASSERT_TRUE(Offer(d));  // follows the run
  FinishRun();
  ExpectDoneOnceAndCorrect({&a, &b, &c});
  EXPECT_EQ(d.done_calls(), 0);  // one image: left as a gather
  EXPECT_EQ(batcher_->queued_images(), 1);
  Probe& e = NewProbe(1, 500);
  ASSERT_TRUE(Offer(e));
  Probe& f = NewProbe(1, 600);
  ASSERT_TRUE(Offer(f));  // completes it here
  ExpectDoneOnceAndCorrect({&d, &e, &f});
  EXPECT_THAT(run_gate_->tags(), ElementsAre(ElementsAre(100 + computed_alone_,
                                                         200, 300)));
  EXPECT_EQ(observer_.computed().back().first, 3);
  EXPECT_TRUE(gate_->tags().empty());
}

TEST_F(BatcherGatherTest, AGatherNobodyCompletesIsComputedByAWorkerInTime) {
  Start(GatherOptions());
  Probe& a = GatherFirst(100);
  clock_.Advance(absl::Microseconds(999));
  EXPECT_EQ(a.done_calls(), 0);
  clock_.Advance(absl::Microseconds(1));  // a has waited max_gather_delay
  ASSERT_TRUE(gate_->AwaitEntered(1));
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(a.tag(0))));
  gate_->Open();
  ExpectDoneOnceAndCorrect({&a});
  EXPECT_EQ(observer_.started().back(), absl::Milliseconds(1));
}

TEST_F(BatcherGatherTest, AGatherIsComputedInTimeWhileTheOtherWorkerIsBusy) {
  Batcher::Options options = GatherOptions();
  options.num_workers = 2;  // one keeps time for the gather, one sleeps
  Start(options);
  Probe& a = GatherFirst(100);
  // Whichever worker takes this one (perhaps the one keeping time), the
  // other must see the gather's deadline.
  Probe& queued = NewProbe(1, -1);
  ScheduleAll({&queued});
  ASSERT_TRUE(gate_->AwaitEntered(1));
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(gate_->AwaitEntered(2));
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(-1),
                                         ElementsAre(a.tag(0))));
  OpenAndExpectSuccess({&queued, &a});
}

TEST_F(BatcherGatherTest, ATaskArrivingAfterTheDelayComputesTheGather) {
  Start(GatherOptions());
  Probe& a = GatherFirst(100);
  OccupyTheWorker();  // so that only the late task can compute the gather
  clock_.Advance(absl::Milliseconds(1));
  Probe& b = NewProbe(1, 200);
  ASSERT_TRUE(Offer(b));
  ExpectDoneOnceAndCorrect({&a, &b});
  EXPECT_EQ(observer_.computed().back().first, 2);
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(-1)));
}

TEST_F(BatcherGatherTest, ATaskTooLargeToJoinRunsAtOnceAndLeavesTheGather) {
  Start(GatherOptions());  // max_inline_images 4
  Probe& a = GatherFirst(100);
  Probe& big = NewProbe(4, 200);
  ASSERT_TRUE(Offer(big));  // 1 + 4 images do not fit: computed alone, here
  EXPECT_EQ(big.done_calls(), 1);
  EXPECT_EQ(observer_.computed().back().first, 4);
  EXPECT_EQ(a.done_calls(), 0);  // the run left it gathering
  gate_->Open();
  clock_.Advance(absl::Milliseconds(1));
  ExpectDoneOnceAndCorrect({&big, &a});
  EXPECT_THAT(gate_->tags(), ElementsAre(ElementsAre(a.tag(0))));
}

TEST_F(BatcherGatherTest, AtLightLoadEveryTaskIsComputedAtOnce) {
  Start(GatherOptions());
  for (int i = 0; i < 200; ++i) {
    clock_.Advance(absl::Milliseconds(1));  // an arrival a millisecond
    Probe& probe = NewProbe(1, i);
    BatchTask task = probe.Task();
    ASSERT_TRUE(RunInlineOnceIdle(task));
    ASSERT_EQ(probe.done_calls(), 1) << "task " << i;
  }
  EXPECT_EQ(caller_.threads().size(), 200u);
  EXPECT_TRUE(gate_->tags().empty());
}

TEST_F(BatcherGatherTest, IsOffWithoutADelayOrForModelsThatRunOnlyUnloaded) {
  Batcher::Options no_delay = GatherOptions();
  no_delay.max_gather_delay = absl::ZeroDuration();
  Batcher::Options unloaded = GatherOptions();
  unloaded.inline_only_when_unloaded = true;
  for (const Batcher::Options& options : {no_delay, unloaded}) {
    batcher_.reset();
    Start(options);
    for (int i = 0; i < 200; ++i) {
      Probe& probe = NewProbe(1, i);
      BatchTask task = probe.Task();
      ASSERT_TRUE(RunInlineOnceIdle(task));
      ASSERT_EQ(probe.done_calls(), 1) << "task " << i;
    }
  }
}

TEST_F(BatcherGatherTest, NoGatherBeginsWhileTheCallerIsNotSaturated) {
  Batcher::Options options = GatherOptions();
  std::atomic<bool> saturated{false};
  options.caller_is_saturated = [&saturated] { return saturated.load(); };
  Start(options);
  for (int i = 0; i < 200; ++i) {  // dense arrivals: the fake clock stands
    Probe& probe = NewProbe(1, i);
    BatchTask task = probe.Task();
    ASSERT_TRUE(RunInlineOnceIdle(task));
    ASSERT_EQ(probe.done_calls(), 1) << "task " << i;
  }
  saturated.store(true);
  Probe& a = NewProbe(1, 1000);
  ASSERT_TRUE(Offer(a));
  EXPECT_EQ(a.done_calls(), 0);  // waits in a gather now
  gate_->Open();
  clock_.Advance(absl::Milliseconds(1));
  ExpectDoneOnceAndCorrect({&a});
}

TEST_F(BatcherGatherTest, ShutdownComputesAPendingGather) {
  Start(GatherOptions());
  Probe& a = GatherFirst(100);
  gate_->Open();
  batcher_->Shutdown();
  ExpectDoneOnceAndCorrect({&a});
  Probe& b = NewProbe(1, 200);
  EXPECT_FALSE(Offer(b));
}

}  // namespace
}  // namespace nn
