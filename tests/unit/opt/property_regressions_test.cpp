// SPDX-License-Identifier: Apache-2.0
// The programs of the compiler bugs the back end's property tests found
// (property_test.cpp), each checked with every property (plan_properties.h).
#include <string>

#include "plan_properties.h"

namespace flow {
namespace {

using namespace proptest;

// ----------------------------------------------- regressions (bugs found here, fixed)
//
// Minimal programs for the compiler bugs these properties found. Each test
// checks one program with all the properties above; they are disabled until
// the bug is fixed (GenOptions::avoid_known_bugs keeps the generator away
// from them meanwhile). Run them with --gtest_also_run_disabled_tests.

std::string Failures(const std::string& source) {
  Stats stats;
  std::string out;
  for (const auto& f : CheckProgram(source, stats)) out += "\n  - " + f;
  return out;
}

// ComputeDependencies: inside a map template, the local output references
// inside a `map_values` (reading another map's results) are taken for the
// template's own instances: here all[*] depends on itself (template
// instance 0), a cycle. With `one(n: 0)` three times before `let y` in the
// first loop, the dep is template instance 3 of a one-instance template,
// and flowc crashes (heap corruption in AssignPriorities, after
// ReduceDependencies reads past the template).
TEST(PropertyRegressions, MapTemplateReadingAnotherMapsResults) {
  EXPECT_EQ(Failures(R"(
stage make() -> (ks: list<int>) {
  run "make {ks}"
}
stage one(n: int) -> (f: file) {
  run "one {n} {f}"
}
stage all(n: int, fs: list<file>) {
  run "all {n} {fs}"
}
pipeline main {
  let x = make()
  for e in x.ks {
    let y = one(n: e)
  }
  for e2 in x.ks {
    all(n: e2, fs: y.f)
  }
}
)"),
            "");
}

// ComputeDependencies: what a gate's condition waits for is collected with
// CollectOutputRefs, which does not follow `choose` (to the gates it
// depends on) or `map_values` (to the map's inputs). Here gate if@14 reads
// v = choose(if@11: 2, 1), decided by x.k, but c has no deps at all.
TEST(PropertyRegressions, GateConditionReadingAChoose) {
  EXPECT_EQ(Failures(R"(
stage a() -> (k: int) {
  run "a {k}"
}
stage c(n: int) {
  run "c {n}"
}
pipeline main {
  let x = a()
  var v = 1
  if x.k > 0 {
    v = 2
  }
  if v > 1 {
    c(n: 0)
  }
}
)"),
            "");
}

// The same after dead-branch elimination: w is choose(if@11: choose(if@12:
// w, c#2), w); with if@12 decided, no instance under if@11 is left in it,
// and in the optimized plan c#3 waits for c only, not for a (which decides
// if@11). Unoptimized, c#2 carried that dependency.
TEST(PropertyRegressions, GateConditionReadingAChooseAfterDeadBranches) {
  EXPECT_EQ(Failures(R"(
param p: bool = true
stage a() -> (k: int) {
  run "a {k}"
}
stage c(n: int) -> (k: int) {
  run "c {n} {k}"
}
pipeline main {
  let x = a()
  var w = c(n: 0)
  if x.k > 0 {
    if p {
    } else {
      w = c(n: 1)
    }
  }
  if w.k > 0 {
    c(n: 2)
  }
}
)"),
            "");
}

// The same inside a map template, for arguments: use[*] reads
// choose(if@15: 2, 1) over a template gate that reads one[*], but has no
// deps (at the top level, ComputeDependencies follows the choose).
TEST(PropertyRegressions, TemplateArgumentReadingAChoose) {
  EXPECT_EQ(Failures(R"(
stage make() -> (ks: list<int>) {
  run "make {ks}"
}
stage one(n: int) -> (k: int) {
  run "one {n} {k}"
}
stage use(n: int) {
  run "use {n}"
}
pipeline main {
  let x = make()
  for e in x.ks {
    let y = one(n: e)
    var v = 1
    if y.k > 0 {
      v = 2
    }
    use(n: v)
  }
}
)"),
            "");
}

// The same for a condition over a map's results: c does not wait for make.
TEST(PropertyRegressions, GateConditionReadingMapResults) {
  EXPECT_EQ(Failures(R"(
stage make() -> (ks: list<int>) {
  run "make {ks}"
}
stage one(n: int) -> (f: file) {
  run "one {n} {f}"
}
stage c(n: int) {
  run "c {n}"
}
pipeline main {
  let x = make()
  for e in x.ks {
    let y = one(n: e)
  }
  if len(y.f) > 1 {
    c(n: 0)
  }
}
)"),
            "");
}

// Lowering: a `var` declared and reassigned inside a dynamic for is
// rejected ("cannot assign to a 'var'") when the loop body is lowered a
// second time: here from the second iteration of an enclosing static for
// (the var's binding from the first iteration counts as an outer one).
TEST(PropertyRegressions, VarInMapTemplateInsideStaticLoop) {
  EXPECT_EQ(Failures(R"(
stage make() -> (ks: list<int>) {
  run "make {ks}"
}
stage step(n: int) -> (k: int) {
  run "step {n} {k}"
}
pipeline main {
  let x = make()
  for i in [1, 2] {
    for e in x.ks {
      var w = step(n: e)
      w = step(n: w.k + i)
    }
  }
}
)"),
            "");
}

// The same through a sub-pipeline with a var, called outside a dynamic for
// and then inside it (the error points into the sub-pipeline).
TEST(PropertyRegressions, SubPipelineWithVarCalledInsideMapTemplate) {
  EXPECT_EQ(Failures(R"(
stage make() -> (ks: list<int>) {
  run "make {ks}"
}
stage step(n: int) -> (k: int) {
  run "step {n} {k}"
}
pipeline twice(n: int) -> (k: int) {
  var w = step(n: n)
  w = step(n: w.k)
  output k = w.k
}
pipeline main {
  let x = make()
  let a = twice(n: 1)
  for e in x.ks {
    let b = twice(n: e)
    step(n: a.k + b.k)
  }
}
)"),
            "");
}

// Lowering: inside a map template, an `if` whose conditions are known at
// compile time lowers only the branch taken and returns before binding the
// names bound in its branches: r is none after it, so use[*] silently gets
// a literal none for its file (or, where r is read in a condition,
// lowering fails with "len needs a list or string").
TEST(PropertyRegressions, StaticIfInMapTemplateLosesBoundNames) {
  EXPECT_EQ(Failures(R"(
param p: bool = true
stage make() -> (ks: list<int>) {
  run "make {ks}"
}
stage one(n: int) -> (f: file) {
  run "one {n} {f}"
}
stage use(f: file) {
  run "use {f}"
}
pipeline main {
  let x = make()
  for e in x.ks {
    if p {
      let r = one(n: e)
    } else {
      let r = one(n: 0)
    }
    use(f: r.f)
  }
}
)"),
            "");
}

// AssignPriorities: a map counts on the critical path after what its list
// and its template's arguments read, but not after what its template's
// gate conditions read: a's priority is 60 s, though the hour-long slow[*]
// copies cannot start before a is done (3660 s).
TEST(PropertyRegressions, PriorityOfWhatAMapTemplatesGateReads) {
  EXPECT_EQ(Failures(R"(
stage a() -> (k: int) {
  run "a {k}"
}
stage make() -> (ks: list<int>) {
  run "make {ks}"
}
stage slow(n: int) {
  estimate 1h
  run "slow {n}"
}
pipeline main {
  let x = a()
  let m = make()
  for e in m.ks {
    if x.k > 0 {
      slow(n: e)
    }
  }
}
)"),
            "");
}

// Lowering: reading a field of a var reassigned in some branches of an
// `if` (`w.k` over choose(if, new, w, w)) copies the earlier choose once per
// branch that keeps it, instead of sharing it: the plan's expressions double
// with every iteration of the loop (16 iterations: 35 MB of plan JSON, and
// a plan the verifier takes minutes over). Expected: linear growth.
TEST(PropertyRegressions, ExpressionsGrowLinearlyWithIterations) {
  auto nodes = [](int iterations) {
    std::string list;
    for (int i = 0; i < iterations; ++i) list += (i ? ", " : "") + std::to_string(i);
    Compiled c = CompileProgram(R"(
stage s(n: int) -> (k: int) {
  run "s {n} {k}"
}
pipeline main {
  var w = s(n: 0)
  for i in [)" + list + R"(] {
    if w.k > 0 {
      w = s(n: i)
    } else if w.k < 0 {
      s(n: 0)
    } else {
      s(n: 1)
    }
  }
  s(n: w.k)
}
)");
    EXPECT_TRUE(c.lowered.has_value()) << c.errors;
    return c.lowered ? c.lowered->exprs.size() : 0;
  };
  size_t n6 = nodes(6), n12 = nodes(12);
  EXPECT_LT(n12, 3 * n6) << "6 iterations: " << n6 << " expression nodes; 12 iterations: " << n12;
}

}  // namespace
}  // namespace flow
