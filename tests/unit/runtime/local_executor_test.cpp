// SPDX-License-Identifier: Apache-2.0
// The local executor (runtime/exec/local_executor): real processes, each in
// its own process group, with stdout and stderr in files; exit codes, a
// death by signal, a program that is not found, timeouts (also of a process
// that ignores SIGTERM), Cancel, leftover children, and the usage numbers
// from wait4.
#include "exec/local_executor.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flow::rt {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True when process `pid` is gone (or a zombie nobody of ours will reap).
bool Gone(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t p = stat.rfind(')');
  return p != std::string::npos && p + 2 < stat.size() && (stat[p + 2] == 'Z' || stat[p + 2] == 'X');
}

bool WaitGone(pid_t pid, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (Gone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Gone(pid);
}

class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flow_exec_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  LaunchSpec Spec(std::vector<std::string> argv, const std::string& name = "job") {
    LaunchSpec s;
    s.instance = name;
    s.argv = std::move(argv);
    const char* path = getenv("PATH");
    s.env = {std::string("PATH=") + (path ? path : "/usr/bin:/bin")};
    s.cwd = dir_;
    s.stdout_path = dir_ + "/" + name + ".out";
    s.stderr_path = dir_ + "/" + name + ".err";
    return s;
  }
  LaunchSpec Sh(const std::string& script, const std::string& name = "job") {
    return Spec({"/bin/sh", "-c", script}, name);
  }
  static uint64_t Submit(LocalExecutor& ex, const LaunchSpec& spec) {
    auto r = ex.Submit(spec);
    if (auto* err = std::get_if<std::string>(&r)) {
      ADD_FAILURE() << "Submit failed: " << *err;
      return 0;
    }
    return std::get<uint64_t>(r);
  }
  /// Polls until job `id` completes (at most `limit_s`).
  static Completion WaitFor(LocalExecutor& ex, uint64_t id, double limit_s = 10) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
    while (std::chrono::steady_clock::now() < until) {
      for (auto& c : ex.Poll(0.5))
        if (c.job == id) return c;
    }
    ADD_FAILURE() << "job " << id << " did not complete within " << limit_s << " s";
    return {};
  }
  Completion RunOne(const LaunchSpec& spec, int64_t grace_ms = 5000) {
    LocalExecutor ex(grace_ms);
    uint64_t id = Submit(ex, spec);
    Completion c = WaitFor(ex, id);
    EXPECT_EQ(ex.Running(), 0u);
    return c;
  }
  std::string dir_;
};

TEST_F(LocalExecutorTest, CapturesStdoutAndStderrAndTheExitCode) {
  LaunchSpec s = Sh("echo out; echo err >&2; printf 'no newline' ; exit 3");
  Completion c = RunOne(s);
  EXPECT_EQ(c.kind, Completion::Exited);
  EXPECT_EQ(c.exit_code, 3);
  EXPECT_EQ(ReadFile(s.stdout_path), "out\nno newline");
  EXPECT_EQ(ReadFile(s.stderr_path), "err\n");
  EXPECT_GT(c.ended_at, 0);
  EXPECT_GE(c.ended_at, c.started_at);
  EXPECT_GE(c.usage.wall_s, 0);
}

TEST_F(LocalExecutorTest, ExitCodes) {
  for (int code : {0, 1, 42, 255}) {
    Completion c = RunOne(Sh("exit " + std::to_string(code)));
    EXPECT_EQ(c.kind, Completion::Exited) << code;
    EXPECT_EQ(c.exit_code, code);
  }
}

TEST_F(LocalExecutorTest, DirectArgvIsLookedUpInPath) {
  LaunchSpec s = Spec({"printf", "[%s]", "a b", "$HOME", ""});
  Completion c = RunOne(s);
  EXPECT_EQ(c.kind, Completion::Exited);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(ReadFile(s.stdout_path), "[a b][$HOME][]");
}

