// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of `flow run` against its contract (docs/runtime.md,
// SPEC.md section 2): each test copies a small pipeline from tests/e2e/ into
// a fresh folder, runs the real `flow` binary there as a subprocess under a
// hard time limit, and checks the exit code, the summary line, the files the
// commands wrote and the run store `.flow/runs.db`.
//
// Stage commands write what they see into files of the working folder (the
// entry file's folder), so most checks do not depend on where flow keeps its
// outputs. FLOW_E2E_KEEP=1 keeps the folder of a failed test.
#include <iostream>
#include <memory>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "run_helper.h"

namespace flow::e2e {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ContainsRegex;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

/// Environment of every flow run: short retry back-off and kill grace.
const std::vector<std::string> kFastEnv = {"FLOW_RETRY_BACKOFF_MS=10", "FLOW_KILL_GRACE_MS=200"};

/// The string value of "KEY" in a flat JSON object ("" when absent).
std::string JsonStringField(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
  return std::regex_search(json, m, re) ? std::string(m[1]) : std::string();
}

class RunE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/flow-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << strerror(errno);
    root_ = fs::canonical(pattern);
    work_ = root_ / "work";
    io_ = root_ / "io";
    fs::create_directories(work_);
    fs::create_directories(io_);
  }

  void TearDown() override {
    // A flow that a failed assertion left running: kill it (only our own
    // unreaped children; waitpid says which).
    for (pid_t pid : started_) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
    }
    if (HasFailure() && std::getenv("FLOW_E2E_KEEP")) {
      std::cerr << "flow e2e: kept " << root_ << "\n";
      return;
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  /// Copies tests/e2e/NAME into `dir` (default: the working folder).
  fs::path Use(const std::string& name, const fs::path& dir = {}) {
    fs::path to = (dir.empty() ? work_ : dir) / name;
    fs::create_directories(to.parent_path());
    fs::copy_file(fs::path(FLOW_SOURCE_DIR) / "tests" / "e2e" / name, to, fs::copy_options::overwrite_existing);
    return to;
  }

  /// Starts `flow ARGS...` in `cwd` (default: the working folder).
  Process Start(const std::vector<std::string>& args, const fs::path& cwd = {},
                const std::vector<std::string>& env = kFastEnv) {
    std::vector<std::string> argv = {FLOW_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    int n = ++commands_;
    Process p = Spawn(argv, cwd.empty() ? work_ : cwd, env, io_ / ("cmd" + std::to_string(n) + ".out"),
                      io_ / ("cmd" + std::to_string(n) + ".err"));
    EXPECT_TRUE(p.started()) << "cannot fork: " << strerror(errno);
    if (p.started()) started_.push_back(p.pid());
    return p;
  }

  /// Runs `flow ARGS...` to the end (killed after `timeout_s`).
  Result Flow(const std::vector<std::string>& args, const fs::path& cwd = {}, double timeout_s = 60,
              const std::vector<std::string>& env = kFastEnv) {
    Process p = Start(args, cwd, env);
    if (!p.started()) return Result();
    Result r = p.Wait(timeout_s);
    EXPECT_FALSE(r.timed_out) << r.Describe();
    return r;
  }

  fs::path Db(const fs::path& dir = {}) const { return (dir.empty() ? work_ : dir) / ".flow" / "runs.db"; }

  /// Checks the summary line: its format, its status, the counts that add
  /// up, and the `expected` ones. Returns it (run -1 when it does not parse).
  Summary CheckSummary(const Result& r, const std::string& status, Counts expected) {
    auto s = ParseSummary(r.err);
    if (!s) {
      ADD_FAILURE() << "the last line of stderr is not a summary line as docs/runtime.md shows it: '"
                    << LastLine(r.err) << "'\n"
                    << r.Describe();
      return Summary();
    }
    EXPECT_EQ(s->status, status) << s->line;
    EXPECT_GE(s->seconds, 0) << s->line;
    EXPECT_EQ(s->ran + s->cached + s->skipped + s->failed + s->not_run, s->instances)
        << "the counts do not add up to the instances: " << s->line;
    auto check = [&](const char* what, int want, int got) {
      if (want >= 0) {
        EXPECT_EQ(got, want) << what << " in: " << s->line;
      }
    };
    check("instances", expected.instances, s->instances);
    check("ran", expected.ran, s->ran);
    check("cached", expected.cached, s->cached);
    check("skipped", expected.skipped, s->skipped);
    check("failed", expected.failed, s->failed);
    check("not run", expected.not_run, s->not_run);
    if (status == "succeeded") {
      EXPECT_THAT(s->first_failure, IsEmpty()) << s->line;
    }
    return *s;
  }

  /// The id of the newest run in the store of `dir`.
  int LatestRun(const fs::path& dir = {}) {
    RunStore store(Db(dir));
    std::string id = store.Scalar("SELECT max(id) FROM runs");
    EXPECT_TRUE(store.ok()) << store.error();
    return id.empty() ? -1 : std::stoi(id);
  }

  fs::path root_, work_, io_;
  std::vector<pid_t> started_;
  int commands_ = 0;
};

// ---------------------------------------------------------------- fan-out

TEST_F(RunE2E, StaticFanOutRunsOneInstancePerElementAndGathersInOrder) {
  fs::path file = Use("fanout.flow");
  Result r = Flow({"run", file, "--cpus", "2"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 4, .ran = 4, .cached = 0, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "total.txt"), "1 4 9\n") << "a list<int> of outputs is one word per element, in order";

  RunStore store(Db());
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_EQ(store.Scalar("SELECT status FROM runs WHERE id = ?", {std::to_string(s.run)}), "succeeded");
  EXPECT_EQ(store.InstanceStatuses(s.run), (std::map<std::string, std::string>{{"sq[0]", "succeeded"},
                                                                                {"sq[1]", "succeeded"},
                                                                                {"sq[2]", "succeeded"},
                                                                                {"total", "succeeded"}}));
  auto attempts = store.Query("SELECT instance, attempt, status, exit_code FROM attempts WHERE run_id = ?",
                              {std::to_string(s.run)});
  EXPECT_EQ(attempts.size(), 4u);
  for (auto& a : attempts) {
    EXPECT_EQ(a[1].value_or(""), "1") << a[0].value_or("");
    EXPECT_EQ(a[2].value_or(""), "succeeded") << a[0].value_or("");
    EXPECT_EQ(a[3].value_or(""), "0") << a[0].value_or("");
  }
  EXPECT_EQ(store.Scalar("SELECT value FROM run_params WHERE run_id = ? AND name = 'n'", {std::to_string(s.run)}), "3");

  // A wider fan-out (n is structural: a .flow file is recompiled with it)
  // reuses the three squares it already has.
  Result wider = Flow({"run", file, "--cpus", "2", "--param", "n=5"});
  ASSERT_EQ(wider.code, 0) << wider.Describe();
  CheckSummary(wider, "succeeded", {.instances = 6, .ran = 3, .cached = 3, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "total.txt"), "1 4 9 16 25\n");
}

// ---------------------------------------------------------------- conditions

TEST_F(RunE2E, RuntimeConditionTakesTheThenBranchAndSkipsTheElse) {
  fs::path file = Use("condition.flow");
  Result r = Flow({"run", file, "--param", "value=7"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 3, .ran = 2, .cached = 0, .skipped = 1, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "branch.txt"), "high 7\n");
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s.run), (std::map<std::string, std::string>{
                                               {"measure", "succeeded"}, {"high", "succeeded"}, {"low", "skipped"}}));
  EXPECT_THAT(store.Scalar("SELECT reason FROM instances WHERE run_id = ? AND name = 'low'", {std::to_string(s.run)}),
              HasSubstr("if@"))
      << "a skipped instance records the gate that skipped it";
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM attempts WHERE run_id = ? AND instance = 'low'", {std::to_string(s.run)}), "0");
}

