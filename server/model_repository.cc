#include "server/model_repository.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file.h"
#include "common/logging.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "google/protobuf/text_format.h"
#include "engine/model_file.h"

namespace nn {
namespace {

using ::nnserve::v1::BatchingConfig;
using ::nnserve::v1::ModelConfig;
using ::nnserve::v1::ModelStatus;
using ::nnserve::v1::VersionInfo;
using ::nnserve::v1::VersionState;

constexpr char kModelFileName[] = "model.nnm";
constexpr char kConfigFileName[] = "config.textproto";

struct DiskVersion {
  std::string path;
  int64_t size = 0;
  int64_t mtime_nanos = 0;
};

struct DiskModel {
  std::map<int64_t, DiskVersion> versions;
  bool has_config = false;
  std::string config_text;
};

bool StatPath(const std::string& path, struct stat* st) {
  return ::stat(path.c_str(), st) == 0;
}

// Lists the entries of `dir` (without "." and ".."); errno-based status.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    std::string message = absl::StrCat(dir, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    names.push_back(std::move(name));
  }
  ::closedir(d);
  return names;
}

// Scans one model directory: its config text and its complete versions.
absl::StatusOr<DiskModel> ScanModel(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> entries, ListDir(dir));
  DiskModel model;
  for (const std::string& name : entries) {
    if (name == kConfigFileName) {
      ASSIGN_OR_RETURN(model.config_text,
                       ReadFile(absl::StrCat(dir, "/", name)));
      model.has_config = true;
      continue;
    }
    int64_t version = 0;
    if (!absl::SimpleAtoi(name, &version) || version <= 0 ||
        name != absl::StrCat(version)) {
      continue;  // not a version directory (or a temporary one)
    }
    const std::string path = absl::StrCat(dir, "/", name, "/", kModelFileName);
    struct stat st;
    if (!StatPath(path, &st) || !S_ISREG(st.st_mode)) continue;  // not ready
    model.versions[version] = DiskVersion{
        path, static_cast<int64_t>(st.st_size),
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
            st.st_mtim.tv_nsec};
  }
  return model;
}

// The versions `policy` selects out of `candidates` (sorted ascending).
std::set<int64_t> SelectVersions(const nnserve::v1::VersionPolicy& policy,
                                 const std::vector<int64_t>& candidates) {
  std::set<int64_t> selected;
  switch (policy.policy_case()) {
    case nnserve::v1::VersionPolicy::kAll:
      selected.insert(candidates.begin(), candidates.end());
      break;
    case nnserve::v1::VersionPolicy::kSpecific:
      for (int64_t v : policy.specific().versions()) {
        if (std::binary_search(candidates.begin(), candidates.end(), v)) {
          selected.insert(v);
        }
      }
      break;
    case nnserve::v1::VersionPolicy::kLatest:
    case nnserve::v1::VersionPolicy::POLICY_NOT_SET: {
      int n = policy.has_latest() ? policy.latest().num_versions() : 1;
      if (n <= 0) n = 1;
      for (auto it = candidates.rbegin(); it != candidates.rend() && n > 0;
           ++it, --n) {
        selected.insert(*it);
      }
      break;
    }
  }
  return selected;
}

}  // namespace

bool IsValidModelName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

absl::Status ValidateModelName(const std::string& name) {
  if (name.empty()) {
    return absl::InvalidArgumentError("model: empty; name the model to use");
  }
  if (IsValidModelName(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "model: ", Quote(name),
      " is not a valid model name (letters, digits, '_', '-', '.'; at most "
      "128 bytes; not starting with '.')"));
}