TEST_F(LocalExecutorTest, EnvironmentWorkingDirectoryAndStdin) {
  fs::create_directory(dir_ + "/work");
  LaunchSpec s = Sh("echo \"$FOO|$HOME|$(pwd)\"; cat; readlink /proc/self/fd/0; "
                    "echo \"$(cut -d' ' -f5 /proc/$$/stat) $$\"");
  s.env.push_back("FOO=bar baz");
  s.cwd = dir_ + "/work";
  Completion c = RunOne(s);
  EXPECT_EQ(c.exit_code, 0) << ReadFile(s.stderr_path);
  std::istringstream out(ReadFile(s.stdout_path));
  std::string line;
  std::getline(out, line);
  // Only the given environment (no HOME), and the given folder.
  EXPECT_EQ(line, "bar baz||" + fs::canonical(dir_ + "/work").string());
  // stdin is /dev/null: cat ends at once.
  std::getline(out, line);
  EXPECT_EQ(line, "/dev/null");
  // The job leads its own process group.
  std::getline(out, line);
  std::istringstream ids(line);
  std::string pgid, pid;
  ids >> pgid >> pid;
  EXPECT_EQ(pgid, pid) << "the command is not the leader of its own process group";
  EXPECT_NE(pgid, std::to_string(getpgrp()));
}

TEST_F(LocalExecutorTest, LargeOutputIsNotLost) {
  // More than a pipe holds: the executor must keep draining while it runs.
  LaunchSpec s = Sh("head -c 3000000 /dev/zero | tr '\\0' 'x'; head -c 200000 /dev/zero | tr '\\0' 'e' >&2");
  Completion c = RunOne(s);
  EXPECT_EQ(c.exit_code, 0);
  std::string out = ReadFile(s.stdout_path), err = ReadFile(s.stderr_path);
  EXPECT_EQ(out.size(), 3000000u);
  EXPECT_EQ(out.find_first_not_of('x'), std::string::npos);
  EXPECT_EQ(err.size(), 200000u);
}

TEST_F(LocalExecutorTest, DeathBySignal) {
  Completion c = RunOne(Sh("kill -USR1 $$; sleep 5"));
  EXPECT_EQ(c.kind, Completion::Signaled);
  EXPECT_EQ(c.signal, SIGUSR1);
  EXPECT_EQ(c.exit_code, 128 + SIGUSR1);
  c = RunOne(Sh("kill -9 $$"));
  EXPECT_EQ(c.kind, Completion::Signaled);
  EXPECT_EQ(c.signal, SIGKILL);
}

TEST_F(LocalExecutorTest, CommandNotFound) {
  LaunchSpec s = Spec({"flow-no-such-program-xyz", "arg"});
  LocalExecutor ex(5000);
  auto r = ex.Submit(s);
  ASSERT_TRUE(std::holds_alternative<uint64_t>(r)) << "a missing program is a failed job, not a refused submit";
  uint64_t id = std::get<uint64_t>(r);
  Completion c = WaitFor(ex, id, 2);
  EXPECT_EQ(c.job, id);
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 127);
  EXPECT_THAT(c.error, HasSubstr("flow-no-such-program-xyz: command not found"));
  EXPECT_EQ(ReadFile(s.stderr_path), "flow: flow-no-such-program-xyz: command not found\n");
  // With a path, too.
  LaunchSpec p = Spec({dir_ + "/missing"}, "p");
  c = RunOne(p);
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 127);
  EXPECT_THAT(ReadFile(p.stderr_path), HasSubstr("command not found"));
  // Through the shell, the shell says it (and exits 127).
  LaunchSpec sh = Sh("flow-no-such-program-xyz", "sh");
  c = RunOne(sh);
  EXPECT_EQ(c.kind, Completion::Exited);
  EXPECT_EQ(c.exit_code, 127);
  EXPECT_THAT(ReadFile(sh.stderr_path), HasSubstr("not found"));
}

TEST_F(LocalExecutorTest, NotExecutable) {
  std::ofstream(dir_ + "/script") << "#!/bin/sh\necho hi\n";
  chmod((dir_ + "/script").c_str(), 0644);
  Completion c = RunOne(Spec({dir_ + "/script"}));
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 126);
}

TEST_F(LocalExecutorTest, EmptyArgvIsRefused) {
  LocalExecutor ex;
  auto r = ex.Submit(Spec({}));
  EXPECT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(ex.Running(), 0u);
}

