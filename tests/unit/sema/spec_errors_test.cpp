// SPDX-License-Identifier: Apache-2.0
// SPEC 1.5, "Errors the compiler must report (each a test)": one or more
// tests per error and warning class. Each pins the kind, line, column and
// message of the diagnostic, and the exact number of errors (no cascades).
// The snippets start with a newline, so their first line of code is line 2.
// (Import cycles need real files: see tests/unit/driver/spec_imports_test.cpp.)
#include "compile_helper.h"

namespace flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// ------------------------------------------------------------ unknown name

TEST(SpecErrorsTest, UnknownName) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  let c = clean(src: dta)
  clean(src: c.out)
  clean(src: data)
})");
  // c has no type now: reading c.out adds no second error, and c counts as used.
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownName, 5, 22, "unknown name 'dta'")));
  EXPECT_THAT(c.warnings(), IsEmpty()) << ::testing::PrintToString(c.diags());
}

TEST(SpecErrorsTest, UnknownNameInConditionIsNotAlsoAConditionTypeError) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  let c = clean(src: data)
  if c.out == data and verbose { clean(src: c.out) }
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownName, 6, 24, "unknown name 'verbose'")));
}

TEST(SpecErrorsTest, AStageNameIsNotAValue) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  clean(src: clean)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownName, 5, 14, "'clean' is a stage, not a value")));
}

// ----------------------------------------------------------- unknown stage

TEST(SpecErrorsTest, UnknownStage) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  let c = claen(src: data)
  clean(src: c.out)
})");
  // c has no type now: reading c.out must not add a second error.
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownCallee, 5, 11, "unknown stage or pipeline 'claen'")));
}

TEST(SpecErrorsTest, UnknownStageStillChecksItsArguments) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  claen(src: dta)
  clean(src: data)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownCallee, 5, 3, "unknown stage or pipeline 'claen'"),
                                      IsDiagMsg(DiagKind::UnknownName, 5, 14, "unknown name 'dta'")));
}

// -------------------------------------------------------- unknown argument

TEST(SpecErrorsTest, UnknownArgument) {
  CompileHelper c(R"(
param data: file
stage train(data: file, lr: float) -> (model: file) { run "train {data} {lr} {model}" }
stage deploy(model: file) { run "deploy {model}" }
pipeline main {
  let t = train(data: data, lr: 0.1, momentum: 0.9)
  deploy(model: t.model)
})");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::UnknownArgument, 6, 38, "stage 'train' has no input 'momentum'")));
  EXPECT_THAT(c.warnings(), IsEmpty()) << ::testing::PrintToString(c.diags());
}

TEST(SpecErrorsTest, UnknownArgumentOfAPipeline) {
  CompileHelper c(R"(
param data: file
stage train(data: file, lr: float) -> (model: file) { run "train {data} {lr} {model}" }
pipeline tune(src: file) -> (best: file) {
  let t = train(data: src, lr: 0.1)
  output best = t.model
}
pipeline main {
  tune(src: data, data: data)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownArgument, 9, 19, "pipeline 'tune' has no input 'data'")));
}

// ------------------------------------------------ missing required argument

TEST(SpecErrorsTest, MissingRequiredArgument) {
  CompileHelper c(R"(
param data: file
stage train(data: file, lr: float, epochs: int = 5) -> (model: file) { run "train {data} {lr} {epochs} {model}" }
stage deploy(model: file) { run "deploy {model}" }
pipeline main {
  let t = train(data: data)
  deploy(model: t.model)
})");
  // Reported at the callee; `epochs` has a default and may be left out.
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::MissingArgument, 6, 11,
                                                "missing argument 'lr' (float) in call to stage 'train'")));
}

TEST(SpecErrorsTest, InputsWithDefaultsAndOptionalInputsMayBeLeftOut) {
  CompileHelper c(R"(
param data: file
stage train(data: file, lr: float = 0.1, note: string?) -> (model: file) { run "train {data} {lr} {model}" }
stage deploy(model: file) { run "deploy {model}" }
pipeline main {
  let t = train(data: data)
  deploy(model: t.model)
})");
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
}

TEST(SpecErrorsTest, EveryMissingArgumentIsReported) {
  CompileHelper c(R"(
stage train(data: file, lr: float) -> (model: file) { run "train {data} {lr} {model}" }
pipeline main {
  train()
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::MissingArgument, 4, 3, "missing argument 'data' (file)"),
                                      IsDiagMsg(DiagKind::MissingArgument, 4, 3, "missing argument 'lr' (float)")));
}

