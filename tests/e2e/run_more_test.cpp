// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of `flow run`, continued: injection, caching, exit
// codes, cancellation, resume, records, folders, dry runs, plan files,
// environment and process groups. (The store's commands:
// run_store_test.cpp; crash safety: run_crash_test.cpp.)
#include <sys/mount.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "run_fixture.h"

namespace flow::e2e {
namespace {

// ---------------------------------------------------------------- injection

class InjectionE2E : public RunE2E, public ::testing::WithParamInterface<std::string> {};

TEST_P(InjectionE2E, ParamValueReachesTheCommandAsOneLiteralWord) {
  const std::string value = GetParam();
  fs::path file = Use("inject.flow");
  // count.sh OUT ARGS...: writes the number of ARGS, then each on its own line.
  WriteFile(work_ / "count.sh",
            "out=\"$1\"; shift\n"
            "printf '%s\\n' \"$#\" > \"$out\"\n"
            "for a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$out\"; done\n");
  Result r = Flow({"run", file, "--param", "v=" + value});
  ASSERT_EQ(r.code, 0) << r.Describe();
  CheckSummary(r, "succeeded", {.instances = 3, .ran = 3, .failed = 0});
  EXPECT_EQ(ReadFile(work_ / "direct.txt"), "1\n" + value + "\n") << "started without a shell";
  EXPECT_EQ(ReadFile(work_ / "shelled.txt"), "1\n" + value + "\n") << "run by /bin/sh -c";
  EXPECT_EQ(ReadFile(work_ / "viaenv.txt"), value + "\n") << "an env value is passed as text";
  EXPECT_FALSE(fs::exists(work_ / "pwned")) << "the param value ran as shell code";
  EXPECT_FALSE(fs::exists(io_ / "pwned"));
  EXPECT_FALSE(fs::exists(root_ / "pwned"));
}

std::string InjectionName(const ::testing::TestParamInfo<std::string>& info) {
  static const char* const kNames[] = {"Semicolon", "DollarParen", "Quotes", "Backticks", "GlobVarsBraces",
                                       "BackslashNewlinePipe"};
  return kNames[info.index];
}

INSTANTIATE_TEST_SUITE_P(Values, InjectionE2E,
                         ::testing::Values("x; touch pwned", "$(touch pwned)", "a b'c\"d", "`touch pwned`",
                                           "* ${HOME} {v} && touch pwned", "--x\\\n|touch pwned"),
                         InjectionName);

// ---------------------------------------------------------------- caching

TEST_F(RunE2E, CachingReusesUnchangedInstancesAndRerunsWhatAChangedFileFeeds) {
  fs::path file = Use("cache.flow");
  WriteFile(work_ / "a.txt", "alpha\n");
  WriteFile(work_ / "b.txt", "beta\n");
  auto ran_lines = [&] { return Lines(ReadFile(work_ / "ran.log")); };

  Result r1 = Flow({"run", file});
  ASSERT_EQ(r1.code, 0) << r1.Describe();
  CheckSummary(r1, "succeeded", {.instances = 4, .ran = 4, .cached = 0, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "combined.txt"), "ALPHA\nBETA\n");
  ASSERT_EQ(ran_lines().size(), 4u);

  // Nothing changed: everything is reused, nothing runs.
  Result r2 = Flow({"run", file});
  ASSERT_EQ(r2.code, 0) << r2.Describe();
  Summary s2 = CheckSummary(r2, "succeeded", {.instances = 4, .ran = 0, .cached = 4, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ran_lines().size(), 4u) << "a cached instance ran its command";
  {
    RunStore store(Db());
    EXPECT_EQ(store.InstanceStatuses(s2.run), (std::map<std::string, std::string>{
                                                  {"upper", "cached"}, {"upper#2", "cached"}, {"combine", "cached"}, {"shout", "cached"}}));
    EXPECT_EQ(store.Scalar("SELECT count(*) FROM attempts WHERE run_id = ?", {std::to_string(s2.run)}), "0");
  }

  // a.txt changes; b.txt gets a new modification time but the same content.
  WriteFile(work_ / "a.txt", "alpha, changed\n");
  WriteFile(work_ / "b.txt", "beta\n");
  fs::last_write_time(work_ / "b.txt", fs::last_write_time(work_ / "b.txt") + std::chrono::seconds(5));
  Result r3 = Flow({"run", file});
  ASSERT_EQ(r3.code, 0) << r3.Describe();
  Summary s3 = CheckSummary(r3, "succeeded", {.instances = 4, .ran = 2, .cached = 2, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "combined.txt"), "ALPHA, CHANGED\nBETA\n");
  {
    RunStore store(Db());
    EXPECT_EQ(store.InstanceStatuses(s3.run), (std::map<std::string, std::string>{{"upper", "succeeded"},
                                                                                   {"upper#2", "cached"},
                                                                                   {"combine", "succeeded"},
                                                                                   {"shout", "cached"}}));
  }
  auto lines = ran_lines();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_THAT(std::vector<std::string>(lines.begin() + 4, lines.end()),
              UnorderedElementsAre(ContainsRegex("^upper .*a\\.txt$"), "combine"));

  // flow why names the changed file.
  Result why = Flow({"why", "upper"});
  EXPECT_EQ(why.code, 0) << why.Describe();
  EXPECT_THAT(why.out + why.err, HasSubstr("a.txt")) << why.Describe();
  Result why_run = Flow({"why", std::to_string(s3.run), "upper"});
  EXPECT_EQ(why_run.code, 0) << why_run.Describe();
  EXPECT_THAT(why_run.out + why_run.err, HasSubstr("a.txt")) << why_run.Describe();
  Result why_combine = Flow({"why", "combine"});
  EXPECT_EQ(why_combine.code, 0) << why_combine.Describe();
  EXPECT_THAT(why_combine.out + why_combine.err, HasSubstr("combine")) << why_combine.Describe();

  // Back to the first content: run 1's results are reused, whatever run made them.
  WriteFile(work_ / "a.txt", "alpha\n");
  Result r4 = Flow({"run", file});
  ASSERT_EQ(r4.code, 0) << r4.Describe();
  CheckSummary(r4, "succeeded", {.instances = 4, .ran = 0, .cached = 4, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ran_lines().size(), 6u);
}

// The text of cache keys is in every run store: a change to it would make
// every instance of every existing store run again. These keys and texts
// were written by flow before the key's text was built through a buffered
// stream (commit fb1dfca); they must stay as they are.
TEST_F(RunE2E, CacheKeyTextIsTheSameAsBefore) {
  fs::path file = Use("key_text.flow");
  fs::create_directories(work_ / "f");
  for (int i = 1; i <= 18; ++i) WriteFile(work_ / "f" / (i < 10 ? "0" + std::to_string(i) : std::to_string(i)),
                                          "file " + std::string(i < 10 ? "0" : "") + std::to_string(i) + "\n");
  WriteFile(work_ / "empty", "");
  Result r = Flow({"run", file, "--param", R"(opts={"name":"n","rate":0.25,"b":[true,null]})"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  const std::map<std::string, std::pair<std::string, std::string>> expected = {
      {"again", {"a4ccb6862217db6c3ecaba302cb7a9e0",
                  R"key({"command":"cp {src} {out}","definition":"e54d0bba70cbd4d5","files":{".flow/out/pick/pick.*.out":"69b110d4e46d4e4a"},"inputs":{"src":".flow/out/pick/pick.*.out"},"run":1,"stage":"again"})key"}},
      {"gather", {"28255c1d95916609f5d25de3553d67ad",
                  R"key({"command":"cat {files} > {out}","definition":"ec4cdc3fc41e24b8","files":{"empty":"ef46db3751d8e999","f/01":"3a43731706d9e867","f/02":"b6edf0a485530e93","f/03":"509b9c433f6a4f8b","f/04":"6279a67f659cfc25","f/05":"2d36298f18e78abf","f/06":"6181966855bcd6e3","f/07":"84120bc8de6ea789","f/08":"d6ddc0ef8ef19df5","f/09":"e9b98836223d6104","f/10":"80714a78f3f40897","f/11":"777e832fb8b937b5","f/12":"a509827b2b7c37ae","f/13":"5e8083614e96bbea","f/14":"b9c0cb478de53e2e","f/15":"19c008bf95f32d05","f/16":"8fbdbf756e7cea3f","f/17":"383ac3257f46233c","f/18":"567db09daa86f5fa"},"inputs":{"files":["f/01","f/02","f/03","f/04","f/05","f/06","f/07","f/08","f/09","f/10","f/11","f/12","f/13","f/14","f/15","f/16","f/17","f/18","f/02","empty"],"more":["f/01","empty"],"tag":"t\"ab\\le\t\n"},"stage":"gather"})key"}},
      {"pick", {"fa55a03825b2b4398166a51c3b0011ec",
                  R"key({"command":"cp {src} {out}","definition":"5345dbf476347786","files":{".flow/out/gather/gather.*.out":"69b110d4e46d4e4a","f":"5f783394d74389a2"},"inputs":{"folder":"f","note":"a \"quoted\" note","opts":{"b":[true,null],"name":"n","rate":0.25},"src":".flow/out/gather/gather.*.out","xs":[3,-1,9000000000]},"stage":"pick"})key"}},
  };
  RunStore store(Db());
  for (const auto& [name, key_and_parts] : expected) {
    SCOPED_TRACE(name);
    EXPECT_EQ(store.Scalar("SELECT key_parts FROM instances WHERE name = ?", {name}), key_and_parts.second);
    EXPECT_EQ(store.Scalar("SELECT cache_key FROM instances WHERE name = ?", {name}), key_and_parts.first);
  }
}

TEST_F(RunE2E, CommittedOutputDeletedFromDiskIsNotReused) {
  fs::path file = Use("cache.flow");
  WriteFile(work_ / "a.txt", "alpha\n");
  WriteFile(work_ / "b.txt", "beta\n");
  Result r1 = Flow({"run", file});
  ASSERT_EQ(r1.code, 0) << r1.Describe();
  Summary s1 = CheckSummary(r1, "succeeded", {.instances = 4, .ran = 4});
  std::string outputs;
  {
    RunStore store(Db());
    outputs = store.Scalar("SELECT outputs FROM instances WHERE run_id = ? AND name = 'upper#2'", {std::to_string(s1.run)});
  }
  std::string path = JsonStringField(outputs, "out");  // a file output's value is its path
  ASSERT_FALSE(path.empty()) << "instances.outputs of upper#2 names no path for 'out': " << outputs;
  fs::path full = fs::path(path).is_absolute() ? fs::path(path) : work_ / path;
  ASSERT_TRUE(fs::exists(full)) << full;
  fs::remove(full);

  Result r2 = Flow({"run", file});
  ASSERT_EQ(r2.code, 0) << r2.Describe();
  // upper#2 runs again; its new output has the same content, so the keys of
  // combine and shout (which hash contents) are unchanged and they are reused.
  Summary s2 = CheckSummary(r2, "succeeded", {.instances = 4, .ran = 1, .cached = 3});
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s2.run), (std::map<std::string, std::string>{
                                                {"upper", "cached"}, {"upper#2", "succeeded"}, {"combine", "cached"}, {"shout", "cached"}}));
  EXPECT_EQ(ReadFile(full), "BETA\n");
}

TEST_F(RunE2E, ChangedCommandRerunsOnlyThatStageWhenItsOutputsComeOutTheSame) {
  fs::path file = Use("cache.flow");
  WriteFile(work_ / "a.txt", "alpha\n");
  WriteFile(work_ / "b.txt", "beta\n");
  Result r1 = Flow({"run", file});
  ASSERT_EQ(r1.code, 0) << r1.Describe();
  std::string text = ReadFile(file);
  size_t at = text.find("echo combine >> ran.log\"");
  ASSERT_NE(at, std::string::npos);
  text.insert(at + std::string("echo combine >> ran.log").size(), "; true");
  WriteFile(file, text);
  Result r2 = Flow({"run", file});
  ASSERT_EQ(r2.code, 0) << r2.Describe();
  Summary s2 = CheckSummary(r2, "succeeded", {.instances = 4, .ran = 1, .cached = 3});
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s2.run), (std::map<std::string, std::string>{
                                                {"upper", "cached"}, {"upper#2", "cached"}, {"combine", "succeeded"}, {"shout", "cached"}}));
  Result why = Flow({"why", "combine"});
  EXPECT_EQ(why.code, 0) << why.Describe();
  EXPECT_THAT(why.out + why.err, ContainsRegex("command|definition|stage")) << "flow why says the stage changed\n" << why.Describe();
}

