// The dynamic batcher: merges concurrent requests for one model version into
// batches and computes them on a few worker threads. It is engine-agnostic: it
// moves float images; a BatchProcessor (one per worker) does the compute.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Batcher> batcher,
//                    Batcher::Create(options, factory, Clock::Real()));
//   BatchTask task{.num_images = 3, .input = pixels, .output = scores,
//                  .done = [](absl::Status s) { /* finish the RPC */ }};
//   RETURN_IF_ERROR(batcher->Schedule(std::move(task)));  // done runs later
//
// How batches form
// ----------------
// The queue is a FIFO of batches of at most `max_batch_size` images; the last
// one is "open" (new tasks join it), the others are closed.
//
// - An idle worker takes the oldest batch at once; it never waits for a batch
//   to fill. So at light load every request is computed alone, immediately.
// - While every worker is busy, arriving tasks join the open batch until it is
//   full, then start the next one. With a finite `max_queue_delay`, the open
//   batch also closes once its oldest task has waited that long: a task that
//   arrives later starts a new batch instead of joining it. A worker that
//   frees up takes the oldest batch, open or closed, at once.
// - A task with more images than the open batch has room for is split into
//   slices across consecutive batches and reassembled: its `done` runs once,
//   after the last slice, with the first error of any slice.
//
// Gathering (Options::gather_images; see RunInlineOrFollow) is the one
// place where a task waits on purpose: under heavy load, while the threads
// that receive tasks are saturated, a fast-path task may wait up to
// `max_gather_delay` for others so that they are computed as one batch.
//
// Nothing ever waits for `max_queue_delay` to pass: it only decides where a
// new task goes (closing is decided when the next task arrives, so no timer is
// needed). Closing early can only make batches smaller than "fill up to
// max_batch_size": it never lets a task start sooner on a worker, and smaller
// batches cost more compute per image. Its one possible benefit is spreading a
// backlog over several workers that free up at nearly the same time. Hence the
// default, absl::InfiniteDuration(): batches close only when full. 0 means
// "never batch while busy" (one task per batch). bench/batcher_bench.cc
// measures the choice.
//
// Dropping: right before a slice is computed, its task is checked: if its
// deadline has passed it fails with DEADLINE_EXCEEDED, else if
// `is_cancelled()` returns true it fails with CANCELLED (deadline first: gRPC
// cancels a call whose deadline passed too). Dropped tasks' images are not
// computed (the rest of the batch is), and none of their later slices are.
//
// Workers: `num_workers` std::threads owned by the batcher. Each creates its
// BatchProcessor on its own thread through the factory (oneDNN primitives are
// confined to the thread that built them) and owns contiguous input and output
// buffers of `max_batch_size` images, allocated once. A batch is gathered into
// them and its outputs scattered back, except that a batch consisting of one
// slice is computed in place on the task's own spans (no copy).
//
// What a task costs the batcher: a fast-path run's own task, nothing but
// two lock pairs of the queue's mutex; a follower or a queued
// task, a task state from a pool (no allocation once the pool holds as
// many as were in the batcher at once; see task_states_made()), one lock
// of the queue's mutex to join and its share of the computing thread's
// locks (one a batch), and no lock of its own. A queued task wakes a
// worker only if one is idle (blocked in its wait): a busy worker looks at
// the queue before it sleeps again. Counted in bench/README.md
// (bench/wakeups.sh, bench/batcher_handoff.cc, ceiling_instructions.sh): with
// the fast path on (the server's default) the workers take nearly no task
// of a light model, so a request costs no wake-up of the batcher's own.
//
// Thread safety: Submit(), Schedule(), RunInlineOrFollow() and
// queued_images() may be called from any thread concurrently, including from
// `done` callbacks.
#ifndef NNSERVE_SERVER_BATCHING_BATCHER_H_
#define NNSERVE_SERVER_BATCHING_BATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"