TEST_F(RunE2E, RuntimeConditionTakesTheElseBranchAndSkipsTheThen) {
  fs::path file = Use("condition.flow");
  Result r = Flow({"run", file, "--param", "value=2"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 3, .ran = 2, .cached = 0, .skipped = 1, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "branch.txt"), "low 2\n");
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s.run), (std::map<std::string, std::string>{
                                               {"measure", "succeeded"}, {"high", "skipped"}, {"low", "succeeded"}}));
  EXPECT_THAT(store.Scalar("SELECT reason FROM instances WHERE run_id = ? AND name = 'high'", {std::to_string(s.run)}),
              HasSubstr("if@"));
}

// ---------------------------------------------------------------- while

TEST_F(RunE2E, WhileLoopStopsWhenItsConditionTurnsFalse) {
  fs::path file = Use("while.flow");
  Result r = Flow({"run", file, "--param", "target=3"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 7, .ran = 5, .cached = 0, .skipped = 2, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "final.txt"), "3\n") << "after the loop the var holds the last iteration's value";
  RunStore store(Db());
  EXPECT_EQ(store.InstanceStatuses(s.run),
            (std::map<std::string, std::string>{{"begin", "succeeded"},
                                                {"inc@1", "succeeded"},
                                                {"inc@2", "succeeded"},
                                                {"inc@3", "succeeded"},
                                                {"inc@4", "skipped"},
                                                {"inc@5", "skipped"},
                                                {"finish", "succeeded"}}));
  EXPECT_THAT(store.Scalar("SELECT reason FROM instances WHERE run_id = ? AND name = 'inc@4'", {std::to_string(s.run)}),
              HasSubstr("while@"));
}

