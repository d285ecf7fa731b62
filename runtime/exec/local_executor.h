// SPDX-License-Identifier: Apache-2.0
// Runs each job as its own process group on this machine (exec/spawn.h),
// with stdout and stderr in files, and measures it with wait4.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

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
  void Kill(uint64_t job) override;
  size_t Running() const override { return jobs_.size(); }
  std::vector<Notice> TakeNotices() override;
  void EndOfRun() override;
  /// The empty spool files kept open for the next jobs (see Spool).
  size_t SpoolFiles() const;
  /// Kills every job's process group at once (SIGKILL), for when flow
  /// itself must stop now.
  void KillAll();

 private:
  using Clock = std::chrono::steady_clock;
  // stdout and stderr go straight to files, not through pipes: flow is
  // never woken by a job's output and spends no system call on it. A job
  // writes into spool files of the scratch folder (LaunchSpec::scratch_dir),
  // which the next job reuses as long as they stay empty, so a silent
  // command (most stages) creates no file: on ext4 a new inode costs about
  // as much as starting a process. When the job ends, a spool that holds
  // output is renamed to its log path (copied when rename cannot reach it),
  // and a fresh spool takes its place. A job still running after
  // kPublishAfter has its spools renamed to its log paths at once (its
  // descriptors follow the file), so its output can be read while it runs;
  // a log that is still empty when it ends is removed.
  static constexpr std::chrono::milliseconds kPublishAfter{1000};
  struct Spool {
    int fd = -1;
    std::string path;
  };
  struct Stream {
    Spool spool;
    std::string path;  // the log file
    bool published = false;
  };
  struct Job {
    uint64_t id;
    pid_t pid;
    Clock::time_point start;
    double started_at;
    std::optional<Clock::time_point> deadline;  // timeout
    std::optional<Clock::time_point> kill_at;   // SIGKILL after SIGTERM
    bool timed_out = false, cancelled = false;
    bool publish_done = false;  // Publish was tried (kPublishAfter)
    Spawned proc;  // kept until reaped: the child may still read it
    std::string program, cwd, scratch;
    Stream out, err;
  };
  bool TakeSpool(const std::string& dir, Spool& spool, std::string& error);
  void GiveBack(const std::string& dir, Spool& spool);
  static void Publish(Stream& s);
  void Finish(const std::string& dir, Stream& s, bool reusable);
  void Reap(std::vector<Completion>& out);
  void Timers(Clock::time_point now);
  // Processes a job left running outside its process group (setsid, a
  // daemon) are adopted by flow, a child subreaper, when their parent
  // exits: flow kills those of jobs that have ended (by the FLOW_STAGE and
  // FLOW_ATTEMPT of their environment), and when no job runs, all of them.
  /// Returns how many it killed.
  size_t SweepAdopted(bool all);
  void ReapSwept();  // what SweepAdopted killed, once it is dead
  static void NoteJobPid(pid_t pid, const std::string& instance, int attempt);
  static void ForgetJobPid(pid_t pid);
  static size_t JobsOfThisProcess();
  static constexpr std::chrono::milliseconds kSweepEvery{1000};
  std::string Resolve(const std::string& program);  // "" when not found in PATH

  int64_t grace_ms_;
  int signal_fd_;
  uint64_t next_id_ = 1;
  std::unordered_map<pid_t, Job> jobs_;
  std::unordered_map<std::string, std::vector<Spool>> free_spools_;  // scratch folder -> empty spools
  std::unordered_map<uint64_t, pid_t> pid_of_;
  std::deque<Completion> ready_;  // launch failures, reported by the next Poll
  std::unordered_map<std::string, std::string> resolved_;  // program -> its path in PATH (found ones only)
  int null_fd_ = -1;                 // /dev/null, every job's stdin
  std::string own_cwd_;              // flow's working folder
  bool adopting_ = false;            // flow is a child subreaper
  bool ended_since_sweep_ = false;   // a job ended since SweepAdopted last looked
  Clock::time_point next_sweep_{};
  std::vector<Notice> notices_;
  std::vector<pid_t> swept_;          // killed by SweepAdopted, not yet reaped
  std::vector<pid_t> killed_groups_;  // groups of jobs reaped since the last sweep, killed by Reap
};

}  // namespace flow::rt
