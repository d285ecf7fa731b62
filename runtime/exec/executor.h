// SPDX-License-Identifier: Apache-2.0
// The executor seam: what the engine needs from whatever runs a command.
// The local executor starts process groups on this machine; a Slurm
// executor maps the same calls onto sbatch (Submit), squeue/sacct (Poll,
// usage) and scancel (Cancel).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace flow::rt {

/// What an instance reserved, for executors that pass it on (Slurm asks
/// for it; the local executor has the scheduler enforce it).
struct Reservation {
  double cpus = 0;
  int64_t memory_bytes = 0;
  std::vector<int> gpus;  // device indices
};

struct LaunchSpec {
  std::string instance;  // for messages
  int attempt = 1;
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::string display;            // the command as a shell would read it
  // The environment, NAME=VALUE: base_env's entries (when set: shared by
  // many jobs, so that each need not copy them), then env's.
  std::shared_ptr<const std::vector<std::string>> base_env;
  std::vector<std::string> env;
  std::string cwd;
  std::string stdout_path, stderr_path;
  // A folder the executor may keep its own working files in (the local
  // executor's spool files, below), on the same filesystem as the log
  // paths. Empty: the folder of stdout_path.
  std::string scratch_dir;
  std::optional<int64_t> timeout_ms;
  Reservation reservation;
};

struct Usage {
  double wall_s = 0, user_s = 0, sys_s = 0;
  int64_t max_rss_bytes = 0;
  // False when max_rss_bytes may not be the command's own peak but more:
  // a child shares its parent's memory until its exec, and the kernel
  // counts that in the child's peak, so a peak no larger than the
  // executor's own is only an upper bound of the command's.
  bool max_rss_exact = true;
};

struct Completion {
  uint64_t job = 0;
  enum Kind {
    Exited,        // exit_code is set
    Signaled,      // killed by `signal` (not by us)
    TimedOut,      // ran past its timeout and was killed
    Cancelled,     // Cancel() was called
    LaunchFailed,  // never started (error says why; exit_code 127 for "not found")
  } kind = Exited;
  int exit_code = 0;
  int signal = 0;
  std::string error;
  Usage usage;
  double started_at = 0, ended_at = 0;  // seconds since the epoch
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual const char* Name() const = 0;
  /// Starts a job. Returns its id, or a message when it could not even be
  /// submitted (the engine fails the attempt with it).
  virtual std::variant<uint64_t, std::string> Submit(const LaunchSpec& spec) = 0;
  /// Waits up to `max_wait_s` for jobs to finish and returns those that
  /// did. Returns early, possibly with nothing, when a signal arrives
  /// (the engine then checks for Ctrl-C).
  virtual std::vector<Completion> Poll(double max_wait_s) = 0;
  /// Stops a job: TERM, then KILL after the grace period. Its completion
  /// comes through Poll as Cancelled.
  virtual void Cancel(uint64_t job) = 0;
  /// Stops a job at once: KILL, without the grace period (a second Ctrl-C).
  /// Its completion comes through Poll as Cancelled.
  virtual void Kill(uint64_t job) = 0;
  virtual size_t Running() const = 0;
  /// What the executor did on its own since the last call, for the
  /// engine to show and record: the instance it concerns (its name) and
  /// what happened ("killed a process it left running: ...").
  struct Notice {
    std::string instance, text;
  };
  virtual std::vector<Notice> TakeNotices() { return {}; }
  /// The run is over (no job runs): what the executor still holds for it
  /// goes (the local executor kills what the jobs left running).
  virtual void EndOfRun() {}
};

}  // namespace flow::rt
