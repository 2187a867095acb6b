// NnServer assembles the running service: the gRPC server (inference
// service, health, reflection), the model repository and, when enabled, the
// training service and the metrics endpoint. main.cc maps flags to Options.
//
// Services on the gRPC port: nnserve.v1.InferenceService, the Open
// Inference Protocol's inference.GRPCInferenceService (v2_grpc_service.h),
// health and reflection.
//
// Lifecycle:
//   Create()  binds the port, answers health NOT_SERVING, loads the initial
//             models, then reports SERVING (overall "",
//             "nnserve.v1.InferenceService" and
//             "inference.GRPCInferenceService").
//   Drain()   health -> NOT_SERVING at once; keeps serving for `drain_grace`
//             (load balancers and Kubernetes remove the endpoint with a
//             lag); then stops accepting calls, finishes every accepted call
//             (cancelling what is left after `shutdown_timeout`), and
//             unloads the models. Returns true if nothing had to be
//             cancelled.
#ifndef NNSERVE_SERVER_SERVER_H_
#define NNSERVE_SERVER_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/limits.h"
#include "nnserve/v1/inference.pb.h"
#include "common/mutex.h"

namespace grpc {
class Server;
}  // namespace grpc
namespace prometheus {
class Registry;
}  // namespace prometheus

namespace nn {

class InferenceServiceImpl;
class ModelRepository;
class V2GrpcService;
class V2Serving;
class ServingMetrics;
class TrainingService;
class V2RestService;
class V1RestService;
class V1TrainingRest;
namespace metrics {
class MetricsHttpServer;
class ProcessCollector;
}  // namespace metrics

class NnServer {
 public:
  struct Options {
    // gRPC listen address and port (0: pick a free port, see port()).
    std::string listen_address = "0.0.0.0";
    int port = 50051;
    std::string model_repository = "models/repository";
    absl::Duration repository_poll_interval = absl::Seconds(2);
    // Fully specified defaults (all fields > 0, delay >= 0).
    nnserve::v1::BatchingConfig default_batching;
    int64_t max_images_per_request = kDefaultMaxImagesPerRequest;
    // Largest request message accepted, in bytes; larger: RESOURCE_EXHAUSTED.
    int max_receive_message_bytes = 16 << 20;
    // TLS: PEM files; both empty = plaintext. With tls_client_ca, clients
    // must present a certificate signed by it (mTLS).
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_client_ca_file;
    // HTTP endpoint for /metrics, /healthz, /readyz, the Open Inference
    // Protocol's /v2 REST endpoints (v2_rest_service.h), the /v1 JSON view
    // (v1_rest_service.h) and the console: port (0: pick a free one, see
    // http_port(); -1: no HTTP endpoint) and IPv4 address.
    int http_port = 8080;
    // Its worker threads (requests at once; each open keep-alive connection
    // holds one) and the largest /v2 request body in bytes (more: 413).
    int http_threads = 16;
    int64_t max_http_body_bytes = int64_t{64} << 20;
    // Off: no metric is recorded and /metrics is empty (for measuring what
    // metrics cost; the probes still work).
    bool enable_metrics = true;
    std::string http_listen_address = "0.0.0.0";
    // The web console on the HTTP port: GET / and /console/... (server/
    // console/console_service.h). Off: those paths are 404. The read-only
    // JSON view /v1 (v1_rest_service.h) is served either way.
    bool enable_console = true;
    absl::Duration drain_grace = absl::Seconds(5);
    // Training (see server/training_service.h). When enabled without a
    // token, the server refuses to start unless it listens on loopback only
    // or allow_unauthenticated_training is set.
    bool enable_training = false;
    std::string training_token;
    bool allow_unauthenticated_training = false;
    int max_training_jobs = 1;
    int training_threads = 1;
    int training_nice = 19;  // TrainingService::Options::nice
    std::string data_dir = "data";
    int max_training_epochs = 100;
    int64_t max_inline_examples = 60000;
    absl::Duration shutdown_timeout = absl::Seconds(30);
  };

  static absl::StatusOr<std::unique_ptr<NnServer>> Create(Options options);
  ~NnServer();

  // The bound gRPC port.
  int port() const { return port_; }
  // The bound HTTP port (-1 without the HTTP endpoint).
  int http_port() const;

  // See the header comment. Idempotent and safe from any thread: a second
  // call (also while the first runs) waits for the drain to end and returns
  // the same result.
  bool Drain();

  ModelRepository& repository() { return *repository_; }

 private:
  explicit NnServer(Options options);
  absl::Status Start();
  void SetServing(bool serving);
  // OK when serving; UNAVAILABLE while the initial models load or once a
  // drain has started (/readyz, the health service, V2 ServerReady).
  absl::Status Readiness() const;
  // Drain() with `grace` for the pre-drain window (0 from the destructor).
  bool DrainWithGrace(absl::Duration grace);

  Options options_;
  int port_ = 0;
  Mutex drain_mu_;
  // Set when a drain starts, to its result when it ends.
  std::optional<bool> drain_result_ ABSL_GUARDED_BY(drain_mu_);
  std::atomic<bool> draining_{false};
  std::atomic<bool> ready_{false};
  // With metrics on: the serving families and the process metrics, both
  // served at /metrics; declared before (so destroyed after) everything
  // that records into them.
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<metrics::ProcessCollector> process_metrics_;
  std::unique_ptr<ServingMetrics> metrics_;
  // The /v2 REST endpoints, served by http_ (declared before it, so it is
  // destroyed after; ~NnServer stops http_ before anything else goes).
  std::unique_ptr<V2RestService> rest_;
  std::unique_ptr<V1TrainingRest> v1_training_;
  std::unique_ptr<V1RestService> v1_rest_;
  std::unique_ptr<metrics::MetricsHttpServer> http_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<TrainingService> training_;
  std::unique_ptr<InferenceServiceImpl> service_;
  // The Open Inference Protocol: its protocol-independent half and its gRPC
  // service (v2_serving.h, v2_grpc_service.h).
  std::unique_ptr<V2Serving> v2_;
  std::unique_ptr<V2GrpcService> v2_service_;
  std::unique_ptr<grpc::Server> server_;
};

// The service name that health checks report besides the overall "".
inline constexpr char kInferenceServiceName[] = "nnserve.v1.InferenceService";

}  // namespace nn

#endif  // NNSERVE_SERVER_SERVER_H_
