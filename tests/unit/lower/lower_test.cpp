// SPDX-License-Identifier: Apache-2.0
// Lowering: instance names, unrolling, inlining, gates, while iterations,
// map templates, param binding, and the errors only lowering can find.
#include "plan_helper.h"

namespace flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using ::testing::HasSubstr;

constexpr const char* kStages = R"(
record Metrics { accuracy: float, loss: float }
stage prepare(src: file) -> (train: file, test: file) { run "p {src} {train} {test}" }
stage train(data: file, lr: float) -> (model: file, metrics: Metrics) { run "t {data} {lr} {model} {metrics}" }
stage finetune(base: file, data: file) -> (model: file, metrics: Metrics) { run "f {base} {data} {model} {metrics}" }
stage deploy(model: file) { run "d {model}" }
stage shard(src: file) -> (parts: list<file>) { run "s {src} {parts}" }
stage count(src: file) -> (n: int) { run "c {src} {n}" }
)";
std::string With(const std::string& body) { return std::string(kStages) + body; }

TEST(LowerTest, StaticForUnrollsWithIndexedNames) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  let d = prepare(src: data)
  for lr in [0.1, 0.01, 0.001] { let t = train(data: d.train, lr: lr) }
  for i in range(0, 2) { for j in [1, 2] { count(src: t[i].model) } }
})"));
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(h.Names(), ElementsAre("prepare", "train[0]", "train[1]", "train[2]", "count[0][0]", "count[0][1]",
                                     "count[1][0]", "count[1][1]"));
  // The loop variable is a literal in each instance.
  const plan::Instance* t2 = h.Find("train[2]");
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(h.plan().Get(t2->args[1].value).lit.getAsNumber().getValue(), 0.001);
  // count[1][0] reads train[1]'s model: t[i] indexed at compile time.
  const plan::ExprNode& src = h.plan().Get(h.Find("count[1][0]")->args[0].value);
  EXPECT_EQ(src.op, plan::Op::Output);
  EXPECT_EQ(h.plan().instances[src.instance.value].name, "train[1]");
}

TEST(LowerTest, SubPipelinesAreInlinedWithPrefixedNames) {
  PlanHelper h(With(R"(
pipeline measure(src: file) -> (n: int) {
  let p = prepare(src: src)
  let c = count(src: p.train)
  output n = c.n
}
pipeline main {
  let a = measure(src: "a.txt")
  let b = measure(src: "b.txt")
  count(src: "{a.n}{b.n}.txt")
})"));
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(h.Names(), ElementsAre("measure.prepare", "measure.count", "measure#2.prepare", "measure#2.count", "count"));
}

TEST(LowerTest, RuntimeIfBecomesAGateWithGuardsAndChoose) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  let t = train(data: data, lr: 0.1)
  if t.metrics.accuracy > 0.9 { let m = finetune(base: t.model, data: data) }
  else { let m = train(data: data, lr: 0.2) }
  deploy(model: m.model)
})"));
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h.plan().gates.size(), 1u);
  EXPECT_EQ(h.plan().gates[0].name, "if@13");
  EXPECT_TRUE(h.plan().gates[0].has_else);
  EXPECT_THAT(h.Find("finetune")->guards, ElementsAre(plan::Guard{{0}, 0}));
  EXPECT_THAT(h.Find("train#2")->guards, ElementsAre(plan::Guard{{0}, 1}));
  EXPECT_TRUE(h.Find("deploy")->guards.empty());
  EXPECT_EQ(h.plan().Get(h.Find("deploy")->args[0].value).op, plan::Op::Choose);
}

TEST(LowerTest, WhileBecomesGuardedIterations) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  var m = train(data: data, lr: 0.1)
  while m.metrics.accuracy < 0.95 max 3 { m = finetune(base: m.model, data: data) }
  deploy(model: m.model)
})"));
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(h.Names(), ElementsAre("train", "finetune@1", "finetune@2", "finetune@3", "deploy"));
  ASSERT_EQ(h.plan().gates.size(), 3u);
  EXPECT_TRUE(h.plan().gates[0].guards.empty());
  EXPECT_THAT(h.plan().gates[2].guards, ElementsAre(plan::Guard{{1}, 0}));  // iteration 3 needs iteration 2
  // Inside iteration 2 the var is iteration 1's value, not a choose.
  const plan::ExprNode& base = h.plan().Get(h.Find("finetune@2")->args[0].value);
  EXPECT_EQ(base.op, plan::Op::Output);
  EXPECT_EQ(h.plan().instances[base.instance.value].name, "finetune@1");
}