// ----------------------------------------------- argument of the wrong type

TEST(SpecErrorsTest, ArgumentOfWrongType) {
  CompileHelper c(R"(
param data: file
stage train(data: file, lr: float) -> (model: file) { run "train {data} {lr} {model}" }
stage deploy(model: file) { run "deploy {model}" }
pipeline main {
  let t = train(data: data, lr: "fast")
  deploy(model: t.model)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::ArgumentType, 6, 33,
                                                "argument 'lr' of stage 'train' expects float, found string")));
}

TEST(SpecErrorsTest, ArgumentOfWrongTypeNamesBothTypes) {
  CompileHelper c(R"(
record Metrics { accuracy: float, loss: float }
param data: file
param epochs: int = 3
stage train(data: file, lr: float) -> (model: file, metrics: Metrics) { run "t {data} {lr} {model} {metrics}" }
stage deploy(model: file, label: string) { run "deploy {model} {label}" }
pipeline main {
  let t = train(data: data, lr: epochs)
  deploy(model: t, label: epochs)
})");
  // int widens to float (lr: epochs is fine); nothing else converts.
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::ArgumentType, 9, 17,
                                    "argument 'model' of stage 'deploy' expects file, found (metrics: Metrics, model: file)"),
                          IsDiagMsg(DiagKind::ArgumentType, 9, 27,
                                    "argument 'label' of stage 'deploy' expects string, found int")));
}

// ---------------------------------------------- condition of the wrong type

TEST(SpecErrorsTest, IfConditionOfWrongType) {
  CompileHelper c(R"(
record Metrics { accuracy: float, loss: float }
param data: file
stage train(data: file) -> (model: file, metrics: Metrics) { run "t {data} {model} {metrics}" }
stage deploy(model: file) { run "deploy {model}" }
pipeline main {
  let t = train(data: data)
  if t.metrics.accuracy { deploy(model: t.model) }
})");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::ConditionType, 8, 6, "an if condition must be a bool, found float")));
}

TEST(SpecErrorsTest, ElseIfConditionOfWrongType) {
  CompileHelper c(R"(
param mode: string = "fast"
param data: file
stage deploy(model: file) { run "deploy {model}" }
pipeline main {
  if mode == "fast" { deploy(model: data) } else if mode { deploy(model: data) }
})");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::ConditionType, 6, 53, "an if condition must be a bool, found string")));
}

TEST(SpecErrorsTest, WhileConditionOfWrongType) {
  CompileHelper c(R"(
param data: file
stage step(src: file) -> (out: file, left: int) { run "step {src} {out} {left}" }
pipeline main {
  var s = step(src: data)
  while s.left max 10 { s = step(src: s.out) }
})");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::ConditionType, 6, 9, "a while condition must be a bool, found int")));
}

// ------------------------------------------------ operand of the wrong type

TEST(SpecErrorsTest, ArithmeticOperandOfWrongType) {
  CompileHelper c(R"(
param data: file
stage score(src: file) -> (value: float) { run "score {src} > {value}" }
stage report(x: float) { run "report {x}" }
pipeline main {
  let s = score(src: data)
  report(x: s.value + "1")
})");
  // Reported at the operator; the bad sum does not make report's argument an error too.
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::OperandType, 7, 21, "cannot apply '+' to float and string")));
}

TEST(SpecErrorsTest, ComparisonAndLogicOperandsOfWrongType) {
  CompileHelper c(R"(
param data: file
param n: int = 3
stage score(src: file) -> (value: float) { run "score {src} > {value}" }
stage report(x: float) { run "report {x}" }
pipeline main {
  let s = score(src: data)
  if s.value > "high" { report(x: s.value) }
  if s.value > 0.5 and n { report(x: s.value) }
  if not s.value { report(x: s.value) }
})");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::OperandType, 8, 14, "cannot order float and string with '>'"),
                          IsDiagMsg(DiagKind::OperandType, 9, 20, "'and' needs bool operands, found bool and int"),
                          IsDiagMsg(DiagKind::OperandType, 10, 10, "'not' needs a bool, found float")));
}

// ------------------------------------- output that the callee does not declare

