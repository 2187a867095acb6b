// batcher_handoff: what the batcher's hand-off to a worker costs a task,
// for counting instructions under callgrind (not for timing). Schedules
// `tasks` one-image tasks to a Batcher with one worker and a processor that
// writes one float, `burst` at a time (then waits until those are done),
// so a burst of 1 is a request alone (the worker sleeps between tasks) and
// a larger burst a queue of tasks that share batches.
//
//   build/bin/batcher_handoff TASKS BURST
//   for n in 1008 11008; do valgrind --tool=callgrind
//     --callgrind-out-file=/tmp/cg.$n build/bin/batcher_handoff $n 1; done
//   # per task = (total(11008) - total(1008)) / 10000, as in bench/lib.sh
//
// The count includes this program's own waiting and `done` callbacks (the
// same for every batcher build): compare two builds, not absolute values.
// It uses only Batcher::Create and Schedule, so the same file builds
// against an older batcher for the comparison.
// bench/README.md has the figures.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "server/batching/batcher.h"

namespace nn {
namespace {

class WriteOne : public BatchProcessor {
 public:
  absl::Status Process(absl::Span<const float> /*input*/, int64_t n,
                       absl::Span<float> output) override {
    for (int64_t i = 0; i < n; ++i) output[i] = 1.0f;
    return absl::OkStatus();
  }
};

int Run(int tasks, int burst) {
  Batcher::Options options;
  options.max_batch_size = 64;
  options.num_workers = 1;
  options.input_size = 4;
  options.output_size = 1;
  options.name = "handoff";
  absl::StatusOr<std::unique_ptr<Batcher>> batcher = Batcher::Create(
      options,
      [](int) -> absl::StatusOr<std::unique_ptr<BatchProcessor>> {
        return std::make_unique<WriteOne>();
      },
      Clock::Real());
  if (!batcher.ok()) {
    std::fprintf(stderr, "batcher_handoff: %s\n",
                 batcher.status().ToString().c_str());
    return 1;
  }
  std::vector<float> input(4 * burst), output(burst);
  Mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (int sent = 0; sent < tasks; sent += burst) {
    {
      MutexLock lock(mu);
      done = 0;
    }
    for (int j = 0; j < burst; ++j) {
      BatchTask task;
      task.num_images = 1;
      task.input = absl::MakeConstSpan(input.data() + 4 * j, 4);
      task.output = absl::MakeSpan(output.data() + j, 1);
      task.done = [&](absl::Status) {
        MutexLock lock(mu);
        ++done;
        cv.notify_one();
      };
      if (absl::Status s = (*batcher)->Schedule(std::move(task)); !s.ok()) {
        std::fprintf(stderr, "batcher_handoff: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    MutexLock lock(mu);
    lock.Wait(cv, [&] {
      mu.AssertHeld();
      return done == burst;
    });
  }
  std::printf("%d tasks in bursts of %d\n", tasks, burst);
  return 0;
}

}  // namespace
}  // namespace nn

int main(int argc, char** argv) {
  const int tasks = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int burst = argc > 2 ? std::atoi(argv[2]) : 1;
  if (tasks < 1 || burst < 1 || burst > 64) {
    std::fprintf(stderr, "usage: batcher_handoff TASKS BURST (1-64)\n");
    return 2;
  }
  return nn::Run(tasks, burst);
}