TEST_F(RunE2E, StageWithCacheFalseRunsEveryTime) {
  fs::path file = Use("cache_false.flow");
  Result r1 = Flow({"run", file});
  ASSERT_EQ(r1.code, 0) << r1.Describe();
  CheckSummary(r1, "succeeded", {.instances = 2, .ran = 2, .cached = 0});
  Result r2 = Flow({"run", file});
  ASSERT_EQ(r2.code, 0) << r2.Describe();
  Summary s2 = CheckSummary(r2, "succeeded", {.instances = 2, .ran = 1, .cached = 1});
  auto lines = Lines(ReadFile(work_ / "ran.log"));
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "stamp"), 2);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "kept"), 1);
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s2.run), (std::map<std::string, std::string>{{"stamp", "succeeded"}, {"kept", "cached"}}));
}

// ---------------------------------------------------------------- exit codes

TEST_F(RunE2E, UsageErrorsExitTwoAndRunNothing) {
  fs::path file = Use("fanout.flow");
  std::vector<std::vector<std::string>> cases = {
      {"run"},
      {"run", file.string(), "--no-such-option"},
      {"run", file.string(), "--cpus"},
      {"run", file.string(), "--cpus", "many"},
      {"run", file.string(), "--memory", "lots"},
      {"run", file.string(), "--param", "nosuchparam=1"},
      {"run", file.string(), "--param", "n=notanint"},
      {"run", (work_ / "does-not-exist.flow").string()},
      {"run", file.string(), "--entry", "nosuchpipeline"},
  };
  for (const auto& args : cases) {
    Result r = Flow(args);
    EXPECT_EQ(r.code, 2) << r.Describe();
    EXPECT_FALSE(r.err.empty()) << "a usage error says what is wrong\n" << r.Describe();
  }
  EXPECT_FALSE(fs::exists(work_ / "total.txt"));
}