TEST(SpecErrorsTest, OutputReadThatTheCalleeDoesNotDeclare) {
  CompileHelper c(R"(
param data: file
stage train(data: file) -> (model: file, log: file) { run "train {data} {model} {log}" }
stage deploy(model: file) { run "deploy {model}" }
pipeline main {
  let t = train(data: data)
  deploy(model: t.weights)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownOutput, 7, 19,
                                                "'t' has no output 'weights'; its outputs are: log, model")));
}

TEST(SpecErrorsTest, OutputReadOfAPipelineAndOfAStageWithoutOutputs) {
  CompileHelper c(R"(
param data: file
stage train(data: file) -> (model: file) { run "train {data} {model}" }
stage notify(msg: string) { run "notify {msg}" }
pipeline tune(src: file) -> (best: file) {
  let t = train(data: src)
  output best = t.model
}
pipeline main {
  let r = tune(src: data)
  let n = notify(msg: "done")
  train(data: r.model)
  train(data: n.out)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownOutput, 12, 17, "'r' has no output 'model'; its outputs are: best"),
                                      IsDiagMsg(DiagKind::UnknownOutput, 13, 17, "'n' has no outputs")));
}

TEST(SpecErrorsTest, OutputReadAfterAForLoop) {
  CompileHelper c(R"(
param data: file
stage train(data: file, lr: float) -> (model: file) { run "train {data} {lr} {model}" }
stage pick(models: list<file>) { run "pick {models}" }
pipeline main {
  for lr in [0.1, 0.01] { let t = train(data: data, lr: lr) }
  pick(models: t.modle)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownOutput, 7, 18, "'t' has no output 'modle'")));
}

// ------------------------------------------------------ duplicate definition

TEST(SpecErrorsTest, DuplicateStage) {
  CompileHelper c(R"(
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
stage clean(src: file) -> (out: file) { run "tidy {src} > {out}" }
param data: file
pipeline main { clean(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::DuplicateDefinition, 3, 7, "duplicate definition of 'clean'")));
  EXPECT_THAT(c.warnings(), IsEmpty()) << ::testing::PrintToString(c.diags());
}

TEST(SpecErrorsTest, DuplicateAcrossKindsOfDeclarations) {
  CompileHelper c(R"(
record Metrics { accuracy: float }
stage report(m: Metrics) { run "report {m}" }
pipeline Metrics { }
pipeline report { }
pipeline main { }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::DuplicateDefinition, 4, 10, "duplicate definition of 'Metrics'"),
                                      IsDiagMsg(DiagKind::DuplicateDefinition, 5, 10, "duplicate definition of 'report'")));
}

TEST(SpecErrorsTest, DuplicateLetInOneScope) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  let c = clean(src: data)
  let c = clean(src: c.out)
  clean(src: c.out)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::DuplicateDefinition, 6, 7, "'c' is already defined in this scope")));
}

TEST(SpecErrorsTest, DuplicateInputOutputAndRecordField) {
  CompileHelper c(R"(
record Metrics { accuracy: float, accuracy: float }
stage train(data: file, data: file) -> (model: file, data: file) { run "train {data} {model}" }
param data: file
pipeline main { train(data: data) }
)");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::DuplicateDefinition, 2, 35, "record 'Metrics' already has a field 'accuracy'"),
                          IsDiagMsg(DiagKind::DuplicateDefinition, 3, 25, "stage 'train' already has an input or output named 'data'"),
                          IsDiagMsg(DiagKind::DuplicateDefinition, 3, 54, "stage 'train' already has an input or output named 'data'")));
}

TEST(SpecErrorsTest, DuplicateParam) {
  CompileHelper c(R"(
param data: file
param data: dir
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main { clean(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::DuplicateDefinition, 3, 7, "'data' is already defined")));
}

TEST(SpecErrorsTest, ParamWithTheNameOfAStage) {
  CompileHelper c(R"(
param data: file
param clean = 1
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main { clean(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::DuplicateDefinition, 3, 7, "param 'clean' has the name of a stage")));
}

TEST(SpecErrorsTest, BuiltinsCannotBeRedefined) {
  CompileHelper c(R"(
stage len(x: int) { run "len {x}" }
pipeline main { }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::DuplicateDefinition, 2, 7,
                                                "'len' is a builtin function and cannot be redefined")));
}

// ------------------------------------------------ use of an optional without ??