absl::Status ValidateVersionNumber(absl::string_view field, int64_t version) {
  if (version >= 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", version, " is negative; use 0 for the newest version"));
}

BatchingConfig ModelRepository::ResolveBatching(const BatchingConfig& defaults,
                                                const BatchingConfig& config) {
  BatchingConfig out = defaults;
  if (config.max_batch_size() > 0) {
    out.set_max_batch_size(config.max_batch_size());
  }
  if (config.max_queue_delay_micros() > 0) {
    out.set_max_queue_delay_micros(config.max_queue_delay_micros());
  }
  if (config.max_queue_size() > 0) {
    out.set_max_queue_size(config.max_queue_size());
  }
  if (config.workers() > 0) out.set_workers(config.workers());
  if (config.threads_per_worker() > 0) {
    out.set_threads_per_worker(config.threads_per_worker());
  }
  if (config.has_max_inline_images() && config.max_inline_images() >= 0) {
    out.set_max_inline_images(config.max_inline_images());  // 0: off
  }
  // A fast-path run computes its task (or its followers) as one batch.
  out.set_max_inline_images(
      std::min(out.max_inline_images(), out.max_batch_size()));
  return out;
}

ModelRepository::ModelRepository(Options options, Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(
    Options options, Clock* clock) {
  if (options.root.empty()) {
    return absl::InvalidArgumentError("model repository path is empty");
  }
  const BatchingConfig& b = options.default_batching;
  if (b.max_batch_size() <= 0 || b.max_queue_size() <= 0 ||
      b.workers() <= 0 || b.threads_per_worker() <= 0 ||
      b.max_queue_delay_micros() < 0 || b.max_inline_images() < 0) {
    return absl::InvalidArgumentError(
        "default batching needs max_batch_size, max_queue_size, workers and "
        "threads_per_worker > 0 and max_queue_delay_micros >= 0");
  }
  return std::unique_ptr<ModelRepository>(
      new ModelRepository(std::move(options), clock));
}

ModelRepository::~ModelRepository() { Shutdown(); }

absl::Status ModelRepository::Start() {
  struct stat st;
  if (!StatPath(options_.root, &st)) {
    if (::mkdir(options_.root.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::UnavailableError(absl::StrCat(
          "cannot create model repository ", options_.root, ": ",
          std::strerror(errno)));
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model repository ", options_.root,
                     " is not a directory"));
  }
  absl::Status status = PollOnce();
  if (!status.ok()) return status;
  if (options_.poll_interval > absl::ZeroDuration()) {
    poll_thread_ = std::thread([this] { PollLoop(); });
  }
  return absl::OkStatus();
}

void ModelRepository::PollLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(stop_mu_);
      if (clock_->WaitUntil(lock, stop_cv_,
                            clock_->Now() + options_.poll_interval,
                            [this] { return stopping_; })) {
        return;
      }
    }
    absl::Status status = PollOnce();
    (void)status;  // recorded in last_poll_error_ and logged by PollOnce
  }
}

void ModelRepository::SetState(const std::string& model, int64_t version,
                               VersionState state) {
  if (options_.observer != nullptr) {
    options_.observer->OnVersionState(model, version, state);
  }
}

absl::StatusOr<std::shared_ptr<ServableVersion>> ModelRepository::LoadVersion(
    const std::string& model, int64_t version, const std::string& path,
    const ModelConfig& config, const BatchingConfig& batching) {
  ASSIGN_OR_RETURN(std::shared_ptr<const Model> loaded, LoadModel(path));
  ServableVersion::Options servable_options;
  servable_options.model_name = model;
  servable_options.version = version;
  servable_options.path = path;
  servable_options.batching = batching;
  servable_options.labels.assign(config.labels().begin(),
                                 config.labels().end());
  if (options_.observer != nullptr) {
    servable_options.metrics = options_.observer->ObserverFor(model, version);
  }
  return ServableVersion::Create(std::move(servable_options),
                                 std::move(loaded), clock_);
}