TEST_F(RunE2E, WhileLoopRunsToItsBound) {
  fs::path file = Use("while.flow");
  Result r = Flow({"run", file, "--param", "target=100"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 7, .ran = 7, .cached = 0, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "final.txt"), "5\n");
  RunStore store(Db());
  auto statuses = store.InstanceStatuses(s.run);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(statuses["inc@" + std::to_string(i)], "succeeded") << i;
  EXPECT_EQ(statuses.count("inc@6"), 0u);
}

// ---------------------------------------------------------------- dynamic fan-out

TEST_F(RunE2E, DynamicFanOutMakesOneCopyPerElement) {
  fs::path file = Use("dynamic.flow");
  Result r = Flow({"run", file, "--param", "count=3"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 5, .ran = 5, .cached = 0, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "collected.txt"), "10 20 30\ndone\n");
  RunStore store(Db());
  auto statuses = store.InstanceStatuses(s.run);
  EXPECT_EQ(statuses["make"], "succeeded");
  EXPECT_EQ(statuses["process[0]"], "succeeded");
  EXPECT_EQ(statuses["process[1]"], "succeeded");
  EXPECT_EQ(statuses["process[2]"], "succeeded");
  EXPECT_EQ(statuses.count("process[3]"), 0u);
  EXPECT_EQ(statuses["collect"], "succeeded");
}

TEST_F(RunE2E, DynamicFanOutOverAnEmptyListExpandsIntoNothing) {
  fs::path file = Use("dynamic.flow");
  Result r = Flow({"run", file, "--param", "count=0"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 2, .ran = 2, .cached = 0, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "collected.txt"), "\ndone\n");
  RunStore store(Db());
  auto statuses = store.InstanceStatuses(s.run);
  EXPECT_EQ(statuses["make"], "succeeded");
  EXPECT_EQ(statuses["collect"], "succeeded");
  for (auto& [name, status] : statuses) EXPECT_FALSE(std::regex_search(name, std::regex(R"(^process\[\d)"))) << name;
}

// ---------------------------------------------------------------- retries

TEST_F(RunE2E, FailedAttemptIsRetriedAndTheRetrySucceeds) {
  fs::path file = Use("flaky.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 2, .ran = 2, .cached = 0, .skipped = 0, .failed = 0, .not_run = 0});
  EXPECT_EQ(ReadFile(work_ / "attempts.log"), "1\n2\n") << "FLOW_ATTEMPT is 1, then 2";
  EXPECT_EQ(ReadFile(work_ / "used.txt"), "ok\n");
  RunStore store(Db());
  auto attempts = store.Query(
      "SELECT attempt, status, exit_code FROM attempts WHERE run_id = ? AND instance = 'flaky' ORDER BY attempt",
      {std::to_string(s.run)});
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0], (RunStore::Row{"1", "failed", "1"}));
  EXPECT_EQ(attempts[1], (RunStore::Row{"2", "succeeded", "0"}));
  EXPECT_EQ(store.Scalar("SELECT attempts FROM instances WHERE run_id = ? AND name = 'flaky'", {std::to_string(s.run)}), "2");
  EXPECT_EQ(store.Scalar("SELECT status FROM instances WHERE run_id = ? AND name = 'flaky'", {std::to_string(s.run)}),
            "succeeded");
}