TEST(SpecErrorsTest, OptionalFromAnIfUsedWithoutDefault) {
  CompileHelper c(R"(
param data: file
stage check(src: file) -> (ok: bool) { run "check {src} > {ok}" }
stage fix(src: file) -> (out: file) { run "fix {src} > {out}" }
stage publish(src: file) { run "publish {src}" }
pipeline main {
  let c = check(src: data)
  if not c.ok { let f = fix(src: data) }
  publish(src: f.out)
  publish(src: f.out ?? data)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::OptionalWithoutDefault, 9, 16,
                                                "'f.out' may be none here (its type is file?)")));
}

TEST(SpecErrorsTest, OptionalParamInArithmeticInterpolationAndCondition) {
  CompileHelper c(R"(
param limit: int? = none
param tag: string? = none
stage run_n(n: int, label: string) { run "run {n} {label}" }
pipeline main {
  run_n(n: limit + 1, label: "v-{tag}")
  if limit > 3 { run_n(n: limit ?? 3, label: tag ?? "none") }
})");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::OptionalWithoutDefault, 6, 12, "'limit' may be none here (its type is int?)"),
                          IsDiagMsg(DiagKind::OptionalWithoutDefault, 6, 34, "'tag' may be none here (its type is string?)"),
                          IsDiagMsg(DiagKind::OptionalWithoutDefault, 7, 6, "'limit' may be none here (its type is int?)")));
}

// ------------------------------------------------------- reassigning a let

TEST(SpecErrorsTest, ReassigningALet) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  let c = clean(src: data)
  c = clean(src: c.out)
  clean(src: c.out)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::ReassignLet, 6, 3, "cannot assign to 'c': it is bound with 'let'")));
}

TEST(SpecErrorsTest, ReassigningAParamOrALoopVariable) {
  CompileHelper c(R"(
param data: file
param lr: float = 0.1
stage train(data: file, lr: float) { run "train {data} {lr}" }
pipeline main {
  lr = 0.2
  for x in [0.1, 0.2] {
    x = 0.3
    train(data: data, lr: x)
  }
  train(data: data, lr: lr)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::ReassignLet, 6, 3, "cannot assign to 'lr': it is a param"),
                                      IsDiagMsg(DiagKind::ReassignLet, 8, 5, "cannot assign to 'x': it is a loop variable")));
}

TEST(SpecErrorsTest, AssigningAnUndeclaredName) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  c = clean(src: data)
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::UnknownName, 5, 3, "unknown name 'c'")));
}

// ------------------------------------------------------ while without max

TEST(SpecErrorsTest, WhileWithoutMax) {
  CompileHelper c(R"(
record Metrics { accuracy: float, loss: float }
param data: file
stage train(data: file) -> (model: file, metrics: Metrics) { run "train {data} {model} {metrics}" }
stage finetune(base: file) -> (model: file, metrics: Metrics) { run "finetune {base} {model} {metrics}" }
pipeline main {
  var m = train(data: data)
  while m.metrics.accuracy < 0.95 {
    m = finetune(base: m.model)
  }
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::WhileWithoutMax, 8, 3, "while loop has no bound")));
  EXPECT_THAT(c.warnings(), IsEmpty()) << ::testing::PrintToString(c.diags());
}

TEST(SpecErrorsTest, WhileWithoutMaxStillChecksItsBody) {
  CompileHelper c(R"(
param data: file
stage step(src: file) -> (out: file, done: bool) { run "step {src} {out} {done}" }
pipeline main {
  var s = step(src: data)
  while not s.done {
    s = step(src: s.ot)
  }
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::WhileWithoutMax, 6, 3, "while loop has no bound"),
                                      IsDiagMsg(DiagKind::UnknownOutput, 7, 21, "'s' has no output 'ot'")));
}

// -------------------------------------------- while with a non-constant bound

TEST(SpecErrorsTest, WhileWithNonConstantBound) {
  CompileHelper c(R"(
param data: file
stage count(src: file) -> (n: int) { run "wc -l < {src} > {n}" }
stage step(src: file) -> (out: file, done: bool) { run "step {src} {out} {done}" }
pipeline main {
  let c = count(src: data)
  var s = step(src: data)
  while not s.done max c.n {
    s = step(src: s.out)
  }
})");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::NonConstantBound, 8, 24,
                                                "the bound after 'max' must be known at compile time")));
}

