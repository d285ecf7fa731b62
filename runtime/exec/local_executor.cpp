// SPDX-License-Identifier: Apache-2.0
#include "exec/local_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exec/signals.h"
#include "store/run_store.h"

namespace flow::rt {

LocalExecutor::LocalExecutor(int64_t kill_grace_ms) : grace_ms_(kill_grace_ms), signal_fd_(InstallSignalPipe()) {
  EnsureStandardFds();
  RequestShortSlice();
}

LocalExecutor::~LocalExecutor() { KillAll(); }

void LocalExecutor::KillAll() {
  for (auto& [pid, job] : jobs_) kill(-pid, SIGKILL);
  for (auto& [pid, job] : jobs_) {
    int status;
    waitpid(pid, &status, 0);
    CloseStreams(job);
  }
  jobs_.clear();
  pid_of_.clear();
}

namespace {
void AppendToFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  [[maybe_unused]] ssize_t n = write(fd, text.data(), text.size());
  close(fd);
}

// A launch failure as a shell would word it: 127 when the program is not
// there, 126 when it cannot be run (or its working folder cannot be entered).
void DescribeLaunchError(int err, const std::string& program, const std::string& cwd, Spawned::Step step,
                         Completion& c) {
  if (step == Spawned::Step::kChdir) {
    c.exit_code = 126;
    c.error = "cannot start " + program + ": cannot enter the working folder " + cwd + ": " + std::strerror(err);
  } else if (step == Spawned::Step::kSetup) {
    c.exit_code = 126;
    c.error = "cannot start " + program + ": " + std::strerror(err);
  } else if (err == ENOENT) {
    c.exit_code = 127;
    c.error = program + ": command not found";
  } else if (err == EACCES) {
    c.exit_code = 126;
    c.error = program + ": permission denied";
  } else {
    c.exit_code = 126;
    c.error = "cannot start " + program + ": " + std::strerror(err);
  }
}
}  // namespace

std::string LocalExecutor::Resolve(const std::string& program) {
  // PATH is searched once per program name, not once per job. A name that
  // was not found is searched again the next time: it may have been
  // installed since (by an earlier stage, or before a retry).
  auto found = resolved_.find(program);
  if (found != resolved_.end()) return found->second;
  std::string hit = FindInPath(program);
  if (!hit.empty() && hit != program) resolved_.emplace(program, hit);
  return hit;
}

std::variant<uint64_t, std::string> LocalExecutor::Submit(const LaunchSpec& spec) {
  if (spec.argv.empty()) return std::string("empty command");
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return std::string("cannot create a pipe: ") + std::strerror(errno);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return std::string("cannot create a pipe: ") + std::strerror(errno);
  }
  SpawnRequest req;
  std::string path = Resolve(spec.argv[0]);
  req.path = path;
  req.argv = spec.argv;
  req.env = spec.env;
  req.cwd = spec.cwd;
  req.stdout_fd = out_pipe[1];
  req.stderr_fd = err_pipe[1];

  auto start = Clock::now();
  double started_at = WallNow();
  Spawned proc;
  int rc = Spawn(req, proc);
  pid_t pid = proc.pid();
  close(out_pipe[1]);
  close(err_pipe[1]);
  uint64_t id = next_id_++;
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    // The job failed before its program ran: report it like a shell would,
    // in the job's stderr log, as a completion of the next Poll.
    Completion c;
    c.job = id;
    c.kind = Completion::LaunchFailed;
    c.started_at = c.ended_at = started_at;
    // posix_spawn says ENOENT for a missing working folder too.
    bool no_cwd = rc == ENOENT && !spec.cwd.empty() && access(spec.cwd.c_str(), F_OK) != 0;
    DescribeLaunchError(rc, spec.argv[0], spec.cwd, no_cwd ? Spawned::Step::kChdir : Spawned::Step::kExec, c);
    AppendToFile(spec.stderr_path, "flow: " + c.error + "\n");
    ready_.push_back(std::move(c));
    return id;
  }
  Job job;
  job.id = id;
  job.pid = pid;
  job.start = start;
  job.started_at = started_at;
  job.proc = std::move(proc);
  job.program = spec.argv[0];
  job.cwd = spec.cwd;
  job.out = {out_pipe[0], -1, spec.stdout_path};
  job.err = {err_pipe[0], -1, spec.stderr_path};
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  pipe_owner_[out_pipe[0]] = {pid, false};
  pipe_owner_[err_pipe[0]] = {pid, true};
  if (spec.timeout_ms) job.deadline = start + std::chrono::milliseconds(*spec.timeout_ms);
  jobs_.emplace(pid, std::move(job));
  pid_of_[id] = pid;
  return id;
}