TEST_F(RunE2E, CommandThatAlwaysFailsUsesEveryRetryThenFailsTheRun) {
  fs::path file = Use("broken.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 1) << r.Describe();
  EXPECT_LT(r.seconds, 10) << "FLOW_RETRY_BACKOFF_MS=10 keeps the back-off short";
  Summary s = CheckSummary(r, "failed", {.instances = 1, .ran = 0, .cached = 0, .skipped = 0, .failed = 1, .not_run = 0});
  EXPECT_THAT(s.first_failure, ::testing::StartsWith("broken[0]: exit code 1")) << s.line;
  // docs/runtime.md: "(flow logs 5 'train[2]')": a name with [ ] is quoted for the shell.
  EXPECT_THAT(s.first_failure, ::testing::EndsWith("(flow logs " + std::to_string(s.run) + " 'broken[0]')")) << s.line;
  EXPECT_EQ(ReadFile(work_ / "tries.log"), "attempt 0\nattempt 0\nattempt 0\n");
  RunStore store(Db());
  auto attempts = store.Query(
      "SELECT attempt, status, exit_code FROM attempts WHERE run_id = ? AND instance = 'broken[0]' ORDER BY attempt",
      {std::to_string(s.run)});
  ASSERT_EQ(attempts.size(), 3u) << "retry 2: three attempts";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(attempts[i], (RunStore::Row{std::to_string(i + 1), "failed", "1"}));
  }
  EXPECT_EQ(store.Scalar("SELECT status FROM instances WHERE run_id = ? AND name = 'broken[0]'", {std::to_string(s.run)}),
            "failed");
  EXPECT_EQ(store.Scalar("SELECT attempts FROM instances WHERE run_id = ? AND name = 'broken[0]'", {std::to_string(s.run)}),
            "3");
  EXPECT_EQ(store.Scalar("SELECT status FROM runs WHERE id = ?", {std::to_string(s.run)}), "failed");
}

// ---------------------------------------------------------------- timeout

TEST_F(RunE2E, TimeoutKillsACommandThatIgnoresSigterm) {
  fs::path file = Use("timeout.flow");
  Result r = Flow({"run", file}, {}, 30);
  ASSERT_EQ(r.code, 1) << r.Describe();
  // timeout 500ms + FLOW_KILL_GRACE_MS=200; the command would sleep 100 s.
  EXPECT_LT(r.seconds, 8) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 1, .ran = 0, .cached = 0, .skipped = 0, .failed = 1, .not_run = 0});
  EXPECT_THAT(s.first_failure, HasSubstr("stubborn")) << s.line;
  EXPECT_THAT(s.first_failure, HasSubstr("timed out")) << s.line;
  RunStore store(Db());
  auto attempts = store.Query("SELECT status, error FROM attempts WHERE run_id = ? AND instance = 'stubborn'",
                              {std::to_string(s.run)});
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0][0].value_or(""), "timed_out");
  EXPECT_THAT(attempts[0][1].value_or(""), HasSubstr("timed out"));
  EXPECT_FALSE(fs::exists(work_ / "survived.txt"));
  // The whole process group is gone: the shell and its background sleep.
  for (const char* f : {"sh.pid", "sleep.pid"}) {
    std::string text = ReadFile(work_ / f);
    ASSERT_FALSE(text.empty()) << f;
    pid_t pid = std::stoi(text);
    EXPECT_TRUE(WaitFor([&] { return ProcessGone(pid); }, 2)) << f << ": process " << pid << " still runs";
  }
}

// ---------------------------------------------------------------- outputs

