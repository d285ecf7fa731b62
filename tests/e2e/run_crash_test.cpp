// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of `flow run`'s crash safety: `kill -9` at random
// moments, then `--resume`; outputs committed without their records reused
// (and only those); a commit cut short between its renames; value outputs
// that are no regular files.
#include <sqlite3.h>

#include "run_fixture.h"

namespace flow::e2e {
namespace {

// ---------------------------------------------------------------- crash safety

/// "begin I\nend I\n" for piece[I], plus "refined I\n" for refine[I].
std::string PieceContent(int i, bool refined) {
  std::string s = "begin " + std::to_string(i) + "\nend " + std::to_string(i) + "\n";
  if (refined) s += "refined " + std::to_string(i) + "\n";
  return s;
}

TEST_F(RunE2E, KillDashNineThenResumeFinishesWithCompleteOutputs) {
  std::mt19937 rng(20241128);
  // Iteration i kills somewhere in [200 i, 200 i + 200) ms after the run
  // shows up: early (nothing done yet) to late (gather running or done).
  std::uniform_int_distribution<int> delay_ms(0, 199);
  std::string expected_all;
  for (int j = 0; j < 10; ++j) expected_all += PieceContent(j, true);
  const std::regex complete(R"(^begin (\d+)\nend \1\n(refined \1\n)?$)");

  int interrupted = 0;
  for (int iter = 0; iter < 5; ++iter) {
    SCOPED_TRACE("iteration " + std::to_string(iter));
    fs::path dir = root_ / ("crash" + std::to_string(iter));
    fs::path file = Use("crash.flow", dir);
    Process p = Start({"run", file.string(), "--cpus", "2"}, dir);
    ASSERT_TRUE(p.started());
    // Wait until the run is recorded as running, then kill it at a random moment.
    bool running = WaitFor(
        [&] {
          if (p.Exited()) return true;
          RunStore store(Db(dir));
          return store.ok() && store.Scalar("SELECT count(*) FROM runs WHERE status = 'running'") == "1";
        },
        20);
    ASSERT_TRUE(running) << "the run never showed up as running in the store";
    int delay = 200 * iter + delay_ms(rng);
    SleepMs(delay);
    bool finished_first = p.Exited();
    p.Signal(SIGKILL);
    Result killed = p.Wait(10);
    if (finished_first) {
      std::cerr << "crash iteration " << iter << ": flow finished before the kill after " << delay << " ms\n";
      continue;
    }
    ++interrupted;
    ASSERT_EQ(killed.signal, SIGKILL) << killed.Describe();
    // Commands the killed flow had started finish on their own (0.1 s steps).
    SleepMs(300);

    // What was committed (renamed to its final name) before the kill: its
    // success may not be recorded yet, but it is done.
    std::set<std::string> committed_at_kill;
    if (fs::exists(dir / ".flow" / "out"))
      for (auto it = fs::recursive_directory_iterator(dir / ".flow" / "out"); it != fs::recursive_directory_iterator();
           ++it)
        if (it->is_regular_file() && it->path().string().find(".tmp") == std::string::npos)
          committed_at_kill.insert(fs::relative(it->path(), dir).string());

    int killed_run;
    std::set<std::string> succeeded_before;
    {
      RunStore store(Db(dir));
      ASSERT_TRUE(store.ok()) << store.error();
      killed_run = std::stoi(store.Scalar("SELECT max(id) FROM runs"));
      for (auto& row : store.Query("SELECT name FROM instances WHERE run_id = ? AND status = 'succeeded'",
                                   {std::to_string(killed_run)}))
        succeeded_before.insert(row[0].value_or(""));
    }

    std::cerr << "crash iteration " << iter << ": killed after " << delay << " ms with " << succeeded_before.size()
              << " of 21 instances succeeded\n";
    Result resumed = Flow({"run", file.string(), "--resume", "--cpus", "2"}, dir);
    ASSERT_EQ(resumed.code, 0) << "killed after " << delay << " ms\n" << resumed.Describe();
    Summary s = CheckSummary(resumed, "succeeded", {.instances = 21, .failed = 0, .not_run = 0});
    EXPECT_GE(s.cached, static_cast<int>(succeeded_before.size())) << s.line;
    EXPECT_EQ(ReadFile(dir / "all.txt"), expected_all);

    RunStore store(Db(dir));
    ASSERT_TRUE(store.ok()) << store.error();
    int resumed_run = LatestRun(dir);
    EXPECT_EQ(store.Scalar("SELECT status FROM runs WHERE id = ?", {std::to_string(resumed_run)}), "succeeded");
    if (resumed_run != killed_run) {
      EXPECT_EQ(store.Scalar("SELECT status FROM runs WHERE id = ?", {std::to_string(killed_run)}), "interrupted")
          << "the next run finds a run whose flow died";
      EXPECT_EQ(store.Scalar("SELECT resumed_from FROM runs WHERE id = ?", {std::to_string(resumed_run)}),
                std::to_string(killed_run));
    }
    auto statuses = store.InstanceStatuses(resumed_run);
    EXPECT_EQ(statuses.size(), 21u);
    for (auto& [name, status] : statuses) EXPECT_THAT(status, AnyOf("succeeded", "cached")) << name;
    for (const auto& name : succeeded_before)
      EXPECT_EQ(statuses[name], "cached") << name << " had succeeded before the kill: --resume must reuse it";
    // Nor does it run again what had committed its output, recorded or not.
    for (auto& row : store.Query("SELECT name, outputs FROM instances WHERE run_id = ? AND status = 'succeeded'",
                                 {std::to_string(resumed_run)})) {
      std::string path = JsonStringField(row[1].value_or(""), "out");
      EXPECT_FALSE(!path.empty() && committed_at_kill.count(path))
          << row[0].value_or("") << " ran again, though its output " << path << " was committed before the kill";
    }

    // Each instance's output, where the store says it is, holds exactly
    // what its command writes in full.
    const std::regex index_re(R"(^(piece|refine)\[(\d+)\]$)");
    for (auto& row : store.Query("SELECT name, outputs FROM instances WHERE run_id = ?", {std::to_string(resumed_run)})) {
      std::string name = row[0].value_or("");
      std::smatch m;
      if (!std::regex_match(name, m, index_re)) continue;
      std::string path = JsonStringField(row[1].value_or(""), "out");
      ASSERT_FALSE(path.empty()) << name << ": no path for output 'out' in instances.outputs: " << row[1].value_or("<null>");
      fs::path full = fs::path(path).is_absolute() ? fs::path(path) : dir / path;
      EXPECT_EQ(ReadFile(full), PieceContent(std::stoi(m[2]), m[1] == "refine")) << name << " at " << full;
    }
    // Nothing under .flow/out outside an attempt's temporary folder is half written.
    int committed = 0;
    fs::path out = dir / ".flow" / "out";
    for (auto it = fs::recursive_directory_iterator(out); it != fs::recursive_directory_iterator(); ++it) {
      if (!it->is_regular_file()) continue;
      std::string rel = fs::relative(it->path(), out).string();
      if (rel.find(".tmp") != std::string::npos) continue;
      ++committed;
      std::string content = ReadFile(it->path());
      EXPECT_TRUE(std::regex_match(content, complete)) << rel << " is committed but holds '" << content << "'";
    }
    EXPECT_GE(committed, 20) << "expected the 20 file outputs committed under .flow/out/";
  }
  EXPECT_GE(interrupted, 3) << "most kills should land while the run is going; the delays need adjusting";
}

// A run stopped between committing an instance's outputs (renamed to their
// final names only after the attempt succeeded and they checked out) and
// recording its success (up to a commit group later) left them in place:
// the next run reuses them, once the store shows a run cut short. Here the
// lost records are made by deleting them.
TEST_F(RunE2E, OutputsCommittedButNotRecordedAreReusedAfterARunWasCutShort) {
  fs::path file = work_ / "rec.flow";
  WriteFile(file,
            "record M { a: float, b: int }\n"
            "stage f(i: int) -> (out: file, n: int, d: dir, m: M) {\n"
            "  run \"echo f{i} >> ran.log; echo {i} > {out}; echo {i} > {n}; mkdir {d}; echo x > {d}/x; "
            "echo '{{\\\"a\\\": 0.5, \\\"b\\\": {i}}}' > {m}\"\n"
            "}\n"
            "stage side(i: int) {\n  run \"echo side >> ran.log\"\n}\n"
            "stage use(n: int, b: int) -> (o: file) {\n  run \"echo use >> ran.log; echo {n} {b} > {o}\"\n}\n"
            "pipeline main {\n"
            "  for i in range(3) {\n    let r = f(i: i)\n  }\n"
            "  side(i: 1)\n"
            "  use(n: r[2].n, b: r[2].m.b)\n"
            "}\n");
  Result first = Flow({"run", file.string()});
  ASSERT_EQ(first.code, 0) << first.Describe();
  CheckSummary(first, "succeeded", {.instances = 5, .ran = 5});
  auto lose_records = [&](const std::string& status) {
    AlterStore("DELETE FROM cache; DELETE FROM instances; DELETE FROM attempts; UPDATE runs SET status = '" + status +
               "';");
  };
  lose_records("interrupted");
  WriteFile(work_ / "ran.log", "");
  Result second = Flow({"run", file.string()});
  ASSERT_EQ(second.code, 0) << second.Describe();
  // Only the stage without outputs runs again: nothing shows that it ran.
  CheckSummary(second, "succeeded", {.instances = 5, .ran = 1, .cached = 4});
  EXPECT_EQ(ReadFile(work_ / "ran.log"), "side\n");
  int run = LatestRun(work_);
  {
    RunStore store(Db());
    ASSERT_TRUE(store.ok()) << store.error();
    EXPECT_EQ(store.Scalar("SELECT count(*) FROM instances WHERE run_id = ? AND status = 'cached' AND reason LIKE "
                           "'recovered: %'",
                           {std::to_string(run)}),
              "4");
    std::string outputs = store.Scalar("SELECT outputs FROM instances WHERE run_id = ? AND name = 'f[1]'",
                                       {std::to_string(run)});
    EXPECT_THAT(outputs, HasSubstr("\"n\":1")) << outputs;
    EXPECT_THAT(outputs, HasSubstr("\"m\":{\"a\":0.5,\"b\":1}")) << outputs;
    std::string out = JsonStringField(outputs, "out");
    EXPECT_EQ(ReadFile(work_ / out), "1\n") << out;
    EXPECT_EQ(ReadFile(work_ / (JsonStringField(outputs, "d") + "/x")), "x\n");
    EXPECT_EQ(store.Scalar("SELECT count(*) FROM cache"), "5") << "the 4 recovered results are recorded (and side's)";
  }
  Result why = Flow({"why", "f[0]"});
  EXPECT_THAT(why.out, HasSubstr("f[0] was reused in run 2 (recovered: its outputs were committed by a run stopped "
                                 "before it recorded them)"))
      << why.Describe();
  // Recorded now: the next run reuses them as any cached result (and the
  // stage without outputs, recorded by its run).
  WriteFile(work_ / "ran.log", "");
  Result third = Flow({"run", file.string()});
  CheckSummary(third, "succeeded", {.instances = 5, .ran = 0, .cached = 5});
  EXPECT_EQ(ReadFile(work_ / "ran.log"), "");
  // A store where no run was cut short (moved aside and started anew, its
  // cache emptied) reuses nothing it did not record.
  lose_records("succeeded");
  WriteFile(work_ / "ran.log", "");
  Result fourth = Flow({"run", file.string()});
  CheckSummary(fourth, "succeeded", {.instances = 5, .ran = 5});
  EXPECT_THAT(ReadFile(work_ / "ran.log"), HasSubstr("use\n"));
}

// Committed outside any run that was cut short (here: before it), outputs
// without records stay unused: their records were removed on purpose.
TEST_F(RunE2E, OutputsCommittedOutsideARunCutShortAreNotRecovered) {
  fs::path file = work_ / "gen.flow";
  WriteFile(file, "stage gen(i: int) -> (a: file) {\n  run \"echo {i} >> ran.log; echo {i} > {a}\"\n}\n"
                  "pipeline main {\n  for i in range(3) {\n    gen(i: i)\n  }\n}\n");
  Result first = Flow({"run", file.string()});
  ASSERT_EQ(first.code, 0) << first.Describe();
  SleepMs(100);
  // A later run, of another pipeline, that was cut short; run 1's records gone.
  AlterStore("DELETE FROM cache; DELETE FROM instances; DELETE FROM attempts; "
             "INSERT INTO runs(status, started_at) VALUES('interrupted', (julianday('now') - 2440587.5) * 86400.0);");
  WriteFile(work_ / "ran.log", "");
  Result second = Flow({"run", file.string()});
  ASSERT_EQ(second.code, 0) << second.Describe();
  CheckSummary(second, "succeeded", {.instances = 3, .ran = 3});
  EXPECT_EQ(ReadFile(work_ / "ran.log").size(), 6u) << ReadFile(work_ / "ran.log");
}

// Killed between the renames of a commit of two outputs (a preload library
// kills flow as it renames the second), over the outputs of an earlier
// commit of the same key: no run may take the new first output and the old
// second one for one result.
TEST_F(RunE2E, ACommitCutShortBetweenItsRenamesIsRunAgainNeverMixed) {
  fs::path file = work_ / "two.flow";
  WriteFile(file, "stage two(i: int) -> (a: file, b: file) {\n"
                  "  run \"n=$(cat gen.txt); echo $n > {a}; echo $n > {b}\"\n}\n"
                  "pipeline main {\n  two(i: 1)\n}\n");
  WriteFile(work_ / "gen.txt", "1\n");
  Result first = Flow({"run", file.string()});
  ASSERT_EQ(first.code, 0) << first.Describe();
  fs::path out = work_ / ".flow" / "out" / "two";
  auto final_of = [&](const std::string& ext) {
    for (const auto& e : fs::directory_iterator(out))
      if (e.path().extension() == ext) return e.path();
    return fs::path();
  };
  fs::path a = final_of(".a"), b = final_of(".b");
  ASSERT_FALSE(a.empty() || b.empty());
  fs::remove(a);  // one output lost: the result is run again
  WriteFile(work_ / "gen.txt", "2\n");
  std::vector<std::string> env = kFastEnv;
  env.push_back(std::string("LD_PRELOAD=") + KILL_AT_RENAME_SO);
  env.push_back("FLOW_TEST_KILL_AT_RENAME=.b");
  Result killed = Flow({"run", file.string()}, {}, 60, env);
  ASSERT_EQ(killed.signal, SIGKILL) << killed.Describe();
  EXPECT_EQ(ReadFile(a), "2\n") << "the first output was committed";
  EXPECT_FALSE(fs::exists(b)) << "the second output of the earlier commit is still there, beside the new first";
  Result next = Flow({"run", file.string()});
  ASSERT_EQ(next.code, 0) << next.Describe();
  CheckSummary(next, "succeeded", {.instances = 1, .ran = 1});
  EXPECT_EQ(ReadFile(a), "2\n");
  EXPECT_EQ(ReadFile(b), "2\n");
}

// A value output that is a named pipe fails the attempt, and flow does not
// wait for a writer.
TEST_F(RunE2E, AValueOutputThatIsANamedPipeFailsTheAttempt) {
  fs::path file = work_ / "fifo.flow";
  WriteFile(file, "stage f() -> (v: int) {\n  run \"mkfifo {v}\"\n}\npipeline main {\n  f()\n}\n");
  Result r = Flow({"run", file.string()}, {}, 20);
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("output 'v': expected int (as JSON in a file), found a named pipe")) << r.Describe();
}

}  // namespace
}  // namespace flow::e2e