// Moves what a pipe holds to its log file. `to_eof`: the job is over, so
// read until the writers are gone (its process group was killed; a
// process that escaped the group cannot hold flow up: reading stops when the
// pipe is empty).
void LocalExecutor::Drain(Job::Stream& s, bool to_eof) {
  if (s.pipe < 0) return;
  char buf[65536];
  for (;;) {
    ssize_t n = read(s.pipe, buf, sizeof buf);
    if (n > 0) {
      if (s.file < 0) s.file = open(s.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (s.file >= 0) {
        ssize_t off = 0;
        while (off < n) {
          ssize_t w = write(s.file, buf + off, n - off);
          if (w <= 0) break;
          off += w;
        }
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || to_eof) {  // end of file, or nothing more now and the job is over
      pipe_owner_.erase(s.pipe);
      close(s.pipe);
      s.pipe = -1;
    }
    return;
  }
}

void LocalExecutor::CloseStreams(Job& job) {
  Drain(job.out, true);
  Drain(job.err, true);
  if (job.out.file >= 0) close(job.out.file);
  if (job.err.file >= 0) close(job.err.file);
  job.out.file = job.err.file = -1;
}

void LocalExecutor::Cancel(uint64_t id) {
  auto it = pid_of_.find(id);
  if (it == pid_of_.end()) return;
  Job& job = jobs_.at(it->second);
  if (job.cancelled) return;
  job.cancelled = true;
  kill(-job.pid, SIGTERM);
  job.kill_at = Clock::now() + std::chrono::milliseconds(grace_ms_);
}

void LocalExecutor::Reap(std::vector<Completion>& out) {
  while (!jobs_.empty()) {
    int status = 0;
    struct rusage ru = {};
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0) break;
    auto it = jobs_.find(pid);
    if (it == jobs_.end()) continue;  // not ours
    Job& job = it->second;
    // Whatever the command left running in its group goes with it.
    kill(-pid, SIGKILL);
    CloseStreams(job);
    Completion c;
    c.job = job.id;
    c.started_at = job.started_at;
    c.ended_at = WallNow();
    c.usage.wall_s = std::chrono::duration<double>(Clock::now() - job.start).count();
    c.usage.user_s = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6;
    c.usage.sys_s = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6;
    c.usage.max_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
    if (WIFEXITED(status)) {
      c.kind = Completion::Exited;
      c.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      c.kind = Completion::Signaled;
      c.signal = WTERMSIG(status);
      c.exit_code = 128 + c.signal;
    }
    if (job.timed_out) c.kind = Completion::TimedOut;
    if (job.cancelled) c.kind = Completion::Cancelled;
    // The child could not exec its program (or enter its folder): it said
    // why in the block it shares with flow, and exited with 127.
    if (int err = job.proc.LaunchError(); err != 0 && c.kind == Completion::Exited && c.exit_code == 127) {
      c.kind = Completion::LaunchFailed;
      DescribeLaunchError(err, job.program, job.cwd, job.proc.LaunchStep(), c);
      AppendToFile(job.err.path, "flow: " + c.error + "\n");
    }
    pid_of_.erase(job.id);
    jobs_.erase(it);
    out.push_back(std::move(c));
  }
}

void LocalExecutor::Timers(Clock::time_point now) {
  for (auto& [pid, job] : jobs_) {
    if (job.deadline && now >= *job.deadline && !job.timed_out && !job.cancelled) {
      job.timed_out = true;
      kill(-pid, SIGTERM);
      job.kill_at = now + std::chrono::milliseconds(grace_ms_);
    }
    if (job.kill_at && now >= *job.kill_at) {
      kill(-pid, SIGKILL);
      job.kill_at.reset();
    }
  }
}

std::vector<Completion> LocalExecutor::Poll(double max_wait_s) {
  std::vector<Completion> out(ready_.begin(), ready_.end());
  ready_.clear();
  auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_wait_s));
  int interrupts = InterruptCount();
  for (;;) {
    Reap(out);
    auto now = Clock::now();
    Timers(now);
    if (!out.empty() || now >= until || InterruptCount() != interrupts) return out;
    // Sleep until a signal (a child exited, Ctrl-C) or the next timer.
    // A job's pipes are watched only once it has run kWatchAfter: most jobs
    // are over by then, and their output (up to a pipe's 64 KB) is read
    // when they are reaped, so they cost no wake-up of their own (the end
    // of the pipes comes just before SIGCHLD, each a wake-up). A short job
    // that writes more waits until it is watched.
    constexpr auto kWatchAfter = std::chrono::milliseconds(20);
    auto wake = until;
    std::vector<struct pollfd> fds = {{signal_fd_, POLLIN, 0}};
    for (auto& [pid, job] : jobs_) {
      if (job.deadline && !job.timed_out && !job.cancelled) wake = std::min(wake, *job.deadline);
      if (job.kill_at) wake = std::min(wake, *job.kill_at);
      if (job.out.pipe < 0 && job.err.pipe < 0) continue;
      if (now < job.start + kWatchAfter) {
        wake = std::min(wake, job.start + kWatchAfter);
        continue;
      }
      for (int fd : {job.out.pipe, job.err.pipe})
        if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1;
    int rc = poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
    if (rc <= 0) continue;
    if (fds[0].revents) DrainSignalPipe();
    bool closing = false;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      auto owner = pipe_owner_.find(fds[i].fd);
      if (owner == pipe_owner_.end()) continue;
      auto job = jobs_.find(owner->second.first);
      if (job == jobs_.end()) continue;
      Job& j = job->second;
      Drain(owner->second.second ? j.err : j.out, false);
      if (j.out.pipe < 0 && j.err.pipe < 0 && !j.yielded) closing = j.yielded = true;
    }
    // A job whose stdout and stderr just closed is almost always exiting,
    // on the cpu this wake-up brought flow to: yield it that cpu once so it
    // can finish and be reaped now, rather than sleep until its SIGCHLD
    // wakes flow again (possibly onto the other, busy cpu).
    if (closing) sched_yield();
  }
}

}  // namespace flow::rt