TEST_F(RunE2E, SlurmExecutorIsRefusedWithAMessage) {
  fs::path file = Use("fanout.flow");
  Result r = Flow({"run", file, "--executor", "slurm"});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("slurm")) << r.Describe();
  EXPECT_FALSE(fs::exists(work_ / "total.txt"));
}

TEST_F(RunE2E, CompileErrorExitsTwoWithTheDiagnostic) {
  fs::path file = Use("compile_error.flow");
  Result r = Flow({"run", file});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("compile_error.flow:8:3: error:")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("nosuchstage")) << r.Describe();
}

TEST_F(RunE2E, MissingRequiredParamExitsTwo) {
  fs::path file = Use("inject.flow");
  Result r = Flow({"run", file});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, ContainsRegex("'v'|\\bv\\b")) << "the error names the param\n" << r.Describe();
  EXPECT_FALSE(fs::exists(work_ / "viaenv.txt"));
}

TEST_F(RunE2E, FailFastStartsNothingNewAfterAFailure) {
  fs::path file = Use("failfast.flow");
  Result r = Flow({"run", file, "--cpus", "1"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 5, .ran = 0, .cached = 0, .skipped = 0, .failed = 1, .not_run = 4});
  // A plain name needs no shell quotes: accept (flow logs 1 'bad') and (flow logs 1 bad).
  EXPECT_THAT(s.first_failure, ContainsRegex("^bad: exit code 1 \\(flow logs " + std::to_string(s.run) + " ('bad'|bad)\\)$"))
      << s.line;
  EXPECT_EQ(ReadFile(work_ / "ran.log"), "bad\n") << "fail fast: nothing starts after the failure";
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s.run), (std::map<std::string, std::string>{{"bad", "failed"},
                                                                                {"after", "not_run"},
                                                                                {"indep[0]", "not_run"},
                                                                                {"indep[1]", "not_run"},
                                                                                {"indep[2]", "not_run"}}));
  EXPECT_EQ(store.Scalar("SELECT status FROM runs WHERE id = ?", {std::to_string(s.run)}), "failed");
  EXPECT_THAT(store.Scalar("SELECT summary FROM runs WHERE id = ?", {std::to_string(s.run)}), Not(IsEmpty()));
}

