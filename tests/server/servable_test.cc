// ServableVersion::Submit, the request path's one entry point, on a real
// MLP (tests/support/model_fixtures): what it computes, when it takes the
// fast path, every typed rejection (and that each is recorded), and how the
// batching config maps onto the batcher; then InferenceCall, the
// protocol-independent call around it, with a fake protocol. A held worker
// (a task whose cancellation poll waits on a gate, on the worker's thread
// only) makes "the queue is full" deterministic; no sleeps.
#include "server/servable.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference_call.h"
#include "server/model_repository.h"
#include "tests/server/small_batching.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/numerical_contract.h"
#include "common/mutex.h"

namespace nn {
namespace {

using ::nn::testing::SmallBatching;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kPixels = 784;
constexpr int64_t kClasses = 10;
// Bounds a wait for an event that happens in microseconds when all is well.
constexpr absl::Duration kPatience = absl::Seconds(60);

// Values appended by several threads, read by the test.
template <typename T>
class Log {
 public:
  void Add(T value) {
    MutexLock lock(mu_);
    values_.push_back(std::move(value));
  }
  std::vector<T> values() {
    MutexLock lock(mu_);
    return values_;
  }

 private:
  Mutex mu_;
  std::vector<T> values_;
};

// Records what the servable reports (RequestRecorder; the BatchObserver
// defaults do nothing).
class RecordingObserver final : public ServableObserver {
 public:
  void RecordInference(metrics::Protocol, absl::StatusCode code,
                       absl::Duration) override {
    predicts_.Add(code);
  }
  void RecordRejected(Rejection reason) override { rejections_.Add(reason); }
  std::vector<absl::StatusCode> predicts() { return predicts_.values(); }
  std::vector<Rejection> rejections() { return rejections_.values(); }

 private:
  Log<absl::StatusCode> predicts_;
  Log<Rejection> rejections_;
};

// A gate that a worker waits at until the test opens it.
class Gate {
 public:
  void Wait() {
    MutexLock lock(mu_);
    entered_ = true;
    cv_.notify_all();
    lock.Wait(cv_, [&] { return open_; });
  }
  // Until a thread waits at the gate; false if none came in kPatience.
  bool AwaitEntered() {
    MutexLock lock(mu_);
    return lock.WaitFor(cv_, absl::ToChronoSeconds(kPatience),
                        [&] { return entered_; });
  }
  void Open() {
    MutexLock lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

// One task's buffers and outcome: images whose pixels are `value` + a small
// per-pixel pattern, so that images differ.
class Request {
 public:
  explicit Request(int64_t images, float value = 0.5f)
      : images_(images), input_(images * kPixels), output_(images * kClasses) {
    for (size_t i = 0; i < input_.size(); ++i) {
      input_[i] = value * static_cast<float>((i * 7919) % 97) / 96.0f;
    }
  }

  BatchTask Task() {
    BatchTask task;
    task.num_images = images_;
    task.input = absl::MakeConstSpan(input_);
    task.output = absl::MakeSpan(output_);
    task.done = [this](absl::Status status) {
      MutexLock lock(mu_);
      status_ = std::move(status);
      thread_ = std::this_thread::get_id();
      ++done_calls_;
      cv_.notify_all();
    };
    return task;
  }

  // The task's status once done (UNKNOWN if it never finished).
  absl::Status Await() {
    MutexLock lock(mu_);
    if (!lock.WaitFor(cv_, absl::ToChronoSeconds(kPatience),
                      [&] { return done_calls_ > 0; })) {
      return absl::UnknownError("task never finished");
    }
    return status_;
  }
  int done_calls() {
    MutexLock lock(mu_);
    return done_calls_;
  }
  std::thread::id thread() {
    MutexLock lock(mu_);
    return thread_;
  }
  const std::vector<float>& input() const { return input_; }
  const std::vector<float>& output() const { return output_; }

 private:
  const int64_t images_;
  std::vector<float> input_;
  std::vector<float> output_;
  Mutex mu_;
  std::condition_variable cv_;
  absl::Status status_;
  std::thread::id thread_;
  int done_calls_ = 0;
};

class ServableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::shared_ptr<const Model>> model =
        testing::MakeModel("mnist_mlp", 3);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
  }

