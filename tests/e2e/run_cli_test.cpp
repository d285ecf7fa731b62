// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of `flow`'s command line (docs/runtime.md, SPEC section
// 2): which params --resume carries over and from which run, --param
// values of the wrong type, the summary line's `flow logs` hint from
// another folder, where a plan file's source is, and the parsing of
// options. tests/e2e/exit_param.flow fails with exit code x, so the
// summary line says which x a run used.
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>

#include <thread>

#include "run_fixture.h"

namespace flow::e2e {
namespace {

/// The exit code in "first failure: boom: exit code N ..." (-1 when none).
int ExitCodeOf(const Summary& s) {
  std::smatch m;
  static const std::regex re("exit code (\\d+)");
  return std::regex_search(s.first_failure, m, re) ? std::stoi(m[1]) : -1;
}

class CliE2E : public RunE2E {
 protected:
  /// Runs flowc ARGS in `cwd`.
  Result Flowc(const std::vector<std::string>& args, const fs::path& cwd) {
    std::vector<std::string> argv = {FLOWC_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    int n = ++commands_;
    Process p = Spawn(argv, cwd, {}, io_ / ("flowc" + std::to_string(n) + ".out"),
                      io_ / ("flowc" + std::to_string(n) + ".err"));
    return p.Wait(60);
  }
  /// The number of runs recorded in `dir` (0 when there is no store).
  int RunCount(const fs::path& dir = {}) {
    if (!fs::exists(Db(dir))) return 0;
    RunStore store(Db(dir));
    return std::stoi(store.Scalar("SELECT count(*) FROM runs"));
  }
};

// ------------------------------------------------------------ --resume

TEST_F(CliE2E, ResumingAResumedRunKeepsTheParamsOfTheFirst) {
  fs::path file = Use("exit_param.flow");
  Result first = Flow({"run", file, "--param", "x=3"});
  ASSERT_EQ(first.code, 1) << first.Describe();
  EXPECT_EQ(ExitCodeOf(CheckSummary(first, "failed", {.failed = 1})), 3);
  Result second = Flow({"run", file, "--resume"});
  ASSERT_EQ(second.code, 1) << second.Describe();
  EXPECT_EQ(ExitCodeOf(CheckSummary(second, "failed", {.failed = 1})), 3) << "run 2 carries x=3 over from run 1";
  Result third = Flow({"run", file, "--resume"});
  ASSERT_EQ(third.code, 1) << third.Describe();
  Summary s3 = CheckSummary(third, "failed", {.failed = 1});
  EXPECT_EQ(ExitCodeOf(s3), 3) << "run 3 resumes run 2, which ran with x=3 (carried over, not on its command line)\n"
                               << third.Describe();
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT value FROM run_params WHERE run_id = ? AND name = 'x'", {std::to_string(s3.run)}), "3");
  EXPECT_EQ(store.Scalar("SELECT resumed_from FROM runs WHERE id = ?", {std::to_string(s3.run)}), "2");

  // Given again, a param wins over the carried-over value, and is carried on.
  Result given = Flow({"run", file, "--resume", "--param", "x=5"});
  EXPECT_EQ(ExitCodeOf(CheckSummary(given, "failed", {.failed = 1})), 5) << given.Describe();
  Result after = Flow({"run", file, "--resume"});
  EXPECT_EQ(ExitCodeOf(CheckSummary(after, "failed", {.failed = 1})), 5) << after.Describe();
}

TEST_F(CliE2E, TheLastOfRepeatedParamsWinsAndIsWhatResumeCarriesOver) {
  fs::path file = Use("exit_param.flow");
  Result r = Flow({"run", file, "--param", "x=0", "--param", "x=4"});
  ASSERT_EQ(r.code, 1) << "the last --param x wins: x=4 fails\n" << r.Describe();
  EXPECT_EQ(ExitCodeOf(CheckSummary(r, "failed", {.failed = 1})), 4);
  Result resumed = Flow({"run", file, "--resume"});
  ASSERT_EQ(resumed.code, 1) << "--resume carries over the value the run used, x=4\n" << resumed.Describe();
  EXPECT_EQ(ExitCodeOf(CheckSummary(resumed, "failed", {.failed = 1})), 4);
  // And with `--param=` spelled both ways, and a bad value overridden.
  Result both = Flow({"run", file, "--param=x=abc", "--param", "x=6"});
  EXPECT_EQ(ExitCodeOf(CheckSummary(both, "failed", {.failed = 1})), 6) << both.Describe();
}

TEST_F(CliE2E, ResumeContinuesOnlyARunOfTheSameFile) {
  fs::path file = Use("exit_param.flow");
  WriteFile(work_ / "other.flow", "param y: int = 0\nstage ok(y: int) { run \"sh -c 'exit {y}'\" }\n"
                                  "pipeline main { ok(y: y) }\n");
  Result failed = Flow({"run", file, "--param", "x=3"});
  ASSERT_EQ(failed.code, 1) << failed.Describe();
  Result other = Flow({"run", (work_ / "other.flow").string(), "--resume"});
  EXPECT_EQ(other.code, 0) << "a failed run of exit_param.flow is nothing to resume for other.flow\n"
                           << other.Describe();
  EXPECT_THAT(other.err, Not(HasSubstr("resuming run"))) << other.Describe();
  EXPECT_THAT(other.err, HasSubstr("nothing to resume for")) << other.Describe();
  Summary s = CheckSummary(other, "succeeded", {.instances = 1, .ran = 1});
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT resumed_from FROM runs WHERE id = ?", {std::to_string(s.run)}), "");
  // exit_param.flow's failed run is still there to resume, with its params.
  Result resumed = Flow({"run", file, "--resume"});
  EXPECT_THAT(resumed.err, HasSubstr("resuming run 1")) << resumed.Describe();
  EXPECT_EQ(ExitCodeOf(CheckSummary(resumed, "failed", {.failed = 1})), 3) << resumed.Describe();
}

// ------------------------------------------------------------ param types

// JSON has no infinities: 1e999 used to be read as one and stored as `inf`,
// which no reader takes (a later --resume lost the param).
TEST_F(CliE2E, AParamWithANumberOutOfRangeIsRefused) {
  fs::path file = Use("typed_params.flow");
  Result r = Flow({"run", file, "--param", R"(r={"a": 1, "b": "y"})", "--param", "rates=[0.5, 1e999]"});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("--param rates=[0.5, 1e999]: expected JSON")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("(number out of range: 1e999)")) << r.Describe();
  EXPECT_EQ(RunCount(), 0);
  EXPECT_FALSE(fs::exists(work_ / "shown.txt"));
}

TEST_F(CliE2E, AWronglyTypedRecordOrListParamIsRefusedBeforeAnythingRuns) {
  fs::path file = Use("typed_params.flow");
  struct Case {
    std::vector<std::string> params;
    std::string option, what;
  } cases[] = {
      {{"--param", R"(r={"a": "x", "b": "y"})"}, "--param r", "field 'a': expected int, found string"},
      {{"--param", R"(r={"a": 1, "b": "y"})", "--param", R"(rates=[1,"a"])"}, "--param rates",
       "element[1]: expected float, found string"},
      {{"--param", "r=[1, 2]"}, "--param r", "expected R, found list"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"run", file.string()};
    args.insert(args.end(), c.params.begin(), c.params.end());
    Result r = Flow(args);
    EXPECT_EQ(r.code, 2) << r.Describe();
    // A .flow file: the compile's diagnostic, at the param's declaration.
    EXPECT_THAT(r.err, ContainsRegex("typed_params\\.flow:[0-9]+:[0-9]+: error: " + c.option + "=")) << r.Describe();
    EXPECT_THAT(r.err, HasSubstr(c.what)) << r.Describe();
    EXPECT_EQ(RunCount(), 0) << "nothing ran, so no run is recorded\n" << r.Describe();
    EXPECT_FALSE(fs::exists(work_ / "shown.txt"));
    // flowc refuses it the same way, and writes no plan.
    std::vector<std::string> flowc_args = {file.string(), "-o", (work_ / "bad.plan").string()};
    flowc_args.insert(flowc_args.end(), c.params.begin(), c.params.end());
    Result compiled = Flowc(flowc_args, work_);
    EXPECT_EQ(compiled.code, 1) << compiled.Describe();
    EXPECT_THAT(compiled.err, HasSubstr(c.what)) << compiled.Describe();
    EXPECT_FALSE(fs::exists(work_ / "bad.plan"));
  }
  // The same through a plan file.
  Result compiled = Flowc({file.string(), "-o", (work_ / "typed.plan").string()}, work_);
  ASSERT_EQ(compiled.code, 0) << compiled.Describe();
  Result r = Flow({"run", (work_ / "typed.plan").string(), "--param", R"(r={"a": "x", "b": "y"})"});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("--param r: field 'a': expected int, found string")) << r.Describe();
  EXPECT_EQ(RunCount(), 0);
  // A right one runs.
  Result ok = Flow({"run", file.string(), "--param", R"(r={"a": 1, "b": "y"})", "--param", "rates=[1, 2.5]"});
  EXPECT_EQ(ok.code, 0) << ok.Describe();
  EXPECT_TRUE(fs::exists(work_ / "shown.txt"));
}

// ------------------------------------------------------------ the summary's hint

TEST_F(CliE2E, TheLogsHintOfTheSummaryWorksFromTheFolderFlowRanIn) {
  fs::path file = Use("exit_param.flow");
  // From the project's folder: no --dir; from its parent: --dir relative;
  // from elsewhere: --dir absolute. Each hint, run as printed where flow
  // ran, shows the logs.
  struct Case {
    fs::path cwd;
    std::string dir;
  } cases[] = {{work_, ""}, {root_, " --dir work"}, {io_, " --dir " + work_.string()}};
  for (const auto& c : cases) {
    Result r = Flow({"run", file.string()}, c.cwd);
    ASSERT_EQ(r.code, 1) << r.Describe();
    Summary s = CheckSummary(r, "failed", {.failed = 1});
    std::string hint = "(flow logs " + std::to_string(s.run) + " boom" + c.dir + ")";
    EXPECT_THAT(s.first_failure, HasSubstr(hint)) << s.line;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(s.first_failure, m, std::regex(R"(\(flow (logs [^)]*)\))"))) << s.line;
    std::vector<std::string> words;
    std::istringstream in(m[1].str());
    for (std::string w; in >> w;) words.push_back(w);
    Result logs = Flow(words, c.cwd);
    EXPECT_EQ(logs.code, 0) << "the hint does not work from " << c.cwd << "\n" << logs.Describe();
    EXPECT_THAT(logs.out, HasSubstr("==> boom, run " + std::to_string(s.run))) << logs.Describe();
  }
}