namespace nn {

// One request's work: `num_images` images of `input_size` floats in,
// `output_size` floats each out (sizes from Batcher::Options).
struct BatchTask {
  int64_t num_images = 0;
  // {num_images, input_size}, row-major. Must stay valid and unchanged until
  // `done` runs.
  absl::Span<const float> input;
  // {num_images, output_size}. Written before `done` runs with OK; contents
  // unspecified after an error. Must stay valid until `done` runs.
  absl::Span<float> output;
  // The task is dropped with DEADLINE_EXCEEDED if this time (on the batcher's
  // Clock) is reached before it is computed.
  absl::Time deadline = absl::InfiniteFuture();
  // Optional. Polled on worker threads (possibly two at once for a split
  // task) right before compute; true drops the task with CANCELLED. Must be
  // thread-safe and cheap.
  std::function<bool()> is_cancelled;
  // Required. Called exactly once, on a worker thread or a thread running
  // the fast path, if and only if Schedule() returned OK (or Submit()
  // accepted the task, or RunInlineOrFollow() returned true). It may call
  // Schedule() again and may destroy the Batcher (see Shutdown()). `input`,
  // `output`, `is_cancelled` are released before it runs.
  absl::AnyInvocable<void(absl::Status)> done;
};

// Computes one batch. Confined to the thread that created it: a worker's
// processor (made by the factory) is called only by that worker; a fast-path
// processor (RunInlineOrFollow, Submit) only by the thread that made it and
// passes it in. Never called by two threads at once.
class BatchProcessor {
 public:
  virtual ~BatchProcessor() = default;
  // input: {n, input_size}; output: {n, output_size}, to be overwritten.
  // 1 <= n <= max_batch_size. An error fails every task in the batch with it.
  virtual absl::Status Process(absl::Span<const float> input, int64_t n,
                               absl::Span<float> output) = 0;
};

// Called once on each worker thread, with its index in [0, num_workers), to
// build that worker's processor. An error (or a null processor) stops that
// worker; see Batcher::Create.
using BatchProcessorFactory =
    std::function<absl::StatusOr<std::unique_ptr<BatchProcessor>>(
        int worker_index)>;

// Metric hooks. Every method has a no-op default, may be called from several
// threads at once, and must be cheap and must not call into the Batcher.
class BatchObserver {
 public:
  virtual ~BatchObserver() = default;
  // Once per task, when a worker takes its first slice from the queue
  // (dropped or not): how long it waited in the queue.
  virtual void OnTaskStarted(absl::Duration /*queued*/) {}
  // Once per batch the processor computed successfully: the images computed
  // and the time Process() took (on the batcher's Clock).
  virtual void OnBatchComputed(int64_t /*images*/,
                               absl::Duration /*compute*/) {}
  // Once per dropped task: kDeadlineExceeded or kCancelled.
  virtual void OnTaskDropped(absl::StatusCode /*why*/) {}
  // After every change of the number of queued (not yet taken) images, with
  // the new number. Called with the queue's lock held (from Schedule()'s
  // caller or a worker), so calls arrive in order and the last value is the
  // current one.
  virtual void OnQueueDepthChanged(int64_t /*queued_images*/) {}
};

// Why a task was not accepted: then its `done` never runs, and the caller
// answers with Admission::status(), whose code follows from the reason.
enum class Rejection {
  kInvalid,           // INVALID_ARGUMENT: a malformed task (a caller's bug)
  kTooLarge,          // RESOURCE_EXHAUSTED: more images than the queue holds
  kQueueFull,         // UNAVAILABLE (retryable): no room in the queue now
  kDraining,          // UNAVAILABLE (retryable): Shutdown() has started
  kDeadlineExceeded,  // DEADLINE_EXCEEDED: the deadline passed before queueing
  kCancelled,         // CANCELLED: cancelled before queueing
};

// The typed outcome of offering a task (Batcher::Submit, and the request
// path above it): accepted (its `done` runs exactly once), or rejected with
// a reason. Nothing needs to read the status message to tell reasons apart.
class Admission {
 public:
  static Admission Accepted() { return Admission(); }
  // `message` says why, for people (it travels to the client).
  static Admission Rejected(Rejection why, std::string message);

  bool accepted() const { return status_.ok(); }
  // The reason; meaningful only when !accepted().
  Rejection rejection() const { return rejection_; }
  // OK when accepted; else the error to answer with.
  const absl::Status& status() const { return status_; }

