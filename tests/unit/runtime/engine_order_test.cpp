// SPDX-License-Identifier: Apache-2.0
// The engine's order of starts at the moments where timing used to decide
// it, made deterministic with a scripted executor: the test says which jobs
// end at each Poll, and the executor records every Submit. The executor
// "runs" the two commands these plans use: `touch PATH...` (creates the
// files, relative to the job's folder) and `true`.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "diag/diagnostic.h"
#include "driver/frontend.h"
#include "engine/engine.h"
#include "exec/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/source_manager.h"
#include "store/run_store.h"

namespace flow::rt {
namespace {

namespace fs = std::filesystem;

class ScriptedExecutor : public Executor {
 public:
  struct Job {
    uint64_t id;
    LaunchSpec spec;
  };
  /// Called on every Poll with the wait the engine asked for (0: "only what
  /// already ended"); returns the instances that end now, with exit codes.
  using Script = std::function<std::vector<std::pair<std::string, int>>(ScriptedExecutor&, double wait)>;

  explicit ScriptedExecutor(Script script) : script_(std::move(script)) {}

  const char* Name() const override { return "scripted"; }
  std::variant<uint64_t, std::string> Submit(const LaunchSpec& spec) override {
    uint64_t id = ++next_;
    running_.push_back({id, spec});
    submits_.push_back(Label(spec));
    return id;
  }
  std::vector<Completion> Poll(double max_wait_s) override {
    std::vector<Completion> out;
    if (++polls_ > 1000) {  // a script that never ends its jobs: fail, do not hang
      ADD_FAILURE() << "more than 1000 polls";
      std::abort();
    }
    for (uint64_t id : cancelled_) out.push_back(End(id, 0, Completion::Cancelled));
    cancelled_.clear();
    for (const auto& [instance, code] : script_(*this, max_wait_s)) {
      const Job* job = Find(instance);
      if (!job) {
        ADD_FAILURE() << "the script ends " << instance << ", which is not running; running: " << RunningText();
        continue;
      }
      out.push_back(End(job->id, code, Completion::Exited));
    }
    return out;
  }
  void Cancel(uint64_t job) override { cancelled_.push_back(job); }
  void Kill(uint64_t job) override {
    killed_.push_back(job);
    bool running = std::any_of(running_.begin(), running_.end(), [&](const Job& j) { return j.id == job; });
    if (running && std::find(cancelled_.begin(), cancelled_.end(), job) == cancelled_.end()) cancelled_.push_back(job);
  }
  const std::vector<uint64_t>& killed() const { return killed_; }
  size_t Running() const override { return running_.size(); }

  /// "instance#attempt" of every Submit, in order.
  const std::vector<std::string>& submits() const { return submits_; }
  const std::deque<Job>& running() const { return running_; }
  bool IsRunning(const std::string& instance) const { return Find(instance) != nullptr; }
  std::string RunningText() const {
    std::string s;
    for (const auto& j : running_) s += (s.empty() ? "" : ", ") + Label(j.spec);
    return s.empty() ? "(none)" : s;
  }

 private:
  static std::string Label(const LaunchSpec& s) { return s.instance + "#" + std::to_string(s.attempt); }
  const Job* Find(const std::string& instance) const {
    for (const auto& j : running_)
      if (j.spec.instance == instance) return &j;
    return nullptr;
  }
  Completion End(uint64_t id, int code, Completion::Kind kind) {
    Completion c;
    c.job = id;
    c.kind = kind;
    c.exit_code = code;
    for (auto it = running_.begin(); it != running_.end(); ++it) {
      if (it->id != id) continue;
      const auto& argv = it->spec.argv;
      if (kind == Completion::Exited && code == 0 && !argv.empty() && argv[0] == "touch") {
        for (size_t i = 1; i < argv.size(); ++i) {
          fs::path p = fs::path(argv[i]).is_absolute() ? fs::path(argv[i]) : fs::path(it->spec.cwd) / argv[i];
          int fd = ::open(p.c_str(), O_CREAT | O_WRONLY, 0644);
          EXPECT_GE(fd, 0) << p;
          if (fd >= 0) ::close(fd);
        }
      } else if (kind == Completion::Exited && code == 0) {
        EXPECT_TRUE(argv.size() == 1 && argv[0] == "true") << "the scripted executor runs only touch and true";
      }
      running_.erase(it);
      break;
    }
    return c;
  }