// ------------------------------------------------------------ plan files

TEST_F(CliE2E, APlanFindsItsSourceFromItsOwnFolderWhereverFlowcRan) {
  fs::path p = work_ / "p";
  WriteFile(p / "r.flow", "stage here() { cache false\n run \"sh -c 'pwd > where.txt'\" }\npipeline main { here() }\n");
  fs::create_directories(p / "plans");
  // flowc in the source's folder, and in its parent (the paths relative).
  Result c1 = Flowc({"r.flow", "-o", "plans/r.plan"}, p);
  ASSERT_EQ(c1.code, 0) << c1.Describe();
  Result c2 = Flowc({"p/r.flow", "-o", (p / "plans" / "r2.plan").string()}, work_);
  ASSERT_EQ(c2.code, 0) << c2.Describe();
  EXPECT_THAT(ReadFile(p / "plans" / "r.plan"), HasSubstr(R"("source":"../r.flow")"));
  EXPECT_THAT(ReadFile(p / "plans" / "r2.plan"), HasSubstr(R"("source":"../r.flow")"));
  for (const char* plan : {"plans/r.plan", "plans/r2.plan"}) {
    fs::remove(p / "where.txt");
    Result r = Flow({"run", plan}, p);
    ASSERT_EQ(r.code, 0) << r.Describe();
    EXPECT_EQ(ReadFile(p / "where.txt"), p.string() + "\n") << plan << ": commands run in the source's folder";
  }
  EXPECT_TRUE(fs::exists(p / ".flow" / "runs.db"));
  EXPECT_FALSE(fs::exists(p / "plans" / ".flow")) << "a .flow/ beside the plan";
  EXPECT_FALSE(fs::exists(p / "plans" / "p")) << "a made-up folder beside the plan";
}