 private:
  Admission() = default;
  Rejection rejection_ = Rejection::kInvalid;
  absl::Status status_;
};

class Batcher {
 public:
  struct Options {
    // Most images one batch computes (>= 1). Larger tasks are split.
    int max_batch_size = 64;
    // While every worker is busy, the open batch stops accepting new tasks
    // once its oldest task has waited this long (>= 0). Never delays compute.
    // InfiniteDuration: batches fill to max_batch_size; 0: one task a batch
    // while busy. See "How batches form" above. Not the config's meaning of
    // 0: BatchingConfig.max_queue_delay_micros 0 is "no limit" (proto3 has
    // no "unset"), which ServableVersion passes here as InfiniteDuration, so
    // "one task a batch" is reachable only through these Options.
    absl::Duration max_queue_delay = absl::InfiniteDuration();
    // Most images queued and not yet taken by a worker (>= 1). A task that
    // would exceed it is rejected with UNAVAILABLE; a task larger than it can
    // never fit and is rejected with RESOURCE_EXHAUSTED.
    int64_t max_queue_size = 4096;
    // Worker threads (>= 1), each with its own processor.
    int num_workers = 2;
    // Floats per input image and per output row (>= 1 each).
    int64_t input_size = 784;
    int64_t output_size = 10;
    // For logs, error messages and thread names, e.g. "mnist_mlp:3".
    std::string name;
    // The fast path (RunInlineOrFollow): tasks of at most this many images
    // may be computed on a thread that receives them; also the most images
    // of one batch of followers. 0 turns it off.
    int64_t max_inline_images = 0;
    // For models whose per-image cost drops a lot in batches: the fast path
    // runs one task at a time, only while the workers' latest batch had one
    // image (light load), and takes no followers.
    bool inline_only_when_unloaded = false;
    // Gathering, the fast path under heavy load (not with
    // inline_only_when_unloaded; needs max_inline_images > 0). While tasks
    // reach the fast path often enough that `gather_images` images would
    // arrive within half of `max_gather_delay` (a moving average of the
    // intervals between arrivals), a task that finds the model idle does
    // not compute alone: it waits, and the task that brings the gathered
    // images to `gather_images` (or arrives after the first has waited
    // `max_gather_delay`) computes them all as one batch on its thread. A
    // gather that nobody completes is computed by a worker once its first
    // task has waited `max_gather_delay`. 0 (either): off. See
    // RunInlineOrFollow.
    int64_t gather_images = 0;
    absl::Duration max_gather_delay = absl::ZeroDuration();
    // Also required to begin a gather, asked on the arriving thread: whether
    // a wait would cost no throughput (the server passes
    // ReceivingThreadsAreSaturated, server/batching/thread_sleeps.h). Null:
    // arrival density alone decides.
    std::function<bool()> caller_is_saturated;
  };

  // Starts the workers and waits until each has built its processor. A worker
  // whose factory call fails logs the error and exits; the batcher runs with
  // the others. Fails with INVALID_ARGUMENT for bad options or a null
  // factory/clock, with the first factory error if no worker could start, and
  // with RESOURCE_EXHAUSTED if a thread cannot be created; on failure every
  // started thread has been joined. `clock` and `observer` (optional) must
  // outlive the batcher and every `done` call.
  static absl::StatusOr<std::unique_ptr<Batcher>> Create(
      Options options, BatchProcessorFactory factory, Clock* clock,
      BatchObserver* observer = nullptr);

  // Calls Shutdown().
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues a task. OK: `task.done` will run exactly once. Otherwise the task
  // is not queued and `done` is never called:
  //   INVALID_ARGUMENT    num_images <= 0, input/output sizes other than
  //                       num_images * input_size / output_size, no `done`;
  //   RESOURCE_EXHAUSTED  num_images > max_queue_size (can never fit);
  //   UNAVAILABLE         "queue full (Q images queued, limit M)", or
  //                       "shutting down" after Shutdown() started. Both
  //                       retryable.
  // Never blocks on compute. The same as Submit(task, nullptr) but for the
  // admission check of the deadline and cancellation: a task already
  // expired or cancelled is accepted here and dropped by its worker (done
  // with DEADLINE_EXCEEDED / CANCELLED).
  absl::Status Schedule(BatchTask task);

  // The request path's one entry (ServableVersion::Submit calls it): refuses
  // a task whose deadline has passed (on the batcher's Clock) or that
  // `is_cancelled()` (kDeadlineExceeded, kCancelled: not worth queueing),
  // then offers it to the fast path with `fast_path` (this thread's
  // processor; null: no fast path), then queues it as Schedule does
  // (kInvalid, kTooLarge, kQueueFull, kDraining). Accepted: `task.done` runs
  // exactly once, possibly before this returns. Rejected: `done` never runs
  // and `task` is left valid but unspecified. Never blocks on another
  // thread's compute.
  Admission Submit(BatchTask&& task, BatchProcessor* fast_path);