  // A servable of the model with `batching` on `clock`; observer_ sees it.
  std::shared_ptr<ServableVersion> Serve(
      const nnserve::v1::BatchingConfig& batching,
      Clock* clock = Clock::Real()) {
    ServableVersion::Options options;
    options.model_name = "m";
    options.version = 1;
    options.batching = batching;
    auto observer = std::make_unique<RecordingObserver>();
    observer_ = observer.get();
    options.metrics = std::move(observer);
    absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
        ServableVersion::Create(std::move(options), model_, clock);
    EXPECT_TRUE(servable.ok()) << servable.status();
    return servable.ok() ? *std::move(servable) : nullptr;
  }

  // Submits a task that holds the servable's only worker until `gate`
  // opens (its cancellation poll waits there, on the worker's thread only:
  // Submit polls it on this thread first).
  void HoldTheWorker(ServableVersion& servable, Request& holder, Gate& gate) {
    BatchTask task = holder.Task();
    const std::thread::id test_thread = std::this_thread::get_id();
    task.is_cancelled = [&gate, test_thread] {
      if (std::this_thread::get_id() != test_thread) gate.Wait();
      return false;
    };
    ASSERT_TRUE(servable.Submit(std::move(task)).accepted());
    ASSERT_TRUE(gate.AwaitEntered());
  }

  // Submits `task` (of `request`) and expects it rejected for `why` with
  // `code`, recorded as the only rejection, and `done` never run.
  void ExpectRejected(ServableVersion& servable, BatchTask task,
                      Request& request, Rejection why, absl::StatusCode code) {
    const Admission admission = servable.Submit(std::move(task));
    EXPECT_FALSE(admission.accepted());
    EXPECT_EQ(admission.rejection(), why);
    EXPECT_EQ(admission.status().code(), code);
    EXPECT_THAT(observer_->rejections(), ElementsAre(why));
    EXPECT_EQ(request.done_calls(), 0);
  }

  std::shared_ptr<const Model> model_;
  RecordingObserver* observer_ = nullptr;  // owned by the servable
};

TEST_F(ServableTest, SubmittedTaskGetsTheModelsProbabilities) {
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(4));
  ASSERT_NE(servable, nullptr);
  Request request(3);
  ASSERT_TRUE(servable->Submit(request.Task()).accepted());
  ASSERT_TRUE(request.Await().ok()) << request.Await();
  EXPECT_EQ(request.done_calls(), 1);

  Model::ContextOptions context_options;
  context_options.max_batch_size = 3;
  std::unique_ptr<InferenceContext> direct =
      model_->NewInferenceContext(context_options);
  std::vector<float> expected(3 * kClasses);
  ASSERT_TRUE(direct->Run(request.input(), 3, absl::MakeSpan(expected)).ok());
  EXPECT_LE(testing::MaxContractError(request.output(), expected),
            testing::kRunToRunTolerance);
  EXPECT_THAT(observer_->rejections(), IsEmpty());
}

TEST_F(ServableTest, FastPathComputesOnTheCallingThreadAfterItsFirstTask) {
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(4));
  ASSERT_NE(servable, nullptr);
  // This thread has no processor yet: the first task goes to the worker,
  // and Submit builds this thread's processor after queueing it.
  Request first(1);
  ASSERT_TRUE(servable->Submit(first.Task()).accepted());
  ASSERT_TRUE(first.Await().ok());
  EXPECT_NE(first.thread(), std::this_thread::get_id());
  // Then a task that finds the worker idle is computed here, before Submit
  // returns (retried while the worker has not reached its idle wait yet).
  bool ran_inline = false;
  for (int attempt = 0; attempt < 10000 && !ran_inline; ++attempt) {
    Request next(1);
    ASSERT_TRUE(servable->Submit(next.Task()).accepted());
    ran_inline = next.done_calls() == 1 &&
                 next.thread() == std::this_thread::get_id();
    ASSERT_TRUE(next.Await().ok());
  }
  EXPECT_TRUE(ran_inline);
}

