// The model repository: a directory of models and their versions, loaded into
// servables and kept in sync with the disk.
//
//   <root>/<model>/config.textproto        optional, nnserve.v1.ModelConfig
//   <root>/<model>/<version>/model.nnm     version: a positive integer
//
// (Names, and what the scan ignores: repository_scan.h. Other model files
// than model.nnm, and a version directory with two: model_loader.h.)
//
// In three parts, each tested alone:
//   scan   (repository_scan.h)  directory -> what is on disk;
//   plan   (repository_plan.h)  what is on disk + version policy + what is
//                               held -> what to load, unload and forget;
//   apply  (here)               loads through the loader the version's file
//                               chooses (model_loader.h), swaps, retires.
//
// Loading: Start() loads every version the version policy selects before it
// returns (health reports SERVING after that). Then a poll thread rescans the
// directory every `poll_interval`: a new version is loaded, validated and
// warmed up while the old one keeps serving, then swapped in atomically; a
// version that fails to load is recorded as FAILED with its error (and
// retried only when its file changes) while the previous one keeps serving;
// a removed version (or one the policy no longer selects) is taken out of
// service at once and unloaded once its in-flight requests have finished.
// An unreadable or vanished repository directory keeps the loaded versions
// serving and is reported (LastPollError, logs).
//
// Publication: Publish() is the one way the server itself adds a version
// (the Train RPC uses it): it takes the next number, writes the file
// atomically and loads that model's new state at once, without waiting for
// the poll and without rescanning the other models.
#ifndef NNSERVE_SERVER_MODEL_REPOSITORY_H_
#define NNSERVE_SERVER_MODEL_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "nnserve/v1/config.pb.h"
#include "nnserve/v1/inference.pb.h"
#include "nnserve/v1/model.pb.h"
#include "server/model_loader.h"
#include "server/repository_plan.h"
#include "server/repository_scan.h"
#include "server/servable.h"
#include "common/mutex.h"

namespace nn {

// Receives repository events, for metrics. Called from the thread applying
// a change (the poll thread, or the caller of Start, PollOnce or Publish),
// one at a time.
class RepositoryObserver {
 public:
  virtual ~RepositoryObserver() = default;
  // A version changed state (LOADING, AVAILABLE, FAILED, UNLOADING, or
  // UNSPECIFIED when it is gone for good).
  virtual void OnVersionState(const std::string& /*model*/,
                              int64_t /*version*/,
                              nnserve::v1::VersionState /*state*/) {}
  virtual void OnVersionLoaded(const std::string& /*model*/,
                               absl::Duration /*load_time*/) {}
  // The observer (batch events, request outcomes: servable_observer.h) of a
  // new servable, which owns it; may return null.
  virtual std::unique_ptr<ServableObserver> ObserverFor(
      const std::string& /*model*/, int64_t /*version*/) {
    return nullptr;
  }
};

class ModelRepository {
 public:
  struct Options {
    std::string root;
    // Rescan period; zero disables the poll thread (PollOnce() still works).
    absl::Duration poll_interval = absl::Seconds(2);
    // Defaults for every model; a model's config.textproto overrides fields.
    nnserve::v1::BatchingConfig default_batching;
    RepositoryObserver* observer = nullptr;  // optional, not owned
    // The model formats (file name in a version directory -> loader).
    ModelLoaderRegistry loaders = ModelLoaderRegistry::Default();
  };

  struct PublishedVersion {
    int64_t version = 0;
    std::string path;  // of the model file written
  };

  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(
      Options options, Clock* clock);
  ~ModelRepository();

  // Loads the initial versions (blocking) and starts the poll thread.
  // Fails only if the root directory cannot be read or created.
  absl::Status Start();

  // Rescans the directory once and applies the changes (blocking).
  absl::Status PollOnce();

  // Publishes `saved` as a new version of `model` (created if new) and
  // returns once that model's versions are applied (blocking: loaded and
  // warmed up, or FAILED).
  //   Number: above every version the repository holds for the model and
  //   every version directory on disk (empty ones too), taken by creating
  //   <root>/<model>/<N>/ (mkdir is atomic: two publishers, in this process
  //   or another, never get the same N). Numbers go to publishers in the
  //   order they call; a failed write removes its directory again, so its
  //   number is taken by the next publisher.
  //   File: <N>/model.nnm written atomically (WriteModelFile: temp file,
  //   fsync, rename), so neither a poll nor a reader sees half a file.
  //   Loading: the model's directory alone is scanned, planned and applied,
  //   serialised with PollOnce: racing the poll thread, the version loads
  //   once. The version policy still decides: a version it does not select
  //   is written but not loaded (and that is success).
  // Errors: INVALID_ARGUMENT for an invalid model name; UNAVAILABLE after
  // Shutdown or if a directory cannot be created; WriteModelFile's code
  // ("publishing version N to P: ..."), nothing left on disk; INTERNAL if
  // the written version FAILED to load ("version N was written to P but
  // failed to load: ..."; the file stays, listed as FAILED).
  absl::StatusOr<PublishedVersion> Publish(
      const std::string& model, const nnserve::v1::SavedModel& saved);

  // A handle to `version` of `model` (0: the newest AVAILABLE version).
  // NOT_FOUND for an unknown model or version, or one that is not AVAILABLE
  // (message says its state).
  absl::StatusOr<std::shared_ptr<ServableVersion>> Get(const std::string& model,
                                                       int64_t version) const;