TEST(LowerTest, WhileOverStaticValuesUnrollsAtCompileTime) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  var i = 0
  while i < 3 max 10 { count(src: data) i = i + 1 }
})"));
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(h.Names(), ElementsAre("count@1", "count@2", "count@3"));
  EXPECT_TRUE(h.plan().gates.empty());
}

TEST(LowerTest, ForOverARuntimeListIsAMapTemplate) {
  PlanHelper h(With(R"(
param data: file = "d.csv"
pipeline main {
  let s = shard(src: data)
  for part in s.parts {
    let c = count(src: part)
    if c.n > 10 { deploy(model: part) }
  }
  train(data: data, lr: float(sum(c.n)))
})"));
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h.plan().maps.size(), 1u);
  const plan::Map& m = h.plan().maps[0];
  EXPECT_EQ(m.var, "part");
  ASSERT_EQ(m.instances.size(), 2u);
  EXPECT_EQ(m.instances[0].name, "count[*]");
  EXPECT_EQ(m.gates.size(), 1u);  // the template's own gate
  EXPECT_THAT(m.instances[1].guards, ElementsAre(plan::Guard{{0}, 0}));
  EXPECT_THAT(h.Names(), ElementsAre("shard", "train"));
}

TEST(LowerTest, ParamsBoundAtCompileTimeFold) {
  lower::LowerOptions options;
  options.params = {{"rates", "[0.5, 0.25]"}, {"data", "in.csv"}};
  PlanHelper h(With(R"(
param data: file
param rates: list<float> = [0.1]
param fast: bool = true
pipeline main {
  for r in rates { train(data: data, lr: r) }
  if fast { deploy(model: data) } else { count(src: data) }
})"),
               options);
  ASSERT_TRUE(h.ok()) << ::testing::PrintToString(h.diags());
  EXPECT_THAT(h.Names(), ElementsAre("train[0]", "train[1]", "deploy", "count"));
  std::map<std::string, plan::Param> params;
  for (const auto& p : h.plan().params) params[p.name] = p;
  EXPECT_TRUE(params["rates"].structural);  // it shaped the loop
  EXPECT_TRUE(params["fast"].structural);   // it decided the if (still a literal gate here)
  EXPECT_FALSE(params["data"].structural);  // only a value passed along
  EXPECT_EQ(params["data"].value, llvm::json::Value("in.csv"));
  EXPECT_EQ(h.plan().gates.size(), 1u);
  EXPECT_EQ(h.plan().Get(h.plan().gates[0].conds[0]).op, plan::Op::Lit);
}

TEST(LowerTest, TheLastParamOfANameWinsAndGivenTextBeatsCarriedValues) {
  // `--param n=many --param n=2`: the last one wins, the earlier is not even
  // parsed; a value carried over by --resume (param_values) counts only
  // where no --param names the param.
  lower::LowerOptions options;
  options.params = {{"n", "many"}, {"n", "2"}, {"data", "a.csv"}};
  options.param_values = {{"data", llvm::json::Value("old.csv")}, {"k", llvm::json::Value(7)}, {"gone", 1}};
  PlanHelper h(With(R"(
param n: int = 1
param k: int = 1
param data: file
pipeline main {
  for i in range(0, n) { count(src: data) }
})"),
               options);
  ASSERT_TRUE(h.ok()) << ::testing::PrintToString(h.diags());
  EXPECT_THAT(h.Names(), ElementsAre("count[0]", "count[1]"));
  std::map<std::string, plan::Param> params;
  for (const auto& p : h.plan().params) params[p.name] = p;
  EXPECT_EQ(params["n"].value, llvm::json::Value(2));
  EXPECT_EQ(params["data"].value, llvm::json::Value("a.csv"));
  EXPECT_EQ(params["k"].value, llvm::json::Value(7));
}

