// SPDX-License-Identifier: Apache-2.0
// The local executor (runtime/exec/local_executor): real processes, each in
// its own process group, with stdout and stderr in files (through spool
// files: silent jobs create none, long jobs' logs are readable while they
// run, another filesystem gets a copy); exit codes, a death by signal, a
// program that is not found, timeouts (also of a process that ignores
// SIGTERM), Cancel, leftover children, and the usage numbers from wait4.
// The two ways of starting a job are tested in local_executor_spawn_test.cpp.
#include "local_executor_fixture.h"

#include <sys/resource.h>

namespace flow::rt::executor_test {
namespace {

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
  // More than this test's own peak: the command's.
  struct rusage self = {};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &self), 0);
  ASSERT_LT(self.ru_maxrss * 1024, 40 * 1000 * 1000) << "this test's process is too large to tell";
  EXPECT_TRUE(big.usage.max_rss_exact);
  // Measured per job, not the largest child so far.
  Completion small = RunOne(Spec({"true"}));
  EXPECT_GT(small.usage.max_rss_bytes, 0);
  EXPECT_LT(small.usage.max_rss_bytes, 20 * 1000 * 1000);
  // `true` uses less than the memory it shared with this process until its
  // exec, which the kernel counts in its peak: an upper bound only.
  EXPECT_FALSE(small.usage.max_rss_exact);
  EXPECT_GE(small.usage.max_rss_bytes, self.ru_maxrss * 1024 / 2);
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
}  // namespace flow::rt::executor_test
