// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of `flow run` on real .flow files (tests/e2e/*.flow):
// fan-out, conditions, loops, dynamic fan-out, retries, timeouts, output
// checks, resources and priorities. run_more_test.cpp has the rest.
#include "run_fixture.h"

namespace flow::e2e {
namespace {

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

TEST_F(RunE2E, DeeplyNestedOutputFailsTheInstanceNotFlow) {
  fs::path file = Use("deep_output.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 1) << r.Describe();
  CheckSummary(r, "failed", {.instances = 1, .ran = 0, .cached = 0, .skipped = 0, .failed = 1, .not_run = 0});
  EXPECT_THAT(r.err, HasSubstr("deep: output 'n': expected list<int>, found text that is not JSON")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("nested more than 1000 levels deep")) << r.Describe();
}

TEST_F(RunE2E, ValuesHoldingANulCharacterFailTheirInstance) {
  fs::path file = Use("nul.flow");
  Result r = Flow({"run", file, "--keep-going"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  Summary s = CheckSummary(r, "failed", {.instances = 4, .ran = 1, .cached = 0, .skipped = 0, .failed = 3, .not_run = 0});
  RunStore store(Db());
  auto error = [&](const char* instance) {
    return store.Scalar("SELECT error FROM attempts WHERE run_id = ? AND instance = ?", {std::to_string(s.run), instance});
  };
  EXPECT_THAT(error("b"), HasSubstr("the value \"/\\u0000tmp/whatever\" holds a NUL character (\\u0000), which no "
                                    "command line can hold"));
  EXPECT_THAT(error("e"), HasSubstr("which no environment variable can hold"));
  EXPECT_THAT(error("c"), HasSubstr("output 'fs': it names a path that holds a NUL character"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("END"))) << "the cut command must not run";
}

TEST_F(RunE2E, AnOutputNamingTheProjectFolderAsAFileSaysItIsAFolder) {
  fs::path file = Use("dot_output.flow");
  Result r = Flow({"run", file});
  ASSERT_EQ(r.code, 1) << r.Describe();
  // It used to say "names the file ., which does not exist".
  EXPECT_THAT(r.err, HasSubstr("a: output 'fs': it names . as a file, but that is a folder")) << r.Describe();
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

// Without --gpus and CUDA_VISIBLE_DEVICES, the GPUs are those `nvidia-smi -L`
// lists, when it is in PATH; with none there, there are none.
TEST_F(ResourceE2E, GpusComeFromNvidiaSmiInPath) {
  if (std::getenv("CUDA_VISIBLE_DEVICES")) GTEST_SKIP() << "CUDA_VISIBLE_DEVICES is set for the tests";
  fs::path bin = work_ / "fake-bin";
  WriteFile(bin / "nvidia-smi", "#!/bin/sh\necho 'GPU 0: Fake (UUID: GPU-a)'\necho 'GPU 1: Fake (UUID: GPU-b)'\n");
  fs::permissions(bin / "nvidia-smi", fs::perms::owner_all);
  std::vector<std::string> env = kFastEnv;
  env.push_back("PATH=" + bin.string() + ":/usr/bin:/bin");
  fs::path file = Use("gpus.flow");
  Result r = Flow({"run", file.string(), "--cpus", "4"}, {}, 60, env);
  ASSERT_EQ(r.code, 0) << r.Describe();
  EXPECT_THAT(ReadFile(work_ / "both.txt"), AnyOf("0,1\n", "1,0\n"));

  // No nvidia-smi: no GPUs, so the two-GPU stage can never run.
  env.back() = "PATH=/usr/bin:/bin";
  Result none = Flow({"run", file.string(), "--cpus", "4"}, {}, 60, env);
  EXPECT_NE(none.code, 0) << none.Describe();
  EXPECT_THAT(none.err + none.out, HasSubstr("gpus")) << none.Describe();
}

// The GPUs are the devices CUDA_VISIBLE_DEVICES names, handed out by those
// names (numbers, GPU-UUIDs, MIG ids): UUIDs used to give a capacity of 0,
// and with --gpus N the stages got 0..N-1 whatever the list allowed.
TEST_F(RunE2E, GpusAreTheDevicesCudaVisibleDevicesNamesByTheirNames) {
  fs::path file = Use("gpus.flow");
  std::vector<std::string> env = kFastEnv;
  env.push_back("CUDA_VISIBLE_DEVICES=GPU-5f3c1a2b-aaaa, MIG-7");
  Result r = Flow({"run", file.string(), "--cpus", "4"}, {}, 60, env);
  ASSERT_EQ(r.code, 0) << r.Describe();
  EXPECT_THAT(ReadFile(work_ / "one0.txt"), AnyOf("GPU-5f3c1a2b-aaaa\n", "MIG-7\n"));
  EXPECT_THAT(ReadFile(work_ / "both.txt"), AnyOf("GPU-5f3c1a2b-aaaa,MIG-7\n", "MIG-7,GPU-5f3c1a2b-aaaa\n"));

  // --gpus 2 takes the first two of the list, never a device outside it.
  fs::remove_all(work_ / ".flow");
  env.back() = "CUDA_VISIBLE_DEVICES=2,5,7";
  Result two = Flow({"run", file.string(), "--cpus", "4", "--gpus", "2"}, {}, 60, env);
  ASSERT_EQ(two.code, 0) << two.Describe();
  EXPECT_THAT(ReadFile(work_ / "one0.txt"), AnyOf("2\n", "5\n"));
  EXPECT_THAT(ReadFile(work_ / "one1.txt"), AnyOf("2\n", "5\n"));
  EXPECT_THAT(ReadFile(work_ / "both.txt"), AnyOf("2,5\n", "5,2\n"));

  // More than the list has: refused before anything runs.
  env.back() = "CUDA_VISIBLE_DEVICES=2";
  Result more = Flow({"run", file.string(), "--cpus", "4", "--gpus", "2"}, {}, 60, env);
  EXPECT_EQ(more.code, 2) << more.Describe();
  EXPECT_THAT(more.err, HasSubstr("--gpus 2: CUDA_VISIBLE_DEVICES makes 1 device visible (2)"));

  // "-1" (and anything after it) names no device: no GPUs.
  env.back() = "CUDA_VISIBLE_DEVICES=-1,3";
  Result none = Flow({"run", file.string(), "--cpus", "4"}, {}, 60, env);
  EXPECT_EQ(none.code, 2) << none.Describe();
  EXPECT_THAT(none.err, HasSubstr("gpus")) << none.Describe();
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

// When many instances become ready at once, queued ones start while the rest
// are still being activated (the cpus would idle otherwise), but never one
// that an instance still to be activated outranks.
TEST_F(RunE2E, InstancesReadyAtOnceStartDuringTheirActivationInPriorityOrder) {
  fs::path file = Use("burst.flow");
  Result r = Flow({"run", file, "--cpus", "1"});
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 401, .ran = 401, .failed = 0});
  auto order = Lines(ReadFile(work_ / "order.log"));
  ASSERT_EQ(order.size(), 400u);
  EXPECT_EQ(order[0], "urgent") << "a short instance started while urgent, which outranks it, was not yet activated";

  // In a fan-out of equals (the shorts without urgent), on two cpus, one
  // starts before the last of the 400 is activated: in the store, the first
  // start among them comes before the last one became ready.
  fs::path dir = root_ / "equals";
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "burst.flow");
    f << "stage root() -> (out: file) {\n  run \"echo root > {out}\"\n}\n"
         "stage short(prev: file, i: int) {\n  estimate 1s\n  run \"true\"\n}\n"
         "pipeline main {\n  let r = root()\n  for i in range(400) {\n    short(prev: r.out, i: i)\n  }\n}\n";
  }
  r = Flow({"run", (dir / "burst.flow").string(), "--cpus", "2"}, dir);
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary e = CheckSummary(r, "succeeded", {.instances = 401, .ran = 401, .failed = 0});
  RunStore store(Db(dir));
  std::string run = std::to_string(e.run);
  double first_start = std::stod(store.Scalar(
      "SELECT min(started_at) FROM attempts WHERE run_id = ? AND stage = 'short'", {run}));
  double last_ready = std::stod(store.Scalar(
      "SELECT max(ready_at) FROM instances WHERE run_id = ? AND stage = 'short'", {run}));
  EXPECT_LT(first_start, last_ready) << "no short instance started until all 400 were activated";
}

}  // namespace
}  // namespace flow::e2e
