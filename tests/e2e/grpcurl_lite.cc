// grpcurl_lite: the part of grpcurl (not packaged in Debian 12) that the
// README's gRPC examples use, built the way grpcurl works: everything it
// knows about a service comes from the server's reflection
// (grpc.reflection.v1alpha), never from generated code. That is the point of
// the tool: if the README's commands work through it, the reflection data is
// complete enough for grpcurl and any other reflection-driven client.
//
//   grpcurl_lite -plaintext ADDRESS list [SERVICE]
//   grpcurl_lite -plaintext [-d JSON] ADDRESS SERVICE/METHOD
//
// `list` prints the services (or SERVICE's methods, fully qualified), one a
// line. A call parses JSON (default "{}") into the method's input type with
// protobuf's JSON mapping, sends it as bytes through grpc::GenericStub and
// prints the reply as JSON (proto3 JSON: lowerCamelCase names, 64-bit
// integers as strings), as grpcurl does. Exit code: 0 on success; 1 and a
// message on stderr for a failed call ("ERROR: Code: <code> Message: <msg>",
// as grpcurl), a reflection failure or bad usage. Unary methods only.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"

namespace {

using grpc::reflection::v1alpha::ServerReflection;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;

constexpr auto kTimeout = std::chrono::seconds(20);

int Fail(const std::string& message) {
  std::fprintf(stderr, "grpcurl_lite: %s\n", message.c_str());
  return 1;
}

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + kTimeout;
}

// One ServerReflectionInfo stream: asks, and adds every file descriptor the
// server sends to `database` (the files a symbol needs, dependencies first or
// not: the database resolves them by name when the pool builds).
class Reflection {
 public:
  explicit Reflection(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(ServerReflection::NewStub(channel)) {
    context_.set_deadline(Deadline());
    stream_ = stub_->ServerReflectionInfo(&context_);
  }
  ~Reflection() {
    stream_->WritesDone();
    (void)stream_->Finish();
  }

  // The services the server lists; empty with `error` set on failure.
  std::vector<std::string> ListServices(std::string* error) {
    ServerReflectionRequest request;
    request.set_list_services("");
    ServerReflectionResponse response;
    std::vector<std::string> names;
    if (!Ask(request, &response, error)) return names;
    for (const auto& service : response.list_services_response().service()) {
      names.push_back(service.name());
    }
    return names;
  }

  // Loads the file defining `symbol` and, transitively, every file it
  // imports that the server did not send with it.
  bool LoadSymbol(const std::string& symbol, std::string* error) {
    ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    if (!LoadFiles(request, error)) return false;
    // Imports the answer did not include: ask for them by name.
    for (bool added = true; added;) {
      added = false;
      for (const std::string& file : std::set<std::string>(known_)) {
        google::protobuf::FileDescriptorProto proto;
        if (!database_.FindFileByName(file, &proto)) continue;
        for (const std::string& dependency : proto.dependency()) {
          if (known_.count(dependency) > 0) continue;
          ServerReflectionRequest by_name;
          by_name.set_file_by_filename(dependency);
          if (!LoadFiles(by_name, error)) return false;
          added = true;
        }
      }
    }
    return true;
  }

  google::protobuf::DescriptorDatabase* database() { return &database_; }

 private:
  bool Ask(const ServerReflectionRequest& request,
           ServerReflectionResponse* response, std::string* error) {
    if (!stream_->Write(request) || !stream_->Read(response)) {
      const grpc::Status status = stream_->Finish();
      *error = "reflection stream failed: " + status.error_message();
      return false;
    }
    if (response->has_error_response()) {
      *error = "reflection: " + response->error_response().error_message();
      return false;
    }
    return true;
  }

  bool LoadFiles(const ServerReflectionRequest& request, std::string* error) {
    ServerReflectionResponse response;
    if (!Ask(request, &response, error)) return false;
    for (const std::string& bytes :
         response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) {
        *error = "reflection sent a file descriptor that does not parse";
        return false;
      }
      if (known_.insert(file.name()).second) database_.Add(file);
    }
    return true;
  }