TEST_F(RunE2E, KeepGoingRunsEverythingThatDoesNotDependOnTheFailure) {
  fs::path file = Use("failfast.flow");
  Result r = Flow({"run", file, "--cpus", "1", "--keep-going"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 5, .ran = 3, .cached = 0, .skipped = 0, .failed = 1, .not_run = 1});
  EXPECT_THAT(s.first_failure, HasSubstr("bad: exit code 1")) << s.line;
  auto lines = Lines(ReadFile(work_ / "ran.log"));
  EXPECT_THAT(lines, UnorderedElementsAre("bad", "indep0", "indep1", "indep2"));
  RunStore store(Db());
  auto statuses = store.InstanceStatuses(s.run);
  EXPECT_EQ(statuses["after"], "not_run");
  EXPECT_EQ(statuses["indep[1]"], "succeeded");
}

TEST_F(RunE2E, ReaderOfAMapWithAFailedCopyDoesNotRun) {
  fs::path file = Use("map_copy_fails.flow");
  Result r = Flow({"run", file, "--cpus", "1", "--keep-going"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 6, .ran = 4, .cached = 0, .skipped = 0, .failed = 1, .not_run = 1});
  EXPECT_THAT(s.first_failure, HasSubstr("work[1]: exit code 1")) << s.line;
  RunStore store(Db());
  auto statuses = store.InstanceStatuses(s.run);
  EXPECT_EQ(statuses["work[0]"], "succeeded");
  EXPECT_EQ(statuses["work[2]"], "succeeded");
  EXPECT_EQ(statuses["other"], "succeeded");
  EXPECT_EQ(statuses["gather"], "not_run");
  EXPECT_EQ(store.Scalar("SELECT reason FROM instances WHERE name = 'gather'"), "for@17: a copy did not succeed");
}

TEST_F(RunE2E, ConditionThatCannotBeEvaluatedFailsTheRun) {
  fs::path file = Use("cond_error.flow");
  Result r = Flow({"run", file});
  EXPECT_EQ(r.code, 1) << r.Describe();
  CheckSummary(r, "failed", {.instances = 3});
  EXPECT_FALSE(fs::exists(work_ / "branch.txt")) << "a branch ran although its condition could not be evaluated";
  // `flow status` says what failed, though no instance did.
  Result status = Flow({"status"});
  EXPECT_EQ(status.code, 0) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("first failure: if@17: condition 1: ")) << status.Describe();
}

TEST_F(RunE2E, SecondRunInTheSameFolderIsRefusedAndSigtermCancels) {
  fs::path file = Use("long.flow");
  Process first = Start({"run", file.string()});
  ASSERT_TRUE(StillRunningOnceStarted(first)) << "the slow stage";

  Result second = Flow({"run", file});
  EXPECT_EQ(second.code, 2) << second.Describe();
  EXPECT_THAT(second.err, HasSubstr("another run (run ")) << second.Describe();
  EXPECT_THAT(second.err, HasSubstr("pid " + std::to_string(first.pid()) + ")")) << second.Describe();
  EXPECT_THAT(second.err, HasSubstr("is using .flow/ in this folder")) << second.Describe();

  // Readers never block while a run holds the folder.
  Result status = Flow({"status"}, {}, 10);
  EXPECT_EQ(status.code, 0) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("slow")) << status.Describe();

  auto term_at = Clock::now();
  first.Signal(SIGTERM);
  Result r = first.Wait(20);
  EXPECT_LT(Seconds(term_at), 5) << "sleep dies on SIGTERM at once";
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.code, 130) << r.Describe();
  Summary s = CheckSummary(r, "cancelled", {.instances = 1, .ran = 0, .cached = 0, .skipped = 0});
  EXPECT_FALSE(fs::exists(work_ / "finished.txt"));
  pid_t sh = std::stoi("0" + ReadFile(work_ / "slow.pid"));
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(sh); }, 2)) << "the cancelled command " << sh << " still runs";
  RunStore store(Db());
  int run = s.run > 0 ? s.run : LatestRun();
  EXPECT_EQ(store.Scalar("SELECT status FROM runs WHERE id = ?", {std::to_string(run)}), "cancelled");
  EXPECT_EQ(store.Scalar("SELECT status FROM instances WHERE run_id = ? AND name = 'slow'", {std::to_string(run)}),
            "cancelled");
  EXPECT_EQ(store.Scalar("SELECT status FROM attempts WHERE run_id = ? AND instance = 'slow'", {std::to_string(run)}),
            "cancelled");
}

