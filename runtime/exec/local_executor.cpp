// SPDX-License-Identifier: Apache-2.0
#include "exec/local_executor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "exec/signals.h"
#include "fmt/format.h"
#include "llvm/ADT/StringRef.h"
#include "store/run_store.h"

namespace flow::rt {

LocalExecutor::LocalExecutor(int64_t kill_grace_ms) : grace_ms_(kill_grace_ms), signal_fd_(InstallSignalPipe()) {
  EnsureStandardFds();
  RequestShortSlice();
#ifdef PR_SET_CHILD_SUBREAPER
  adopting_ = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
#endif
  // Every job's stdin, and the folder jobs that run where flow runs need
  // not enter: two path lookups less in each child.
  null_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd)) own_cwd_ = cwd;
}

LocalExecutor::~LocalExecutor() {
  KillAll();
  if (null_fd_ >= 0) close(null_fd_);
  for (auto& [dir, spools] : free_spools_)
    for (Spool& s : spools) {
      close(s.fd);
      unlink(s.path.c_str());
    }
}

size_t LocalExecutor::SpoolFiles() const {
  size_t n = 0;
  for (const auto& [dir, spools] : free_spools_) n += spools.size();
  return n;
}

void LocalExecutor::KillAll() {
  for (auto& [pid, job] : jobs_) kill(-pid, SIGKILL);
  for (auto& [pid, job] : jobs_) {
    int status;
    waitpid(pid, &status, 0);
    ForgetJobPid(pid);
    Finish(job.scratch, job.out, false);
    Finish(job.scratch, job.err, false);
  }
  jobs_.clear();
  pid_of_.clear();
  // What the jobs left outside their groups goes too.
  EndOfRun();
}

