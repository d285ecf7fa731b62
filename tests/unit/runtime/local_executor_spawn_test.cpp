// SPDX-License-Identifier: Apache-2.0
// The local executor, for each of the two ways exec/spawn.cpp starts a job
// (clone and posix_spawn): launch failures, the process group, stdin, the
// signal state, Cancel right after Submit, many quick jobs, a job outliving
// a killed flow.
#include "local_executor_fixture.h"

namespace flow::rt::executor_test {
namespace {

// ---------------------------------------------------------------- both ways of starting a job
//
// exec/spawn.cpp starts a job with clone(CLONE_VM) without CLONE_VFORK (the
// default on Linux) or with posix_spawn (FLOW_SPAWN=posix_spawn). Each test
// below runs once for each, chosen with SetSpawnMethodForTesting (FLOW_SPAWN
// is read once per process).

int CountOpenFds() {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) n += e.path().filename() != "." ? 1 : 0;
  return n;
}

// The mask of a "SigBlk:", "SigIgn:" or "SigCgt:" line of a /proc/PID/status text.
uint64_t SignalMask(const std::string& status, const std::string& field) {
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1), nullptr, 16);
  ADD_FAILURE() << "no " << field << " line in:\n" << status;
  return ~0ull;
}

uint64_t Bit(int sig) { return 1ull << (sig - 1); }

class SpawnMethodTest : public LocalExecutorTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    LocalExecutorTest::SetUp();
    if (!SetSpawnMethodForTesting(GetParam())) GTEST_SKIP() << GetParam() << " is not available here";
    ASSERT_STREQ(SpawnMethod(), GetParam());
  }
  void TearDown() override {
    SetSpawnMethodForTesting(nullptr);
    LocalExecutorTest::TearDown();
  }
};

INSTANTIATE_TEST_SUITE_P(Both, SpawnMethodTest, ::testing::Values("clone", "posix_spawn"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(SpawnMethodTest, AJobDiesWithAFlowKilledByKillDashNine) {
  if (std::string(GetParam()) != "clone")
    GTEST_SKIP() << "posix_spawn cannot ask for PR_SET_PDEATHSIG: its jobs outlive a killed flow (docs/runtime.md)";
  // A process standing in for flow starts a job and is killed with
  // SIGKILL, giving it no chance to clean up: the kernel kills the job.
  int pids[2];
  ASSERT_EQ(pipe(pids), 0);
  pid_t flow = fork();
  ASSERT_GE(flow, 0);
  if (flow == 0) {
    close(pids[0]);
    LocalExecutor ex;
    auto r = ex.Submit(Spec({"sleep", "30"}, "orphan"));
    pid_t job = -1;
    if (auto* id = std::get_if<uint64_t>(&r)) {
      (void)id;
      // The job leads its own process group: find it among our children.
      std::string children = ReadFile("/proc/self/task/" + std::to_string(getpid()) + "/children");
      job = std::atoi(children.c_str());
    }
    [[maybe_unused]] ssize_t n = write(pids[1], &job, sizeof job);
    pause();
    _exit(0);
  }
  close(pids[1]);
  pid_t job = -1;
  ASSERT_EQ(read(pids[0], &job, sizeof job), static_cast<ssize_t>(sizeof job));
  close(pids[0]);
  ASSERT_GT(job, 0) << "the job did not start";
  EXPECT_FALSE(Gone(job)) << "the job ended before flow was killed";
  kill(flow, SIGKILL);
  int status;
  waitpid(flow, &status, 0);
  EXPECT_TRUE(WaitGone(job, 5)) << "the job " << job << " still runs after flow was killed";
  if (!Gone(job)) kill(job, SIGKILL);
}

TEST_P(SpawnMethodTest, MissingProgramPathIsLaunchFailed127WithTheMessageInTheStderrLog) {
  std::string program = dir_ + "/no-such-dir/prog";
  LaunchSpec s = Spec({program, "arg"});
  Completion c = RunOne(s);
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 127);
  EXPECT_EQ(c.error, program + ": command not found");
  EXPECT_EQ(ReadFile(s.stderr_path), "flow: " + program + ": command not found\n");
  EXPECT_EQ(ReadFile(s.stdout_path), "");
  EXPECT_GE(c.ended_at, c.started_at);
}

TEST_P(SpawnMethodTest, NotExecutableFileIsLaunchFailed126) {
  std::string program = dir_ + "/script";
  std::ofstream(program) << "#!/bin/sh\necho ran > " << dir_ << "/ran\n";
  ASSERT_EQ(chmod(program.c_str(), 0644), 0);
  LaunchSpec s = Spec({program});
  Completion c = RunOne(s);
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 126);
  EXPECT_EQ(c.error, program + ": permission denied");
  EXPECT_EQ(ReadFile(s.stderr_path), "flow: " + program + ": permission denied\n");
  EXPECT_FALSE(fs::exists(dir_ + "/ran"));
  // A folder is not a program either.
  fs::create_directory(dir_ + "/folder");
  c = RunOne(Spec({dir_ + "/folder"}, "folder"));
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 126);
}