TEST_F(RunE2E, MissingOutputFailsTheInstance) {
  fs::path file = Use("missing_output.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 1, .ran = 0, .cached = 0, .skipped = 0, .failed = 1, .not_run = 0});
  EXPECT_THAT(r.err, HasSubstr("lazy"));
  EXPECT_THAT(r.err, ContainsRegex("output 'out'|'out'|\"out\"")) << "the error names the missing output";
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT status FROM instances WHERE run_id = ? AND name = 'lazy'", {std::to_string(s.run)}), "failed");
  EXPECT_EQ(store.Scalar("SELECT status FROM attempts WHERE run_id = ? AND instance = 'lazy'", {std::to_string(s.run)}), "failed");
  EXPECT_THAT(store.Scalar("SELECT error FROM attempts WHERE run_id = ? AND instance = 'lazy'", {std::to_string(s.run)}),
              HasSubstr("out"));
  EXPECT_EQ(store.Scalar("SELECT count(*) FROM cache"), "0") << "a failed instance is never committed";
}

TEST_F(RunE2E, WronglyTypedOutputNamesInstanceOutputExpectedAndFound) {
  fs::path file = Use("wrong_type.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 1, .ran = 0, .cached = 0, .skipped = 0, .failed = 1, .not_run = 0});
  // docs/runtime.md: train[2]: output 'metrics': expected Metrics, found {...}
  EXPECT_THAT(r.err, HasSubstr("typed: output 'n': expected int, found \"abc\"")) << r.Describe();
  RunStore store(Db());
  EXPECT_EQ(store.Scalar("SELECT status FROM attempts WHERE run_id = ? AND instance = 'typed'", {std::to_string(s.run)}), "failed");
  EXPECT_THAT(store.Scalar("SELECT error FROM attempts WHERE run_id = ? AND instance = 'typed'", {std::to_string(s.run)}),
              AllOf(HasSubstr("'n'"), HasSubstr("expected int"), HasSubstr("\"abc\"")));
}

// ---------------------------------------------------------------- resources

/// Runs FILE with ARGS, then returns the largest overlap among the commands'
/// own start/end times (spans.log) and among the store's attempts; both
/// must be at most `capacity`.
struct Overlaps {
  int commands = -1, store = -1;
  size_t spans = 0;
};

class ResourceE2E : public RunE2E {
 protected:
  Overlaps RunAndMeasure(const std::string& name, const std::vector<std::string>& args, size_t expected_spans,
                         int instances = -1) {
    fs::path file = Use(name);
    std::vector<std::string> all = {"run", file.string()};
    all.insert(all.end(), args.begin(), args.end());
    Result r = Flow(all);
    Overlaps o;
    EXPECT_EQ(r.code, 0) << r.Describe();
    if (r.code != 0) return o;
    if (instances < 0) instances = static_cast<int>(expected_spans);
    Summary s = CheckSummary(r, "succeeded", {.instances = instances, .failed = 0});
    auto spans = SpansFromLog(ReadFile(work_ / "spans.log"));
    std::vector<std::pair<double, double>> list;
    for (auto& [n, span] : spans) {
      EXPECT_GT(span.first, 0) << n << " has no start";
      EXPECT_GE(span.second, span.first) << n << " has no end";
      list.push_back(span);
    }
    o.spans = list.size();
    EXPECT_EQ(o.spans, expected_spans) << ReadFile(work_ / "spans.log");
    o.commands = MaxOverlap(list);
    RunStore store(Db());
    auto attempts = store.AttemptSpans(s.run);
    EXPECT_EQ(attempts.size(), static_cast<size_t>(instances)) << store.error();
    o.store = MaxOverlap(attempts);
    return o;
  }
};

TEST_F(ResourceE2E, CpuCapacityBoundsHowManyRunAtOnce) {
  Overlaps o = RunAndMeasure("cpus.flow", {"--cpus", "2"}, 6);
  EXPECT_LE(o.commands, 2) << "more than 2 one-cpu commands overlapped with --cpus 2";
  EXPECT_LE(o.store, 2) << "the store's attempts overlap more than 2 with --cpus 2";
  EXPECT_EQ(o.commands, 2) << "with 2 cpus free, two one-cpu stages should run side by side";
}

TEST_F(ResourceE2E, CustomPoolOfOneSerializesItsUsers) {
  Overlaps o = RunAndMeasure("pool.flow", {"--cpus", "4", "--pool", "licenses=1"}, 4);
  EXPECT_EQ(o.commands, 1) << "users of a pool of 1 overlapped";
  EXPECT_EQ(o.store, 1) << "the store's attempts of a pool of 1 overlap";
}

TEST_F(ResourceE2E, MemoryCapacityKeepsTwoBigStagesApart) {
  Overlaps o = RunAndMeasure("memory.flow", {"--cpus", "4", "--memory", "3GB"}, 3);
  EXPECT_EQ(o.commands, 1) << "two 2GB stages overlapped with --memory 3GB";
  EXPECT_EQ(o.store, 1) << "the store's 2GB attempts overlap with --memory 3GB";
}

TEST_F(ResourceE2E, GpusAreHandedOutAsDistinctDeviceIndices) {
  Overlaps o = RunAndMeasure("gpus.flow", {"--cpus", "4", "--gpus", "2"}, 2, 3);
  std::string a = ReadFile(work_ / "one0.txt"), b = ReadFile(work_ / "one1.txt");
  EXPECT_THAT(a, AnyOf("0\n", "1\n"));
  EXPECT_THAT(b, AnyOf("0\n", "1\n"));
  if (o.commands == 2) {
    EXPECT_NE(a, b) << "two one-GPU stages running at once got the same device";
  }
  EXPECT_THAT(ReadFile(work_ / "both.txt"), AnyOf("0,1\n", "1,0\n"));
}

TEST_F(RunE2E, StageAskingExactlyTheMemoryCapacityFits) {
  // memory: 4GB in a .flow file and --memory 4GB are the same size (4 x 2^30 bytes).
  fs::path file = Use("too_big_memory.flow");
  Result r = Flow({"run", file, "--cpus", "4", "--memory", "4GB"});
  ASSERT_EQ(r.code, 0) << "SPEC 1.1: each size unit is 1024 times the one before, on the command line too\n"
                       << r.Describe();
  EXPECT_TRUE(fs::exists(work_ / "big.txt"));
}

TEST_F(RunE2E, SizeAndDurationOutputsWrittenAsStringsUseTheLanguagesUnits) {
  fs::path file = Use("sizes.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 0) << r.Describe();
  CheckSummary(r, "succeeded", {.instances = 3, .failed = 0});
  auto checks = Lines(ReadFile(work_ / "checks.txt"));
  EXPECT_THAT(checks, Contains("size")) << "an output \"4GB\" is not equal to 4GB (4 x 2^30 bytes)";
  EXPECT_THAT(checks, Contains("duration")) << "an output \"2m\" is not equal to 2m";
}

TEST_F(RunE2E, BackfillingNeverDelaysTheBlockedInstance) {
  fs::path file = Use("backfill.flow");
  Result r = Flow({"run", file, "--cpus", "2"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 5, .ran = 5});
  auto spans = SpansFromLog(ReadFile(work_ / "spans.log"));
  ASSERT_EQ(spans.size(), 3u) << ReadFile(work_ / "spans.log");
  EXPECT_GE(spans["big"].first, spans["a"].second) << "big (2 cpus) overlapped a (1 cpu) with --cpus 2";
  EXPECT_GE(spans["c"].first, spans["big"].first)
      << "c (estimated 30 s) started while big waited for a (estimated to end after 1 s): it delays big";
  RunStore store(Db());
  auto start = [&](const std::string& name) {
    std::string t = store.Scalar("SELECT min(started_at) FROM attempts WHERE run_id = ? AND instance = ?",
                                 {std::to_string(s.run), name});
    return t.empty() ? -1.0 : std::stod(t);
  };
  EXPECT_GE(start("c"), start("big")) << "the store agrees: c started before big";
}

/// An instance that can never fit: exit 2, nothing started, the error names
/// the instance and the resource.
void ExpectNeverFits(const Result& r, const fs::path& work, const fs::path& db,
                     const std::vector<std::string>& words) {
  EXPECT_EQ(r.code, 2) << r.Describe();
  EXPECT_LT(r.seconds, 10) << r.Describe();
  for (const auto& w : words) EXPECT_THAT(r.err, ContainsRegex(w)) << r.Describe();
  EXPECT_FALSE(fs::exists(work / "started.txt")) << "an instance started although the run could never finish";
  EXPECT_FALSE(fs::exists(work / "big.txt"));
  if (fs::exists(db)) {
    RunStore store(db);
    EXPECT_EQ(store.Scalar("SELECT count(*) FROM attempts"), "0") << "nothing may start";
  }
}

TEST_F(RunE2E, InstanceAskingMoreCpusThanThereAreFailsBeforeAnythingStarts) {
  fs::path file = Use("too_big_cpus.flow");
  Result r = Flow({"run", file, "--cpus", "4"});
  ExpectNeverFits(r, work_, Db(), {"big", "cpus", "8", "4"});
}

TEST_F(RunE2E, InstanceAskingMoreMemoryThanThereIsFailsBeforeAnythingStarts) {
  fs::path file = Use("too_big_memory.flow");
  Result r = Flow({"run", file, "--cpus", "4", "--memory", "3GB"});
  ExpectNeverFits(r, work_, Db(),
                  {"big", "memory", "4(\\.0+)? ?Gi?B|4\\.29[0-9]* ?GB|4294967296", "3(\\.0+)? ?Gi?B|3\\.22[0-9]* ?GB|3221225472"});
}

TEST_F(RunE2E, InstanceAskingForAPoolWithoutCapacityFailsBeforeAnythingStarts) {
  fs::path file = Use("no_pool.flow");
  Result r = Flow({"run", file, "--cpus", "4"});
  ExpectNeverFits(r, work_, Db(), {"big", "licenses"});
}

// ---------------------------------------------------------------- priorities

TEST_F(RunE2E, LongestChainStartsFirst) {
  fs::path file = Use("priority.flow");
  Result r = Flow({"run", file, "--cpus", "1"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 10, .ran = 10, .failed = 0});
  auto order = Lines(ReadFile(work_ / "order.log"));
  ASSERT_EQ(order.size(), 10u);
  EXPECT_EQ(order[0], "first") << "the head of the 80 s critical path must start before the 1 s stages";
  // After `first`, `second` (60 s to go) outranks every short stage, and so on.
  EXPECT_EQ(std::vector<std::string>(order.begin(), order.begin() + 4),
            (std::vector<std::string>{"first", "second", "third", "fourth"}))
      << "the chain keeps the highest priority among ready instances";

  RunStore store(Db());
  auto by_start = store.Query("SELECT instance FROM attempts WHERE run_id = ? ORDER BY started_at", {std::to_string(s.run)});
  ASSERT_EQ(by_start.size(), 10u) << store.error();
  EXPECT_EQ(by_start[0][0].value_or(""), "first");
  // With one cpu the store's attempts never overlap either.
  EXPECT_EQ(MaxOverlap(store.AttemptSpans(s.run)), 1);
}

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

// ---------------------------------------------------------------- status, runs, logs

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

TEST_F(RunE2E, ConditionThatCannotBeEvaluatedFailsTheRun) {
  fs::path file = Use("cond_error.flow");
  Result r = Flow({"run", file});
  EXPECT_EQ(r.code, 1) << r.Describe();
  CheckSummary(r, "failed", {.instances = 3});
  EXPECT_FALSE(fs::exists(work_ / "branch.txt")) << "a branch ran although its condition could not be evaluated";
}

TEST_F(RunE2E, SecondRunInTheSameFolderIsRefusedAndSigtermCancels) {
  fs::path file = Use("long.flow");
  Process first = Start({"run", file.string()});
  ASSERT_TRUE(first.started());
  ASSERT_TRUE(WaitFor([&] { return fs::exists(work_ / "started.txt") || first.Exited(); }, 20))
      << "the slow stage never started";
  ASSERT_FALSE(first.Exited()) << first.Wait(1).Describe();

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
}

}  // namespace
}  // namespace flow::e2e