  // Status of every model (versions newest first, without layer details).
  std::vector<nnserve::v1::ModelStatus> ListModels() const;
  // One model's status with layer summaries and training histories;
  // `version` 0 = all versions. NOT_FOUND if unknown.
  absl::StatusOr<nnserve::v1::ModelStatus> ModelInfo(const std::string& model,
                                                     int64_t version) const;

  // True if `model` has a directory in the repository (or had one).
  bool HasModel(const std::string& model) const;

  // Newest version number present on disk (as of the last scan) or held
  // for `model` (0: none); Publish takes a number above it.
  int64_t HighestVersion(const std::string& model) const;

  // Error of the last poll (OK if it worked).
  absl::Status LastPollError() const;

  // Stops polling, takes every version out of service and waits until their
  // in-flight requests finish (or `timeout` passes). Idempotent.
  void Shutdown(absl::Duration timeout = absl::Seconds(30));

  const std::string& root() const { return options_.root; }

  // The effective batching for a model: defaults overridden by `config`;
  // max_inline_images is at most max_batch_size (a fast-path run is a batch).
  static nnserve::v1::BatchingConfig ResolveBatching(
      const nnserve::v1::BatchingConfig& defaults,
      const nnserve::v1::BatchingConfig& config);

 private:
  struct VersionEntry {
    nnserve::v1::VersionInfo info;     // state, error, path, load time
    // The files the load saw (a FAILED version is retried when they change).
    std::vector<ModelFileOnDisk> files;
    // Set when AVAILABLE; a held entry without one is FAILED (LOADING lasts
    // only within one apply, which holds poll_mu_).
    std::shared_ptr<ServableVersion> servable;
  };
  struct ModelEntry {
    nnserve::v1::ModelConfig config;
    nnserve::v1::BatchingConfig batching;  // resolved
    std::map<int64_t, VersionEntry> versions;
    int64_t highest_on_disk = 0;
    // The model's directory is gone (or not a directory) while versions it
    // loaded keep serving; reported once when it goes missing.
    bool directory_missing = false;
  };

  ModelRepository(Options options, Clock* clock);

  void PollLoop();
  bool stopping();
  // The apply step for one model (caller holds poll_mu_): config, the plan's
  // loads (planning again after a failure), then its unloads. Returns the
  // model's config error, if any (the previous config is kept).
  absl::Status ApplyModel(const std::string& name, const ModelOnDisk& disk);
  // The plan's view of `entry`.
  static std::map<int64_t, HeldVersion> Held(const ModelEntry& entry);
  // Loads one version through the loader its files choose, recording
  // LOADING, then AVAILABLE or FAILED (no lock held while loading).
  void LoadOne(const std::string& model, int64_t version,
               const VersionOnDisk& on_disk,
               const nnserve::v1::ModelConfig& config,
               const nnserve::v1::BatchingConfig& batching);
  absl::StatusOr<std::shared_ptr<ServableVersion>> LoadVersion(
      const std::string& model, int64_t version, const std::string& path,
      const ModelLoader& loader, const nnserve::v1::ModelConfig& config,
      const nnserve::v1::BatchingConfig& batching);
  // Publish's number: creates <root>/<model>/ if needed and
  // <root>/<model>/<N>/, returns N.
  absl::StatusOr<int64_t> ReserveVersion(const std::string& model);
  void Retire(std::shared_ptr<ServableVersion> servable);
  void ReapRetired(absl::Duration wait);
  void SetState(const std::string& model, int64_t version,
                nnserve::v1::VersionState state);

  const Options options_;
  Clock* const clock_;

  // Mutex rather than absl::Mutex throughout: Debian's libabsl has no
  // ThreadSanitizer annotations (see common/clock.h).
  // Serializes PollOnce (the poll thread vs. callers); taken before mu_.
  Mutex poll_mu_;
  // Guards the model table; Get() (every Predict) takes it shared.
  mutable SharedMutex mu_;
  std::map<std::string, ModelEntry> models_ ABSL_GUARDED_BY(mu_);
  absl::Status last_poll_error_ ABSL_GUARDED_BY(mu_);
  // Out of service, waiting for their last handles to be released.
  std::vector<std::shared_ptr<ServableVersion>> retired_ ABSL_GUARDED_BY(mu_);
  // Publishers take numbers one at a time (mkdir decides against writers
  // in other processes).
  Mutex reserve_mu_;
  // Wakes the poll thread early for shutdown.
  Mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread poll_thread_;
};

// IsValidModelName: repository_scan.h.

// OK for a valid model name, else INVALID_ARGUMENT saying why ("model: ...").
// Quotes the name within a bound (common/quote.h): a status message travels
// in a gRPC header, and echoing a huge name would turn the error into
// another one.
absl::Status ValidateModelName(const std::string& name);

// The rule for a requested version number in every RPC: 0 is the newest, a
// positive number names a version (unknown: NOT_FOUND, from the repository),
// a negative one is INVALID_ARGUMENT ("<field>: -1 is negative; ...").
absl::Status ValidateVersionNumber(absl::string_view field, int64_t version);

}  // namespace nn

#endif  // NNSERVE_SERVER_MODEL_REPOSITORY_H_