absl::Status ModelRepository::PollOnce() {
  std::lock_guard<std::mutex> poll_lock(poll_mu_);
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopping_) return absl::UnavailableError("repository is shut down");
  }
  absl::StatusOr<std::vector<std::string>> names = ListDir(options_.root);
  if (!names.ok()) {
    // Keep serving what is loaded; report the problem.
    NN_LOG(ERROR) << "model repository scan failed (loaded versions keep "
                  << "serving): " << names.status();
    std::unique_lock<std::shared_mutex> lock(mu_);
    last_poll_error_ = names.status();
    return names.status();
  }
  std::sort(names->begin(), names->end());

  absl::Status poll_error;
  std::map<std::string, DiskModel> disk;
  std::set<std::string> unreadable;
  for (const std::string& name : *names) {
    if (!IsValidModelName(name)) continue;
    const std::string dir = absl::StrCat(options_.root, "/", name);
    struct stat st;
    if (!StatPath(dir, &st) || !S_ISDIR(st.st_mode)) continue;
    absl::StatusOr<DiskModel> scanned = ScanModel(dir);
    if (!scanned.ok()) {
      NN_LOG(ERROR) << "cannot scan model " << name
                    << " (its loaded versions keep serving): "
                    << scanned.status();
      poll_error = scanned.status();
      unreadable.insert(name);
      continue;
    }
    disk[name] = *std::move(scanned);
  }

  // Models whose directory could not be read or has vanished keep serving
  // what they have: only a readable directory that no longer lists a version
  // unloads it. A vanished directory is reported (once) and in every poll's
  // error.
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (auto& [name, entry] : models_) {
      // Unreadable directories were reported by the scan already.
      const bool missing = !disk.contains(name) && !unreadable.contains(name);
      if (missing && !entry.directory_missing) {
        NN_LOG(ERROR) << "model directory " << options_.root << "/" << name
                      << " is gone; its loaded versions keep serving";
      } else if (!missing && entry.directory_missing) {
        NN_LOG(INFO) << "model directory " << options_.root << "/" << name
                     << " is back";
      }
      entry.directory_missing = missing;
      if (missing) {
        poll_error = absl::NotFoundError(absl::StrCat(
            "model directory ", options_.root, "/", name,
            " is gone; its loaded versions keep serving"));
      }
    }
  }
  for (auto& [name, on_disk] : disk) {
    ModelConfig config;
    if (on_disk.has_config &&
        !google::protobuf::TextFormat::ParseFromString(on_disk.config_text,
                                                       &config)) {
      NN_LOG(ERROR) << "model " << name << ": cannot parse "
                    << kConfigFileName << "; keeping the previous config";
      poll_error = absl::InvalidArgumentError(
          absl::StrCat(name, "/", kConfigFileName, ": parse error"));
      std::unique_lock<std::shared_mutex> lock(mu_);
      auto it = models_.find(name);
      if (it != models_.end()) config = it->second.config;
    }
    const BatchingConfig batching =
        ResolveBatching(options_.default_batching, config.batching());

    // Versions that failed with the same file are not candidates again.
    std::vector<int64_t> candidates;
    std::vector<int64_t> forgotten;  // failed, and their file is gone
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      ModelEntry& entry = models_[name];
      entry.config = config;
      entry.batching = batching;
      entry.highest_on_disk =
          on_disk.versions.empty() ? 0 : on_disk.versions.rbegin()->first;
      for (const auto& [version, file] : on_disk.versions) {
        auto it = entry.versions.find(version);
        if (it != entry.versions.end() &&
            it->second.info.state() == nnserve::v1::VERSION_STATE_FAILED &&
            it->second.file == FileId{file.size, file.mtime_nanos}) {
          continue;
        }
        candidates.push_back(version);
      }
      // Forget failures whose file is gone.
      for (auto it = entry.versions.begin(); it != entry.versions.end();) {
        if (it->second.servable == nullptr &&
            !on_disk.versions.contains(it->first)) {
          forgotten.push_back(it->first);
          it = entry.versions.erase(it);
        } else {
          ++it;
        }
      }
    }

    for (int64_t v : forgotten) {
      SetState(name, v, nnserve::v1::VERSION_STATE_UNSPECIFIED);
    }

    // Load the selected versions, newest first; a failure makes the next
    // older candidate eligible (so the last good version keeps serving).
    std::set<int64_t> wanted;
    while (true) {
      wanted = SelectVersions(config.version_policy(), candidates);
      std::vector<int64_t> to_load;
      {
        std::unique_lock<std::shared_mutex> lock(mu_);
        ModelEntry& entry = models_[name];
        for (int64_t v : wanted) {
          auto it = entry.versions.find(v);
          if (it == entry.versions.end() || it->second.servable == nullptr) {
            to_load.push_back(v);
          }
        }
      }
      if (to_load.empty()) break;
      std::sort(to_load.rbegin(), to_load.rend());
      bool any_failed = false;
      for (int64_t v : to_load) {
        const DiskVersion& file = on_disk.versions.at(v);
        {
          std::unique_lock<std::shared_mutex> lock(mu_);
          VersionEntry& ve = models_[name].versions[v];
          ve.info.set_version(v);
          ve.info.set_state(nnserve::v1::VERSION_STATE_LOADING);
          ve.info.set_path(file.path);
          ve.info.clear_error();
        }
        SetState(name, v, nnserve::v1::VERSION_STATE_LOADING);
        const absl::Time start = clock_->Now();
        absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
            LoadVersion(name, v, file.path, config, batching);
        const absl::Duration load_time = clock_->Now() - start;
        std::unique_lock<std::shared_mutex> lock(mu_);
        VersionEntry& ve = models_[name].versions[v];
        ve.file = FileId{file.size, file.mtime_nanos};
        ve.info.set_load_seconds(absl::ToDoubleSeconds(load_time));
        if (servable.ok()) {
          ve.servable = *std::move(servable);
          ve.info.set_state(nnserve::v1::VERSION_STATE_AVAILABLE);
          NN_LOG(INFO) << "serving " << name << " version " << v << " ("
                       << absl::FormatDuration(load_time) << " to load)";
          if (options_.observer != nullptr) {
            options_.observer->OnVersionLoaded(name, load_time);
            options_.observer->OnVersionState(
                name, v, nnserve::v1::VERSION_STATE_AVAILABLE);
          }
        } else {
          ve.info.set_state(nnserve::v1::VERSION_STATE_FAILED);
          ve.info.set_error(std::string(servable.status().message()));
          NN_LOG(ERROR) << "cannot load " << name << " version " << v << ": "
                        << servable.status();
          SetState(name, v, nnserve::v1::VERSION_STATE_FAILED);
          candidates.erase(
              std::remove(candidates.begin(), candidates.end(), v),
              candidates.end());
          any_failed = true;
        }
      }
      if (!any_failed) break;
    }

    // Take out of service what is no longer wanted or no longer on disk.
    std::vector<std::shared_ptr<ServableVersion>> retiring;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      ModelEntry& entry = models_[name];
      for (auto it = entry.versions.begin(); it != entry.versions.end();) {
        if (it->second.servable != nullptr && !wanted.contains(it->first)) {
          NN_LOG(INFO) << "unloading " << name << " version " << it->first;
          retiring.push_back(std::move(it->second.servable));
          it = entry.versions.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& servable : retiring) {
      SetState(name, servable->version(),
               nnserve::v1::VERSION_STATE_UNLOADING);
      Retire(std::move(servable));
    }
  }

  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    last_poll_error_ = poll_error;
  }
  ReapRetired(absl::ZeroDuration());
  return poll_error;
}