TEST_P(SpawnMethodTest, MissingWorkingFolderFailsCleanly) {
  LocalExecutor ex(5000);
  int fds = CountOpenFds();
  LaunchSpec s = Spec({"/bin/sh", "-c", "echo ran > " + dir_ + "/ran"});
  s.cwd = dir_ + "/no-such-folder";
  auto t0 = std::chrono::steady_clock::now();
  uint64_t id = Submit(ex, s);
  Completion c = WaitFor(ex, id, 5);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 126);
  // The message names the folder, not the program, as what is missing.
  EXPECT_EQ(c.error, "cannot start /bin/sh: cannot enter the working folder " + s.cwd + ": No such file or directory");
  EXPECT_EQ(ReadFile(s.stderr_path), "flow: " + c.error + "\n");
  EXPECT_FALSE(fs::exists(dir_ + "/ran")) << "the command ran although its folder does not exist";
  EXPECT_EQ(ex.Running(), 0u);
  // Nothing open but the two empty spool files the next job will use.
  EXPECT_EQ(ex.SpoolFiles(), 2u);
  EXPECT_EQ(CountOpenFds(), fds + 2);
  // The executor goes on as before.
  c = RunOne(Spec({"/bin/sh", "-c", "exit 5"}, "after"));
  EXPECT_EQ(c.kind, Completion::Exited);
  EXPECT_EQ(c.exit_code, 5);
}

TEST_P(SpawnMethodTest, JobLeadsItsOwnProcessGroupInFlowsSession) {
  // cat started directly (no shell): /proc/self/stat is the job's own.
  LaunchSpec s = Spec({"cat", "/proc/self/stat"});
  Completion c = RunOne(s);
  ASSERT_EQ(c.exit_code, 0) << ReadFile(s.stderr_path);
  std::string stat = ReadFile(s.stdout_path);
  size_t paren = stat.rfind(')');
  ASSERT_NE(paren, std::string::npos) << stat;
  std::istringstream head(stat.substr(0, paren)), rest(stat.substr(paren + 2));
  long pid = 0, ppid = 0, pgrp = 0, session = 0;
  std::string state;
  head >> pid;
  rest >> state >> ppid >> pgrp >> session;
  EXPECT_GT(pid, 0);
  EXPECT_EQ(pgrp, pid) << "the job is not the leader of its own process group";
  EXPECT_NE(pgrp, getpgrp());
  EXPECT_EQ(ppid, getpid()) << "the job is not flow's own child";
  EXPECT_EQ(session, getsid(0)) << "the job left flow's session";
}

TEST_P(SpawnMethodTest, StdinIsDevNullAndReadsEndOfFile) {
  // flow's own stdin holds a line while the jobs start: they must not see it.
  int saved = dup(0), p[2];
  ASSERT_GE(saved, 0);
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "flow's stdin\n", 13), 13);
  ASSERT_EQ(dup2(p[0], 0), 0);
  close(p[0]);
  LocalExecutor ex(100);
  LaunchSpec s = Spec({"/bin/sh", "-c", "readlink /proc/self/fd/0; cat; echo \"cat: $?\"; "
                                        "if read -r line; then echo \"read: $line\"; else echo eof; fi"});
  s.timeout_ms = 5000;
  uint64_t shell = Submit(ex, s);
  LaunchSpec direct = Spec({"cat"}, "direct");  // started without a shell
  direct.timeout_ms = 5000;
  uint64_t cat = Submit(ex, direct);
  dup2(saved, 0);
  close(saved);
  close(p[1]);
  std::map<uint64_t, Completion> done;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (done.size() < 2 && std::chrono::steady_clock::now() < until)
    for (auto& c : ex.Poll(0.5)) done[c.job] = c;
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[shell].kind, Completion::Exited);
  EXPECT_EQ(done[shell].exit_code, 0) << ReadFile(s.stderr_path);
  EXPECT_EQ(ReadFile(s.stdout_path), "/dev/null\ncat: 0\neof\n");
  EXPECT_EQ(done[cat].kind, Completion::Exited) << "cat did not read end of file at once";
  EXPECT_EQ(done[cat].exit_code, 0);
  EXPECT_EQ(ReadFile(direct.stdout_path), "");
}