TEST(SpecErrorsTest, WhileBoundOverParamsAndLiteralsIsConstant) {
  CompileHelper c(R"(
param data: file
param rounds: int = 3
stage step(src: file) -> (out: file, done: bool) { run "step {src} {out} {done}" }
pipeline main {
  var s = step(src: data)
  while not s.done max rounds * 2 + 1 {
    s = step(src: s.out)
  }
})");
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
}

// -------------------------------------------------- recursion among pipelines

TEST(SpecErrorsTest, PipelineCallingItself) {
  CompileHelper c(R"(
param data: file
stage step(src: file) -> (out: file) { run "step {src} {out}" }
pipeline refine(src: file) -> (out: file) {
  let s = step(src: src)
  let r = refine(src: s.out)
  output out = r.out
}
pipeline main { refine(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::RecursivePipeline, 6, 11, "pipeline 'refine' calls itself")));
}

TEST(SpecErrorsTest, MutualRecursionAmongPipelines) {
  CompileHelper c(R"(
param data: file
stage step(src: file) -> (out: file) { run "step {src} {out}" }
pipeline ping(src: file) -> (out: file) {
  let p = pong(src: src)
  output out = p.out
}
pipeline pong(src: file) -> (out: file) {
  let s = step(src: src)
  let p = ping(src: s.out)
  output out = p.out
}
pipeline main { ping(src: data) }
)");
  // One error per cycle, at the call that closes it.
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::RecursivePipeline, 10, 11,
                                                "recursive pipeline call: 'ping' -> 'pong' -> 'ping'")));
}

// ------------------------------------------------------- import not found

TEST(SpecErrorsTest, ImportedFileNotFound) {
  CompileHelper c(R"(
import "lib/missing.flow"
pipeline main { }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::ImportNotFound, 2, 1,
                                                "cannot find imported file 'lib/missing.flow'")));
}

TEST(SpecErrorsTest, ImportedModuleNotFound) {
  CompileHelper c(R"(
import std.ml
import std.mll
pipeline main { }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::ImportNotFound, 3, 1, "cannot find module 'std.mll'")));
}

// ------------------------------------------- {name} in run that names nothing

TEST(SpecErrorsTest, RunPlaceholderThatNamesNoInputOrOutput) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {source} > {out}" }
pipeline main { clean(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::RunPlaceholder, 3, 53,
                                                "'{source}' names no input or output of stage 'clean'")));
}

TEST(SpecErrorsTest, RunPlaceholderNamingAParamInATripleQuotedCommand) {
  CompileHelper c(R"(
param data: file
param threads: int = 4
stage clean(src: file) -> (out: file) {
  run """clean --in {src} \
    --threads {threads} > {out}"""
}
pipeline main { clean(src: data) }
)");
  // Params are not visible in run: only the stage's own inputs and outputs are.
  // The column is right on the second line of a multi-line string.
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::RunPlaceholder, 6, 16,
                                                "'{threads}' names no input or output of stage 'clean'")));
}

TEST(SpecErrorsTest, RunPlaceholderAfterEscapesAndLiteralBraces) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "jq \"{{.a}}\" {src} > {ot}" }
pipeline main { clean(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::RunPlaceholder, 3, 69,
                                                "'{ot}' names no input or output of stage 'clean'")));
}

TEST(SpecErrorsTest, EnvPlaceholderThatNamesNoInputOrOutput) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) {
  env { SEED: "{seed}" }
  run "clean {src} > {out}"
}
pipeline main { clean(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::RunPlaceholder, 4, 17,
                                                "'{seed}' names no input or output of stage 'clean'")));
}

// ------------------------------------------------------- stage without run

TEST(SpecErrorsTest, StageWithoutRun) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) {
  resources { cpus: 1, memory: 1GB }
  retry 2
}
pipeline main { clean(src: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::StageWithoutRun, 3, 7, "stage 'clean' has no 'run' command")));
  EXPECT_THAT(c.warnings(), IsEmpty()) << ::testing::PrintToString(c.diags());
}

TEST(SpecErrorsTest, EmptyStageHasNoRun) {
  CompileHelper c(R"(
stage noop() { }
pipeline main { noop() }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::StageWithoutRun, 2, 7, "stage 'noop' has no 'run' command")));
}

// ------------------------------------------- resource not a number or size