namespace {
bool CopyFile(int from, const std::string& to) {
  int fd = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  off_t off = 0;
  bool ok = true;
  char buf[65536];
  for (;;) {
    ssize_t n = pread(from, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    off += n;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(fd, buf + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ok = false;
        break;
      }
      done += w;
    }
    if (!ok) break;
  }
  return close(fd) == 0 && ok;
}

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

bool LocalExecutor::TakeSpool(const std::string& dir, Spool& spool, std::string& error) {
  auto& free = free_spools_[dir];
  if (!free.empty()) {
    spool = std::move(free.back());
    free.pop_back();
    return true;
  }
  // A name no other executor (of this process or another) is using:
  // numbered for the whole process, and made with O_EXCL.
  static std::atomic<uint64_t> made{0};
  for (int tries = 0;; ++tries) {
    spool.path = dir + "/spool." + std::to_string(getpid()) + "." + std::to_string(made++);
    spool.fd = open(spool.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (spool.fd >= 0) return true;
    if (errno != EEXIST || tries == 100) break;
  }
  error = "cannot create " + spool.path + ": " + std::strerror(errno);
  return false;
}

void LocalExecutor::GiveBack(const std::string& dir, Spool& spool) {
  if (spool.fd >= 0) free_spools_[dir].push_back(std::move(spool));
  spool = {};
}

// A job that has run kPublishAfter: its log files get their names now.
void LocalExecutor::Publish(Stream& s) {
  if (s.published || s.spool.fd < 0) return;
  if (rename(s.spool.path.c_str(), s.path.c_str()) == 0) s.published = true;
  // Otherwise (another filesystem) the output is copied when the job ends.
}

// The job is over: its output goes to its log file, and an empty spool goes
// back to the pool, if `reusable`: nothing of the job's process group is
// left that could still write to it (a spool is never handed on with
// another job's output in it; one that cannot be reused is removed).
void LocalExecutor::Finish(const std::string& dir, Stream& s, bool reusable) {
  if (s.spool.fd < 0) return;
  struct stat st;
  bool empty = fstat(s.spool.fd, &st) == 0 && st.st_size == 0;
  auto drop = [&](bool remove) {
    if (remove) unlink(s.spool.path.c_str());
    close(s.spool.fd);
    s.spool = {};
  };
  if (s.published) {
    if (empty) unlink(s.path.c_str());
    return drop(false);
  }
  if (empty) return reusable ? GiveBack(dir, s.spool) : drop(true);
  if (rename(s.spool.path.c_str(), s.path.c_str()) == 0) return drop(false);
  // rename(2) cannot reach the log's folder (another filesystem): copy.
  int rename_error = errno;
  if (!CopyFile(s.spool.fd, s.path))
    AppendToFile(s.path, "\nflow: this log is incomplete: copying it from " + s.spool.path + " failed: " +
                             std::strerror(errno) + "\n");
  // The spool is used again only when it is still ours under its name.
  if (rename_error == EXDEV && reusable && ftruncate(s.spool.fd, 0) == 0) return GiveBack(dir, s.spool);
  drop(rename_error == EXDEV);
}

std::variant<uint64_t, std::string> LocalExecutor::Submit(const LaunchSpec& spec) {
  if (spec.argv.empty()) return std::string("empty command");
  Job job;
  job.scratch = spec.scratch_dir;
  if (job.scratch.empty()) {
    size_t slash = spec.stdout_path.rfind('/');
    job.scratch = slash == std::string::npos ? "." : slash == 0 ? "/" : spec.stdout_path.substr(0, slash);
  }
  std::string error;
  if (!TakeSpool(job.scratch, job.out.spool, error)) return error;
  if (!TakeSpool(job.scratch, job.err.spool, error)) {
    GiveBack(job.scratch, job.out.spool);
    return error;
  }
  job.out.path = spec.stdout_path;
  job.err.path = spec.stderr_path;
  SpawnRequest req;
  std::string path = Resolve(spec.argv[0]);
  req.path = path;
  req.argv = spec.argv;
  if (spec.base_env) req.env_base = *spec.base_env;
  req.env = spec.env;
  if (spec.cwd != own_cwd_) req.cwd = spec.cwd;  // else the child is there already
  req.stdout_fd = job.out.spool.fd;
  req.stderr_fd = job.err.spool.fd;
  req.stdin_fd = null_fd_;

  auto start = Clock::now();
  double started_at = WallNow();
  int rc = Spawn(req, job.proc);
  uint64_t id = next_id_++;
  if (rc != 0) {
    GiveBack(job.scratch, job.out.spool);
    GiveBack(job.scratch, job.err.spool);
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
  pid_t pid = job.proc.pid();
  job.id = id;
  job.pid = pid;
  job.start = start;
  job.started_at = started_at;
  job.program = spec.argv[0];
  job.cwd = spec.cwd;
  if (spec.timeout_ms) job.deadline = start + std::chrono::milliseconds(*spec.timeout_ms);
  jobs_.emplace(pid, std::move(job));
  pid_of_[id] = pid;
  NoteJobPid(pid, spec.instance, spec.attempt);
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

void LocalExecutor::Kill(uint64_t id) {
  auto it = pid_of_.find(id);
  if (it == pid_of_.end()) return;
  Job& job = jobs_.at(it->second);
  job.cancelled = true;
  kill(-job.pid, SIGKILL);
  job.kill_at.reset();
}

void LocalExecutor::Reap(std::vector<Completion>& out) {
  // What the sweep killed, once dead (a process that flow adopted and that
  // died by itself is taken by the wait4 below, as not a job).
  ReapSwept();
  while (!jobs_.empty()) {
    int status = 0;
    struct rusage ru = {};
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0) break;
    auto it = jobs_.find(pid);
    if (it == jobs_.end()) continue;  // not ours
    Job& job = it->second;
    // Whatever the command left running in its group goes with it; its
    // spools are used again only when nothing was left.
    bool group_gone = kill(-pid, SIGKILL) != 0 && errno == ESRCH;
    if (!group_gone && adopting_) killed_groups_.push_back(pid);  // its members are dying: not leftovers
    Finish(job.scratch, job.out, group_gone);
    Finish(job.scratch, job.err, group_gone);
    Completion c;
    c.job = job.id;
    c.started_at = job.started_at;
    c.ended_at = WallNow();
    c.usage.wall_s = std::chrono::duration<double>(Clock::now() - job.start).count();
    c.usage.user_s = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6;
    c.usage.sys_s = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6;
    c.usage.max_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
    // Until its exec the child ran in flow's memory (clone with CLONE_VM,
    // as posix_spawn's vfork does), and the kernel counts flow's peak so
    // far in the child's: a peak above flow's own is the command's, one at
    // or below it may be flow's (RUSAGE_THREAD: the process's peak, without
    // summing the times of every thread).
    struct rusage self = {};
    c.usage.max_rss_exact = getrusage(RUSAGE_THREAD, &self) == 0 && ru.ru_maxrss > self.ru_maxrss;
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
    ForgetJobPid(pid);
    jobs_.erase(it);
    ended_since_sweep_ = true;
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
    if (adopting_ && ended_since_sweep_ && now >= next_sweep_) {
      SweepAdopted(JobsOfThisProcess() == 0);
      next_sweep_ = now + kSweepEvery;
    }
    if (!out.empty() || !notices_.empty() || now >= until || InterruptCount() != interrupts) return out;
    // Sleep until a signal (a child exited, Ctrl-C) or the next timer.
    auto wake = until;
    if (adopting_ && ended_since_sweep_) wake = std::min(wake, next_sweep_);
    for (auto& [pid, job] : jobs_) {
      if (job.deadline && !job.timed_out && !job.cancelled) wake = std::min(wake, *job.deadline);
      if (job.kill_at) wake = std::min(wake, *job.kill_at);
      if (!job.publish_done) {
        if (now >= job.start + kPublishAfter) {
          Publish(job.out);
          Publish(job.err);
          job.publish_done = true;
        } else {
          wake = std::min(wake, job.start + kPublishAfter);
        }
      }
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1;
    struct pollfd fd = {signal_fd_, POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(std::min<int64_t>(ms, 1 << 30))) > 0) DrainSignalPipe();
  }
}

namespace {
// The jobs of every executor of this process, by pid (which is also their
// process group): never taken for a process a job left behind, and what
// tells whether a leftover's job still runs. (Executors used from several
// threads at once would race between a spawn and its entry here, and in
// EndOfRun's reaping: flow runs one, on one thread.)
struct JobName {
  std::string instance;
  int attempt;
};
std::mutex g_job_pids_mu;
std::unordered_map<pid_t, JobName> g_job_pids;
}  // namespace

void LocalExecutor::NoteJobPid(pid_t pid, const std::string& instance, int attempt) {
  std::lock_guard<std::mutex> lock(g_job_pids_mu);
  g_job_pids[pid] = {instance, attempt};
}
void LocalExecutor::ForgetJobPid(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_job_pids_mu);
  g_job_pids.erase(pid);
}
size_t LocalExecutor::JobsOfThisProcess() {
  std::lock_guard<std::mutex> lock(g_job_pids_mu);
  return g_job_pids.size();
}

namespace {
// The whole of a /proc file (its size says 0: read to the end).
std::string ProcFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Fields of /proc/PID/stat: state '?' when the process is gone.
struct ProcStat {
  char state = '?';
  pid_t ppid = 0, pgrp = 0;
};
ProcStat StatOf(const std::string& pid) {
  std::string stat = ProcFile("/proc/" + pid + "/stat");
  size_t paren = stat.rfind(')');  // the command may hold spaces and parentheses
  ProcStat st;
  if (paren == std::string::npos) return st;
  std::istringstream fields(stat.substr(paren + 1));
  fields >> st.state >> st.ppid >> st.pgrp;
  return st;
}

// The pids of this process's children (of all its threads), from
// /proc/self/task/*/children, or, where the kernel has no such file, from
// the parent of every process.
std::vector<pid_t> ChildrenOfThisProcess() {
  std::vector<pid_t> out;
  bool have_lists = false;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/children");
      if (!in) continue;
      have_lists = true;
      pid_t pid;
      while (in >> pid) out.push_back(pid);
    }
    closedir(d);
  }
  if (have_lists) return out;
  pid_t self = getpid();
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      if (StatOf(e->d_name).ppid == self) out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    closedir(d);
  }
  return out;
}