TEST_F(LocalExecutorTest, TimeoutStopsAProcessWithSigterm) {
  LaunchSpec s = Sh("echo started; exec sleep 30");
  s.timeout_ms = 200;
  auto t0 = std::chrono::steady_clock::now();
  Completion c = RunOne(s, /*grace_ms=*/5000);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c.kind, Completion::TimedOut);
  EXPECT_GE(took, 0.19);
  EXPECT_LT(took, 3.0) << "SIGTERM should have stopped it, well before the grace period";
  EXPECT_GE(c.usage.wall_s, 0.19);
  EXPECT_EQ(ReadFile(s.stdout_path), "started\n");
}

TEST_F(LocalExecutorTest, TimeoutKillsAProcessIgnoringSigtermAfterTheGrace) {
  // The shell ignores TERM, and so does everything it starts.
  LaunchSpec s = Sh("trap '' TERM; sleep 10 & echo $! > child; while :; do sleep 0.05; done");
  s.timeout_ms = 150;
  auto t0 = std::chrono::steady_clock::now();
  Completion c = RunOne(s, /*grace_ms=*/300);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c.kind, Completion::TimedOut);
  EXPECT_GE(took, 0.44) << "killed before the grace period ended";
  EXPECT_LT(took, 3.0) << "not killed after the grace period";
  pid_t child = std::atoi(ReadFile(dir_ + "/child").c_str());
  ASSERT_GT(child, 0);
  EXPECT_TRUE(WaitGone(child, 2)) << "a child of the timed-out job survived";
}

TEST_F(LocalExecutorTest, CancelStopsAJob) {
  LocalExecutor ex(5000);
  uint64_t id = Submit(ex, Sh("exec sleep 30"));
  EXPECT_TRUE(ex.Poll(0.1).empty());
  EXPECT_EQ(ex.Running(), 1u);
  auto t0 = std::chrono::steady_clock::now();
  ex.Cancel(id);
  Completion c = WaitFor(ex, id, 3);
  EXPECT_EQ(c.kind, Completion::Cancelled);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_EQ(ex.Running(), 0u);
  ex.Cancel(id);  // already gone: harmless
  ex.Cancel(12345);
}

TEST_F(LocalExecutorTest, CancelKillsAJobIgnoringSigtermAfterTheGrace) {
  LocalExecutor ex(200);
  uint64_t id = Submit(ex, Sh("trap '' TERM; while :; do sleep 0.05; done"));
  ex.Poll(0.1);
  auto t0 = std::chrono::steady_clock::now();
  ex.Cancel(id);
  ex.Cancel(id);  // twice: the grace period does not restart
  Completion c = WaitFor(ex, id, 3);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c.kind, Completion::Cancelled);
  EXPECT_GE(took, 0.19);
  EXPECT_LT(took, 2.0);
}

TEST_F(LocalExecutorTest, LeftoverChildrenAreKilledWhenTheLeaderExits) {
  LaunchSpec s = Sh("sleep 30 & echo $! > child; (sleep 30; echo late) & echo $! > sub; exit 0");
  auto t0 = std::chrono::steady_clock::now();
  Completion c = RunOne(s);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0)
      << "the executor waited for the leftover children";
  EXPECT_EQ(c.kind, Completion::Exited);
  EXPECT_EQ(c.exit_code, 0);
  for (const char* f : {"child", "sub"}) {
    pid_t pid = std::atoi(ReadFile(dir_ + "/" + f).c_str());
    ASSERT_GT(pid, 0) << f;
    EXPECT_TRUE(WaitGone(pid, 2)) << "leftover " << f << " (pid " << pid << ") still runs";
  }
}

TEST_F(LocalExecutorTest, ManyJobsAtOnce) {
  LocalExecutor ex;
  std::map<uint64_t, int> expect;
  for (int i = 0; i < 8; ++i) {
    LaunchSpec s = Sh("sleep 0.1; echo " + std::to_string(i) + "; exit " + std::to_string(i), "j" + std::to_string(i));
    expect[Submit(ex, s)] = i;
  }
  EXPECT_EQ(expect.size(), 8u) << "job ids are not distinct";
  EXPECT_EQ(ex.Running(), 8u);
  std::map<uint64_t, Completion> got;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < 8 && std::chrono::steady_clock::now() < until)
    for (auto& c : ex.Poll(1)) EXPECT_TRUE(got.emplace(c.job, c).second) << "job " << c.job << " completed twice";
  ASSERT_EQ(got.size(), 8u);
  for (const auto& [id, i] : expect) {
    EXPECT_EQ(got[id].exit_code, i);
    EXPECT_EQ(ReadFile(dir_ + "/j" + std::to_string(i) + ".out"), std::to_string(i) + "\n");
  }
  EXPECT_EQ(ex.Running(), 0u);
}