TEST_P(SpawnMethodTest, SignalsAreAtTheirDefaultsAndUnblockedInTheJob) {
  // Make flow's own state as bad as it gets: SIGHUP and SIGQUIT ignored
  // (as under nohup), SIGPIPE ignored (the executor does that), SIGINT,
  // SIGTERM and SIGCHLD caught (the executor does that), and the thread that
  // submits with signals blocked. The job must see none of it.
  LocalExecutor ex(5000);
  struct sigaction ign = {}, old_hup = {}, old_quit = {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ASSERT_EQ(sigaction(SIGHUP, &ign, &old_hup), 0);
  ASSERT_EQ(sigaction(SIGQUIT, &ign, &old_quit), 0);
  sigset_t block, old_mask;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM}) sigaddset(&block, sig);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  LaunchSpec s = Spec({"cat", "/proc/self/status"});
  uint64_t id = Submit(ex, s);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  Completion c = WaitFor(ex, id);
  ASSERT_EQ(c.exit_code, 0) << ReadFile(s.stderr_path);
  std::string status = ReadFile(s.stdout_path);
  EXPECT_EQ(SignalMask(status, "SigBlk"), 0u) << "the job starts with signals blocked:\n" << status;
  uint64_t ours = 0;
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT}) ours |= Bit(sig);
  EXPECT_EQ(SignalMask(status, "SigIgn") & ours, 0u) << "the job starts with flow's ignored signals ignored:\n" << status;
  EXPECT_EQ(SignalMask(status, "SigCgt") & ours, 0u) << status;
  // And so a job that is sent SIGPIPE or SIGTERM dies of it.
  Completion pipe = RunOne(Sh("kill -PIPE $$; sleep 5", "pipe"));
  EXPECT_EQ(pipe.kind, Completion::Signaled);
  EXPECT_EQ(pipe.signal, SIGPIPE);
}

TEST_P(SpawnMethodTest, CancelRightAfterSubmitStopsTheJobPromptly) {
  // The child may not have reached its exec yet: the SIGTERM must still
  // reach it (its group exists when Submit returns) and kill it, well
  // before the 5 s grace period would end in a SIGKILL.
  LocalExecutor ex(5000);
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    LaunchSpec s = i % 2 ? Spec({"sleep", "30"}, "direct") : Sh("exec sleep 30", "shell");
    auto t0 = std::chrono::steady_clock::now();
    uint64_t id = Submit(ex, s);
    ex.Cancel(id);
    Completion c = WaitFor(ex, id, 8);
    EXPECT_EQ(c.kind, Completion::Cancelled);
    ASSERT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.5)
        << "the SIGTERM sent right after Submit was lost";
    EXPECT_EQ(ex.Running(), 0u);
  }
  // A timeout that expires at once, too.
  LaunchSpec s = Spec({"sleep", "30"}, "timeout");
  s.timeout_ms = 1;
  auto t0 = std::chrono::steady_clock::now();
  Completion c = WaitFor(ex, Submit(ex, s), 8);
  EXPECT_EQ(c.kind, Completion::TimedOut);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.5);
}

TEST_P(SpawnMethodTest, TwoHundredQuickJobsFourAtATimeCompleteWithoutLeakingFds) {
  LocalExecutor ex;
  int fds_before = CountOpenFds();
  constexpr int kJobs = 200, kAtOnce = 4;
  std::map<uint64_t, int> index;  // job id -> its number
  std::map<int, Completion> done;
  int next = 0;
  // Job i exits with i % 7 and prints i; every 20th cannot be started.
  auto missing = [](int i) { return i % 20 == 13; };
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (static_cast<int>(done.size()) < kJobs && std::chrono::steady_clock::now() < until) {
    while (next < kJobs && static_cast<int>(ex.Running()) < kAtOnce) {
      std::string n = std::to_string(next);
      LaunchSpec s = missing(next) ? Spec({dir_ + "/missing-" + n}, "j" + n)
                     : next % 2    ? Spec({"/bin/sh", "-c", "echo " + n + "; exit " + std::to_string(next % 7)}, "j" + n)
                                   : Spec({"sh", "-c", "echo " + n + "; exit " + std::to_string(next % 7)}, "j" + n);
      uint64_t id = Submit(ex, s);
      EXPECT_TRUE(index.emplace(id, next).second) << "job id " << id << " given twice";
      ++next;
    }
    for (auto& c : ex.Poll(1)) {
      auto it = index.find(c.job);
      ASSERT_NE(it, index.end()) << "unknown job " << c.job;
      EXPECT_TRUE(done.emplace(it->second, c).second) << "job " << it->second << " completed twice";
    }
  }
  ASSERT_EQ(done.size(), static_cast<size_t>(kJobs));
  for (const auto& [i, c] : done) {
    std::string n = std::to_string(i);
    if (missing(i)) {
      EXPECT_EQ(c.kind, Completion::LaunchFailed) << i;
      EXPECT_EQ(c.exit_code, 127) << i;
      EXPECT_THAT(ReadFile(dir_ + "/j" + n + ".err"), HasSubstr("command not found")) << i;
    } else {
      EXPECT_EQ(c.kind, Completion::Exited) << i;
      EXPECT_EQ(c.exit_code, i % 7) << i;
      EXPECT_EQ(ReadFile(dir_ + "/j" + n + ".out"), n + "\n") << i;
    }
  }
  EXPECT_EQ(ex.Running(), 0u);
  // Open: only the empty spool files kept for the next jobs, two for each
  // job that ran at once (silent jobs hand theirs on; these all wrote, so
  // each spool became a log and a fresh one replaced it).
  EXPECT_LE(ex.SpoolFiles(), static_cast<size_t>(2 * kAtOnce));
  EXPECT_EQ(CountOpenFds(), fds_before + static_cast<int>(ex.SpoolFiles())) << "descriptors leaked over 200 jobs";
}