TEST_F(CliE2E, APlanWhoseSourceFolderDoesNotExistIsRefused) {
  Use("exit_param.flow");
  Result c = Flowc({"exit_param.flow", "-o", "good.plan"}, work_);
  ASSERT_EQ(c.code, 0) << c.Describe();
  std::string plan = ReadFile(work_ / "good.plan");
  std::string from = R"("source":"exit_param.flow")";
  ASSERT_NE(plan.find(from), std::string::npos) << plan.substr(0, 120);
  plan.replace(plan.find(from), from.size(), R"("source":"gone/exit_param.flow")");
  WriteFile(work_ / "bad.plan", plan);
  Result r = Flow({"run", "bad.plan"});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, AllOf(HasSubstr("gone/exit_param.flow"), HasSubstr(work_.string() + "/gone"))) << r.Describe();
  EXPECT_FALSE(fs::exists(work_ / "gone")) << "flow made up the source's folder";
  Result dry = Flow({"run", "bad.plan", "--dry-run"});
  EXPECT_EQ(dry.code, 2) << dry.Describe();
}

// ------------------------------------------------------------ options

TEST_F(CliE2E, RunsLimitIsAWholeNumberOfAtLeastOne) {
  fs::path file = Use("exit_param.flow");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(Flow({"run", file, "--param", "x=0"}).code, 0);
  for (const char* bad : {"0", "2x", "-1", "", "1.5"}) {
    Result r = Flow({"runs", "--limit", bad});
    EXPECT_EQ(r.code, 2) << "--limit " << bad << "\n" << r.Describe();
    EXPECT_THAT(r.err, HasSubstr("--limit")) << r.Describe();
    EXPECT_THAT(r.out, Not(HasSubstr("no runs yet"))) << r.Describe();
  }
  Result one = Flow({"runs", "--limit", "1"});
  EXPECT_EQ(one.code, 0) << one.Describe();
  EXPECT_EQ(Lines(one.out).size(), 2u) << "a header and one run\n" << one.Describe();
  Result attempt = Flow({"logs", "1", "boom", "--attempt", "1x"});
  EXPECT_EQ(attempt.code, 2) << attempt.Describe();
  // An empty --dir used to mean the root folder (/.flow).
  for (const char* cmd : {"status", "runs", "why"}) {
    Result empty_dir = Flow({cmd, "--dir", ""});
    EXPECT_EQ(empty_dir.code, 2) << cmd << "\n" << empty_dir.Describe();
    EXPECT_THAT(empty_dir.err, HasSubstr("--dir takes the folder that holds a .flow/")) << empty_dir.Describe();
  }
}