TEST(LowerTest, ErrorsOnlyLoweringCanFind) {
  {
    lower::LowerOptions options;
    options.params = {{"nope", "1"}};
    PlanHelper h(With("pipeline main { count(src: \"x\") }"), options);
    EXPECT_FALSE(h.ok());
    EXPECT_THAT(h.diags(), ElementsAre(IsDiagMsg(DiagKind::UnknownParam, 0, 0, "no param 'nope'")));
  }
  {
    lower::LowerOptions options;
    options.params = {{"n", "many"}};
    PlanHelper h(With("param n: int = 1\npipeline main { for i in range(0, n) { count(src: \"x\") } }"), options);
    EXPECT_FALSE(h.ok());
    EXPECT_THAT(h.diags(), ElementsAre(IsDiagMsg(DiagKind::BadParamValue, 9, 7, "expected an int")));
  }
  {
    // Lists, records and json come as JSON; their elements and fields are
    // checked against the type too, and a carried-over value as well.
    lower::LowerOptions options;
    options.params = {{"xs", R"(["a", 2])"}, {"r", R"({"a": "one"})"}};
    options.param_values = {{"ns", llvm::json::Array{1, 2.5}}};
    PlanHelper h(With("record R { a: int }\nparam xs: list<file> = []\nparam r: R\nparam ns: list<int> = []\n"
                      "pipeline main { for x in xs { count(src: x) }\n for n in ns { count(src: \"c\") } }"),
                 options);
    EXPECT_FALSE(h.ok());
    EXPECT_THAT(h.diags(), UnorderedElementsAre(
                               IsDiagMsg(DiagKind::BadParamValue, 10, 7, "element[1]: expected file, found int"),
                               IsDiagMsg(DiagKind::BadParamValue, 11, 7, "field 'a': expected int, found string"),
                               IsDiagMsg(DiagKind::BadParamValue, 12, 7, "element[1]: expected int, found float")));
  }
  {
    PlanHelper h(With("param xs: list<file>\npipeline main { for x in xs { count(src: x) } }"));
    EXPECT_FALSE(h.ok());
    EXPECT_THAT(h.diags(), ElementsAre(IsDiagMsg(DiagKind::ParamNeededAtCompileTime, 10, 26, "param 'xs' has no value")));
  }
  {
    PlanHelper h(With("pipeline main { var i = 0\n while i < 1 max 100000 { count(src: \"x\") } }"));
    EXPECT_FALSE(h.ok());
    EXPECT_THAT(h.diags(), ElementsAre(IsDiag(DiagKind::WhileBoundTooLarge, 10, 18)));
  }
  {
    lower::LowerOptions options;
    options.entry = "other";
    PlanHelper h(With("pipeline main { count(src: \"x\") }"), options);
    EXPECT_FALSE(h.ok());
    EXPECT_THAT(h.diags(), ElementsAre(IsDiagMsg(DiagKind::UnknownEntry, 1, 1, "no pipeline 'other'")));
  }
  {
    // A pipeline input used as a while bound, given a stage output at a call:
    // the checker sees it (so --lint does too), at the call.
    CompileHelper c(With(R"(
pipeline refine(src: file, rounds: int) -> (out: file) {
  var s = prepare(src: src)
  while true max rounds { s = prepare(src: s.train) }
  output out = s.train
}
pipeline outer(n: int) { refine(src: "z", rounds: n) }
pipeline main {
  let c = count(src: "x")
  refine(src: "y", rounds: c.n)
  outer(n: c.n)
})"));
    EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::NonConstantBound, 18, 28, "input 'rounds' of pipeline 'refine'"),
                                        IsDiagMsg(DiagKind::NonConstantBound, 19, 12, "input 'n' of pipeline 'outer'")));
  }
}

