// A small, fully resolved batching config for in-process server tests: one
// worker of one thread, batches of 8, a queue of `max_queue_size` images,
// no queue-delay limit, and the fast path for up to `max_inline_images`.
#ifndef NNSERVE_TESTS_SERVER_SMALL_BATCHING_H_
#define NNSERVE_TESTS_SERVER_SMALL_BATCHING_H_

#include "nnserve/v1/inference.pb.h"

namespace nn::testing {

inline nnserve::v1::BatchingConfig SmallBatching(int max_inline_images,
                                                 int max_queue_size = 8) {
  nnserve::v1::BatchingConfig batching;
  batching.set_max_batch_size(8);
  batching.set_max_queue_size(max_queue_size);
  batching.set_workers(1);
  batching.set_threads_per_worker(1);
  batching.set_max_queue_delay_micros(0);
  batching.set_max_inline_images(max_inline_images);
  return batching;
}

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SERVER_SMALL_BATCHING_H_
