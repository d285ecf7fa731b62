// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of the run store's commands: `flow status`, `flow runs`,
// `flow logs` and `flow why`, after a run, while one runs, and after its
// flow died.
#include <sys/stat.h>

#include "run_fixture.h"

namespace flow::e2e {
namespace {

// flow logs reads only regular files: a log path that leads to a pipe (the
// store and .flow/logs are anyone's to change) used to block it for good.
TEST_F(RunE2E, LogsSkipsALogThatIsNoRegularFile) {
  fs::path file = Use("logs.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 0) << r.Describe();
  std::string run = std::to_string(CheckSummary(r, "succeeded", {.instances = 1, .ran = 1}).run);
  fs::path out = work_ / ".flow" / "logs" / run / "greet.1.out";
  fs::remove(out);
  ASSERT_EQ(mkfifo(out.c_str(), 0644), 0);
  Result logs = Flow({"logs", run, "greet"});
  EXPECT_EQ(logs.code, 0) << logs.Describe();
  EXPECT_THAT(logs.out, HasSubstr("greet.1.out is not a regular file: not shown")) << logs.Describe();
  EXPECT_THAT(logs.out, HasSubstr("hello-stderr-e2e")) << logs.Describe();
}

// A run whose flow was killed keeps its `running` row until the next run in
// the folder records it as interrupted; status and runs say what happened.
TEST_F(RunE2E, StatusAndRunsSayWhenARunningRunsFlowIsGone) {
  fs::path file = Use("long.flow");
  Process p = Start({"run", file.string()}, work_);
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(WaitFor(
      [&] {
        RunStore store(Db());
        return store.ok() && store.Scalar("SELECT count(*) FROM runs WHERE status = 'running'") == "1";
      },
      20));
  Result before = Flow({"status"});
  EXPECT_THAT(before.out, Not(HasSubstr("is not running on this machine"))) << before.Describe();
  p.Signal(SIGKILL);
  Result killed = p.Wait(10);  // reaped: its pid is free
  ASSERT_EQ(killed.signal, SIGKILL) << killed.Describe();
  Result status = Flow({"status"});
  EXPECT_EQ(status.code, 0) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("running, started")) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("is not running on this machine")) << status.Describe();
  Result runs = Flow({"runs"});
  EXPECT_THAT(runs.out, HasSubstr("running?")) << runs.Describe();
  EXPECT_THAT(runs.out, HasSubstr("the next `flow run` in this folder records it as interrupted")) << runs.Describe();
}

TEST_F(RunE2E, StatusRunsAndLogsReadTheRunStore) {
  fs::path file = Use("logs.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 1, .ran = 1});
  std::string run = std::to_string(s.run);

  // The attempt's logs, where docs/runtime.md puts them.
  EXPECT_THAT(ReadFile(work_ / ".flow" / "logs" / run / "greet.1.out"), HasSubstr("hello-stdout-e2e"));
  EXPECT_THAT(ReadFile(work_ / ".flow" / "logs" / run / "greet.1.err"), HasSubstr("hello-stderr-e2e"));

  Result logs = Flow({"logs", run, "greet"});
  EXPECT_EQ(logs.code, 0) << logs.Describe();
  EXPECT_THAT(logs.out, HasSubstr("hello-stdout-e2e")) << logs.Describe();
  Result out_only = Flow({"logs", "latest", "greet", "--stdout"});
  EXPECT_EQ(out_only.code, 0) << out_only.Describe();
  EXPECT_THAT(out_only.out, HasSubstr("hello-stdout-e2e")) << out_only.Describe();
  EXPECT_THAT(out_only.out, Not(HasSubstr("hello-stderr-e2e"))) << out_only.Describe();
  Result err_only = Flow({"logs", run, "greet", "--stderr"});
  EXPECT_EQ(err_only.code, 0) << err_only.Describe();
  EXPECT_THAT(err_only.out, HasSubstr("hello-stderr-e2e")) << err_only.Describe();
  Result both = Flow({"logs", run, "greet", "--both", "--attempt", "1"});
  EXPECT_EQ(both.code, 0) << both.Describe();
  EXPECT_THAT(both.out, AllOf(HasSubstr("hello-stdout-e2e"), HasSubstr("hello-stderr-e2e"))) << both.Describe();
  Result no_stage = Flow({"logs", run, "nosuchstage"});
  EXPECT_NE(no_stage.code, 0) << no_stage.Describe();

  Result status = Flow({"status"});
  EXPECT_EQ(status.code, 0) << status.Describe();
  EXPECT_THAT(status.out, AllOf(HasSubstr("greet"), HasSubstr("succeeded"))) << status.Describe();
  Result status_run = Flow({"status", run});
  EXPECT_EQ(status_run.code, 0) << status_run.Describe();
  EXPECT_THAT(status_run.out, AllOf(HasSubstr("greet"), HasSubstr("succeeded"))) << status_run.Describe();
  Result status_dir = Flow({"status", "--dir", work_.string()}, io_);
  EXPECT_EQ(status_dir.code, 0) << status_dir.Describe();
  EXPECT_THAT(status_dir.out, HasSubstr("greet")) << status_dir.Describe();

  // A second run (cached), then the history lists both, newest first.
  Result again = Flow({"run", file});
  ASSERT_EQ(again.code, 0) << again.Describe();
  Summary s2 = CheckSummary(again, "succeeded", {.instances = 1, .ran = 0, .cached = 1});
  Result runs = Flow({"runs"});
  EXPECT_EQ(runs.code, 0) << runs.Describe();
  EXPECT_THAT(runs.out, HasSubstr("succeeded")) << runs.Describe();
  auto lines = Lines(runs.out);
  auto line_of = [&](int id) {
    std::regex re("^\\s*(run\\s+)?#?" + std::to_string(id) + "([^0-9]|$)");
    for (size_t i = 0; i < lines.size(); ++i)
      if (std::regex_search(lines[i], re)) return static_cast<int>(i);
    return -1;
  };
  int newer = line_of(s2.run), older = line_of(s.run);
  EXPECT_GE(newer, 0) << runs.Describe();
  EXPECT_GE(older, 0) << runs.Describe();
  EXPECT_LT(newer, older) << "flow runs lists the newest run first\n" << runs.Describe();
  Result limited = Flow({"runs", "--limit", "1"});
  EXPECT_EQ(limited.code, 0) << limited.Describe();
  EXPECT_LT(Lines(limited.out).size(), lines.size()) << limited.Describe();
}

TEST_F(RunE2E, LogsOfARunningAttemptCanBeRead) {
  fs::path file = Use("live.flow");
  Process p = Start({"run", file.string()});
  ASSERT_TRUE(StillRunningOnceStarted(p)) << "the stage";
  // Its logs get their names after a second of running, and its row says
  // it is running within the store's commit interval.
  Result out;
  bool seen = WaitFor(
      [&] {
        out = Flow({"logs", "latest", "chatty", "--stdout"}, {}, 10);
        return out.out.find("early-out") != std::string::npos;
      },
      10);
  EXPECT_TRUE(seen) << out.Describe();
  Result err = Flow({"logs", "latest", "chatty", "--stderr"}, {}, 10);
  EXPECT_THAT(err.out, HasSubstr("early-err")) << err.Describe();
  Result both = Flow({"logs", "latest", "chatty"}, {}, 10);
  EXPECT_THAT(both.out, HasSubstr("attempt 1 (running)")) << both.Describe();
  // The store says it runs (it said pending until the attempt ended, when
  // nothing else was to be committed).
  Result status = Flow({"status"}, {}, 10);
  EXPECT_THAT(status.out, HasSubstr("1 instance: 1 running\n")) << status.Describe();
  p.Signal(SIGTERM);
  Result r = p.Wait(20);
  EXPECT_EQ(r.code, 130) << r.Describe();
  // Afterwards the attempt's row has the same logs.
  Result after = Flow({"logs", "latest", "chatty", "--stdout"});
  EXPECT_EQ(after.out, "early-out\n") << after.Describe();
}

// The instances that have not started have no row of their own (the run's
// plan lists them, one row for all): `flow status` shows them as pending
// while the run runs, and after its flow died the next run gives them rows
// as not run, as the instance that was running.
TEST_F(RunE2E, InstancesNotStartedArePendingAndNotRunOnceTheirFlowDied) {
  fs::path file = Use("pending.flow");
  Process p = Start({"run", file.string()});
  ASSERT_TRUE(StillRunningOnceStarted(p)) << "the first instance";
  // Its own row comes with the first commit group after it started.
  Result status;
  bool seen = WaitFor(
      [&] {
        status = Flow({"status"}, {}, 10);
        return status.out.find("3 instances: 2 pending, 1 running\n") != std::string::npos;
      },
      10);
  ASSERT_TRUE(seen) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("\nfirst     running           1")) << status.Describe();
  Result why = Flow({"why", "copy#2"}, {}, 10);
  EXPECT_THAT(why.out, HasSubstr("copy#2 has not finished in run 1 (it is pending)")) << why.Describe();
  Result why_first = Flow({"why", "first"}, {}, 10);
  EXPECT_THAT(why_first.out, HasSubstr("first has not finished in run 1 (it is running)")) << why_first.Describe();
  {
    RunStore store(Db());
    ASSERT_TRUE(store.ok()) << store.error();
    EXPECT_EQ(store.Scalar("SELECT count(*) FROM instances"), "1") << "one row: the instance that started";
  }
  int run = LatestRun(work_);
  Result logs = Flow({"logs", std::to_string(run), "copy"}, {}, 10);
  EXPECT_THAT(logs.out, HasSubstr("copy has not started in run 1 (pending): no logs yet")) << logs.Describe();
  p.Signal(SIGKILL);
  Result killed = p.Wait(10);
  EXPECT_EQ(killed.signal, SIGKILL) << killed.Describe();
  // Until the next run marks it, `flow why` says its flow is gone.
  Result why_gone = Flow({"why", "copy"}, {}, 10);
  EXPECT_THAT(why_gone.out, HasSubstr("copy did not finish in run 1 (it was pending, but its flow process"))
      << why_gone.Describe();
  Result logs_gone = Flow({"logs", std::to_string(run), "copy"}, {}, 10);
  EXPECT_THAT(logs_gone.out, HasSubstr("copy did not start in run 1: no logs (it was pending, but its flow process"))
      << logs_gone.Describe();
  // The next run in the folder finds it.
  fs::path other = Use("fanout.flow");
  Result next = Flow({"run", other.string()});
  EXPECT_THAT(next.err, HasSubstr("1 earlier run in this folder ended without finishing")) << next.Describe();
  Result after = Flow({"status", std::to_string(run)});
  EXPECT_EQ(after.code, 0) << after.Describe();
  EXPECT_THAT(after.out, HasSubstr("3 instances: 3 not_run")) << after.Describe();
  RunStore store(Db());
  ASSERT_TRUE(store.ok()) << store.error();
  auto statuses = store.InstanceStatuses(run);
  EXPECT_EQ(statuses.size(), 3u) << "each instance of the plan has its row now";
  for (auto& [name, st] : statuses) EXPECT_EQ(st, "not_run") << name;
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM instances WHERE run_id = ? AND reason = 'the run was interrupted'",
                         {std::to_string(run)}),
            "3");
}

}  // namespace
}  // namespace flow::e2e