TEST_F(CliE2E, RunOptionsAreParsedStrictly) {
  fs::path file = Use("exit_param.flow");
  struct Case {
    std::vector<std::string> args;
    std::string said;
  } cases[] = {
      {{"--cpus", "inf"}, "--cpus takes a positive number, not 'inf'"},
      {{"--cpus", "nan"}, "--cpus takes a positive number, not 'nan'"},
      {{"--cpus", "4x"}, "--cpus takes a positive number, not '4x'"},
      {{"--gpus", "inf"}, "--gpus takes a whole number, not 'inf'"},
      {{"--cpus", "--dry-run"}, "--cpus needs a number, before the option '--dry-run'"},
      {{"--param", "--dry-run"}, "--param needs NAME=VALUE, before the option '--dry-run'"},
      {{"--param", "--entry=main"}, "--param needs NAME=VALUE, before the option '--entry=main'"},
      {{"--param"}, "--param needs NAME=VALUE"},
      {{"--param", "=3"}, "--param takes NAME=VALUE"},
      {{"--pool", "--dry-run"}, "--pool needs NAME=N, before the option '--dry-run'"},
      {{"--memory", "16g"}, "not '16g'"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"run", file.string(), "--param", "x=0"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Result r = Flow(args);
    EXPECT_EQ(r.code, 2) << r.Describe();
    EXPECT_THAT(r.err, HasSubstr(c.said)) << r.Describe();
    EXPECT_EQ(RunCount(), 0) << r.Describe();
  }
  // A size's units are spelled as in SPEC 1.1 (and the K/M/G/T shorthands);
  // the error says which.
  Result lower = Flow({"run", file.string(), "--memory", "16g"});
  EXPECT_THAT(lower.err, AllOf(HasSubstr("16GB"), HasSubstr("16G"), HasSubstr("MB"))) << lower.Describe();
  Result upper = Flow({"run", file.string(), "--param", "x=0", "--memory", "16G", "--dry-run"});
  EXPECT_EQ(upper.code, 0) << upper.Describe();
}

TEST_F(CliE2E, APoolNoStageUsesIsWarnedAbout) {
  fs::path file = Use("exit_param.flow");
  Result r = Flow({"run", file.string(), "--param", "x=0", "--pool", "lic=1"});
  EXPECT_EQ(r.code, 0) << "an unused pool is no error\n" << r.Describe();
  EXPECT_THAT(r.err, ContainsRegex("warning: .*--pool lic=1.*'lic'")) << r.Describe();
  CheckSummary(r, "succeeded", {.instances = 1, .ran = 1});
  Result used = Flow({"run", Use("pool.flow").string(), "--pool", "licenses=1"});
  EXPECT_THAT(used.err, Not(HasSubstr("warning"))) << used.Describe();
}

// A folder given where a file is expected (and the other way round) fails
// the instance saying which; `flow run` on a folder says it is one.
TEST_F(CliE2E, PathsOfTheWrongKindAreNamedAsSuch) {
  fs::path file = Use("kinds.flow");
  fs::create_directories(work_ / "adir");
  WriteFile(work_ / "afile", "x\n");
  Result r = Flow({"run", file.string(), "--param", "f=adir", "--param", "d=afile", "--keep-going"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("usef: input 'f': expected a file, found the folder adir")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("used: input 'd': expected a folder, found the file afile")) << r.Describe();
  Result ok = Flow({"run", file.string(), "--param", "f=afile", "--param", "d=adir"});
  EXPECT_EQ(ok.code, 0) << ok.Describe();
  // The same path as a file and as a folder: the folder check is not
  // skipped because the file was already hashed.
  Result same = Flow({"run", file.string(), "--entry", "same_path", "--param", "f=afile", "--param", "d=afile"});
  EXPECT_EQ(same.code, 1) << same.Describe();
  EXPECT_THAT(same.err, HasSubstr("both: input 'd': expected a folder, found the file afile")) << same.Describe();
  Result folder = Flow({"run", work_.string()});
  EXPECT_EQ(folder.code, 2) << folder.Describe();
  EXPECT_THAT(folder.err, HasSubstr("it is a folder; give a .flow file or a plan")) << folder.Describe();
}

// A param whose type changed since the run --resume continues: its carried
// value is refused before the compile uses it, naming the param, where it
// came from and what to do (it used to reach a condition and fail there
// with "cannot order these values").
TEST_F(CliE2E, ACarriedParamOfTheWrongTypeIsNamedAsSuch) {
  fs::path file = work_ / "t.flow";
  WriteFile(file, "param n: list<int> = [1]\nstage a(x: list<int>) {\n  run \"false {x}\"\n}\npipeline main { a(x: n) }\n");
  Result first = Flow({"run", file.string(), "--param", "n=[1,2,3]"});
  ASSERT_EQ(first.code, 1) << first.Describe();
  WriteFile(file, "param n: int = 2\nstage a(i: int) {\n  run \"echo {i}\"\n}\npipeline main {\n  if n > 1 { a(i: 99) }\n}\n");
  Result resumed = Flow({"run", file.string(), "--resume"});
  EXPECT_EQ(resumed.code, 2) << resumed.Describe();
  EXPECT_THAT(resumed.err, HasSubstr("param 'n' carried over by --resume ([1,2,3])")) << resumed.Describe();
  EXPECT_THAT(resumed.err, HasSubstr("give it with --param n=")) << resumed.Describe();
  Result given = Flow({"run", file.string(), "--resume", "--param", "n=3"});
  EXPECT_EQ(given.code, 0) << given.Describe();
}

// Errors about flow's own folder say what to do: a damaged run store is to
// be moved aside (it was "it may come from another version of flow"), and
// an output that cannot be committed names where it was to go.
TEST_F(CliE2E, ErrorsAboutFlowsFolderSayWhereAndWhatToDo) {
  fs::path file = work_ / "t.flow";
  WriteFile(file, "stage b() -> (o: file) {\n  run \"touch {o}\"\n}\npipeline main { b() }\n");
  fs::create_directories(work_ / ".flow");
  WriteFile(work_ / ".flow" / "runs.db", std::string(5000, 'x'));
  Result damaged = Flow({"run", file.string()});
  EXPECT_EQ(damaged.code, 2) << damaged.Describe();
  EXPECT_THAT(damaged.err, HasSubstr("file is not a database; if it is damaged or from another version of flow, move it aside with its -wal and -shm files"))
      << damaged.Describe();
  Result status = Flow({"status"});
  EXPECT_THAT(status.err, HasSubstr("move it aside with its -wal and -shm files")) << status.Describe();

  fs::remove(work_ / ".flow" / "runs.db");
  fs::create_directories(work_ / ".flow" / "out");
  WriteFile(work_ / ".flow" / "out" / "b", "");  // where the stage's folder goes
  Result r = Flow({"run", file.string()});
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("b: output 'o': cannot commit it to .flow/out/b/b.")) << r.Describe();
}

// A stage whose files' names would be over the file system's 255 bytes is
// refused before anything runs; it used to run its command and then fail
// with "found nothing" (its output could not even be created).
TEST_F(CliE2E, NamesTooLongForTheFileSystemAreRefusedBeforeAnythingRuns) {
  auto flow_with = [](size_t n) {
    std::string name(n, 's');
    return "stage " + name + "() -> (o: file) {\n  run \"touch {o}; echo ran >> ran.txt\"\n}\npipeline main { " + name +
           "() }\n";
  };
  fs::path file = work_ / "t.flow";
  WriteFile(file, flow_with(240));
  Result r = Flow({"run", file.string()});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("over the 255 a file name may have; give the stage")) << r.Describe();
  EXPECT_FALSE(fs::exists(work_ / "ran.txt")) << "the command ran";
  WriteFile(file, flow_with(200));
  Result ok = Flow({"run", file.string()});
  EXPECT_EQ(ok.code, 0) << ok.Describe();
}

