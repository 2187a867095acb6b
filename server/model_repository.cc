#include "server/model_repository.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/quote.h"
#include "common/status_macros.h"
#include "google/protobuf/text_format.h"
#include "common/mutex.h"

namespace nn {
namespace {

using ::nnserve::v1::BatchingConfig;
using ::nnserve::v1::ModelConfig;
using ::nnserve::v1::VersionState;

bool StatPath(const std::string& path, struct stat* st) {
  return ::stat(path.c_str(), st) == 0;
}

}  // namespace

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
  if (config.has_gather_images() && config.gather_images() >= 0) {
    out.set_gather_images(config.gather_images());  // 0: off
  }
  if (config.max_gather_delay_micros() > 0) {
    out.set_max_gather_delay_micros(config.max_gather_delay_micros());
  }
  // A fast-path run computes its task (or its followers, or a gather) as
  // one batch.
  out.set_max_inline_images(
      std::min(out.max_inline_images(), out.max_batch_size()));
  out.set_gather_images(
      std::min(out.gather_images(), out.max_inline_images()));
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
      b.max_queue_delay_micros() < 0 || b.max_inline_images() < 0 ||
      b.gather_images() < 0 || b.max_gather_delay_micros() < 0) {
    return absl::InvalidArgumentError(
        "default batching needs max_batch_size, max_queue_size, workers and "
        "threads_per_worker > 0 and max_queue_delay_micros, "
        "max_inline_images, gather_images and max_gather_delay_micros >= 0");
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
      MutexLock lock(stop_mu_);
      if (clock_->WaitUntil(lock, stop_cv_,
                            clock_->Now() + options_.poll_interval,
                            [this] {
                              stop_mu_.AssertHeld();
                              return stopping_;
                            })) {
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

bool ModelRepository::stopping() {
  MutexLock lock(stop_mu_);
  return stopping_;
}

absl::StatusOr<std::shared_ptr<ServableVersion>> ModelRepository::LoadVersion(
    const std::string& model, int64_t version, const std::string& path,
    const ModelLoader& loader, const ModelConfig& config,
    const BatchingConfig& batching) {
  ASSIGN_OR_RETURN(LoadedModel loaded, loader.load(path));
  ServableVersion::Options servable_options;
  servable_options.origin = std::move(loaded.origin);
  servable_options.softmax_appended = loaded.softmax_appended;
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
                                 std::move(loaded.model), clock_);
}

absl::Status ModelRepository::PollOnce() {
  MutexLock poll_lock(poll_mu_);
  if (stopping()) return absl::UnavailableError("repository is shut down");
  absl::StatusOr<RepositoryOnDisk> disk =
      ScanRepository(options_.root, options_.loaders.file_names());
  if (!disk.ok()) {
    // Keep serving what is loaded; report the problem.
    NN_LOG(ERROR) << "model repository scan failed (loaded versions keep "
                  << "serving): " << disk.status();
    WriterLock lock(mu_);
    last_poll_error_ = disk.status();
    return disk.status();
  }
  absl::Status poll_error = disk->error;

  // Models whose directory could not be read or has vanished keep serving
  // what they have: only a readable directory that no longer lists a version
  // unloads it. A vanished directory is reported (once) and in every poll's
  // error.
  {
    WriterLock lock(mu_);
    for (auto& [name, entry] : models_) {
      // Unreadable directories were reported by the scan already.
      const bool missing =
          !disk->models.contains(name) && !disk->unreadable.contains(name);
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
  for (const auto& [name, on_disk] : disk->models) {
    if (absl::Status s = ApplyModel(name, on_disk); !s.ok()) poll_error = s;
  }
  {
    WriterLock lock(mu_);
    last_poll_error_ = poll_error;
  }
  ReapRetired(absl::ZeroDuration());
  return poll_error;
}

std::map<int64_t, HeldVersion> ModelRepository::Held(const ModelEntry& entry) {
  std::map<int64_t, HeldVersion> held;
  for (const auto& [version, ve] : entry.versions) {
    HeldVersion& h = held[version];
    if (ve.servable != nullptr) {
      h.state = HeldVersion::State::kAvailable;
    } else {
      h.state = HeldVersion::State::kFailed;
      h.files = ve.files;
    }
  }
  return held;
}

absl::Status ModelRepository::ApplyModel(const std::string& name,
                                         const ModelOnDisk& disk) {
  absl::Status error;
  ModelConfig config;
  if (disk.config_text.has_value() &&
      !google::protobuf::TextFormat::ParseFromString(*disk.config_text,
                                                     &config)) {
    NN_LOG(ERROR) << "model " << name << ": cannot parse "
                  << kModelConfigFileName << "; keeping the previous config";
    error = absl::InvalidArgumentError(
        absl::StrCat(name, "/", kModelConfigFileName, ": parse error"));
    ReaderLock lock(mu_);
    auto it = models_.find(name);
    if (it != models_.end()) config = it->second.config;
  }
  const BatchingConfig batching =
      ResolveBatching(options_.default_batching, config.batching());

  VersionPlan plan;
  {
    WriterLock lock(mu_);
    ModelEntry& entry = models_[name];
    entry.config = config;
    entry.batching = batching;
    entry.highest_on_disk =
        disk.versions.empty() ? 0 : disk.versions.rbegin()->first;
    plan = PlanVersions(disk, config.version_policy(), Held(entry));
    for (int64_t v : plan.forget) entry.versions.erase(v);
  }
  for (int64_t v : plan.forget) {
    SetState(name, v, nnserve::v1::VERSION_STATE_UNSPECIFIED);
  }

  // Each round loads what the plan selects, newest first; a failure records
  // the version as FAILED, so the next plan selects an older one instead.
  // Each round leaves every version it loads AVAILABLE or FAILED with its
  // current files, so rounds end.
  while (!plan.load.empty()) {
    for (int64_t v : plan.load) {
      LoadOne(name, v, disk.versions.at(v), config, batching);
    }
    ReaderLock lock(mu_);
    plan = PlanVersions(disk, config.version_policy(), Held(models_.at(name)));
  }

  // Take out of service what is no longer selected or no longer on disk.
  std::vector<std::shared_ptr<ServableVersion>> retiring;
  {
    WriterLock lock(mu_);
    ModelEntry& entry = models_.at(name);
    for (int64_t v : plan.unload) {
      NN_LOG(INFO) << "unloading " << name << " version " << v;
      retiring.push_back(std::move(entry.versions.at(v).servable));
      entry.versions.erase(v);
    }
  }
  for (auto& servable : retiring) {
    SetState(name, servable->version(), nnserve::v1::VERSION_STATE_UNLOADING);
    Retire(std::move(servable));
  }
  return error;
}

void ModelRepository::LoadOne(const std::string& name, int64_t v,
                              const VersionOnDisk& on_disk,
                              const ModelConfig& config,
                              const BatchingConfig& batching) {
  absl::StatusOr<const ModelLoader*> loader =
      options_.loaders.Choose(on_disk.file_names());
  const std::string path =
      loader.ok() ? absl::StrCat(on_disk.dir, "/", (*loader)->file_name)
                  : on_disk.dir;
  {
    WriterLock lock(mu_);
    VersionEntry& ve = models_[name].versions[v];
    ve.info.set_version(v);
    ve.info.set_state(nnserve::v1::VERSION_STATE_LOADING);
    ve.info.set_path(path);
    ve.info.set_format(loader.ok() ? (*loader)->format : "");
    ve.info.clear_error();
  }
  SetState(name, v, nnserve::v1::VERSION_STATE_LOADING);
  const absl::Time start = clock_->Now();
  absl::StatusOr<std::shared_ptr<ServableVersion>> servable =
      loader.ok() ? LoadVersion(name, v, path, **loader, config, batching)
                  : absl::StatusOr<std::shared_ptr<ServableVersion>>(
                        absl::Status(loader.status().code(),
                                     absl::StrCat(on_disk.dir, ": ",
                                                  loader.status().message())));
  const absl::Duration load_time = clock_->Now() - start;
  WriterLock lock(mu_);
  VersionEntry& ve = models_[name].versions[v];
  ve.files = on_disk.files;
  ve.info.set_load_seconds(absl::ToDoubleSeconds(load_time));
  if (servable.ok()) {
    ve.servable = *std::move(servable);
    ve.info.set_state(nnserve::v1::VERSION_STATE_AVAILABLE);
    NN_LOG(INFO) << "serving " << name << " version " << v << " ("
                 << (*loader)->format << ", "
                 << absl::FormatDuration(load_time) << " to load)";
    if (options_.observer != nullptr) {
      options_.observer->OnVersionLoaded(name, load_time);
      options_.observer->OnVersionState(name, v,
                                        nnserve::v1::VERSION_STATE_AVAILABLE);
    }
  } else {
    ve.info.set_state(nnserve::v1::VERSION_STATE_FAILED);
    ve.info.set_error(std::string(servable.status().message()));
    NN_LOG(ERROR) << "cannot load " << name << " version " << v << ": "
                  << servable.status();
    SetState(name, v, nnserve::v1::VERSION_STATE_FAILED);
  }
}

void ModelRepository::Retire(std::shared_ptr<ServableVersion> servable) {
  WriterLock lock(mu_);
  retired_.push_back(std::move(servable));
}

void ModelRepository::ReapRetired(absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  while (true) {
    std::vector<std::shared_ptr<ServableVersion>> done;
    bool pending = false;
    {
      WriterLock lock(mu_);
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

void ModelRepository::Shutdown(absl::Duration timeout) {
  {
    MutexLock lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  MutexLock poll_lock(poll_mu_);
  std::vector<std::shared_ptr<ServableVersion>> all;
  {
    WriterLock lock(mu_);
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