void ModelRepository::Retire(std::shared_ptr<ServableVersion> servable) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  retired_.push_back(std::move(servable));
}

void ModelRepository::ReapRetired(absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  while (true) {
    std::vector<std::shared_ptr<ServableVersion>> done;
    bool pending = false;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      for (auto it = retired_.begin(); it != retired_.end();) {
        // Only the repository holds it: no request can reach it any more.
        if (it->use_count() == 1) {
          done.push_back(std::move(*it));
          it = retired_.erase(it);
        } else {
          ++it;
        }
      }
      pending = !retired_.empty();
    }
    for (auto& servable : done) {
      const std::string model = servable->model_name();
      const int64_t version = servable->version();
      servable->Shutdown();
      servable.reset();
      SetState(model, version, nnserve::v1::VERSION_STATE_UNSPECIFIED);
    }
    if (!pending || absl::Now() >= deadline) return;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::StatusOr<std::shared_ptr<ServableVersion>> ModelRepository::Get(
    const std::string& model, int64_t version) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) {
    std::vector<std::string> known;
    for (const auto& [name, entry] : models_) known.push_back(name);
    return absl::NotFoundError(absl::StrCat(
        "model ", Quote(model), " not found; known models: ",
        known.empty() ? "none" : absl::StrJoin(known, ", ")));
  }
  const ModelEntry& entry = it->second;
  if (version == 0) {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.servable != nullptr) return v->second.servable;
    }
    bool loading = false;
    std::vector<std::string> states;
    for (const auto& [v, ve] : entry.versions) {
      loading |= ve.info.state() == nnserve::v1::VERSION_STATE_LOADING;
      states.push_back(absl::StrCat(
          v, ": ", nnserve::v1::VersionState_Name(ve.info.state()),
          ve.info.error().empty() ? "" : absl::StrCat(" (", ve.info.error(), ")")));
    }
    std::string message = absl::StrCat(
        "model ", Quote(model), " has no available version",
        states.empty() ? "" : absl::StrCat(" [", absl::StrJoin(states, "; "), "]"));
    if (loading) return absl::UnavailableError(message);
    return absl::FailedPreconditionError(message);
  }
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) {
    std::vector<int64_t> available;
    for (const auto& [n, ve] : entry.versions) {
      if (ve.servable != nullptr) available.push_back(n);
    }
    return absl::NotFoundError(absl::StrCat(
        "model ", Quote(model), " has no version ", version, " loaded; available: ",
        available.empty() ? "none" : absl::StrJoin(available, ", ")));
  }
  if (v->second.servable == nullptr) {
    const VersionState state = v->second.info.state();
    std::string message = absl::StrCat(
        "version ", version, " of model ", Quote(model), " is ",
        nnserve::v1::VersionState_Name(state),
        v->second.info.error().empty()
            ? ""
            : absl::StrCat(": ", v->second.info.error()));
    if (state == nnserve::v1::VERSION_STATE_LOADING) {
      return absl::UnavailableError(message);
    }
    return absl::NotFoundError(message);
  }
  return v->second.servable;
}