// A closed terminal (SIGHUP) cancels the run as Ctrl-C does: flow used to
// die at once, leaving its commands running and the run marked running.
TEST_F(RunE2E, SighupCancelsTheRunAndItsCommands) {
  struct sigaction hup = {};
  if (sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler == SIG_IGN)
    GTEST_SKIP() << "the tests run with SIGHUP ignored (nohup): flow keeps it ignored, as it should";
  fs::path file = Use("long.flow");
  Process p = Start({"run", file.string()});
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(WaitFor([&] { return fs::exists(work_ / "slow.pid") || p.Exited(); }, 20)) << "the slow stage never started";
  ASSERT_FALSE(p.Exited()) << p.Wait(1).Describe();
  p.Signal(SIGHUP);
  Result r = p.Wait(20);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.code, 130) << r.Describe();
  Summary s = CheckSummary(r, "cancelled", {.instances = 1, .ran = 0});
  pid_t sh = std::stoi("0" + ReadFile(work_ / "slow.pid"));
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(sh); }, 5)) << "the cancelled command " << sh << " still runs";
  RunStore store(Db());
  int run = s.run > 0 ? s.run : LatestRun();
  EXPECT_EQ(store.Scalar("SELECT status FROM runs WHERE id = ?", {std::to_string(run)}), "cancelled");
}

// When the run store cannot be written (here a full disk: a 2 MB tmpfs that
// a stage fills), flow says so at once and stops; it used to go on without a
// word, recording nothing, so the next run redid everything. Needs root to
// mount the tmpfs.
TEST_F(RunE2E, AFullDiskThatStopsTheRunStoreStopsTheRunWithAMessage) {
  fs::path dir = root_ / "full";
  fs::create_directories(dir);
  if (geteuid() != 0 || mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=2m") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << strerror(errno);
  WriteFile(dir / "p.flow",
            "stage a(n: int) -> (o: file) {\n  run \"echo a{n} > {o}\"\n}\n"
            "stage fill(i: file) -> (o: file) {\n"
            "  run \"cat {i} > {o}; head -c 3000000 /dev/zero > filler.bin; sleep 0.3; true\"\n}\n"
            "stage c(i: file) -> (o: file) {\n  run \"sleep 0.3; cat {i} > {o}\"\n}\n"
            "pipeline main {\n  let x = a(n: 1)\n  let f = fill(i: x.o)\n  c(i: f.o)\n}\n");
  Result r = Flow({"run", (dir / "p.flow").string()}, dir);
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("flow: error: the run store .flow/runs.db could not be written")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("run again with --resume")) << r.Describe();
  umount2(dir.c_str(), MNT_DETACH);
}

TEST_F(RunE2E, SigintCancelsTheRunAndItsCommands) {
  fs::path file = Use("long.flow");
  Process p = Start({"run", file.string()});
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(WaitFor([&] { return fs::exists(work_ / "slow.pid") || p.Exited(); }, 20)) << "the slow stage never started";
  ASSERT_TRUE(WaitFor([&] { return ReadFile(work_ / "slow.pid").find('\n') != std::string::npos; }, 5));
  p.Signal(SIGINT);
  Result r = p.Wait(20);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.code, 130) << r.Describe();
  EXPECT_LT(r.seconds, 10) << r.Describe();
  CheckSummary(r, "cancelled", {.instances = 1, .ran = 0});
  pid_t sh = std::stoi(ReadFile(work_ / "slow.pid"));
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(sh); }, 2)) << "the cancelled command " << sh << " still runs";
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT status FROM runs ORDER BY id DESC LIMIT 1"), "cancelled");
}