  Script script_;
  uint64_t next_ = 0;
  int polls_ = 0;
  std::deque<Job> running_;
  std::vector<uint64_t> cancelled_, killed_;
  std::vector<std::string> submits_;
};

class EngineOrderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flow-engine-order-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  plan::Plan Compile(const std::string& source) {
    SourceManager sm;
    DiagSink sink;
    driver::FrontendResult result;
    std::optional<plan::Plan> plan;
    driver::CompileOptions options;
    options.use_history = false;  // priorities from the estimates written here only
    FileId file = sm.AddBuffer(dir_ + "/test.flow", source);
    driver::RunWithLargeStack([&] {
      driver::RunFrontend(sm, file, sink, driver::LoadOptions{}, result);
      if (!sink.has_errors()) plan = driver::CompileToPlan(result, sm, options, sink, nullptr, nullptr);
    });
    for (const auto& d : sink.diagnostics()) ADD_FAILURE() << d.message;
    EXPECT_TRUE(plan.has_value());
    return plan ? std::move(*plan) : plan::Plan{};
  }

  RunSummary RunWith(const plan::Plan& plan, ScriptedExecutor& ex, double cpus, Capacity cap = {}) {
    std::string error;
    auto store = RunStore::Open(dir_ + "/runs.db", true, error);
    EXPECT_TRUE(store) << error;
    RunOptions opt;
    opt.project_dir = dir_;
    opt.plan_path = dir_ + "/test.flow";
    opt.capacity = cap;
    opt.capacity.cpus = cpus;
    opt.capacity.memory_bytes = 1e12;
    opt.progress = ProgressMode::None;
    opt.retry_backoff_ms = 0;
    return rt::Run(plan, *store, ex, opt);
  }

  // The submits after the first `n`.
  static std::vector<std::string> After(const ScriptedExecutor& ex, size_t n) {
    const auto& s = ex.submits();
    return {s.begin() + static_cast<long>(std::min(n, s.size())), s.end()};
  }

  std::string dir_;
};

// Ends the oldest running job, successfully: what a script does once the
// moment under test is past.
std::vector<std::pair<std::string, int>> EndOldest(ScriptedExecutor& ex, double wait) {
  if (wait == 0 || ex.running().empty()) return {};
  return {{ex.running().front().spec.instance, 0}};
}

// A retry that is due must not lose its cpu to instances of lower priority
// that became ready in the same batch of completions: due retries go back to
// the scheduler before the activations start queued work early.
TEST_F(EngineOrderTest, DueRetryStartsBeforeLowerPriorityWorkReadyAtTheSameTime) {
  plan::Plan plan = Compile(R"(
stage head(n: int) -> (out: file) {
  estimate 10s
  retry 1
  run "touch {out}"
}
stage tail(prev: file) {
  estimate 100s
  run "true"
}
stage x(n: int) -> (out: file) {
  estimate 1s
  run "touch {out}"
}
stage leaf(prev: file, i: int) {
  estimate 1s
  run "true"
}
pipeline main {
  let h = head(n: 1)
  tail(prev: h.out)
  let y = x(n: 2)
  for i in range(12) {
    leaf(prev: y.out, i: i)
  }
}
)");
  bool failed_head = false;
  ScriptedExecutor ex([&](ScriptedExecutor& e, double wait) -> std::vector<std::pair<std::string, int>> {
    if (!failed_head) {
      if (wait == 0) return {};
      failed_head = true;
      // head's first attempt fails while x succeeds: twelve leaves become
      // ready, and head's retry is due at once (no backoff here).
      EXPECT_TRUE(e.IsRunning("head") && e.IsRunning("x")) << e.RunningText();
      return {{"head", 1}, {"x", 0}};
    }
    return EndOldest(e, wait);
  });
  RunSummary sum = RunWith(plan, ex, 2);
  EXPECT_EQ(sum.exit_code, 0) << sum.line;
  ASSERT_GE(ex.submits().size(), 4u);
  EXPECT_THAT(std::vector<std::string>(ex.submits().begin(), ex.submits().begin() + 2),
              ::testing::UnorderedElementsAre("head#1", "x#1"));
  // The two cpus freed by head and x: one for head's retry (priority 110 s),
  // not both for leaves (1 s).
  EXPECT_THAT(std::vector<std::string>(ex.submits().begin() + 2, ex.submits().begin() + 4), ::testing::Contains("head#2"))
      << ::testing::PrintToString(ex.submits());
  EXPECT_EQ(ex.submits().size(), 2u + 1u + 1u + 12u);  // + head#2, tail, 12 leaves
}

// When a job's bookkeeping is done and another job has ended meanwhile,
// what starts early must not outrank the successors of the first job that
// are still waiting to be activated: here a 2-cpu successor of priority
// 100 s, which a 1 s instance taking one of the two free cpus would delay.
TEST_F(EngineOrderTest, EarlyStartWaitsForSuccessorsStillToBeActivated) {
  plan::Plan plan = Compile(R"(
stage p(n: int) -> (out: file) {
  estimate 10s
  run "touch {out}"
}
stage big(prev: file) {
  estimate 100s
  resources { cpus: 2 }
  run "true"
}
stage r(n: int) {
  estimate 2s
  run "true"
}
stage w(n: int) {
  estimate 1s
  run "true"
}
pipeline main {
  let a = p(n: 1)
  big(prev: a.out)
  r(n: 2)
  w(n: 3)
}
)");
  int step = 0;
  ScriptedExecutor ex([&](ScriptedExecutor& e, double wait) -> std::vector<std::pair<std::string, int>> {
    if (step == 0) {
      if (wait == 0) return {};
      step = 1;
      // p and r started (priorities 110 s and 2 s); w waits for a cpu.
      EXPECT_TRUE(e.IsRunning("p") && e.IsRunning("r")) << e.RunningText();
      return {{"p", 0}};
    }
    if (step == 1) {
      // The engine asks again right after p's bookkeeping, with big still to
      // be activated: r has ended in the meantime.
      if (wait != 0) ADD_FAILURE() << "expected a zero-wait poll after p's bookkeeping";
      step = 2;
      return {{"r", 0}};
    }
    return EndOldest(e, wait);
  });
  RunSummary sum = RunWith(plan, ex, 2);
  EXPECT_EQ(sum.exit_code, 0) << sum.line;
  EXPECT_THAT(After(ex, 2), ::testing::ElementsAre("big#1", "w#1")) << ::testing::PrintToString(ex.submits());
}

// GPUs reach the command as CUDA_VISIBLE_DEVICES names them (numbers,
// GPU-UUIDs, MIG ids), not as flow's own indices 0..N-1: with
// CUDA_VISIBLE_DEVICES=2,5 a stage must get device 2 or 5, never 0.
TEST_F(EngineOrderTest, GpusAreHandedOutByTheirNames) {
  plan::Plan plan = Compile(R"(
stage g(n: int) {
  resources { gpus: 1 }
  run "true"
}
pipeline main {
  for i in range(3) {
    g(n: i)
  }
}
)");
  std::vector<std::string> devices;
  ScriptedExecutor ex([&](ScriptedExecutor& e, double wait) -> std::vector<std::pair<std::string, int>> {
    for (const auto& j : e.running())
      for (const auto& kv : j.spec.env)
        if (kv.rfind("CUDA_VISIBLE_DEVICES=", 0) == 0) devices.push_back(j.spec.instance + " " + kv.substr(21));
    return EndOldest(e, wait);
  });
  Capacity cap;
  cap.gpus = 2;
  cap.gpu_names = {"GPU-5f3c1a2b-aaaa", "MIG-7"};
  RunSummary sum = RunWith(plan, ex, 4, cap);
  EXPECT_EQ(sum.exit_code, 0) << sum.line;
  std::set<std::string> seen;
  for (const auto& d : devices) seen.insert(d.substr(d.find(' ') + 1));
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre("GPU-5f3c1a2b-aaaa", "MIG-7")) << ::testing::PrintToString(devices);
}