// Whether a SIGKILL is pending for the process: it is dying (the group
// kill of its job reached it) and is nothing to report.
bool KillPending(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    llvm::StringRef l(line);
    if (!l.consume_front("ShdPnd:") && !l.consume_front("SigPnd:")) continue;
    uint64_t mask = 0;
    if (!l.trim().getAsInteger(16, mask) && (mask & (uint64_t{1} << (SIGKILL - 1)))) return true;
  }
  return false;
}

// FLOW_STAGE and FLOW_ATTEMPT from a process's environment ("" and 0 when
// it has none, or cannot be read).
std::pair<std::string, int> JobOf(pid_t pid) {
  std::string env = ProcFile("/proc/" + std::to_string(pid) + "/environ");
  std::string stage;
  int attempt = 0;
  for (llvm::StringRef rest = env; !rest.empty();) {
    auto [var, next] = rest.split('\0');
    if (var.consume_front("FLOW_STAGE=")) stage = var.str();
    if (var.consume_front("FLOW_ATTEMPT=")) var.getAsInteger(10, attempt);
    rest = next;
  }
  return {stage, attempt};
}

// "sleep 60": a process's command line, for a message.
std::string CommandOf(pid_t pid) {
  std::string cmd = ProcFile("/proc/" + std::to_string(pid) + "/cmdline");
  while (!cmd.empty() && cmd.back() == '\0') cmd.pop_back();
  for (char& c : cmd)
    if (c == '\0') c = ' ';
  if (cmd.size() > 80) cmd = cmd.substr(0, 77) + "...";
  return cmd;
}
}  // namespace

