// SPDX-License-Identifier: Apache-2.0
#include "exec/local_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exec/signals.h"
#include "store/run_store.h"

namespace flow::rt {

LocalExecutor::LocalExecutor(int64_t kill_grace_ms) : grace_ms_(kill_grace_ms), signal_fd_(InstallSignalPipe()) {}

LocalExecutor::~LocalExecutor() { KillAll(); }

void LocalExecutor::KillAll() {
  for (auto& [pid, job] : jobs_) kill(-pid, SIGKILL);
  for (auto& [pid, job] : jobs_) {
    int status;
    waitpid(pid, &status, 0);
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
}  // namespace

std::variant<uint64_t, std::string> LocalExecutor::Submit(const LaunchSpec& spec) {
  if (spec.argv.empty()) return std::string("empty command");
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  // Its own process group (so a timeout or Ctrl-C reaches everything it
  // started), default signal handling and an empty signal mask.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP, SIGQUIT}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  auto start = Clock::now();
  double started_at = WallNow();
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  uint64_t id = next_id_++;
  if (rc != 0) {
    // The job failed before its program ran: report it like a shell would,
    // in the job's stderr log, as a completion of the next Poll.
    Completion c;
    c.job = id;
    c.kind = Completion::LaunchFailed;
    c.started_at = c.ended_at = started_at;
    if (rc == ENOENT) {
      c.exit_code = 127;
      c.error = spec.argv[0] + ": command not found";
    } else if (rc == EACCES) {
      c.exit_code = 126;
      c.error = spec.argv[0] + ": permission denied";
    } else {
      c.exit_code = 126;
      c.error = "cannot start " + spec.argv[0] + ": " + std::strerror(rc);
    }
    AppendToFile(spec.stderr_path, "flow: " + c.error + "\n");
    ready_.push_back(std::move(c));
    return id;
  }
  Job job{id, pid, start, started_at, std::nullopt, std::nullopt, false, false, spec.stderr_path};
  if (spec.timeout_ms) job.deadline = start + std::chrono::milliseconds(*spec.timeout_ms);
  jobs_.emplace(pid, std::move(job));
  pid_of_[id] = pid;
  return id;
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
    auto wake = until;
    for (auto& [pid, job] : jobs_) {
      if (job.deadline && !job.timed_out && !job.cancelled) wake = std::min(wake, *job.deadline);
      if (job.kill_at) wake = std::min(wake, *job.kill_at);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1;
    struct pollfd p = {signal_fd_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
    if (rc > 0) DrainSignalPipe();
  }
}

}  // namespace flow::rt
