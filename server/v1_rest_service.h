// A read-only JSON view of nnserve.v1 on the HTTP port (MetricsHttpServer
// route "/v1"), for the web console (server/console/) and for curl. It
// calls the very code the gRPC methods call (InferenceServiceImpl::
// AnswerListModels / AnswerModelInfo: same validation, same answer, counted
// as the same RPCs) and writes the reply in protobuf's JSON mapping
// (google::protobuf::util::MessageToJsonString: lowerCamelCase field names,
// enums by name, int64 as strings, fields at their default value printed
// too, so a page never has to guess a missing zero).
//
//   GET /v1/models                       ListModelsResponse (a summary of
//                                        every model: no layers, labels or
//                                        history)
//   GET /v1/models/{m}                   ModelInfoResponse of the default
//                                        version, in full, and the model's
//                                        training jobs
//   GET /v1/models/{m}/versions/{v}      the same for served version v
// HEAD is answered like GET without the body. Errors: {"error": "<message>"}
// (JSON-escaped), application/json, with the status of the Open Inference
// Protocol's table (rest_codec.h HttpStatusFor: 400 bad name or version,
// 404 unknown model, version or path, 405 + "Allow: GET, HEAD" for another
// method). The path arrives percent-decoded (civetweb); a model name that
// is not a plain [A-Za-z0-9._-] word is a 400.
// Paths under /v1/training go to the training endpoints
// (v1_training_rest.h), which write (with the training token); the rest of
// this view only reads.
#ifndef NNSERVE_SERVER_V1_REST_SERVICE_H_
#define NNSERVE_SERVER_V1_REST_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/inference_service.h"
#include "server/metrics/http_exchange.h"

namespace nn {

class V1TrainingRest;  // server/v1_training_rest.h

class V1RestService {
 public:
  // `service` and `training` (null: /v1/training is 404) must outlive this
  // object.
  explicit V1RestService(InferenceServiceImpl* service,
                         V1TrainingRest* training = nullptr)
      : service_(service), training_(training) {}

  // Serves one /v1 request (see the header comment) on the calling thread;
  // answers at once (nothing here waits for a batcher).
  void Handle(metrics::HttpExchange& exchange);

 private:
  // The JSON answer of a GET of `path`, or the error to answer.
  absl::StatusOr<std::string> Answer(absl::string_view path);

  InferenceServiceImpl* const service_;
  V1TrainingRest* const training_;
};

}  // namespace nn

#endif  // NNSERVE_SERVER_V1_REST_SERVICE_H_