// State changes go to the run store 100 ms after the first one that waits,
// however many instances changed (the store's writer may group those of a
// busy run further): the engine's wait for its jobs says when. (The script
// answers at once, so a run takes milliseconds.)
TEST_F(EngineOrderTest, ChangesGoToTheStoreWithin100Ms) {
  auto first_wait = [&](int n) {
    // A stage of its own for each call: nothing of the call before is reused.
    std::string stage = "s" + std::to_string(n);
    plan::Plan plan = Compile("stage " + stage + R"((n: int) {
  resources { cpus: 1 }
  run "true"
}
pipeline main {
  for i in range()" + std::to_string(n) + ") {\n    " + stage + R"((n: i)
  }
}
)");
    double first = -1, elapsed = 0;
    auto t0 = std::chrono::steady_clock::now();
    ScriptedExecutor ex([&](ScriptedExecutor& e, double wait) -> std::vector<std::pair<std::string, int>> {
      if (wait == 0) return {};
      if (first < 0) {
        first = wait;  // every instance started: their records wait
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return {};
      }
      std::vector<std::pair<std::string, int>> all;
      for (const auto& j : e.running()) all.push_back({j.spec.instance, 0});
      return all;
    });
    RunSummary sum = RunWith(plan, ex, 1000);
    EXPECT_EQ(sum.exit_code, 0) << sum.line;
    EXPECT_EQ(ex.submits().size(), static_cast<size_t>(n));
    return std::pair(first, elapsed);
  };
  for (int n : {3, 150}) {
    // The records became due 100 ms after the first of them, which came
    // after the run started: the engine waits no longer than that, and
    // does not hand them over sooner (on a quiet machine, everything
    // starts within a few ms: a wait of over 90 ms).
    auto [wait, elapsed] = first_wait(n);
    EXPECT_LE(wait, 0.101) << n << " instances";
    EXPECT_GE(wait, 0.1 - elapsed - 0.01) << n << " instances, the first wait " << elapsed << " s after the start";
  }
}

}  // namespace
}  // namespace flow::rt