TEST_F(ServableTest, ZeroMaxInlineImagesKeepsEveryTaskOnTheWorkers) {
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(0));
  ASSERT_NE(servable, nullptr);
  EXPECT_EQ(servable->batcher().options().max_inline_images, 0);
  for (int i = 0; i < 50; ++i) {
    Request request(1);
    ASSERT_TRUE(servable->Submit(request.Task()).accepted());
    ASSERT_TRUE(request.Await().ok());
    EXPECT_NE(request.thread(), std::this_thread::get_id()) << "task " << i;
  }
}

TEST_F(ServableTest, FullQueueRejectsWithQueueFullAndNeverRunsDone) {
  // Declared before the servable, and the gate opened before it goes: its
  // worker uses them until it is joined.
  Gate gate;
  Request holder(1), fills(8), rejected(1);  // the queue holds 8 images
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(0));
  ASSERT_NE(servable, nullptr);
  absl::Cleanup open_gate = [&gate] { gate.Open(); };
  HoldTheWorker(*servable, holder, gate);
  ASSERT_TRUE(servable->Submit(fills.Task()).accepted());
  ExpectRejected(*servable, rejected.Task(), rejected, Rejection::kQueueFull,
                 absl::StatusCode::kUnavailable);

  gate.Open();
  EXPECT_TRUE(holder.Await().ok());
  EXPECT_TRUE(fills.Await().ok());
  EXPECT_EQ(rejected.done_calls(), 0);
}

TEST_F(ServableTest, TaskLargerThanTheQueueRejectsWithTooLarge) {
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(4));
  ASSERT_NE(servable, nullptr);
  Request request(9);
  ExpectRejected(*servable, request.Task(), request, Rejection::kTooLarge,
                 absl::StatusCode::kResourceExhausted);
}

TEST_F(ServableTest, ShutDownServableRejectsWithDraining) {
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(4));
  ASSERT_NE(servable, nullptr);
  servable->Shutdown();
  Request request(1);
  ExpectRejected(*servable, request.Task(), request, Rejection::kDraining,
                 absl::StatusCode::kUnavailable);
}

TEST_F(ServableTest, PassedDeadlineRejectsWithDeadlineExceededBeforeQueueing) {
  FakeClock clock;
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(4), &clock);
  ASSERT_NE(servable, nullptr);
  Request late(1);
  BatchTask task = late.Task();
  task.deadline = clock.Now();
  ExpectRejected(*servable, std::move(task), late, Rejection::kDeadlineExceeded,
                 absl::StatusCode::kDeadlineExceeded);

  Request on_time(1);
  task = on_time.Task();
  task.deadline = clock.Now() + absl::Milliseconds(1);
  ASSERT_TRUE(servable->Submit(std::move(task)).accepted());
  EXPECT_TRUE(on_time.Await().ok());
  EXPECT_THAT(observer_->rejections(),
              ElementsAre(Rejection::kDeadlineExceeded));
}

TEST_F(ServableTest, CancelledTaskRejectsWithCancelledBeforeQueueing) {
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(4));
  ASSERT_NE(servable, nullptr);
  Request request(1);
  BatchTask task = request.Task();
  task.is_cancelled = [] { return true; };
  ExpectRejected(*servable, std::move(task), request, Rejection::kCancelled,
                 absl::StatusCode::kCancelled);
}