TEST(SpecErrorsTest, ResourceThatIsNotANumberOrSize) {
  CompileHelper c(R"(
param data: file
stage train(data: file) {
  resources { cpus: "2", memory: 4, gpus: 0.5, licenses: true }
  run "train {data}"
}
pipeline main { train(data: data) }
)");
  EXPECT_THAT(c.errors(),
              ElementsAre(IsDiagMsg(DiagKind::BadResource, 4, 21, "resource 'cpus' must be a number, found string"),
                          IsDiagMsg(DiagKind::BadResource, 4, 34, "resource 'memory' must be a size, found int"),
                          IsDiagMsg(DiagKind::BadResource, 4, 43, "resource 'gpus' must be a whole number, found float"),
                          IsDiagMsg(DiagKind::BadResource, 4, 58, "resource 'licenses' must be a number or a size, found bool")));
}

TEST(SpecErrorsTest, ResourcesFromParamsNumbersAndSizesAreFine) {
  CompileHelper c(R"(
param data: file
param cores: int = 4
param mem: size = 2GB
stage train(data: file) {
  resources { cpus: cores, memory: mem * 2, gpus: 1, licenses: 1, scratch: 10GB, share: 0.5 }
  run "train {data}"
}
pipeline main { train(data: data) }
)");
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
  EXPECT_THAT(c.warnings(), IsEmpty()) << ::testing::PrintToString(c.diags());
}

TEST(SpecErrorsTest, ResourceFromAParamOfTheWrongType) {
  CompileHelper c(R"(
param data: file
stage train(data: file) {
  resources { memory: data }
  run "train {data}"
}
pipeline main { train(data: data) }
)");
  EXPECT_THAT(c.errors(), ElementsAre(IsDiagMsg(DiagKind::BadResource, 4, 23, "resource 'memory' must be a size, found file")));
}

// ---------------------------------------------------------------- warnings

TEST(SpecWarningsTest, UnusedBinding) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  let c = clean(src: data)
}
)");
  EXPECT_TRUE(c.ok());
  EXPECT_THAT(c.warnings(), ElementsAre(IsDiagMsg(DiagKind::UnusedBinding, 5, 7, "'c' is never used")));
}

TEST(SpecWarningsTest, UnusedLoopVariableAndVar) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  for i in range(0, 3) { clean(src: data) }
  var v = clean(src: data)
  for _j in range(0, 3) { clean(src: data) }
  let _k = clean(src: data)
}
)");
  EXPECT_TRUE(c.ok());
  // A leading underscore says "unused on purpose".
  EXPECT_THAT(c.warnings(), ElementsAre(IsDiagMsg(DiagKind::UnusedBinding, 5, 7, "'i' is never used"),
                                        IsDiagMsg(DiagKind::UnusedBinding, 6, 7, "'v' is never used")));
}

TEST(SpecWarningsTest, UnusedParam) {
  CompileHelper c(R"(
param data: file
param epochs: int = 10
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main { clean(src: data) }
)");
  EXPECT_TRUE(c.ok());
  EXPECT_THAT(c.warnings(), ElementsAre(IsDiagMsg(DiagKind::UnusedParam, 3, 7, "param 'epochs' is never used")));
}

TEST(SpecWarningsTest, UnusedStage) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
stage archive(src: file) { run "tar czf archive.tgz {src}" }
pipeline main { clean(src: data) }
)");
  EXPECT_TRUE(c.ok());
  EXPECT_THAT(c.warnings(), ElementsAre(IsDiagMsg(DiagKind::UnusedStage, 4, 7, "stage 'archive' is never called")));
}

TEST(SpecWarningsTest, ShadowingAParam) {
  CompileHelper c(R"(
param lr: float = 0.1
param data: file
stage train(data: file, lr: float) { run "train {data} {lr}" }
pipeline main {
  let lr = 0.01
  train(data: data, lr: lr)
}
)");
  EXPECT_TRUE(c.ok());
  // The param is now unused too: that warning is true, and says why.
  EXPECT_THAT(c.warnings(), UnorderedElementsAre(IsDiagMsg(DiagKind::Shadowing, 6, 7, "'lr' shadows a param of the same name"),
                                                 IsDiagMsg(DiagKind::UnusedParam, 2, 7, "param 'lr' is never used")));
}