// The first Ctrl-C sends SIGTERM and waits the grace period (60 s here)
// before SIGKILL; a second one kills at once.
TEST_F(RunE2E, ASecondSigintKillsWhatIgnoresSigtermAtOnce) {
  fs::path file = Use("stubborn.flow");
  std::vector<std::string> env = {"FLOW_RETRY_BACKOFF_MS=10", "FLOW_KILL_GRACE_MS=60000"};
  Process p = Start({"run", file.string()}, {}, env);
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(WaitFor([&] { return ReadFile(work_ / "stubborn.pid").find('\n') != std::string::npos || p.Exited(); },
                      20))
      << "the stage never started";
  ASSERT_FALSE(p.Exited());
  pid_t sh = std::stoi(ReadFile(work_ / "stubborn.pid"));
  p.Signal(SIGINT);
  // The command ignores SIGTERM: flow is waiting out the grace period.
  EXPECT_FALSE(WaitFor([&] { return p.Exited(); }, 1)) << "flow ended before its command did";
  EXPECT_FALSE(ProcessGone(sh)) << "the command should still run: it ignores SIGTERM";
  p.Signal(SIGINT);
  Result r = p.Wait(20);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.code, 130) << r.Describe();
  EXPECT_LT(r.seconds, 30) << "the second Ctrl-C did not cut the 60 s grace period short\n" << r.Describe();
  EXPECT_THAT(r.err + r.out, HasSubstr("Ctrl-C again kills them at once")) << r.Describe();
  CheckSummary(r, "cancelled", {.instances = 1, .ran = 0});
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(sh); }, 2)) << "the command " << sh << " still runs";
  EXPECT_FALSE(fs::exists(work_ / "finished.txt"));
}

// A process a job leaves running outside its process group (setsid) is
// adopted by flow (a child subreaper) and killed: within a second of its
// job's end while the run goes on, and, when its environment no longer
// names its job, when the run ends. Each is said and recorded.
TEST_F(RunE2E, ProcessesAJobLeftOutsideItsGroupAreKilled) {
  fs::path file = Use("escaped.flow");
  Result r = Flow({"run", file.string()});
  ASSERT_EQ(r.code, 0) << r.Describe();
  CheckSummary(r, "succeeded", {.instances = 4, .ran = 4});
  EXPECT_EQ(ReadFile(work_ / "state.txt"), "gone\n") << "leak's process still ran 2 s after leak ended";
  for (const char* f : {"escaped.pid", "anon.pid", "chain.pid"}) {
    std::string text = ReadFile(work_ / f);
    ASSERT_FALSE(text.empty()) << f << " was not written\n" << r.Describe();
    pid_t pid = std::stoi(text);
    EXPECT_TRUE(WaitFor([&] { return ProcessGone(pid); }, 2)) << f << ": process " << pid << " outlived the run";
  }
  EXPECT_THAT(r.out + r.err, ContainsRegex("killed +leak: killed process [0-9]+ \\(sleep 60\\), which it left running"))
      << r.Describe();
  EXPECT_THAT(r.out + r.err, HasSubstr("(a job of this run): killed process")) << r.Describe();
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM events WHERE event = 'leftover-killed' AND instance = 'leak'"), "1");
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM events WHERE event = 'leftover-killed' AND instance = 'chain'"), "2");
}

TEST_F(RunE2E, ResumeReusesTheParamsAndTheSucceededInstancesOfTheFailedRun) {
  fs::path file = Use("resume_params.flow");
  WriteFile(work_ / "fail.flag", "");
  Result failed = Flow({"run", file, "--param", "v=hello world"});
  ASSERT_EQ(failed.code, 1) << failed.Describe();
  Summary s1 = CheckSummary(failed, "failed", {.instances = 2, .ran = 1, .failed = 1});

  fs::remove(work_ / "fail.flag");
  Result resumed = Flow({"run", file, "--resume"});
  ASSERT_EQ(resumed.code, 0) << "--resume reuses the failed run's params, so v needs no --param\n" << resumed.Describe();
  Summary s2 = CheckSummary(resumed, "succeeded", {.instances = 2, .ran = 1, .cached = 1, .failed = 0});
  EXPECT_EQ(ReadFile(work_ / "result.txt"), "hello world\n");
  EXPECT_EQ(ReadFile(work_ / "ran.log"), "first\n") << "first succeeded before: it is reused, not run again";
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s2.run),
            (std::map<std::string, std::string>{{"first", "cached"}, {"second", "succeeded"}}));
  EXPECT_EQ(store.Scalar("SELECT value FROM run_params WHERE run_id = ? AND name = 'v'", {std::to_string(s2.run)}),
            "\"hello world\"");
  EXPECT_EQ(store.Scalar("SELECT resumed_from FROM runs WHERE id = ?", {std::to_string(s2.run)}), std::to_string(s1.run));
}

