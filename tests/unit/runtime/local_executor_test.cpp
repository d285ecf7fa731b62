// SPDX-License-Identifier: Apache-2.0
// The local executor (runtime/exec/local_executor): real processes, each in
// its own process group, with stdout and stderr in files (through spool
// files: silent jobs create none, long jobs' logs are readable while they
// run, another filesystem gets a copy); exit codes, a
// death by signal, a program that is not found, timeouts (also of a process
// that ignores SIGTERM), Cancel, leftover children, and the usage numbers
// from wait4; then, for each of the two ways exec/spawn.cpp starts a job
// (clone and posix_spawn), launch failures, the process group, stdin, the
// signal state, Cancel right after Submit, and many quick jobs.
#include "exec/local_executor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "exec/spawn.h"
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

TEST_F(LocalExecutorTest, SharedBaseEnvironmentComesBeforeTheJobsOwn) {
  auto base = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"FLOW_BASE_A=from base", "FLOW_BASE_B=b"});
  LocalExecutor ex;
  for (int i = 0; i < 3; ++i) {  // three jobs share one base
    LaunchSpec s = Sh("echo \"$FLOW_BASE_A|$FLOW_BASE_B|$OWN\"; env | grep -c '^FLOW_BASE_'", "job" + std::to_string(i));
    s.base_env = base;
    s.env.push_back("OWN=" + std::to_string(i));
    Completion c = WaitFor(ex, Submit(ex, s));
    EXPECT_EQ(c.exit_code, 0) << ReadFile(s.stderr_path);
    EXPECT_EQ(ReadFile(s.stdout_path), "from base|b|" + std::to_string(i) + "\n2\n");
  }
  EXPECT_EQ(base->size(), 2u);
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

// Names in `dir` (not recursive).
std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

TEST_F(LocalExecutorTest, SilentJobsCreateNoLogFilesAndShareTheirSpools) {
  fs::create_directory(dir_ + "/scratch");
  LocalExecutor ex;
  std::set<std::string> scratch;
  for (int i = 0; i < 20; ++i) {
    LaunchSpec s = Spec({"true"}, "quiet" + std::to_string(i));
    s.scratch_dir = dir_ + "/scratch";
    Completion c = WaitFor(ex, Submit(ex, s));
    EXPECT_EQ(c.kind, Completion::Exited);
    EXPECT_FALSE(fs::exists(s.stdout_path)) << i;
    EXPECT_FALSE(fs::exists(s.stderr_path)) << i;
    // The same two spool files, job after job.
    if (i == 0) scratch = Names(dir_ + "/scratch");
    EXPECT_EQ(Names(dir_ + "/scratch"), scratch) << i;
  }
  EXPECT_EQ(scratch.size(), 2u);
  EXPECT_EQ(ex.SpoolFiles(), 2u);
  // A job that writes gets its output under its log paths; the spools that
  // became logs are replaced by fresh ones, which start empty.
  LaunchSpec loud = Sh("echo out; echo err >&2", "loud");
  loud.scratch_dir = dir_ + "/scratch";
  EXPECT_EQ(WaitFor(ex, Submit(ex, loud)).exit_code, 0);
  EXPECT_EQ(ReadFile(loud.stdout_path), "out\n");
  EXPECT_EQ(ReadFile(loud.stderr_path), "err\n");
  LaunchSpec next = Sh("echo next", "next");
  next.scratch_dir = dir_ + "/scratch";
  EXPECT_EQ(WaitFor(ex, Submit(ex, next)).exit_code, 0);
  EXPECT_EQ(ReadFile(next.stdout_path), "next\n");
  EXPECT_FALSE(fs::exists(next.stderr_path));
}

TEST_F(LocalExecutorTest, SpoolsOfAJobThatLeftProcessesBehindAreNotReused) {
  fs::create_directory(dir_ + "/scratch");
  LocalExecutor ex;
  // The background child is still in the job's process group when the job
  // ends: it is killed, and the spools it holds are not handed on (it might
  // have written to them after the check that they are empty).
  LaunchSpec s = Sh("(sleep 0.5; echo late) & exit 0", "leaver");
  s.scratch_dir = dir_ + "/scratch";
  EXPECT_EQ(WaitFor(ex, Submit(ex, s)).exit_code, 0);
  EXPECT_EQ(ex.SpoolFiles(), 0u);
  EXPECT_TRUE(Names(dir_ + "/scratch").empty()) << "the spools were neither reused nor removed";
  LaunchSpec next = Sh("sleep 0.8; echo next", "next");
  next.scratch_dir = dir_ + "/scratch";
  EXPECT_EQ(WaitFor(ex, Submit(ex, next)).exit_code, 0);
  EXPECT_EQ(ReadFile(next.stdout_path), "next\n");
  EXPECT_FALSE(fs::exists(s.stdout_path));
}

TEST_F(LocalExecutorTest, TwoExecutorsOfOneProcessNeverShareASpool) {
  // Spool names are numbered for the whole process and made with O_EXCL.
  fs::create_directory(dir_ + "/scratch");
  LocalExecutor a, b;
  LaunchSpec sa = Sh("sleep 0.3; echo A", "a"), sb = Sh("echo B", "b");
  sa.scratch_dir = sb.scratch_dir = dir_ + "/scratch";
  uint64_t ia = Submit(a, sa), ib = Submit(b, sb);
  WaitFor(b, ib);
  WaitFor(a, ia);
  EXPECT_EQ(ReadFile(sa.stdout_path), "A\n");
  EXPECT_EQ(ReadFile(sb.stdout_path), "B\n");
}

