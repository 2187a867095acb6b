// nnserve: serves (and trains) small image classifiers over gRPC.
// Run `nnserve --help` for the flags; the README documents them.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/cpus.h"
#include "common/limits.h"
#include "common/logging.h"
#include "server/server.h"
#include "common/process_tuning.h"

ABSL_FLAG(std::string, listen_address, "0.0.0.0",
          "Address the gRPC server binds (0.0.0.0: all interfaces; "
          "127.0.0.1: this machine only).");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 picks a free one (see --port_file).");
ABSL_FLAG(std::string, port_file, "",
          "If set, write the bound gRPC port to this file once serving.");
ABSL_FLAG(int, http_port, 8080,
          "HTTP port for /metrics (Prometheus), /healthz and /readyz; 0 picks "
          "a free one (see --http_port_file); -1 disables HTTP.");
ABSL_FLAG(bool, enable_metrics, true,
          "Record Prometheus metrics (off: /metrics is empty; for measuring "
          "their cost).");
ABSL_FLAG(bool, enable_console, true,
          "Serve the web console on the HTTP port (GET /: models, and a "
          "canvas to draw a digit for every model); off: / is 404. The "
          "read-only JSON view /v1/models is served either way.");
ABSL_FLAG(std::string, http_listen_address, "0.0.0.0",
          "IPv4 address the HTTP endpoint binds.");
ABSL_FLAG(int, http_threads, 16,
          "HTTP worker threads: requests served at once, and open keep-alive "
          "connections held (each /v2 REST connection holds one while open).");
ABSL_FLAG(int64_t, max_http_body_bytes, int64_t{64} << 20,
          "Largest /v2 REST request body (JSON and binary data), in bytes; "
          "larger: 413 before it is read.");
ABSL_FLAG(std::string, http_port_file, "",
          "If set, write the bound HTTP port to this file once serving.");
ABSL_FLAG(std::string, model_repository, "models/repository",
          "Model repository: DIR/<model>/<version>/model.nnm plus optional "
          "DIR/<model>/config.textproto.");
ABSL_FLAG(absl::Duration, repository_poll_interval, absl::Seconds(2),
          "How often to rescan the repository for new or removed versions; "
          "0 disables polling.");
ABSL_FLAG(int, max_batch_size, 64,
          "Default most images in one computed batch (per model: "
          "config.textproto batching.max_batch_size).");
ABSL_FLAG(absl::Duration, max_queue_delay, absl::ZeroDuration(),
          "While every worker is busy, a forming batch takes new requests "
          "until full or until its oldest has waited this long; 0 = until "
          "full. Nothing waits for it: an idle worker takes what is queued.");
ABSL_FLAG(int, max_queue_size, 4096,
          "Default most images queued per model version; more are rejected "
          "with UNAVAILABLE.");
ABSL_FLAG(int, workers, 0,
          "Default batch workers per model version; 0 = the CPUs this process "
          "may use (affinity and cgroup quota).");
ABSL_FLAG(int, max_inline_images, 12,
          "Fast path: a request of at most this many images that finds the "
          "workers idle is computed on the thread that received it, or, "
          "while another such run is computing, joins that run's next batch "
          "(no hand-off to a worker); 0 turns it off.");
ABSL_FLAG(int, gather_images, 8,
          "Gathering, the fast path under heavy load: while requests arrive "
          "so often that this many images would come within half of "
          "--max_gather_delay and gRPC's receiving threads are saturated "
          "(they rarely sleep), a request that finds the model idle waits "
          "for others, and the one that completes the gather computes it as "
          "one batch (at most --max_inline_images); 0 turns it off.");
ABSL_FLAG(absl::Duration, max_gather_delay, absl::Milliseconds(1),
          "The longest a gathered request waits for others before a worker "
          "computes what was gathered.");
ABSL_FLAG(int, threads_per_worker, 1,
          "oneDNN (OpenMP) threads each worker uses for one batch.");
ABSL_FLAG(int64_t, max_images_per_request, nn::kDefaultMaxImagesPerRequest,
          "Most images one Predict may carry; more: RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_message_bytes, 16 << 20,
          "Largest request accepted, in bytes; larger: RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (enables TLS).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; if set, clients must present a certificate it "
          "signed (mTLS).");
ABSL_FLAG(bool, enable_training, false,
          "Accept Train RPCs (training jobs inside the server).");
ABSL_FLAG(std::string, training_token, "",
          "If set, training RPCs need metadata 'authorization: Bearer "
          "<token>'. Without a token, training is only allowed when "
          "--listen_address is loopback, unless "
          "--allow_unauthenticated_training.");
ABSL_FLAG(bool, allow_unauthenticated_training, false,
          "Allow --enable_training without --training_token on a "
          "non-loopback address.");
ABSL_FLAG(int, max_training_jobs, 1,
          "Training jobs running at once; more are RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, training_threads, 1,
          "oneDNN threads of each training job (they run at --training_nice).");
ABSL_FLAG(int, training_nice, 19,
          "Nice value (0..19) of training threads: higher keeps serving "
          "latency lower while a job trains, and gives the job less CPU "
          "under full serving load.");