size_t LocalExecutor::SweepAdopted(bool all) {
  ended_since_sweep_ = false;
  if (!adopting_) return 0;
  size_t killed = 0;
  std::unordered_map<pid_t, JobName> jobs;  // of every executor, as they are now
  {
    std::lock_guard<std::mutex> lock(g_job_pids_mu);
    jobs = g_job_pids;
  }
  for (pid_t pid : ChildrenOfThisProcess()) {
    if (std::find(swept_.begin(), swept_.end(), pid) != swept_.end()) continue;  // killed already, dying
    if (jobs.count(pid)) continue;  // a job, not a process it left
    ProcStat st = StatOf(std::to_string(pid));
    if (st.state == 'Z' || st.state == 'X' || st.state == 'x' || st.state == '?') continue;  // dead: Reap takes it
    if (KillPending(pid)) continue;  // dying: killed with its job's group
    // Still in a job's process group: it never left it. The group of a job
    // that ended was killed when the job was reaped (it is dying); that of
    // a running job goes when the job ends.
    if (jobs.count(st.pgrp) ||
        std::find(killed_groups_.begin(), killed_groups_.end(), st.pgrp) != killed_groups_.end())
      continue;
    auto [stage, attempt] = JobOf(pid);
    if (!all) {
      // Only what a job that has ended left: one whose environment names
      // no job (it replaced it) waits until no job runs.
      if (stage.empty()) continue;
      bool running = false;
      for (const auto& [jpid, job] : jobs) running = running || (job.instance == stage && job.attempt == attempt);
      if (running) continue;
    }
    std::string cmd = CommandOf(pid);
    // Its own group (it made one, to leave the job's) and itself; what it
    // started in other groups is adopted in turn when it dies.
    kill(-pid, SIGKILL);
    if (kill(pid, SIGKILL) != 0) continue;  // gone already
    swept_.push_back(pid);
    ++killed;
    notices_.push_back({stage, fmt::format("killed process {} ({}), which it left running outside its process group "
                                           "after it ended",
                                           pid, cmd.empty() ? "?" : cmd)});
  }
  killed_groups_.clear();
  return killed;
}

void LocalExecutor::ReapSwept() {
  for (auto it = swept_.begin(); it != swept_.end();)
    it = waitpid(*it, nullptr, WNOHANG) == 0 ? std::next(it) : swept_.erase(it);
}

// Sweeps in rounds until one kills nothing and all it killed is dead: a
// leftover killed now may have started processes in sessions of their own,
// which flow adopts when it dies. A process slow to die is waited for, 10 s
// at most in all. Then reaps what is dead (no job runs, so nothing of a
// job's is taken).
void LocalExecutor::EndOfRun() {
  if (!adopting_) return;
  for (int waited_ms = 0; waited_ms < 10000;) {
    bool none_running = JobsOfThisProcess() == 0;
    size_t killed = SweepAdopted(none_running);
    ReapSwept();
    if (killed == 0 && swept_.empty()) break;
    usleep(1000);
    ++waited_ms;
  }
  if (JobsOfThisProcess() == 0)
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

std::vector<Executor::Notice> LocalExecutor::TakeNotices() {
  std::vector<Notice> out;
  out.swap(notices_);
  return out;
}

}  // namespace flow::rt