TEST_F(LocalExecutorTest, SpoolFilesAreRemovedWithTheExecutor) {
  fs::create_directory(dir_ + "/scratch");
  {
    LocalExecutor ex;
    for (const char* name : {"a", "b"}) {
      LaunchSpec s = Sh("exit 0", name);
      s.scratch_dir = dir_ + "/scratch";
      WaitFor(ex, Submit(ex, s));
    }
    EXPECT_FALSE(Names(dir_ + "/scratch").empty());
  }
  EXPECT_TRUE(Names(dir_ + "/scratch").empty());
}

TEST_F(LocalExecutorTest, WithoutAScratchFolderSpoolsSitBesideTheLogs) {
  LocalExecutor ex;
  LaunchSpec s = Sh("echo hi", "beside");
  Completion c = WaitFor(ex, Submit(ex, s));
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(ReadFile(s.stdout_path), "hi\n");
}

TEST_F(LocalExecutorTest, OutputOfALongJobCanBeReadWhileItRuns) {
  LocalExecutor ex;
  LaunchSpec s = Sh("echo started; echo warming >&2; sleep 3; echo done", "long");
  LaunchSpec quiet = Sh("sleep 2", "quiet");
  uint64_t id = Submit(ex, s), qid = Submit(ex, quiet);
  // Before kPublishAfter its output is in the spool; after, under its log
  // path, while it still runs.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  std::map<uint64_t, Completion> done;
  while (std::chrono::steady_clock::now() < until)
    for (auto& c : ex.Poll(0.1)) done[c.job] = c;
  EXPECT_EQ(done.count(id), 0u) << "the long job ended too soon for this test";
  EXPECT_EQ(ReadFile(s.stdout_path), "started\n");
  EXPECT_EQ(ReadFile(s.stderr_path), "warming\n");
  Completion c = done.count(id) ? done[id] : WaitFor(ex, id);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(ReadFile(s.stdout_path), "started\ndone\n");
  // The quiet job ran past kPublishAfter too: its empty logs are gone.
  if (!done.count(qid)) WaitFor(ex, qid);
  EXPECT_FALSE(fs::exists(quiet.stdout_path));
  EXPECT_FALSE(fs::exists(quiet.stderr_path));
}

TEST_F(LocalExecutorTest, OutputIsCopiedWhenTheScratchFolderIsOnAnotherFilesystem) {
  char tmpl[] = "/dev/shm/flow_exec_scratch.XXXXXX";
  if (!mkdtemp(tmpl)) GTEST_SKIP() << "no /dev/shm to hold a scratch folder";
  std::string scratch = tmpl;
  struct stat a, b;
  if (stat(scratch.c_str(), &a) != 0 || stat(dir_.c_str(), &b) != 0 || a.st_dev == b.st_dev) {
    fs::remove_all(scratch);
    GTEST_SKIP() << "/dev/shm and " << dir_ << " are one filesystem: rename would work, nothing to test";
  }
  {
    LocalExecutor ex;
    for (int i = 0; i < 3; ++i) {
      LaunchSpec s = Sh("echo line " + std::to_string(i) + "; echo e" + std::to_string(i) + " >&2; sleep " +
                            (i == 1 ? "1.3" : "0"),
                        "job" + std::to_string(i));
      s.scratch_dir = scratch;
      Completion c = WaitFor(ex, Submit(ex, s));
      EXPECT_EQ(c.exit_code, 0) << i;
      // Each log holds its own job's output only: the spool was emptied
      // after the copy, before the next job wrote to it.
      EXPECT_EQ(ReadFile(s.stdout_path), "line " + std::to_string(i) + "\n") << i;
      EXPECT_EQ(ReadFile(s.stderr_path), "e" + std::to_string(i) + "\n") << i;
    }
    EXPECT_EQ(ex.SpoolFiles(), 2u);
  }
  EXPECT_TRUE(Names(scratch).empty());
  fs::remove_all(scratch);
}

TEST_F(LocalExecutorTest, AScratchFolderThatCannotHoldFilesFailsTheSubmitWithAMessage) {
  LocalExecutor ex;
  LaunchSpec s = Sh("echo never", "x");
  s.scratch_dir = dir_ + "/no-such-folder";
  auto r = ex.Submit(s);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_THAT(std::get<std::string>(r), HasSubstr("cannot create " + s.scratch_dir + "/spool."));
  EXPECT_THAT(std::get<std::string>(r), HasSubstr("No such file or directory"));
  EXPECT_EQ(ex.Running(), 0u);
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

TEST_F(LocalExecutorTest, ProgramInstalledInPathAfterAFailedLookupIsFound) {
  // flow looks programs up in its own PATH; one that was not there when a
  // job asked for it (an earlier stage installs it, or someone does between
  // two attempts) is found by the next job that asks.
  fs::create_directory(dir_ + "/bin");
  const char* old = getenv("PATH");
  std::string saved = old ? old : "";
  setenv("PATH", (dir_ + "/bin:" + saved).c_str(), 1);
  LocalExecutor ex(5000);
  LaunchSpec first = Spec({"flow-test-late-tool"}, "first");
  Completion c = WaitFor(ex, Submit(ex, first));
  EXPECT_EQ(c.kind, Completion::LaunchFailed);
  EXPECT_EQ(c.exit_code, 127);
  std::ofstream(dir_ + "/bin/flow-test-late-tool") << "#!/bin/sh\necho late tool\n";
  chmod((dir_ + "/bin/flow-test-late-tool").c_str(), 0755);
  LaunchSpec second = Spec({"flow-test-late-tool"}, "second");
  c = WaitFor(ex, Submit(ex, second));
  setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(c.kind, Completion::Exited) << c.error;
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(ReadFile(second.stdout_path), "late tool\n");
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
}  // namespace flow::rt