TEST(SpecWarningsTest, ShadowingAnOuterBinding) {
  CompileHelper c(R"(
param data: file
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
pipeline main {
  let c = clean(src: data)
  for i in [1, 2] {
    let c = clean(src: data)
    clean(src: c.out)
  }
  clean(src: c.out)
}
)");
  EXPECT_TRUE(c.ok());
  EXPECT_THAT(c.warnings(), UnorderedElementsAre(IsDiagMsg(DiagKind::UnusedBinding, 6, 7, "'i' is never used"),
                                                 IsDiagMsg(DiagKind::Shadowing, 7, 9, "'c' shadows an outer binding of the same name")));
}

TEST(SpecWarningsTest, WarningsAloneAreNotErrors) {
  CompileHelper c(R"(
param data: file
param unused: int = 1
stage clean(src: file) -> (out: file) { run "clean {src} > {out}" }
stage archive(src: file) { run "tar czf archive.tgz {src}" }
pipeline main {
  let c = clean(src: data)
}
)");
  EXPECT_TRUE(c.ok());
  EXPECT_THAT(c.errors(), IsEmpty());
  EXPECT_EQ(c.warnings().size(), 3u) << ::testing::PrintToString(c.diags());
}

// ------------------------------------------ all errors reported in one run

TEST(SpecErrorsTest, EveryErrorInAFileIsReportedInOneRun) {
  CompileHelper c(R"(
import "missing.flow"
record Metrics { accuracy: float, loss: float }
param data: file
stage train(data: file, lr: float) -> (model: file, metrics: Metrics) {
  resources { memory: "4GB" }
  run "train {data} {lr} {model} {metrics} {log}"
}
stage deploy(model: file) { run "deploy {model}" }
stage report(m: Metrics) { }
stage report(m: Metrics) { run "report {m}" }
pipeline loop(src: file) { loop(src: src) }
pipeline main {
  let t = train(data: data)
  let u = train(data: dta, lr: 0.1)
  deploy(model: t.weights)
  t = train(data: data, lr: 0.1, momentum: 0.9)
  if t.metrics.accuracy { deploy(model: t.model) }
  if t.metrics.accuracy > 0.5 { let best = t.model }
  deploy(model: best)
  var m = train(data: data, lr: 0.1 + "x")
  while m.metrics.accuracy < 0.9 { m = train(data: m.model, lr: 0.1) }
  while m.metrics.accuracy < 0.9 max round(m.metrics.loss) { m = train(data: m.model, lr: 0.1) }
  report(m: u.metrics)
  loop(src: m.model)
}
)");
  EXPECT_THAT(c.errors(),
              UnorderedElementsAre(
                  IsDiagMsg(DiagKind::ImportNotFound, 2, 1, "cannot find imported file 'missing.flow'"),
                  IsDiagMsg(DiagKind::BadResource, 6, 23, "resource 'memory' must be a size, found string"),
                  IsDiagMsg(DiagKind::RunPlaceholder, 7, 45, "'{log}' names no input or output of stage 'train'"),
                  IsDiagMsg(DiagKind::StageWithoutRun, 10, 7, "stage 'report' has no 'run' command"),
                  IsDiagMsg(DiagKind::DuplicateDefinition, 11, 7, "duplicate definition of 'report'"),
                  IsDiagMsg(DiagKind::RecursivePipeline, 12, 28, "pipeline 'loop' calls itself"),
                  IsDiagMsg(DiagKind::MissingArgument, 14, 11, "missing argument 'lr' (float)"),
                  IsDiagMsg(DiagKind::UnknownName, 15, 23, "unknown name 'dta'"),
                  IsDiagMsg(DiagKind::UnknownOutput, 16, 19, "'t' has no output 'weights'"),
                  IsDiagMsg(DiagKind::UnknownArgument, 17, 34, "stage 'train' has no input 'momentum'"),
                  IsDiagMsg(DiagKind::ReassignLet, 17, 3, "cannot assign to 't': it is bound with 'let'"),
                  IsDiagMsg(DiagKind::ConditionType, 18, 6, "an if condition must be a bool, found float"),
                  IsDiagMsg(DiagKind::OptionalWithoutDefault, 20, 17, "'best' may be none here (its type is file?)"),
                  IsDiagMsg(DiagKind::OperandType, 21, 37, "cannot apply '+' to float and string"),
                  IsDiagMsg(DiagKind::WhileWithoutMax, 22, 3, "while loop has no bound"),
                  IsDiagMsg(DiagKind::NonConstantBound, 23, 38, "the bound after 'max' must be known at compile time")))
      << ::testing::PrintToString(c.diags());
}

}  // namespace
}  // namespace flow::testing
