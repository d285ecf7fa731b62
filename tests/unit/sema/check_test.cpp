// SPDX-License-Identifier: Apache-2.0
// Checker unit tests: typing and scoping rules of SPEC 1.2 and 1.4.
#include "compile_helper.h"

namespace flow::testing {
namespace {

using ::testing::ElementsAre;

constexpr const char* kStages = R"(
record Metrics { accuracy: float, loss: float }
stage train(data: file, lr: float) -> (model: file, metrics: Metrics) { run "t {data} {lr} {model} {metrics}" }
stage finetune(base: file, data: file) -> (model: file, metrics: Metrics) { run "f {base} {data} {model} {metrics}" }
stage use(m: file) { run "u {m}" }
stage use_list(ms: list<file>) { run "u {ms}" }
stage use_float(x: float) { run "u {x}" }
)";

std::string WithStages(const std::string& body) { return std::string(kStages) + body; }

TEST(CheckTest, ForLoopBindingsBecomeLists) {
  CompileHelper c(WithStages(R"(
pipeline main {
  for lr in [0.1, 0.2] { let t = train(data: "d.csv", lr: lr) }
  use_list(ms: t.model)
  use(m: t[0].model)
  use(m: t.model)
})"));
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::ArgumentType, 13, 10, "expects file, found list<file>")));
}

TEST(CheckTest, StringLiteralsArePathsButStringValuesAreNot) {
  CompileHelper c(WithStages(R"(
param name: string = "d.csv"
param path: file = "d.csv"
pipeline main {
  use(m: path)
  use_list(ms: ["a", path])
  use(m: name)
  use(m: "{name}.csv")
})"));
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::ArgumentType, 14, 10, "expects file, found string")));
}

TEST(CheckTest, IfBindingIsOptionalUnlessBoundInEveryBranch) {
  CompileHelper c(WithStages(R"(
param data: file
pipeline main {
  let a = train(data: data, lr: 0.1)
  if a.metrics.accuracy > 0.5 { let x = finetune(base: a.model, data: data) }
  use(m: x.model)
  if a.metrics.accuracy > 0.5 { let y = finetune(base: a.model, data: data) } else { let y = train(data: data, lr: 0.2) }
  use(m: y.model)
  use(m: x.model ?? a.model)
})"));
  EXPECT_THAT(c.errors(), ElementsAre(IsDiag(DiagKind::OptionalWithoutDefault, 13, 10)));
}

TEST(CheckTest, VarKeepsTypeAcrossStagesWithSameOutputs) {
  CompileHelper c(WithStages(R"(
param data: file
pipeline main {
  var m = train(data: data, lr: 0.1)
  while m.metrics.accuracy < 0.95 max 5 { m = finetune(base: m.model, data: data) }
  use(m: m.model)
})"));
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
  for (const auto& w : c.warnings()) EXPECT_NE(w.kind, DiagKind::UnusedBinding) << w;
}

TEST(CheckTest, IntWidensToFloatButNothingElseConverts) {
  CompileHelper c(WithStages(R"(
pipeline main {
  use_float(x: 1)
  use_float(x: "1")
  use_float(x: true)
})"));
  EXPECT_THAT(c.errors(), ElementsAre(IsDiag(DiagKind::ArgumentType, 11, 16), IsDiag(DiagKind::ArgumentType, 12, 16)));
}

TEST(CheckTest, WhileBoundMustBeCompileTimeInt) {
  CompileHelper c(WithStages(R"(
param data: file
param n = 3
pipeline main {
  var m = train(data: data, lr: 0.1)
  while m.metrics.accuracy < 0.9 max n { m = finetune(base: m.model, data: data) }
  while m.metrics.accuracy < 0.9 max len([1, 2]) + n { m = finetune(base: m.model, data: data) }
  while m.metrics.accuracy < 0.9 max m.metrics.loss { m = finetune(base: m.model, data: data) }
  use(m: m.model)
})"));
  EXPECT_THAT(c.errors(), ElementsAre(IsDiag(DiagKind::BadBound, 15, 38)));
}

TEST(CheckTest, RecordFieldsAndJson) {
  CompileHelper c(R"(
record R { a: int, b: list<string> }
stage s() -> (r: R, j: json) { run "x {r} {j}" }
stage take(x: int, y: string, z: json) { run "t {x} {y} {z}" }
pipeline main {
  let o = s()
  take(x: o.r.a, y: o.r.b[0], z: o.r)
  take(x: o.j.count, y: o.j.name, z: o.j)
  take(x: o.r.c, y: "", z: 1)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownField, 9, 15, "record 'R' has no field 'c'")));
}

TEST(CheckTest, ImportedStdlibModule) {
  CompileHelper c(R"(
import std.ml
param data: file
pipeline main {
  let s = split(data: data)
  let f = fit_logistic(train: s.train, test: s.test)
  if f.metrics.accuracy < 0.5 { fit_logistic(train: s.train, test: s.test, c: 10) }
})");
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
}

TEST(CheckTest, SubPipelinesWithInputsAndOutputs) {
  CompileHelper c(WithStages(R"(
pipeline tune(data: file, lr: float = 0.1) -> (best: file) {
  let t = train(data: data, lr: lr)
  output best = t.model
}
param data: file
pipeline main {
  let r = tune(data: data)
  use(m: r.best)
})"));
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
}

TEST(CheckTest, PipelineOutputErrors) {
  CompileHelper c(WithStages(R"(
pipeline p(data: file) -> (best: file, score: float) {
  let t = train(data: data, lr: 0.1)
  output best = t.metrics
  output best = t.model
  output other = 1
}
param data: file
pipeline main { p(data: data) }
)"));
  EXPECT_THAT(c.errors(), ::testing::UnorderedElementsAre(IsDiag(DiagKind::MissingPipelineOutput, 9, 10),
                                                          IsDiag(DiagKind::TypeMismatch, 11, 17),
                                                          IsDiag(DiagKind::DuplicateOutput, 12, 10),
                                                          IsDiag(DiagKind::UnknownPipelineOutput, 13, 10)));
}

}  // namespace
}  // namespace flow::testing