TEST_F(ServableTest, MalformedTaskRejectsAsInvalid) {
  std::shared_ptr<ServableVersion> servable = Serve(SmallBatching(4));
  ASSERT_NE(servable, nullptr);
  Request request(2);
  BatchTask task = request.Task();
  task.num_images = 3;  // the spans hold 2 images
  const Admission admission = servable->Submit(std::move(task));
  EXPECT_FALSE(admission.accepted());
  EXPECT_EQ(admission.rejection(), Rejection::kInvalid);
  EXPECT_EQ(admission.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(request.done_calls(), 0);
}

TEST_F(ServableTest, ConfigQueueDelayZeroIsNoLimitInTheBatcher) {
  nnserve::v1::BatchingConfig batching = SmallBatching(0);
  std::shared_ptr<ServableVersion> unlimited = Serve(batching);
  ASSERT_NE(unlimited, nullptr);
  EXPECT_EQ(unlimited->batcher().options().max_queue_delay,
            absl::InfiniteDuration());
  batching.set_max_queue_delay_micros(500);
  std::shared_ptr<ServableVersion> limited = Serve(batching);
  ASSERT_NE(limited, nullptr);
  EXPECT_EQ(limited->batcher().options().max_queue_delay,
            absl::Microseconds(500));
}

TEST(ResolveBatchingTest, ModelConfigZeroMaxInlineImagesTurnsTheFastPathOff) {
  nnserve::v1::BatchingConfig defaults = SmallBatching(4);
  nnserve::v1::BatchingConfig config;
  EXPECT_EQ(ModelRepository::ResolveBatching(defaults, config)
                .max_inline_images(),
            4);  // unset: the server's default
  config.set_max_inline_images(0);
  EXPECT_EQ(ModelRepository::ResolveBatching(defaults, config)
                .max_inline_images(),
            0);
  config.set_max_inline_images(2);
  EXPECT_EQ(ModelRepository::ResolveBatching(defaults, config)
                .max_inline_images(),
            2);
}

TEST(ResolveBatchingTest, GatheringFollowsTheModelConfigAndTheFastPathLimit) {
  nnserve::v1::BatchingConfig defaults = SmallBatching(4);
  defaults.set_gather_images(3);
  defaults.set_max_gather_delay_micros(1000);
  nnserve::v1::BatchingConfig config;
  nnserve::v1::BatchingConfig resolved =
      ModelRepository::ResolveBatching(defaults, config);
  EXPECT_EQ(resolved.gather_images(), 3);  // unset: the server's defaults
  EXPECT_EQ(resolved.max_gather_delay_micros(), 1000);
  config.set_gather_images(0);  // off for this model
  config.set_max_gather_delay_micros(200);
  resolved = ModelRepository::ResolveBatching(defaults, config);
  EXPECT_EQ(resolved.gather_images(), 0);
  EXPECT_EQ(resolved.max_gather_delay_micros(), 200);
  config.set_gather_images(16);  // more than a fast-path batch: clamped
  EXPECT_EQ(ModelRepository::ResolveBatching(defaults, config).gather_images(),
            4);
  config.set_max_inline_images(0);  // no fast path: no gathering
  EXPECT_EQ(ModelRepository::ResolveBatching(defaults, config).gather_images(),
            0);
}

TEST_F(ServableTest, GatheringOptionsReachTheBatcher) {
  nnserve::v1::BatchingConfig batching = SmallBatching(4);
  batching.set_gather_images(3);
  batching.set_max_gather_delay_micros(700);
  std::shared_ptr<ServableVersion> servable = Serve(batching);
  ASSERT_NE(servable, nullptr);
  const Batcher::Options& options = servable->batcher().options();
  EXPECT_EQ(options.gather_images, 3);
  EXPECT_EQ(options.max_gather_delay, absl::Microseconds(700));
  EXPECT_TRUE(static_cast<bool>(options.caller_is_saturated));
}

// --- InferenceCall, as a protocol handler uses it ---------------------------

// What a fake protocol's call saw.
struct Outcome {
  Mutex mu;
  std::condition_variable cv;
  int writes = 0;
  int finishes = 0;
  absl::Status status;
  std::vector<float> probabilities;

  bool AwaitFinished() {
    MutexLock lock(mu);
    return lock.WaitFor(cv, absl::ToChronoSeconds(kPatience),
                       [&] { return finishes > 0; });
  }
};

// A protocol's call: copies the probabilities as its "reply".
class FakeProtocolCall final : public InferenceCall {
 public:
  explicit FakeProtocolCall(Outcome* outcome,
                            absl::Status reply_error = absl::OkStatus())
      : InferenceCall(absl::Now()),
        outcome_(outcome),
        reply_error_(std::move(reply_error)) {}

 private:
  absl::Status WriteReply() override {
    MutexLock lock(outcome_->mu);
    ++outcome_->writes;
    outcome_->probabilities.assign(probabilities().begin(),
                                   probabilities().end());
    return reply_error_;
  }
  void Finish(const absl::Status& status) override {
    MutexLock lock(outcome_->mu);
    ++outcome_->finishes;
    outcome_->status = status;
    outcome_->cv.notify_all();
  }

  Outcome* const outcome_;
  const absl::Status reply_error_;
};

class InferenceCallTest : public ServableTest {
 protected:
  // An attached call whose input holds `images` images of 0.5.
  std::unique_ptr<InferenceCall> NewCall(
      Outcome* outcome, int64_t images,
      absl::Status reply_error = absl::OkStatus()) {
    auto call =
        std::make_unique<FakeProtocolCall>(outcome, std::move(reply_error));
    call->Attach(servable_);
    call->input().assign(images * kPixels, 0.5f);
    return call;
  }

  void SetUp() override {
    ServableTest::SetUp();
    servable_ = Serve(SmallBatching(4));
    ASSERT_NE(servable_, nullptr);
  }

  std::shared_ptr<ServableVersion> servable_;
};

TEST_F(InferenceCallTest, SubmittedCallWritesItsReplyThenFinishesOnce) {
  Outcome outcome;
  const Admission admission = InferenceCall::Submit(
      NewCall(&outcome, 2), 2, absl::InfiniteFuture(), nullptr);
  EXPECT_TRUE(admission.accepted());
  ASSERT_TRUE(outcome.AwaitFinished());
  MutexLock lock(outcome.mu);
  EXPECT_TRUE(outcome.status.ok()) << outcome.status;
  EXPECT_EQ(outcome.writes, 1);
  EXPECT_EQ(outcome.finishes, 1);
  ASSERT_EQ(outcome.probabilities.size(), 2 * kClasses);
  for (int i = 0; i < 2; ++i) {
    float sum = 0;
    for (int c = 0; c < kClasses; ++c) sum += outcome.probabilities[i * 10 + c];
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  EXPECT_THAT(observer_->predicts(), ElementsAre(absl::StatusCode::kOk));
}

TEST_F(InferenceCallTest, RejectedCallFinishesBeforeSubmitReturns) {
  servable_->Shutdown();
  Outcome outcome;
  const Admission admission = InferenceCall::Submit(
      NewCall(&outcome, 1), 1, absl::InfiniteFuture(), nullptr);
  EXPECT_EQ(admission.rejection(), Rejection::kDraining);
  MutexLock lock(outcome.mu);
  EXPECT_EQ(outcome.finishes, 1);
  EXPECT_EQ(outcome.writes, 0);
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(observer_->rejections(), ElementsAre(Rejection::kDraining));
  EXPECT_THAT(observer_->predicts(),
              ElementsAre(absl::StatusCode::kUnavailable));
}

TEST_F(InferenceCallTest, FailedCallOverTheSizeLimitCountsAsTooLarge) {
  Outcome too_large, bad;
  InferenceCall::Fail(NewCall(&too_large, 1),
                      absl::ResourceExhaustedError("5 images, limit 4"));
  InferenceCall::Fail(NewCall(&bad, 1), absl::InvalidArgumentError("bad"));
  EXPECT_EQ(too_large.finishes, 1);
  EXPECT_EQ(too_large.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(bad.finishes, 1);
  EXPECT_EQ(bad.writes, 0);
  EXPECT_THAT(observer_->rejections(), ElementsAre(Rejection::kTooLarge));
  EXPECT_THAT(observer_->predicts(),
              ElementsAre(absl::StatusCode::kResourceExhausted,
                          absl::StatusCode::kInvalidArgument));
}

TEST_F(InferenceCallTest, ReplyThatCannotBeWrittenIsTheOutcome) {
  Outcome outcome;
  InferenceCall::Submit(NewCall(&outcome, 1, absl::InternalError("too big")),
                        1, absl::InfiniteFuture(), nullptr);
  ASSERT_TRUE(outcome.AwaitFinished());
  MutexLock lock(outcome.mu);
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(observer_->predicts(), ElementsAre(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace nn
