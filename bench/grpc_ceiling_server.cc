// grpc_ceiling_server: the transport ceiling for nnserve's Predict.
//
// A bare gRPC callback-API server that implements only
// nnserve.v1.InferenceService/Predict and answers every request at once with
// a precomputed reply of the real size: one Prediction per image (10
// probabilities, class, label, confidence, and top_k scores when asked), the
// shape nnserve returns. The image count is read from the request the way
// nnserve reads it, so request parsing and reply size match; no pixel is
// looked at. `nnctl bench` against this server measures what gRPC, the
// loopback network and the client cost on this machine: the ceiling that
// bench/serving.sh compares nnserve with.
//
//   grpc_ceiling_server --port=0 --port_file=/tmp/port --stats_file=/tmp/stats
//
// It runs until SIGTERM or SIGINT, then stops (in-flight calls get 2 s),
// prints "grpc_ceiling_server: N requests, M images" on stderr and writes
// "requests N\nimages M\n" to --stats_file, so tests can compare the count
// with what the client sent. The callback API runs handlers on gRPC's own
// threads (there is no thread-count knob for it), as in nnserve.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/images.h"
#include "common/limits.h"
#include "nnserve/v1/inference.grpc.pb.h"
#include "common/process_tuning.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int, port, 50052, "Port to listen on; 0 picks a free one.");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound port here (atomically) once serving.");
ABSL_FLAG(std::string, stats_file, "",
          "On exit, write \"requests N\\nimages M\\n\" here.");
ABSL_FLAG(int, image_size, static_cast<int>(nn::kImagePixels),
          "Bytes (pixels) of one image, to count uint8 images.");

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

constexpr int kClasses = 10;

// The reply for one image, as nnserve shapes it, for every top_k.
std::vector<v1::Prediction> MakePredictionTemplates() {
  std::vector<float> probabilities(kClasses);
  float rest = 1.0f;
  for (int c = kClasses - 1; c > 0; --c) {
    probabilities[c] = 0.01f * static_cast<float>(c) / kClasses;
    rest -= probabilities[c];
  }
  probabilities[0] = rest;
  std::vector<v1::Prediction> templates(kClasses + 1);
  for (int k = 0; k <= kClasses; ++k) {
    v1::Prediction& p = templates[k];
    p.set_class_index(0);
    p.set_label("0");
    p.set_confidence(probabilities[0]);
    for (float probability : probabilities) p.add_probabilities(probability);
    // Probabilities are in descending order from class 9 down to 1 after 0.
    for (int i = 0; i < k; ++i) {
      const int c = i == 0 ? 0 : kClasses - i;
      v1::ClassScore* score = p.add_top_k();
      score->set_class_index(c);
      score->set_label(absl::StrCat(c));
      score->set_probability(probabilities[c]);
    }
  }
  return templates;
}

class CeilingService final : public v1::InferenceService::CallbackService {
 public:
  CeilingService() : templates_(MakePredictionTemplates()) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override {
    requests_.fetch_add(1, std::memory_order_relaxed);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const int64_t images = CountImages(request->images());
    if (images <= 0) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "images: expected at least one image"));
      return reactor;
    }
    if (request->top_k() < 0 || request->top_k() > kClasses) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "top_k: must be in [0, 10]"));
      return reactor;
    }
    images_.fetch_add(images, std::memory_order_relaxed);
    response->set_model(request->model());
    response->set_version(1);
    const v1::Prediction& prediction = templates_[request->top_k()];
    response->mutable_predictions()->Reserve(static_cast<int>(images));
    for (int64_t i = 0; i < images; ++i) {
      *response->add_predictions() = prediction;
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  int64_t requests() const { return requests_.load(); }
  int64_t images() const { return images_.load(); }

 private:
  // The number of images (common/images.h), or 0 for a request nnserve
  // would reject without decoding: a tensor whose values do not fill its
  // shape, pixels that are not whole images.
  int64_t CountImages(const v1::Images& images) const {
    const int64_t image_size = absl::GetFlag(FLAGS_image_size);
    const int64_t n = nn::CountImages(images, image_size);
    if (n <= 0) return 0;
    if (images.has_tensor()) {
      const v1::FloatTensor& tensor = images.tensor();
      if (tensor.shape_size() < 2) return 0;
      int64_t per_image = 1;
      for (int i = 1; i < tensor.shape_size(); ++i) per_image *= tensor.shape(i);
      if (per_image <= 0 || tensor.values_size() != n * per_image) return 0;
    }
    if (images.has_pixels() &&
        static_cast<int64_t>(images.pixels().data().size()) % image_size != 0) {
      return 0;
    }
    return n;
  }

  const std::vector<v1::Prediction> templates_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> images_{0};
};

bool WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << text;
    if (!out.flush()) return false;
  }
  return std::rename(temp.c_str(), path.c_str()) == 0;
}

int Main(int argc, char** argv) {
  DisableAbslDeadlockDetection();
  absl::SetProgramUsageMessage(
      "A bare gRPC server answering nnserve's Predict with a fixed reply: the "
      "transport ceiling for nnctl bench.");
  absl::ParseCommandLine(argc, argv);

  // Signals are taken by sigwait below; block them before any gRPC thread
  // starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CeilingService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      absl::StrCat(absl::GetFlag(FLAGS_host), ":", absl::GetFlag(FLAGS_port)),
      grpc::InsecureServerCredentials(), &port);
  // Port 0 must give a port of our own (gRPC sets SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "grpc_ceiling_server: cannot listen on "
              << absl::GetFlag(FLAGS_host) << ":" << absl::GetFlag(FLAGS_port)
              << std::endl;
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() &&
      !WriteFileAtomically(port_file, absl::StrCat(port, "\n"))) {
    std::cerr << "grpc_ceiling_server: cannot write " << port_file << std::endl;
    return 1;
  }
  std::cerr << "grpc_ceiling_server: listening on "
            << absl::GetFlag(FLAGS_host) << ":" << port << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();

  const std::string stats = absl::StrCat("requests ", service.requests(),
                                         "\nimages ", service.images(), "\n");
  std::cerr << "grpc_ceiling_server: " << service.requests() << " requests, "
            << service.images() << " images" << std::endl;
  const std::string stats_file = absl::GetFlag(FLAGS_stats_file);
  if (!stats_file.empty() && !WriteFileAtomically(stats_file, stats)) {
    std::cerr << "grpc_ceiling_server: cannot write " << stats_file
              << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace nn

int main(int argc, char** argv) { return nn::Main(argc, argv); }