// Another process holding the run store's write lock: flow waits, says so
// after a second (it used to wait without a word), and goes on when the
// lock is released.
TEST_F(CliE2E, ALockedRunStoreIsWaitedForWithAMessage) {
  fs::path file = work_ / "t.flow";
  WriteFile(file, "stage a() {\n  run \"true\"\n}\npipeline main { a() }\n");
  ASSERT_EQ(Flow({"run", file.string()}).code, 0);  // makes the store
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Db().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::thread release([db] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  });
  Result r = Flow({"run", file.string()});
  release.join();
  sqlite3_close(db);
  EXPECT_EQ(r.code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("flow: waiting for ")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("runs.db: another process holds it locked")) << r.Describe();
}

// On a terminal, `flow run`'s compile diagnostics are coloured as flowc's
// are: the compile runs on a thread of its own, which renders them into a
// string that flow prints (a plain string stream lost the colours).
TEST_F(CliE2E, CompileErrorsAreColouredOnATerminal) {
  fs::path file = work_ / "bad.flow";
  WriteFile(file, "stage a() -> (o: file) {\n  run \"touch {o}\"\n}\npipeline main {\n  a(x: 1)\n}\n");
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0) << "forkpty: " << std::strerror(errno);
  if (pid == 0) {
    if (chdir(work_.c_str()) != 0) _exit(126);
    execl(FLOW_BIN, FLOW_BIN, "run", "bad.flow", nullptr);
    _exit(127);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    struct pollfd fd = {master, POLLIN, 0};
    if (poll(&fd, 1, 60000) <= 0) break;  // 60 s without output: give up
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO: the child closed the terminal
    out.append(buf, static_cast<size_t>(n));
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_THAT(out, HasSubstr("stage 'a' has no input 'x'")) << out;
  EXPECT_THAT(out, HasSubstr("\x1b[0;1;31merror: ")) << out;  // the colour flowc --lint uses
  // Not on a file: no colour codes.
  Result r = Flow({"run", file.string()});
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("stage 'a' has no input 'x'")) << r.Describe();
  EXPECT_THAT(r.err, Not(HasSubstr("\x1b["))) << r.Describe();
}

}  // namespace
}  // namespace flow::e2e