TEST_F(LocalExecutorTest, PollWaitsAtMostItsLimit) {
  LocalExecutor ex;
  uint64_t id = Submit(ex, Sh("exec sleep 30"));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(ex.Poll(0.2).empty());
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 0.15);
  EXPECT_LT(took, 1.5);
  // And returns as soon as a job ends, well before its limit.
  LaunchSpec quick = Sh("exit 0", "quick");
  uint64_t q = Submit(ex, quick);
  t0 = std::chrono::steady_clock::now();
  std::vector<Completion> done;
  while (done.empty() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) done = ex.Poll(5);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].job, q);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  ex.Cancel(id);
  WaitFor(ex, id, 7);
}

TEST_F(LocalExecutorTest, DestructorKillsWhatStillRuns) {
  pid_t pid = 0;
  {
    LocalExecutor ex(100);
    Submit(ex, Sh("echo $$ > pid; exec sleep 30"));
    for (int i = 0; i < 200 && ReadFile(dir_ + "/pid").empty(); ++i) ex.Poll(0.01);
    pid = std::atoi(ReadFile(dir_ + "/pid").c_str());
  }
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(WaitGone(pid, 2));
}

TEST_F(LocalExecutorTest, UsageCountsCpuTime) {
  // A shell busy loop that stops once it has used 0.25 s of user CPU time
  // (field 14 of /proc/PID/stat, in ticks of 1/100 s), however loaded the
  // machine is.
  LaunchSpec s = Sh("while :; do i=0; while [ $i -lt 1000 ]; do i=$((i+1)); done; "
                    "read -r st < /proc/$$/stat; set -- $st; [ \"${14}\" -ge 25 ] && exit 0; done");
  s.timeout_ms = 20000;
  Completion c = RunOne(s, 200);
  EXPECT_EQ(c.kind, Completion::Exited);
  EXPECT_EQ(c.exit_code, 0) << ReadFile(s.stderr_path);
  EXPECT_GT(c.usage.user_s, 0.2) << "wall " << c.usage.wall_s << " s, sys " << c.usage.sys_s << " s";
  EXPECT_LE(c.usage.user_s + c.usage.sys_s, c.usage.wall_s + 0.05);
  // A process that sleeps uses next to no CPU.
  Completion idle = RunOne(Sh("sleep 0.3"));
  EXPECT_LT(idle.usage.user_s, 0.1);
  EXPECT_GE(idle.usage.wall_s, 0.29);
}

TEST_F(LocalExecutorTest, UsageMeasuresPeakMemoryOfEachJob) {
  // dd reads 50 MiB from /dev/zero into one buffer: it touches all of it.
  Completion big = RunOne(Spec({"dd", "if=/dev/zero", "of=/dev/null", "bs=50M", "count=1"}));
  EXPECT_EQ(big.exit_code, 0);
  EXPECT_GT(big.usage.max_rss_bytes, 40 * 1000 * 1000);
  EXPECT_LT(big.usage.max_rss_bytes, 200 * 1000 * 1000);
  // Measured per job, not the largest child so far.
  Completion small = RunOne(Spec({"true"}));
  EXPECT_GT(small.usage.max_rss_bytes, 0);
  EXPECT_LT(small.usage.max_rss_bytes, 20 * 1000 * 1000);
}

TEST_F(LocalExecutorTest, SilentCommandsNeedNoLogFiles) {
  // Whether an empty log is created is the executor's choice; what a
  // command did write must be there, and nothing else.
  LaunchSpec s = Sh("echo only-err >&2");
  Completion c = RunOne(s);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(ReadFile(s.stdout_path), "");
  EXPECT_EQ(ReadFile(s.stderr_path), "only-err\n");
}

}  // namespace
}  // namespace flow::rt