TEST_P(SpawnMethodTest, JobInheritsNoPipeButItsOwnStdoutAndStderr) {
  // Other jobs' pipes are open in flow while this one starts.
  LocalExecutor ex(100);
  std::set<uint64_t> sleepers;
  for (int i = 0; i < 3; ++i) sleepers.insert(Submit(ex, Sh("exec sleep 30", "s" + std::to_string(i))));
  // Pipes this test process itself inherited without FD_CLOEXEC (from
  // whatever started it) are passed on to every child, rightly.
  std::set<std::string> inherited;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    int fd = std::atoi(e.path().filename().c_str());
    std::error_code ec;
    std::string target = fs::read_symlink(e.path(), ec).string();
    int flags = fcntl(fd, F_GETFD);
    if (!ec && target.rfind("pipe:", 0) == 0 && flags >= 0 && !(flags & FD_CLOEXEC)) inherited.insert(target);
  }
  LaunchSpec s = Spec({"ls", "-l", "/proc/self/fd/"}, "ls");
  Completion c = WaitFor(ex, Submit(ex, s));
  EXPECT_EQ(c.exit_code, 0) << ReadFile(s.stderr_path);
  std::istringstream lines(ReadFile(s.stdout_path));
  std::vector<std::string> pipes;
  for (std::string line; std::getline(lines, line);) {
    size_t arrow = line.find(" -> ");
    if (arrow == std::string::npos || line.compare(arrow + 4, 5, "pipe:") != 0) continue;
    size_t space = line.rfind(' ', arrow - 1);
    std::string fd = line.substr(space + 1, arrow - space - 1);
    if (fd != "1" && fd != "2" && !inherited.count(line.substr(arrow + 4))) pipes.push_back(line);
  }
  EXPECT_THAT(pipes, ::testing::IsEmpty()) << ReadFile(s.stdout_path);
  for (uint64_t id : sleepers) ex.Cancel(id);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!sleepers.empty() && std::chrono::steady_clock::now() < until)
    for (auto& done : ex.Poll(0.5)) sleepers.erase(done.job);
  EXPECT_THAT(sleepers, ::testing::IsEmpty()) << "cancelled jobs did not end";
}

TEST_P(SpawnMethodTest, LongArgvAndEnvironmentArriveIntact) {
  std::vector<std::string> argv = {"/bin/sh", "-c", "printf '[%s]' \"$@\"; env | sort > env.txt", "sh"};
  std::string expected;
  for (int i = 0; i < 300; ++i) {
    std::string a = i % 17 == 0 ? "" : std::string(static_cast<size_t>(i % 50), static_cast<char>('a' + i % 26)) + " " + std::to_string(i);
    argv.push_back(a);
    expected += "[" + a + "]";
  }
  std::string big(100000, 'x');
  argv.push_back(big);
  expected += "[" + big + "]";
  LaunchSpec s = Spec(argv);
  std::vector<std::string> env_lines;
  for (int i = 0; i < 200; ++i) {
    s.env.push_back("FLOW_TEST_VAR_" + std::to_string(i) + "=value " + std::to_string(i * i));
    env_lines.push_back(s.env.back());
  }
  Completion c = RunOne(s);
  ASSERT_EQ(c.exit_code, 0) << ReadFile(s.stderr_path);
  EXPECT_EQ(ReadFile(s.stdout_path), expected);
  std::string env = ReadFile(dir_ + "/env.txt");
  for (const auto& line : env_lines) EXPECT_THAT(env, HasSubstr(line + "\n"));
}

}  // namespace
}  // namespace flow::rt::executor_test
