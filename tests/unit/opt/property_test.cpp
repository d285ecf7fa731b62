// SPDX-License-Identifier: Apache-2.0
// Property tests of the back end over generated programs (program_gen.h).
// Each program is compiled twice, unoptimized (dead branches, common calls
// and transitive reduction off) and optimized (the defaults), and checked:
//
//  - plan::Verify finds nothing, the dependency graphs (top level and each
//    map template) are acyclic, deps point to earlier instances, and every
//    output an instance reads (in its arguments, through the gates guarding
//    it and the gates and maps its arguments depend on) is produced by an
//    earlier instance among its transitive deps;
//  - dead-branch and common-call elimination never change which commands
//    run with which inputs: the canonical descriptions of the instances that
//    run (stage, arguments with every output reference replaced by the
//    description of its producer, params by their values, run-time guards
//    by their conditions) are the same set in both plans, and the same
//    multiset for `cache false` stages, which are never merged. Instances
//    under gates decided by literals in the unoptimized plan count only if
//    the gate takes their branch; those under run-time gates count in both.
//    Map templates are compared the same way, as wholes. No gate decided by
//    literals survives, and no input that cannot be none gets a literal none;
//  - transitive reduction keeps reachability and leaves no implied edge, at
//    the top level and in map templates;
//  - each priority is at least the instance's estimate and at least each
//    dependent's priority plus that estimate, and is exactly the longest
//    path to the end as docs/plan-format.md defines it (maps counting as
//    their templates' longest paths);
//  - the plan survives a JSON round trip unchanged.
//
// The program count and seed are fixed; FLOW_PROPERTY_SEED,
// FLOW_PROPERTY_COUNT, FLOW_PROPERTY_PROGRAM and FLOW_PROPERTY_DUMP explore
// others (see RunPrograms). The PropertyKnownBugs tests at the end are
// minimal programs for the compiler bugs these properties found.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "plan_properties.h"
#include "program_gen.h"

