#include "tests/robustness/robustness_util.h"

#include <cstdlib>
#include <future>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/support/http_client.h"

namespace nn::robustness {

namespace {

template <typename Request>
StreamOutcome ReadStream(
    Stub& stub, const Request& request, const std::string& authorization,
    std::unique_ptr<grpc::ClientReader<nnserve::v1::TrainProgress>> (
        Stub::*method)(grpc::ClientContext*, const Request&)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  if (!authorization.empty()) {
    context.AddMetadata("authorization", authorization);
  }
  StreamOutcome outcome;
  auto reader = (stub.*method)(&context, request);
  nnserve::v1::TrainProgress message;
  while (reader->Read(&message)) outcome.messages.push_back(message);
  outcome.status = reader->Finish();
  return outcome;
}

}  // namespace

StreamOutcome Train(Stub& stub, const nnserve::v1::TrainRequest& request,
                    const std::string& authorization) {
  return ReadStream(stub, request, authorization, &Stub::Train);
}

StreamOutcome WatchTraining(Stub& stub, const std::string& job_id,
                            const std::string& authorization) {
  nnserve::v1::WatchTrainingRequest request;
  request.set_job_id(job_id);
  return ReadStream(stub, request, authorization, &Stub::WatchTraining);
}

grpc::Status RawCall(const std::string& target, const std::string& method,
                     const std::string& bytes) {
  grpc::GenericStub stub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(status); });
  return done.get_future().get();
}

grpc::Status ModelInfo(Stub& stub, const std::string& model, int64_t version,
                       nnserve::v1::ModelInfoResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  nnserve::v1::ModelInfoRequest request;
  request.set_model(model);
  request.set_version(version);
  return stub.ModelInfo(&context, request, response);
}

int CheckHealth(const std::string& target, const std::string& service,
                std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, std::move(credentials)));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(&context, request, &response);
  return status.ok() ? static_cast<int>(response.status()) : -1;
}

namespace {

// Parses `{a="x",b="y"}` (label values without escapes, as nnserve's label
// values are model names, versions, codes and reasons).
std::map<std::string, std::string> ParseLabels(absl::string_view block) {
  std::map<std::string, std::string> labels;
  for (absl::string_view pair : absl::StrSplit(block, ',', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) continue;
    absl::string_view value = pair.substr(eq + 1);
    absl::ConsumePrefix(&value, "\"");
    absl::ConsumeSuffix(&value, "\"");
    labels[std::string(absl::StripAsciiWhitespace(pair.substr(0, eq)))] =
        std::string(value);
  }
  return labels;
}

}  // namespace

double SumSamples(const std::string& exposition, const std::string& name,
                  const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == absl::string_view::npos || line.substr(0, name_end) != name) {
      continue;
    }
    std::map<std::string, std::string> sample_labels;
    if (line[name_end] == '{') {
      const size_t close = line.find('}', name_end);
      if (close == absl::string_view::npos) continue;
      sample_labels = ParseLabels(line.substr(name_end + 1, close - name_end - 1));
    }
    bool match = true;
    for (const auto& [key, value] : labels) {
      auto it = sample_labels.find(key);
      match &= it != sample_labels.end() && it->second == value;
    }
    if (!match) continue;
    double value = 0;
    const size_t space = line.rfind(' ');
    if (absl::SimpleAtod(line.substr(space + 1), &value)) sum += value;
  }
  return sum;
}

absl::StatusOr<double> ScrapeMetric(
    int http_port, const std::string& name,
    const std::map<std::string, std::string>& labels) {
  absl::StatusOr<testing::HttpResponse> response =
      testing::HttpRequest(http_port, "GET", "/metrics");
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("/metrics answered HTTP ", response->status));
  }
  return SumSamples(response->body, name, labels);
}

absl::StatusOr<ServedRepository> ServeRepository(const ServeOptions& options) {
  ServedRepository served;
  served.repo = std::make_unique<testing::TempDir>();
  uint64_t seed = 1;
  for (const auto& [name, architecture] : options.models) {
    absl::StatusOr<std::shared_ptr<const Model>> model =
        testing::MakeModel(architecture, seed++);
    if (!model.ok()) return model.status();
    absl::StatusOr<std::string> path =
        testing::PublishModel(served.repo->path(), name, 1, **model);
    if (!path.ok()) return path.status();
    served.paths[name] = *path;
  }
  for (const auto& [name, config] : options.configs) {
    testing::WriteFileOrDie(served.repo->Join(name + "/config.textproto"),
                            config);
  }
  testing::ServerProcess::Options server;
  server.binary = options.binary;
  server.args = {"--model_repository=" + served.repo->path()};
  server.args.insert(server.args.end(), options.flags.begin(),
                     options.flags.end());
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> process =
      testing::ServerProcess::Start(std::move(server));
  if (!process.ok()) return process.status();
  served.server = *std::move(process);
  return served;
}

}  // namespace nn::robustness
