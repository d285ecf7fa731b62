// SPDX-License-Identifier: Apache-2.0
// Each optimization pass alone: what it removes, merges and computes, and
// what --explain says about it.
#include <sqlite3.h>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "plan_helper.h"

namespace flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr const char* kStages = R"(
stage prepare(src: file) -> (train: file, test: file) { run "p {src} {train} {test}" }
stage train(data: file, lr: float) -> (model: file, score: float) { run "t {data} {lr} {model} {score}" }
stage deploy(model: file) { run "d {model}" }
stage alert(msg: string) { run "a {msg}" }
stage noisy(src: file) -> (out: file) {
  cache false
  run "n {src} {out}"
}
)";
std::string With(const std::string& body) { return std::string(kStages) + body; }

std::string Explained(const opt::Explain& e, const std::string& pass) {
  std::string s;
  for (const auto& [p, line] : e.entries)
    if (p == pass) s += line + "\n";
  return s;
}

std::vector<std::string> DepNames(const plan::Plan& p, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& i : p.instances)
    if (i.name == name)
      for (auto d : i.deps) out.push_back(p.instances[d.value].name);
  return out;
}

TEST(DeadBranchesTest, RemovesBranchesDecidedAtCompileTime) {
  PlanHelper h(With(R"(
param mode: string = "fast"
param data: file = "d.csv"
pipeline main {
  let t = train(data: data, lr: 0.1)
  if mode == "fast" { let m = t.model } else { let m = prepare(src: data).train }
  deploy(model: m)
  if mode == "slow" { alert(msg: "slow") }
})"));
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(h.Names(), ElementsAre("train", "prepare", "deploy", "alert"));
  opt::Explain explain;
  size_t removed = opt::EliminateDeadBranches(h.plan(), &explain);
  EXPECT_EQ(removed, 2u);
  EXPECT_THAT(h.Names(), ElementsAre("train", "deploy"));
  EXPECT_TRUE(h.plan().gates.empty());
  // deploy's argument was a choose over the if: now train's output itself.
  const plan::ExprNode& arg = h.plan().Get(h.Find("deploy")->args[0].value);
  EXPECT_EQ(arg.op, plan::Op::Output);
  EXPECT_EQ(h.plan().instances[arg.instance.value].name, "train");
  std::string text = Explained(explain, "dead-branches");
  EXPECT_THAT(text, HasSubstr("only its branch runs; removed 1 instance: prepare"));
  EXPECT_THAT(text, HasSubstr("no branch runs; removed 1 instance: alert"));
  EXPECT_TRUE(plan::Verify(h.plan()).empty());
}

TEST(DeadBranchesTest, LeavesRuntimeConditionsAlone) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  let t = train(data: data, lr: 0.1)
  if t.score > 0.9 { deploy(model: t.model) } else { alert(msg: "low") }
})"));
  ASSERT_TRUE(h.ok());
  opt::Explain explain;
  EXPECT_EQ(opt::EliminateDeadBranches(h.plan(), &explain), 0u);
  EXPECT_EQ(h.plan().instances.size(), 3u);
  EXPECT_EQ(h.plan().gates.size(), 1u);
  EXPECT_THAT(Explained(explain, "dead-branches"), HasSubstr("nothing removed"));
}

TEST(CommonCallsTest, MergesTheSameCallInEveryIteration) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  for lr in [0.1, 0.2, 0.3] {
    let d = prepare(src: data)
    train(data: d.train, lr: lr)
  }
})"));
  ASSERT_TRUE(h.ok());
  opt::Explain explain;
  EXPECT_EQ(opt::EliminateCommonCalls(h.plan(), &explain), 2u);
  EXPECT_THAT(h.Names(), ElementsAre("prepare[0]", "train[0]", "train[1]", "train[2]"));
  for (const char* t : {"train[0]", "train[1]", "train[2]"}) {
    const plan::ExprNode& data = h.plan().Get(h.Find(t)->args[0].value);
    EXPECT_EQ(h.plan().instances[data.instance.value].name, "prepare[0]") << t;
  }
  EXPECT_THAT(Explained(explain, "common-calls"),
              HasSubstr("merged prepare[1], prepare[2] into prepare[0]: the same stage 'prepare' with the same inputs"));
  EXPECT_TRUE(plan::Verify(h.plan()).empty());
}

TEST(CommonCallsTest, MergesTransitivelyAndKeepsDifferentCalls) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  let a = prepare(src: data)
  let b = prepare(src: data)
  let ta = train(data: a.train, lr: 0.1)
  let tb = train(data: b.train, lr: 0.1)
  let tc = train(data: b.train, lr: 0.2)
  let n1 = noisy(src: data)
  let n2 = noisy(src: data)
  deploy(model: ta.model)
  deploy(model: tb.model)
  deploy(model: tc.model)
  deploy(model: n1.out)
  deploy(model: n2.out)
})"));
  ASSERT_TRUE(h.ok());
  opt::EliminateCommonCalls(h.plan(), nullptr);
  // b merges into a, so tb (same inputs once b is a) merges into ta, and
  // its deploy into ta's. noisy has cache false: never merged.
  EXPECT_THAT(h.Names(), ElementsAre("prepare", "train", "train#3", "noisy", "noisy#2", "deploy", "deploy#3",
                                     "deploy#4", "deploy#5"));
}