namespace flow {
namespace {

using namespace proptest;

constexpr int kPrograms = 300;
constexpr uint64_t kSeed = 20240611;

// ------------------------------------------------------------------ tests

TEST(PropertyGenerator, IsDeterministic) {
  for (uint64_t s = 0; s < 5; ++s)
    EXPECT_EQ(testing::gen::ProgramGen(kSeed + s).Program(), testing::gen::ProgramGen(kSeed + s).Program());
}

/// Generates and checks the programs; prints what it did.
void RunPrograms(const testing::gen::GenOptions& options) {
  auto start = std::chrono::steady_clock::now();
  Stats stats;
  int failed = 0, ran = 0, slowest = -1;
  double slowest_s = 0;
  // For exploring: FLOW_PROPERTY_PROGRAM=N checks (and prints) program N
  // only (FLOW_PROPERTY_DUMP=1: prints it without checking); FLOW_PROPERTY_SEED
  // and FLOW_PROPERTY_COUNT pick other programs.
  int only = -1, count = kPrograms;
  uint64_t seed = kSeed;
  if (const char* env = std::getenv("FLOW_PROPERTY_PROGRAM")) only = std::atoi(env);
  if (const char* env = std::getenv("FLOW_PROPERTY_COUNT")) count = std::atoi(env);
  if (const char* env = std::getenv("FLOW_PROPERTY_SEED")) seed = std::strtoull(env, nullptr, 10);
  for (int i = 0; i < count; ++i) {
    if (only >= 0 && i != only) continue;
    std::string source = testing::gen::ProgramGen(seed + static_cast<uint64_t>(i), options).Program();
    if (only >= 0 && std::getenv("FLOW_PROPERTY_DUMP")) {  // the program only, unchecked
      std::printf("%s", source.c_str());
      return;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> failures = CheckProgram(source, stats);
    ++ran;
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > slowest_s) slowest_s = dt, slowest = i;
    if (only >= 0) std::printf("%s\n", source.c_str());
    if (failures.empty()) continue;
    if (++failed > 5) continue;  // keep the log readable: the first few in full
    std::string list;
    for (const auto& f : failures) list += "\n  - " + f;
    ADD_FAILURE() << "program " << i << " (seed " << seed + static_cast<uint64_t>(i) << "):" << list
                  << "\n--- program ---\n"
                  << source;
  }
  EXPECT_EQ(failed, 0) << failed << " of " << count << " programs failed";
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "[property] %d programs (%d failed), %zu instances unoptimized (%zu under branches not taken, %zu merged), "
      "%zu optimized, %zu map templates with %zu template instances, %zu gates (%zu decided by literals), %zu edges "
      "removed by reduction, at most %zu expression nodes in a plan; %zu checks in %.1f s (slowest: program %d, "
      "%.2f s)\n",
      ran, failed, stats.instances_unopt, stats.removed_dead, stats.merged, stats.instances_opt, stats.maps,
      stats.template_instances, stats.gates, stats.literal_gates, stats.edges_reduced, stats.max_exprs, stats.checks,
      secs, slowest, slowest_s);
  std::fflush(stdout);
}

TEST(PropertyBackend, OptimizationsKeepWhatRuns) { RunPrograms({}); }

// The same programs with the constructs that once hit the bugs below
// (now fixed): the generator unrestricted.
TEST(PropertyBackend, WithoutGeneratorRestrictions) {
  testing::gen::GenOptions options;
  options.avoid_known_bugs = false;
  RunPrograms(options);
}

// The checks catch a broken optimizer: each mutation of a correct optimized
// plan makes some check fail (and the unmutated plan passes them all).
TEST(PropertyChecks, CatchBrokenPlans) {
  const std::string source = R"(
param flag: bool = true
stage a(n: int) -> (k: int, f: file) {
  run "a {n} {k} {f}"
}
stage b(f: file, n: int) -> (g: file) {
  estimate 30s
  run "b {f} {n} {g}"
}
stage note(m: string) {
  cache false
  run "note {m}"
}
pipeline main {
  let x = a(n: 1)
  let y = a(n: 1)
  let w = a(n: 2)
  if flag {
    let z = b(f: x.f, n: 12)
  }
  if x.k > 1 {
    b(f: y.f, n: 13)
  }
  b(f: w.f, n: 14)
  note(m: "hi")
  note(m: "hi")
}
)";
  auto index = [](plan::Plan& p, int64_t n) -> int32_t {
    for (size_t i = 0; i < p.instances.size(); ++i)
      for (const auto& a : p.instances[i].args)
        if (a.input == "n" && p.Get(a.value).lit.getAsInteger().getValueOr(-1) == n) return static_cast<int32_t>(i);
    ADD_FAILURE() << "no instance with n = " << n;
    return 0;
  };
  Stats stats;
  EXPECT_EQ(CheckProgram(source, stats), std::vector<std::string>{});
  EXPECT_EQ(stats.merged, 1u);  // y into x
  struct Mutation {
    const char* what;
    std::function<void(plan::Plan&)> f;
    const char* expected;  // in one of the failures
  };
  std::vector<Mutation> mutations = {
      {"an instance loses its run-time guard", [&](plan::Plan& p) { p.instances[index(p, 13)].guards.clear(); },
       "runs optimized but not unoptimized"},
      {"an argument changes", [&](plan::Plan& p) { p.Get(p.instances[index(p, 12)].args[1].value).lit = 5; },
       "runs optimized but not unoptimized"},
      {"an output reference goes to another instance of the stage",
       [&](plan::Plan& p) {
         int32_t from = index(p, 2), to = index(p, 1);
         for (auto& n : p.exprs)
           if (n.op == Op::Output && n.instance.value == from) n.instance.value = to;
         // A consistent plan otherwise: deps and priorities follow the references.
         opt::ComputeDependencies(p);
         opt::ReduceDependencies(p, nullptr);
         opt::AssignPriorities(p, nullptr, opt::OptimizeOptions{}.default_estimate_ms, nullptr);
       },
       "runs unoptimized but not optimized"},
      {"a 'cache false' call is merged", [&](plan::Plan& p) { p.instances.pop_back(); },
       "a 'cache false' call runs 2 times unoptimized but 1 times optimized"},
      {"a dependency is dropped", [&](plan::Plan& p) { p.instances[index(p, 14)].deps.clear(); },
       "does not (transitively) depend on it"},
      {"a priority is off", [&](plan::Plan& p) { p.instances.front().priority_s += 1; }, "not the longest path"},
      {"an instance gets a dependency it does not need",
       [&](plan::Plan& p) {
         p.instances.back().deps.push_back({0});
         opt::AssignPriorities(p, nullptr, opt::OptimizeOptions{}.default_estimate_ms, nullptr);
       },
       "Optimize's deps differ"},
  };
  for (const auto& m : mutations) {
    Stats s;
    std::string all;
    for (const auto& f : CheckProgram(source, s, m.f)) all += f + "\n";
    EXPECT_NE(all.find(m.expected), std::string::npos) << "no check noticed that " << m.what << "; failures:\n" << all;
  }
}

}  // namespace
}  // namespace flow