TEST_F(RunE2E, RecordOutputIsCheckedAndPassedOnAsAJsonFile) {
  fs::path file = Use("record.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 0) << r.Describe();
  CheckSummary(r, "succeeded", {.instances = 2, .ran = 2, .skipped = 0});
  std::string shown = ReadFile(work_ / "shown.json");
  EXPECT_THAT(shown, AllOf(ContainsRegex("\"accuracy\" *: *1"), ContainsRegex("\"loss\" *: *0\\.5")))
      << "a record input becomes the path of a JSON file holding it";
}

TEST_F(RunE2E, RecordOutputWithAFieldOfTheWrongTypeFails) {
  fs::path file = Use("record.flow");
  Result r = Flow({"run", file, "--param", "mode=wrongtype"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  CheckSummary(r, "failed", {.instances = 2, .failed = 1});
  // docs/runtime.md: train[2]: output 'metrics': expected Metrics, found {...} (field 'accuracy': expected float, found string)
  EXPECT_THAT(r.err, HasSubstr("evaluate: output 'm': expected Metrics, found {")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("(field 'accuracy': expected float, found string)")) << r.Describe();
  EXPECT_FALSE(fs::exists(work_ / "shown.json"));
}

TEST_F(RunE2E, RecordOutputWithAnExtraFieldFails) {
  fs::path file = Use("record.flow");
  Result r = Flow({"run", file, "--param", "mode=extra"});
  ASSERT_EQ(r.code, 1) << "records must have exactly their fields\n" << r.Describe();
  EXPECT_THAT(r.err, AllOf(HasSubstr("evaluate"), HasSubstr("'m'"), HasSubstr("f1"))) << r.Describe();
}

TEST_F(RunE2E, DirOutputIsAFolderThatDownstreamStagesRead) {
  fs::path file = Use("dirs.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 0) << r.Describe();
  CheckSummary(r, "succeeded", {.instances = 2, .ran = 2});
  EXPECT_EQ(ReadFile(work_ / "listing.txt"), "f.txt\ninside\n");
}

TEST_F(RunE2E, DirOutputThatIsAFileFailsAndEntryPicksThePipeline) {
  fs::path file = Use("dirs.flow");
  Result r = Flow({"run", file, "--entry", "wrong"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 1, .failed = 1});
  EXPECT_THAT(s.first_failure, HasSubstr("notdir")) << s.line;
  EXPECT_THAT(r.err, HasSubstr("'d'")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("expected a folder, found a file")) << r.Describe();
  EXPECT_FALSE(fs::exists(work_ / "listing.txt"));
}

TEST_F(RunE2E, DryRunPrintsThePlanAndStartsOrRecordsNothing) {
  fs::path file = Use("fanout.flow");
  Result dry = Flow({"run", file, "--dry-run"});
  EXPECT_EQ(dry.code, 0) << dry.Describe();
  EXPECT_THAT(dry.out + dry.err, AllOf(HasSubstr("sq[0]"), HasSubstr("sq[2]"), HasSubstr("total"))) << dry.Describe();
  EXPECT_FALSE(fs::exists(work_ / "total.txt"));
  if (fs::exists(Db())) {
    RunStore store(Db());
    EXPECT_EQ(store.Scalar("SELECT count(*) FROM runs"), "0") << "a dry run is not recorded";
  }

  Result real = Flow({"run", file});
  ASSERT_EQ(real.code, 0) << real.Describe();
  fs::remove(work_ / "total.txt");
  Result dry2 = Flow({"run", file, "--dry-run", "--param", "n=4"});
  EXPECT_EQ(dry2.code, 0) << dry2.Describe();
  EXPECT_THAT(dry2.out + dry2.err, AllOf(HasSubstr("sq[3]"), HasSubstr("cached"), HasSubstr("expr"))) << dry2.Describe();
  EXPECT_FALSE(fs::exists(work_ / "total.txt"));
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM runs"), "1");
}

// up.flow (one stage that upper-cases in.txt), run once: a store for a dry
// run to read.
class DryRunE2E : public RunE2E {
 protected:
  fs::path RanOnce() {
    fs::path file = work_ / "up.flow";
    WriteFile(file, "stage up(x: file) -> (y: file) {\n  run \"tr a-z A-Z < {x} > {y}\"\n}\n"
                    "pipeline main {\n  up(x: \"in.txt\")\n}\n");
    WriteFile(work_ / "in.txt", "hello\n");
    Result real = Flow({"run", file.string()});
    EXPECT_EQ(real.code, 0) << real.Describe();
    return file;
  }
};

// A dry run reads the store as it is: it neither updates the schema of a
// store an earlier flow made nor writes the file hashes it computes.
TEST_F(DryRunE2E, DryRunLeavesAnExistingStoreAsItIs) {
  fs::path file = RanOnce();
  // As an earlier flow left it: its index, no run_plans, no hashes yet.
  AlterStore("CREATE INDEX attempts_stage ON attempts(stage, status); DROP TABLE run_plans; DELETE FROM file_hashes;");
  WriteFile(work_ / "in.txt", "hello, world\n");
  Result dry = Flow({"run", file.string(), "--dry-run"});
  EXPECT_EQ(dry.code, 0) << dry.Describe();
  EXPECT_THAT(dry.out + dry.err, HasSubstr("in.txt changed content")) << dry.Describe();
  RunStore store(Db());
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM sqlite_master WHERE name = 'attempts_stage'"), "1");
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM sqlite_master WHERE name = 'run_plans'"), "0");
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM file_hashes"), "0") << "a dry run wrote a file hash";
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM runs"), "1");
}

// Nor a store in another journal mode (left so by another tool): it stays
// in it. An empty runs.db (a first run stopped before it made the tables)
// is no history: the dry run works, and leaves it empty.
TEST_F(DryRunE2E, DryRunWritesNothingToAStoreInAnotherModeOrAnEmptyOne) {
  fs::path file = RanOnce();
  AlterStore("PRAGMA journal_mode=DELETE;");
  std::string before = ReadFile(Db());
  Result dry = Flow({"run", file.string(), "--dry-run"});
  EXPECT_EQ(dry.code, 0) << dry.Describe();
  EXPECT_THAT(dry.err, HasSubstr("0 would run, 1 cached")) << dry.Describe();
  EXPECT_TRUE(ReadFile(Db()) == before) << "a dry run changed runs.db";
  EXPECT_FALSE(fs::exists(Db().string() + "-wal"));

  fs::remove(Db());
  WriteFile(Db(), "");
  Result empty = Flow({"run", file.string(), "--dry-run"});
  EXPECT_EQ(empty.code, 0) << empty.Describe();
  EXPECT_THAT(empty.err, HasSubstr("1 would run, 0 cached")) << empty.Describe();
  EXPECT_EQ(fs::file_size(Db()), 0u);
  Result status = Flow({"status"});
  EXPECT_EQ(status.code, 1) << status.Describe();
  EXPECT_THAT(status.err, HasSubstr("holds none yet")) << status.Describe();
}

TEST_F(RunE2E, PlanFileRunsAndRefusesToChangeAStructuralParam) {
  fs::path file = Use("fanout.flow");
  fs::path plan = work_ / "fanout.plan";
  int n = ++commands_;
  Process c = Spawn({FLOWC_BIN, file.string(), "-o", plan.string()}, work_, {}, io_ / ("flowc" + std::to_string(n) + ".out"),
                    io_ / ("flowc" + std::to_string(n) + ".err"));
  Result compiled = c.Wait(60);
  ASSERT_EQ(compiled.code, 0) << compiled.Describe();

  Result r = Flow({"run", plan.string()}, io_);
  ASSERT_EQ(r.code, 0) << r.Describe();
  CheckSummary(r, "succeeded", {.instances = 4, .ran = 4});
  EXPECT_EQ(ReadFile(work_ / "total.txt"), "1 4 9\n") << "commands run in the source file's folder";
  EXPECT_TRUE(fs::exists(Db())) << ".flow/ lives beside the source .flow file";
  EXPECT_FALSE(fs::exists(io_ / ".flow"));

  Result structural = Flow({"run", plan.string(), "--param", "n=4"});
  EXPECT_EQ(structural.code, 2) << structural.Describe();
  EXPECT_THAT(structural.err, HasSubstr("n")) << structural.Describe();
  EXPECT_THAT(structural.err, ContainsRegex("recompil|flowc")) << "the error says a recompile is needed\n"
                                                                << structural.Describe();
}

TEST_F(RunE2E, RunsInTheEntryFilesFolderWhateverTheCurrentFolder) {
  fs::path file = Use("fanout.flow");
  Result r = Flow({"run", file.string()}, io_);
  ASSERT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(ReadFile(work_ / "total.txt"), "1 4 9\n");
  EXPECT_TRUE(fs::exists(Db()));
  EXPECT_FALSE(fs::exists(io_ / "total.txt"));
  EXPECT_FALSE(fs::exists(io_ / ".flow"));
}

TEST_F(RunE2E, CommandsSeeFlowsEnvironment) {
  fs::path file = Use("env.flow");
  Result r = Flow({"run", file}, io_, 60, {"FLOW_RETRY_BACKOFF_MS=10", "CUDA_VISIBLE_DEVICES=0,1"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 1, .ran = 1});
  // RUN_ID | STAGE | ATTEMPT | CUDA_VISIBLE_DEVICES (empty: no GPU reserved) | env block | working folder
  EXPECT_EQ(ReadFile(work_ / "env.txt"), std::to_string(s.run) + "|envcheck|1||hello a b|" + work_.string() + "\n");
}

TEST_F(RunE2E, UnknownProgramFailsWithExitCode127) {
  fs::path file = Use("notfound.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 1, .failed = 1});
  EXPECT_THAT(s.first_failure, ::testing::StartsWith("nf: ")) << s.line;
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT exit_code FROM attempts WHERE run_id = ? AND instance = 'nf'", {std::to_string(s.run)}), "127");
  fs::path err = store.Scalar("SELECT stderr_path FROM attempts WHERE run_id = ? AND instance = 'nf'", {std::to_string(s.run)});
  if (err.empty() || !err.is_absolute()) err = work_ / (err.empty() ? fs::path(".flow/logs/" + std::to_string(s.run) + "/nf.1.err") : err);
  EXPECT_THAT(ReadFile(err), HasSubstr("flow: no-such-program-flow-e2e: command not found")) << err;
}

TEST_F(RunE2E, WhatACommandLeavesInItsProcessGroupIsKilled) {
  fs::path file = Use("leftover.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 0) << r.Describe();
  EXPECT_LT(r.seconds, 20) << "flow waited for the background sleep";
  std::string text = ReadFile(work_ / "bg.pid");
  ASSERT_FALSE(text.empty());
  pid_t pid = std::stoi(text);
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(pid); }, 2)) << "background process " << pid << " still runs";
  if (!ProcessGone(pid) && ReadFile("/proc/" + std::to_string(pid) + "/cmdline").rfind("sleep", 0) == 0)
    kill(pid, SIGKILL);  // never leave it behind, whatever happened
  // It was in the command's process group: killed with it, not a process
  // that left the group.
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("outside its process group"))) << r.Describe();
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM events WHERE event = 'leftover-killed'"), "0");
}


}  // namespace
}  // namespace flow::e2e