  std::unique_ptr<ServerReflection::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<ServerReflectionRequest,
                                           ServerReflectionResponse>>
      stream_;
  google::protobuf::SimpleDescriptorDatabase database_;
  std::set<std::string> known_;
};

int List(const std::shared_ptr<grpc::Channel>& channel,
         const std::string& service) {
  Reflection reflection(channel);
  std::string error;
  if (service.empty()) {
    std::vector<std::string> names = reflection.ListServices(&error);
    if (!error.empty()) return Fail(error);
    for (const std::string& name : names) std::printf("%s\n", name.c_str());
    return 0;
  }
  if (!reflection.LoadSymbol(service, &error)) return Fail(error);
  google::protobuf::DescriptorPool pool(reflection.database());
  const google::protobuf::ServiceDescriptor* descriptor =
      pool.FindServiceByName(service);
  if (descriptor == nullptr) return Fail("no service " + service);
  for (int i = 0; i < descriptor->method_count(); ++i) {
    std::printf("%s\n", descriptor->method(i)->full_name().c_str());
  }
  return 0;
}

int Call(const std::shared_ptr<grpc::Channel>& channel,
         const std::string& method_name, const std::string& json) {
  const size_t slash = method_name.rfind('/');
  if (slash == std::string::npos) return Fail("want SERVICE/METHOD");
  const std::string service = method_name.substr(0, slash);
  Reflection reflection(channel);
  std::string error;
  if (!reflection.LoadSymbol(service, &error)) return Fail(error);
  google::protobuf::DescriptorPool pool(reflection.database());
  const google::protobuf::ServiceDescriptor* service_descriptor =
      pool.FindServiceByName(service);
  if (service_descriptor == nullptr) return Fail("no service " + service);
  const google::protobuf::MethodDescriptor* method =
      service_descriptor->FindMethodByName(method_name.substr(slash + 1));
  if (method == nullptr) return Fail("no method " + method_name);
  if (method->client_streaming() || method->server_streaming()) {
    return Fail("streaming methods are not supported");
  }

  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> request(
      factory.GetPrototype(method->input_type())->New());
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      json.empty() ? "{}" : json, request.get());
  if (!parsed.ok()) {
    return Fail("bad request JSON for " + method->input_type()->full_name() +
                ": " + std::string(parsed.message()));
  }
  std::string bytes;
  request->SerializeToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);

  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  stub.UnaryCall(&context, "/" + method_name, grpc::StubOptions(),
                 &request_buffer, &response_buffer,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = std::move(s);
                   done = true;
                   cv.notify_one();
                 });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  if (!status.ok()) {
    std::fprintf(stderr, "ERROR:\n  Code: %d\n  Message: %s\n",
                 static_cast<int>(status.error_code()),
                 status.error_message().c_str());
    return 1;
  }
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return Fail("unreadable reply");
  std::string reply;
  for (const grpc::Slice& s : slices) {
    reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  std::unique_ptr<google::protobuf::Message> response(
      factory.GetPrototype(method->output_type())->New());
  if (!response->ParseFromString(reply)) {
    return Fail("reply does not parse as " +
                method->output_type()->full_name());
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string out;
  const auto printed =
      google::protobuf::util::MessageToJsonString(*response, &out, options);
  if (!printed.ok()) return Fail(std::string(printed.message()));
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string json;
  size_t i = 0;
  bool plaintext = false;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    if (args[i] == "-plaintext") {
      plaintext = true;
    } else if (args[i] == "-d" && i + 1 < args.size()) {
      json = args[++i];
    } else {
      return Fail("unknown flag " + args[i]);
    }
  }
  if (!plaintext) return Fail("only -plaintext is supported");
  if (i + 2 > args.size()) {
    return Fail("usage: -plaintext [-d JSON] ADDRESS (list [SERVICE] | "
                "SERVICE/METHOD)");
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(
      args[i], grpc::InsecureChannelCredentials(), channel_args);
  if (args[i + 1] == "list") {
    return List(channel, i + 2 < args.size() ? args[i + 2] : "");
  }
  return Call(channel, args[i + 1], json);
}