TEST(DependenciesTest, DataGateAndReduction) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  let p = prepare(src: data)
  let t = train(data: p.train, lr: 0.1)
  let u = train(data: p.test, lr: float(len("{t.model}")))
  if u.score > 0.5 { deploy(model: p.train) }
})"));
  ASSERT_TRUE(h.ok());
  opt::ComputeDependencies(h.plan());
  EXPECT_THAT(DepNames(h.plan(), "train#2"), UnorderedElementsAre("prepare", "train"));
  // deploy reads p, and waits for the gate, which reads u.
  EXPECT_THAT(DepNames(h.plan(), "deploy"), UnorderedElementsAre("prepare", "train#2"));
  opt::Explain explain;
  EXPECT_EQ(opt::ReduceDependencies(h.plan(), &explain), 2u);
  EXPECT_THAT(DepNames(h.plan(), "train#2"), ElementsAre("train"));   // prepare -> train -> train#2
  EXPECT_THAT(DepNames(h.plan(), "deploy"), ElementsAre("train#2"));  // prepare is upstream of train#2
  EXPECT_THAT(Explained(explain, "transitive-reduction"), HasSubstr("removed 2 of 5 dependency edges"));
}

TEST(PrioritiesTest, LongestPathFromEachInstance) {
  PlanHelper h(R"(
stage slow(x: int) -> (out: int) {
  estimate 10m
  run "s {x} {out}"
}
stage quick(x: int) -> (out: int) {
  estimate 1m
  run "q {x} {out}"
}
stage plain(x: int) { run "p {x}" }
pipeline main {
  let a = slow(x: 1)
  let b = quick(x: a.out)
  let c = quick(x: 2)
  plain(x: b.out + c.out)
})");
  ASSERT_TRUE(h.ok());
  opt::Explain explain;
  h.Optimize(&explain, {});
  auto prio = [&](const std::string& n) { return h.Find(n)->priority_s; };
  EXPECT_DOUBLE_EQ(prio("plain"), 60);  // the default estimate, 1m
  EXPECT_DOUBLE_EQ(prio("quick"), 120);
  EXPECT_DOUBLE_EQ(prio("quick#2"), 120);
  EXPECT_DOUBLE_EQ(prio("slow"), 720);
  EXPECT_EQ(h.Find("slow")->estimate_source, plan::EstimateSource::Declared);
  EXPECT_EQ(h.Find("plain")->estimate_source, plan::EstimateSource::Default);
  EXPECT_THAT(Explained(explain, "priorities"), HasSubstr("critical path, 12m estimated: slow -> quick -> plain"));
  // A measurement wins over the default and over a declared estimate
  // (SPEC: `estimate` is "for priorities until measured").
  opt::History history;
  history.median_ms["plain"] = 5000;
  history.median_ms["slow"] = 1000;
  opt::AssignPriorities(h.plan(), &history, 60000, nullptr);
  EXPECT_EQ(h.Find("plain")->estimate_source, plan::EstimateSource::History);
  EXPECT_DOUBLE_EQ(prio("plain"), 5);
  EXPECT_EQ(h.Find("slow")->estimate_source, plan::EstimateSource::History);
  EXPECT_EQ(h.Find("slow")->estimate_ms, 1000);
  EXPECT_EQ(h.Find("quick")->estimate_source, plan::EstimateSource::Declared);
}

TEST(PrioritiesTest, MapTemplatesCountOnTheCriticalPath) {
  PlanHelper h(R"(
stage split(x: int) -> (parts: list<int>) {
  estimate 1m
  run "s {x} {parts}"
}
stage work(x: int) -> (y: int) {
  estimate 10m
  run "w {x} {y}"
}
stage merge(ys: list<int>) {
  estimate 1m
  run "m {ys}"
}
pipeline main {
  let s = split(x: 1)
  for p in s.parts { let w = work(x: p) }
  merge(ys: w.y)
})");
  ASSERT_TRUE(h.ok());
  opt::Explain explain;
  h.Optimize(&explain, {});
  // split, then each element's work (10m, side by side), then merge.
  EXPECT_DOUBLE_EQ(h.Find("split")->priority_s, 12 * 60);
  EXPECT_DOUBLE_EQ(h.Find("merge")->priority_s, 60);
  EXPECT_DOUBLE_EQ(h.plan().maps[0].instances[0].priority_s, 11 * 60);
  EXPECT_THAT(Explained(explain, "priorities"), HasSubstr("12m estimated: split -> for@16 (each element) -> merge"));
}

TEST(PrioritiesTest, ReadsMediansFromTheRunStore) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("flow-history", dir));
  EXPECT_FALSE(opt::ReadHistory(dir.str().str()).has_value());  // no store yet
  llvm::SmallString<128> db(dir);
  llvm::sys::path::append(db, "runs.db");
  sqlite3* conn = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &conn), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(conn,
                         "CREATE TABLE attempts(stage TEXT, status TEXT, wall_s REAL);"
                         "INSERT INTO attempts VALUES ('train', 'succeeded', 10), ('train', 'succeeded', 30),"
                         " ('train', 'succeeded', 20), ('train', 'failed', 1000), ('prep', 'succeeded', 2),"
                         " ('prep', 'succeeded', 4);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(conn);
  auto h = opt::ReadHistory(dir.str().str());
  ASSERT_TRUE(h.has_value());
  EXPECT_DOUBLE_EQ(h->median_ms.at("train"), 20000);  // the failed attempt does not count
  EXPECT_DOUBLE_EQ(h->median_ms.at("prep"), 3000);
  EXPECT_EQ(h->samples.at("train"), 3);
  llvm::sys::fs::remove_directories(dir);
}

}  // namespace
}  // namespace flow::testing