TEST(LowerTest, ResourcesAreEvaluatedAndChecked) {
  PlanHelper h(With(R"(
param threads: int = 3
stage heavy(x: int) {
  resources { cpus: threads * 2, memory: 2GB, licenses: 1 }
  retry 1
  timeout 5m
  estimate 30s
  cache false
  run "h {x}"
}
pipeline main { heavy(x: 1) }
)"));
  ASSERT_TRUE(h.ok());
  const plan::Stage& s = h.plan().stages[0];
  std::map<std::string, double> res;
  for (const auto& r : s.resources) res[r.name] = r.amount;
  EXPECT_EQ(res["cpus"], 6);
  EXPECT_EQ(res["memory"], 2.0 * (1 << 30));
  EXPECT_EQ(res["licenses"], 1);
  EXPECT_EQ(s.retry, 1);
  EXPECT_EQ(s.timeout_ms, 300000);
  EXPECT_EQ(s.estimate_ms, 30000);
  EXPECT_FALSE(s.cache);
  PlanHelper neg(With("param n: int = -2\nstage z(x: int) { resources { cpus: n } run \"z {x}\" }\npipeline main { z(x: 1) }"));
  EXPECT_FALSE(neg.ok());
  EXPECT_THAT(neg.diags(), ElementsAre(IsDiagMsg(DiagKind::BadResource, 10, 37, "cannot be negative")));
}

TEST(LowerTest, SharedValuesStayADag) {
  // x is updated under a runtime if in each of 40 iterations: as a tree its
  // value would have 2^40 nodes. Everything walks it as a DAG, and the plan
  // writes shared subexpressions once.
  PlanHelper h(R"(
stage f(x: int) -> (y: int) { run "f {x} {y}" }
stage g(x: int) -> (ok: bool) { run "g {x} {ok}" }
pipeline main {
  var x = 1
  for i in range(0, 40) {
    let c = g(x: i)
    if c.ok { let r = f(x: x) x = r.y + x }
  }
  f(x: x)
})");
  ASSERT_TRUE(h.ok());
  h.Optimize();
  EXPECT_TRUE(plan::Verify(h.plan()).empty());
  std::string text = plan::Serialize(h.plan());
  EXPECT_LT(text.size(), 1000000u);
  EXPECT_NE(text.find("\"op\": \"shared\""), std::string::npos);
  auto back = plan::Deserialize(text, "shared.plan");
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(plan::Serialize(*back), text);  // round trip, sharing included
  // The last f reads x through 40 gates.
  EXPECT_EQ(h.plan().instances.back().deps.size(), 1u);  // reduced: g[39], through the gates, implies the rest
}

TEST(LowerTest, ParseParamValue) {
  using T = plan::Type;
  auto ok = [](const std::string& text, T type) {
    auto v = lower::ParseParamValue(text, type);
    EXPECT_TRUE(std::holds_alternative<llvm::json::Value>(v)) << text;
    return std::holds_alternative<llvm::json::Value>(v) ? std::get<llvm::json::Value>(v) : llvm::json::Value(nullptr);
  };
  EXPECT_EQ(ok("42", T::Scalar(T::Int)), llvm::json::Value(42));
  EXPECT_EQ(ok("-3", T::Scalar(T::Int)), llvm::json::Value(-3));
  EXPECT_EQ(ok("0.5", T::Scalar(T::Float)), llvm::json::Value(0.5));
  EXPECT_EQ(ok("30m", T::Scalar(T::Duration)), llvm::json::Value(1800000));
  EXPECT_EQ(ok("4GB", T::Scalar(T::Size)), llvm::json::Value(int64_t{4} << 30));
  EXPECT_EQ(ok("a b.csv", T::Scalar(T::File)), llvm::json::Value("a b.csv"));
  EXPECT_EQ(ok("none", T::OptionalOf(T::Scalar(T::Int))), llvm::json::Value(nullptr));
  EXPECT_EQ(ok("[1, 2]", T::ListOf(T::Scalar(T::Int))), llvm::json::Value(llvm::json::Array{1, 2}));
  for (auto [text, type] : std::vector<std::pair<std::string, T>>{{"x", T::Scalar(T::Int)},
                                                                   {"1.5", T::Scalar(T::Int)},
                                                                   {"yes", T::Scalar(T::Bool)},
                                                                   {"5", T::Scalar(T::Duration)},
                                                                   {"[1,", T::ListOf(T::Scalar(T::Int))},
                                                                   {"1 2", T::Scalar(T::Int)}})
    EXPECT_TRUE(std::holds_alternative<std::string>(lower::ParseParamValue(text, type))) << text;
}

}  // namespace
}  // namespace flow::testing