  // The fast path, for tasks of at most max_inline_images images; returns
  // true if it took the task (then `task.done` runs exactly once, possibly
  // before this returns) and false, leaving `task` untouched, for Schedule.
  //
  // - Follow (not with inline_only_when_unloaded): while another thread's
  //   fast-path run is computing and its followers hold at most
  //   max_inline_images images with this task, the task joins them and this
  //   returns at once. That run computes its followers in one batch after
  //   its own task (and again for tasks that join meanwhile, up to 4
  //   batches; the rest then go to another run in progress or, from the
  //   last, to the workers' queue). Followers count as queued images and are
  //   dropped on deadline or cancellation as queued tasks are; the observer
  //   sees them as queued tasks.
  // - Gather (Options::gather_images, max_gather_delay): else, while no run
  //   computes and tasks that no run computes are waiting (a gather), the
  //   task joins them if they hold at most max_inline_images images with
  //   it; if they now hold gather_images images, or the first has waited
  //   max_gather_delay, this thread computes them all as one batch (and
  //   what follows it) before returning, else it returns at once. A task
  //   that finds the model idle starts a gather, instead of running, while
  //   arrivals are dense (gather_images images expected within half of
  //   max_gather_delay) and caller_is_saturated() holds; a run's followers
  //   too few for a gather are left as one on the same terms. An idle
  //   worker computes a gather nobody completes within max_gather_delay.
  //   Gathered tasks count as queued images and are dropped on deadline or
  //   cancellation as queued tasks are.
  // - Run: else, if nothing is queued for or computing on the workers (and,
  //   with inline_only_when_unloaded, no other run is computing and the
  //   workers' latest batch had one image), computes `task` at once on the
  //   calling thread with `processor` (which must belong to this thread),
  //   runs `task.done`, then computes the followers that joined, before
  //   returning. Several threads may run at once, each with its own
  //   processor. Deadline and cancellation are checked first as for queued
  //   tasks; the observer sees a task that waited zero and a batch of its
  //   images.
  //
  // Why: a hand-off to a worker costs two thread wake-ups. Measured here (2
  // cores, the MLP, nnctl bench at 64 in flight), it took ~19 µs of server
  // CPU a request on top of ~31, and at one call in flight it dominated the
  // latency. Following keeps batching without the hand-off: the thread that
  // received a follower returns to gRPC at once, and the running thread
  // computes the followers together (the MLP costs ~9 µs an image alone and
  // ~2 µs in a batch of 5). A follower waits for the run's compute, which
  // costs latency when a core is free: at 8 calls in flight the throughput
  // was within noise of a hand-off to the workers (and following only while
  // no core is free gave back the gain at 64). bench/README.md has the
  // figures. Under load the workers still take what the fast path does not
  // (larger tasks, threads without a processor, followers beyond the
  // limits).
  bool RunInlineOrFollow(BatchTask& task, BatchProcessor& processor);

  // Stops accepting tasks (Schedule returns UNAVAILABLE), lets the workers
  // compute every task already accepted, and joins them. Idempotent and
  // thread-safe. Called on one of this batcher's own worker threads (from a
  // `done` callback that drops the last reference to the batcher), it cannot
  // wait for its own thread: it stops accepting, joins the other workers and
  // returns; the remaining accepted tasks still complete on that thread
  // afterwards, which keeps the batcher's internals alive until then.
  void Shutdown();

  // Images queued and not yet taken by a worker.
  int64_t queued_images() const;
  // Workers that built a processor and are running (<= options().num_workers).
  int num_workers() const;
  // Task states allocated so far. A queued or following task needs one; it
  // returns to a pool when the task is done and the next task reuses it, so
  // this grows with the most tasks in the batcher at once (beyond 256 kept
  // in the pool, the extra ones are freed and allocated again), not with
  // the tasks served. For tests and diagnostics.
  int64_t task_states_made() const;
  const Options& options() const;

 private:
  class Core;
  explicit Batcher(std::shared_ptr<Core> core);

  // Shared with the worker threads, so it outlives the Batcher when the
  // Batcher is destroyed on one of them.
  std::shared_ptr<Core> core_;
};

}  // namespace nn

#endif  // NNSERVE_SERVER_BATCHING_BATCHER_H_
