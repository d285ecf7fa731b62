// SPDX-License-Identifier: Apache-2.0
// Runs each job as its own process group on this machine (exec/spawn.h),
// with stdout and stderr in files, and measures it with wait4.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>

#include "exec/executor.h"
#include "exec/spawn.h"

namespace flow::rt {

class LocalExecutor : public Executor {
 public:
  /// `kill_grace_ms`: between SIGTERM and SIGKILL for timeouts and cancels.
  explicit LocalExecutor(int64_t kill_grace_ms = 5000);
  ~LocalExecutor() override;
  const char* Name() const override { return "local"; }
  std::variant<uint64_t, std::string> Submit(const LaunchSpec& spec) override;
  std::vector<Completion> Poll(double max_wait_s) override;
  void Cancel(uint64_t job) override;
  size_t Running() const override { return jobs_.size(); }
  /// Kills every job's process group at once (SIGKILL), for when flow
  /// itself must stop now.
  void KillAll();

 private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    uint64_t id;
    pid_t pid;
    Clock::time_point start;
    double started_at;
    std::optional<Clock::time_point> deadline;  // timeout
    std::optional<Clock::time_point> kill_at;   // SIGKILL after SIGTERM
    bool timed_out = false, cancelled = false;
    bool yielded = false;  // once its streams closed (see Poll)
    Spawned proc;  // kept until reaped: the child may still read it
    std::string program, cwd;
    // stdout and stderr come through pipes and go to their log files, which
    // are created when the first byte arrives (a silent command creates no
    // file: on ext4 each new inode costs as much as starting the process).
    struct Stream {
      int pipe = -1;
      int file = -1;
      std::string path;
    } out, err;
  };
  void Drain(Job::Stream& s, bool to_eof);
  void CloseStreams(Job& job);
  void Reap(std::vector<Completion>& out);
  void Timers(Clock::time_point now);
  std::string Resolve(const std::string& program);  // "" when not found in PATH

  int64_t grace_ms_;
  int signal_fd_;
  uint64_t next_id_ = 1;
  std::unordered_map<pid_t, Job> jobs_;
  std::unordered_map<int, std::pair<pid_t, bool>> pipe_owner_;  // pipe fd -> (job pid, is stderr)
  std::unordered_map<uint64_t, pid_t> pid_of_;
  std::deque<Completion> ready_;  // launch failures, reported by the next Poll
  std::unordered_map<std::string, std::string> resolved_;  // program -> its path in PATH (found ones only)
};

}  // namespace flow::rt
