#include "server/server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/allocator.h"
#include "common/file.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "prometheus/registry.h"
#include "server/inference_service.h"
#include "server/console/console_service.h"
#include "server/metrics/http_server.h"
#include "server/metrics/process_collector.h"
#include "server/model_repository.h"
#include "server/serving_metrics.h"
#include "server/training_service.h"
#include "server/v2_grpc_service.h"
#include "server/v1_rest_service.h"
#include "server/v1_training_rest.h"
#include "server/v2_rest_service.h"
#include "server/v2_serving.h"
#include "common/mutex.h"

namespace nn {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const NnServer::Options& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key");
  }
  grpc::SslServerCredentialsOptions ssl(
      options.tls_client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFile(options.tls_key_file));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(options.tls_cert_file));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.tls_client_ca_file));
  }
  return grpc::SslServerCredentials(ssl);
}

bool IsLoopback(const std::string& address) {
  return address == "127.0.0.1" || address == "::1" || address == "localhost" ||
         address.rfind("127.", 0) == 0;
}

}  // namespace

NnServer::NnServer(Options options) : options_(std::move(options)) {}

NnServer::~NnServer() {
  DrainWithGrace(absl::ZeroDuration());
  // A Start() that failed midway drained nothing: the HTTP threads, which
  // use the repository and rest_, stop before either is destroyed (open
  // training event streams end first).
  if (v1_training_ != nullptr) v1_training_->StopStreams();
  http_.reset();
}

absl::StatusOr<std::unique_ptr<NnServer>> NnServer::Create(Options options) {
  std::unique_ptr<NnServer> server(new NnServer(std::move(options)));
  RETURN_IF_ERROR(server->Start());
  return server;
}

int NnServer::http_port() const { return http_ ? http_->port() : -1; }

absl::Status NnServer::Start() {
  metrics::MetricsHttpServer::Sources metrics_sources;
  if (options_.enable_metrics) {
    // Throw: a second family of one name is a bug to see at start-up.
    registry_ = std::make_unique<prometheus::Registry>(
        prometheus::Registry::InsertBehavior::Throw);
    process_metrics_ = std::make_unique<metrics::ProcessCollector>();
    ASSIGN_OR_RETURN(metrics_, ServingMetrics::Create(registry_.get()));
    metrics_sources = {registry_.get(), process_metrics_.get()};
  }
  ModelRepository::Options repo_options;
  repo_options.root = options_.model_repository;
  repo_options.observer = metrics_.get();
  repo_options.poll_interval = options_.repository_poll_interval;
  repo_options.default_batching = options_.default_batching;
  ASSIGN_OR_RETURN(repository_,
                   ModelRepository::Create(repo_options, Clock::Real()));

  // The Open Inference Protocol on the repository, for gRPC and REST.
  V2Serving::Options v2_options;
  v2_options.max_images_per_request = options_.max_images_per_request;
  v2_options.max_request_bytes = options_.max_http_body_bytes;
  v2_options.server_version = NNSERVE_VERSION;
  v2_ = std::make_unique<V2Serving>(v2_options, repository_.get(),
                                    metrics_.get(),
                                    [this] { return Readiness(); });

  if (options_.enable_training && options_.training_token.empty() &&
      !options_.allow_unauthenticated_training &&
      !IsLoopback(options_.listen_address)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to expose training without a token on ",
        options_.listen_address,
        ": set --training_token, listen on 127.0.0.1, or pass "
        "--allow_unauthenticated_training"));
  }
  if (options_.training_nice < 0 || options_.training_nice > 19) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--training_nice must be in 0..19, got ", options_.training_nice));
  }
  TrainingService::Options training_options;
  training_options.enabled = options_.enable_training;
  training_options.token = options_.training_token;
  training_options.max_jobs = options_.max_training_jobs;
  training_options.threads_per_job = options_.training_threads;
  training_options.nice = options_.training_nice;
  training_options.data_dir = options_.data_dir;
  training_options.max_epochs = options_.max_training_epochs;
  training_options.max_inline_examples = options_.max_inline_examples;
  training_ = std::make_unique<TrainingService>(
      training_options, repository_.get(), metrics_.get());

  InferenceServiceImpl::Options service_options;
  service_options.max_images_per_request = options_.max_images_per_request;
  service_ = std::make_unique<InferenceServiceImpl>(
      service_options, repository_.get(), training_.get(), metrics_.get());

  v2_service_ = std::make_unique<V2GrpcService>(v2_.get());

  // The HTTP endpoint after the services its routes call.
  if (options_.http_port >= 0) {
    rest_ = std::make_unique<V2RestService>(v2_.get(),
                                            [this] { return Readiness(); });
    metrics::MetricsHttpServer::Options http_options;
    http_options.listen_address = options_.http_listen_address;
    http_options.port = options_.http_port;
    http_options.num_threads = options_.http_threads;
    http_options.keep_alive = true;
    http_options.routes.push_back(
        {"/v2", [rest = rest_.get()](metrics::HttpExchange& exchange) {
           rest->Handle(exchange);
         }});
    // Training event streams hold a worker thread each: a quarter of them
    // at most, so the rest keep serving.
    V1TrainingRest::Options v1_training_options;
    v1_training_options.max_streams = std::max(1, options_.http_threads / 4);
    v1_training_options.max_body_bytes = options_.max_http_body_bytes;
    v1_training_ = std::make_unique<V1TrainingRest>(v1_training_options,
                                                    service_.get());
    v1_rest_ = std::make_unique<V1RestService>(service_.get(),
                                               v1_training_.get());
    http_options.routes.push_back(
        {"/v1", [v1 = v1_rest_.get()](metrics::HttpExchange& exchange) {
           v1->Handle(exchange);
         }});
    if (options_.enable_console) {
      auto console = [](metrics::HttpExchange& exchange) {
        console::ConsoleService().Handle(exchange);
      };
      http_options.routes.push_back({"/", console});
      http_options.routes.push_back({"/console", console});
    }
    ASSIGN_OR_RETURN(http_, metrics::MetricsHttpServer::Create(
                                http_options, std::move(metrics_sources),
                                [this] { return Readiness(); }));
    NN_LOG(INFO) << "metrics, probes and /v2 REST on http://"
                 << options_.http_listen_address << ":" << http_->port()
                 << " (/metrics, /healthz, /readyz, /v1, /v2"
                 << (options_.enable_console ? ", console at /)" : ")");
  }

  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   MakeCredentials(options_));
  // Reflection describes services from the generated descriptor pool; the
  // default health service registers none, so make sure the health messages
  // generated in nnproto_service are linked in.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  const std::string address =
      absl::StrCat(options_.listen_address.find(':') != std::string::npos
                       ? absl::StrCat("[", options_.listen_address, "]")
                       : options_.listen_address,
                   ":", options_.port);
  builder.AddListeningPort(address, credentials, &port_);
  builder.RegisterService(service_.get());
  builder.RegisterService(v2_service_.get());
  builder.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  // Two servers must never share a port silently (SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address,
                     " (port in use, or bad address?)"));
  }
  SetServing(false);
  NN_LOG(INFO) << "listening on " << address << " (port " << port_
               << "); loading models from " << options_.model_repository
               << "; heap allocator: " << AllocatorName();

  RETURN_IF_ERROR(repository_->Start());
  service_->SetReady(true);
  v2_->SetReady(true);
  ready_.store(true);
  SetServing(true);
  NN_LOG(INFO) << "serving";
  return absl::OkStatus();
}

void NnServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kInferenceServiceName, serving);
  health->SetServingStatus(kV2ServiceName, serving);
}

absl::Status NnServer::Readiness() const {
  if (draining_.load()) return absl::UnavailableError("draining");
  if (!ready_.load()) return absl::UnavailableError("loading models");
  return absl::OkStatus();
}

bool NnServer::Drain() { return DrainWithGrace(options_.drain_grace); }

bool NnServer::DrainWithGrace(absl::Duration grace) {
  // Held throughout: a concurrent caller waits for the drain to end and gets
  // its result.
  MutexLock lock(drain_mu_);
  if (drain_result_.has_value()) return *drain_result_;
  drain_result_ = true;
  if (server_ == nullptr) return true;
  NN_LOG(INFO) << "draining: health NOT_SERVING, serving on for "
               << absl::FormatDuration(grace);
  draining_.store(true);
  SetServing(false);
  // Training event streams end now (the job's end would come only after
  // the grace), and new ones are refused.
  if (v1_training_ != nullptr) v1_training_->StopStreams();
  absl::SleepFor(grace);
  // Running training jobs are cancelled (nothing is published); their
  // streams end with CANCELLED.
  training_->Shutdown();
  const absl::Time deadline = absl::Now() + options_.shutdown_timeout;
  // Stops accepting calls, waits for the accepted ones until `deadline`, then
  // cancels the rest.
  if (rest_ != nullptr) rest_->StopAccepting();
  server_->Shutdown(absl::ToChronoTime(deadline));
  // Admitted /v2 REST requests finish like accepted gRPC calls (their
  // handler threads wait on the batcher, which is still running).
  const bool rest_idle = rest_ == nullptr || rest_->WaitIdle(deadline);
  const bool in_time = absl::Now() < deadline && rest_idle;
  repository_->Shutdown(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  const int64_t accepted = service_->predicts_accepted();
  const int64_t finished = service_->predicts_finished();
  if (rest_ != nullptr) {
    NN_LOG(INFO) << "REST /v2 infer: " << rest_->infers_answered() << " of "
                 << rest_->infers_admitted() << " admitted requests answered";
  }
  if (in_time && accepted == finished) {
    NN_LOG(INFO) << "drained: all " << accepted
                 << " accepted Predict calls finished";
  } else {
    NN_LOG(WARNING) << "shutdown timeout: " << finished << " of " << accepted
                    << " accepted Predict calls finished, the rest cancelled";
  }
  http_.reset();
  drain_result_ = in_time && accepted == finished;
  return *drain_result_;
}

}  // namespace nn
