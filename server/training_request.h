// Internal to the training service: a Train request validated and turned
// into what its job runs on (TrainingService::Prepare, training_request.cc).
#ifndef NNSERVE_SERVER_TRAINING_REQUEST_H_
#define NNSERVE_SERVER_TRAINING_REQUEST_H_

#include <cstdint>
#include <memory>
#include <string>

#include "engine/data/dataset.h"
#include "engine/model.h"
#include "engine/training/trainer.h"
#include "nnserve/v1/model.pb.h"
#include "server/training_service.h"

namespace nn {

struct TrainingService::Prepared {
  nnserve::v1::ModelSpec spec;              // a new architecture, or
  std::shared_ptr<const Model> base;        // the version to fine-tune
  int64_t base_version = 0;
  std::string base_origin;                  // the base's, if imported
  std::shared_ptr<const Dataset> dataset;   // a named data set, or
  ImageSet inline_examples;                 // examples from the request
  std::string data_name;
  nnserve::v1::TrainingConfig config;

  // The data as the trainer takes it (pointers into this).
  TrainingData data() const {
    TrainingData data;
    if (dataset != nullptr) {
      data.train = &dataset->train;
      data.test = dataset->test.count > 0 ? &dataset->test : nullptr;
    } else {
      data.train = &inline_examples;
    }
    data.name = data_name;
    return data;
  }
};

}  // namespace nn

#endif  // NNSERVE_SERVER_TRAINING_REQUEST_H_