namespace {

void FillDetails(const ServableVersion& servable, VersionInfo* info) {
  const Model& model = servable.model();
  info->mutable_input()->set_height(model.input_height());
  info->mutable_input()->set_width(model.input_width());
  for (const std::string& label : servable.labels()) info->add_labels(label);
  for (const LayerSummary& layer : model.Summary()) {
    nnserve::v1::LayerSummary* out = info->add_layers();
    out->set_name(layer.name);
    out->set_kind(layer.kind);
    for (int64_t d : layer.output_shape) out->add_output_shape(d);
    out->set_parameters(layer.parameters);
  }
  info->set_total_parameters(model.total_parameters());
  info->set_architecture(model.spec().name());
  const nnserve::v1::SavedModel saved = model.ToSavedModel();
  *info->mutable_history() = saved.history();
}

}  // namespace

std::vector<ModelStatus> ModelRepository::ListModels() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ModelStatus> out;
  for (const auto& [name, entry] : models_) {
    ModelStatus& status = out.emplace_back();
    status.set_name(name);
    *status.mutable_batching() = entry.batching;
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      *status.add_versions() = v->second.info;
      if (status.default_version() == 0 && v->second.servable != nullptr) {
        status.set_default_version(v->first);
      }
    }
  }
  return out;
}

absl::StatusOr<ModelStatus> ModelRepository::ModelInfo(const std::string& model,
                                                       int64_t version) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("model ", Quote(model), " not found"));
  }
  const ModelEntry& entry = it->second;
  ModelStatus status;
  status.set_name(model);
  *status.mutable_batching() = entry.batching;
  for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
    if (status.default_version() == 0 && v->second.servable != nullptr) {
      status.set_default_version(v->first);
    }
    if (version != 0 && v->first != version) continue;
    VersionInfo* info = status.add_versions();
    *info = v->second.info;
    if (v->second.servable != nullptr) FillDetails(*v->second.servable, info);
  }
  if (version != 0 && status.versions_size() == 0) {
    return absl::NotFoundError(
        absl::StrCat("model ", Quote(model), " has no version ", version));
  }
  return status;
}

bool ModelRepository::HasModel(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return models_.contains(model);
}

int64_t ModelRepository::HighestVersion(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return 0;
  int64_t highest = it->second.highest_on_disk;
  if (!it->second.versions.empty()) {
    highest = std::max(highest, it->second.versions.rbegin()->first);
  }
  return highest;
}

absl::Status ModelRepository::LastPollError() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return last_poll_error_;
}

void ModelRepository::Shutdown(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  std::lock_guard<std::mutex> poll_lock(poll_mu_);
  std::vector<std::shared_ptr<ServableVersion>> all;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (auto& [name, entry] : models_) {
      for (auto& [v, ve] : entry.versions) {
        if (ve.servable != nullptr) all.push_back(std::move(ve.servable));
      }
    }
    models_.clear();
  }
  for (auto& servable : all) Retire(std::move(servable));
  ReapRetired(timeout);
}

}  // namespace nn
