// Class labels an ONNX model carries in its metadata_props (internal to
// nnonnx; the rule is stated in onnx_import.h, "Labels").
#ifndef NNSERVE_ENGINE_ONNX_ONNX_LABELS_H_
#define NNSERVE_ENGINE_ONNX_ONNX_LABELS_H_

#include <string>
#include <vector>

#include "onnx/onnx_pb.h"  // defines ONNX_API, includes onnx-ml.pb.h

namespace nn::onnx_import {

struct MetadataLabels {
  // One label per class, in class order; empty when the model has no label
  // entries or they were ignored.
  std::vector<std::string> labels;
  // Why the label entries were ignored, naming the entry ("label_3 is
  // missing"); empty when they were used or there were none.
  std::string ignored;
};

// The "label_<i>" entries of `model`'s metadata_props for a graph of
// `num_classes` classes (num_classes >= 1).
MetadataLabels ReadMetadataLabels(const onnx::ModelProto& model, int num_classes);

}  // namespace nn::onnx_import

#endif  // NNSERVE_ENGINE_ONNX_ONNX_LABELS_H_