ABSL_FLAG(std::string, data_dir, "data",
          "Directory of the server-side data sets (mnist, fashion-mnist).");
ABSL_FLAG(int, max_training_epochs, 100, "Most epochs one job may ask for.");
ABSL_FLAG(int64_t, max_inline_examples, 60000,
          "Most labelled examples one Train request may carry.");
ABSL_FLAG(absl::Duration, drain_grace, absl::Seconds(5),
          "On SIGTERM/SIGINT: keep serving this long after health turns "
          "NOT_SERVING, before refusing new calls.");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(30),
          "After the grace period: the longest to wait for accepted calls "
          "before cancelling them.");

namespace {

bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  std::fprintf(f, "%d\n", port);
  if (std::fclose(f) != 0) return false;
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  nn::DisableAbslDeadlockDetection();
  // --help lists this file's flags (absl matches the program name by
  // default, and this file is main.cc).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "serves (and trains) image classifiers over gRPC.\n"
      "  nnserve --model_repository=DIR [--port=50051] [flags]");
  absl::ParseCommandLine(argc, argv);

  // glibc gives each new thread its own malloc arena (up to 8 per core), and
  // an arena keeps its high-water mark: every training job and every model
  // version's workers run on new threads, so resident memory would climb
  // with each job (measured: 58 -> 180 MB over 12 CNN training jobs). One
  // arena per CPU keeps it flat (95-105 MB) at no measurable cost: small
  // allocations go through glibc's per-thread caches anyway.
  mallopt(M_ARENA_MAX, std::max(2, nn::AvailableCpus()));

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  nn::NnServer::Options options;
  options.listen_address = absl::GetFlag(FLAGS_listen_address);
  options.port = absl::GetFlag(FLAGS_port);
  options.model_repository = absl::GetFlag(FLAGS_model_repository);
  options.http_port = absl::GetFlag(FLAGS_http_port);
  options.http_listen_address = absl::GetFlag(FLAGS_http_listen_address);
  options.http_threads = absl::GetFlag(FLAGS_http_threads);
  options.max_http_body_bytes = absl::GetFlag(FLAGS_max_http_body_bytes);
  options.enable_metrics = absl::GetFlag(FLAGS_enable_metrics);
  options.enable_console = absl::GetFlag(FLAGS_enable_console);
  options.repository_poll_interval =
      absl::GetFlag(FLAGS_repository_poll_interval);
  nnserve::v1::BatchingConfig& batching = options.default_batching;
  batching.set_max_batch_size(absl::GetFlag(FLAGS_max_batch_size));
  batching.set_max_queue_delay_micros(
      absl::ToInt64Microseconds(absl::GetFlag(FLAGS_max_queue_delay)));
  batching.set_max_queue_size(absl::GetFlag(FLAGS_max_queue_size));
  const int workers = absl::GetFlag(FLAGS_workers);
  batching.set_workers(workers > 0 ? workers : nn::AvailableCpus());
  batching.set_threads_per_worker(absl::GetFlag(FLAGS_threads_per_worker));
  batching.set_max_inline_images(absl::GetFlag(FLAGS_max_inline_images));
  batching.set_gather_images(absl::GetFlag(FLAGS_gather_images));
  batching.set_max_gather_delay_micros(
      absl::ToInt64Microseconds(absl::GetFlag(FLAGS_max_gather_delay)));
  options.max_images_per_request = absl::GetFlag(FLAGS_max_images_per_request);
  options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.drain_grace = absl::GetFlag(FLAGS_drain_grace);
  options.enable_training = absl::GetFlag(FLAGS_enable_training);
  options.training_token = absl::GetFlag(FLAGS_training_token);
  options.allow_unauthenticated_training =
      absl::GetFlag(FLAGS_allow_unauthenticated_training);
  options.max_training_jobs = absl::GetFlag(FLAGS_max_training_jobs);
  options.training_threads = absl::GetFlag(FLAGS_training_threads);
  options.training_nice = absl::GetFlag(FLAGS_training_nice);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.max_training_epochs = absl::GetFlag(FLAGS_max_training_epochs);
  options.max_inline_examples = absl::GetFlag(FLAGS_max_inline_examples);
  options.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);

  absl::StatusOr<std::unique_ptr<nn::NnServer>> server =
      nn::NnServer::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "nnserve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  // The gRPC port file is written last: its presence means "serving".
  const std::string http_port_file = absl::GetFlag(FLAGS_http_port_file);
  if (!http_port_file.empty() &&
      !WritePortFile(http_port_file, (*server)->http_port())) {
    std::fprintf(stderr, "nnserve: cannot write --http_port_file %s\n",
                 http_port_file.c_str());
    return 1;
  }

  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, (*server)->port())) {
    std::fprintf(stderr, "nnserve: cannot write --port_file %s\n",
                 port_file.c_str());
    return 1;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  NN_LOG(INFO) << "received " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  const bool clean = (*server)->Drain();
  server->reset();
  NN_LOG(INFO) << "exiting";
  return clean ? 0 : 1;
}
