// SPDX-License-Identifier: Apache-2.0
// Plan optimization: small named passes over plan::Plan (Toy's pass
// manager, in miniature). Each pass says what it did in plain words for
// `flowc --explain`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace flow::opt {

/// What the passes did, in order, for --explain; and how long each took,
/// for --time-passes.
struct Explain {
  std::vector<std::pair<std::string, std::string>> entries;  // (pass, sentence)
  std::vector<std::pair<std::string, double>> seconds;       // (phase, wall seconds)
  void Add(const std::string& pass, std::string sentence) { entries.push_back({pass, std::move(sentence)}); }
};

/// Measured durations of earlier runs (from the run store): per instance
/// (keyed "STAGE\tINSTANCE": train[2] may take longer than train[0]), and
/// per stage name for instances not measured yet.
struct History {
  std::map<std::string, double> median_ms;
  std::map<std::string, int> samples;
  std::map<std::string, double> instance_median_ms;
};

struct OptimizeOptions {
  bool dead_branches = true;
  bool common_calls = true;
  bool reduce_edges = true;
  const History* history = nullptr;
  /// Estimate for a stage with no `estimate` and no history.
  int64_t default_estimate_ms = 60000;
};

/// Runs the passes in order: dead branches, common calls, dependencies and
/// their transitive reduction, critical-path priorities. Dependencies and
/// priorities are always computed (the runtime needs them); the others can
/// be turned off (flowc -O0) to compare plans.
plan::Plan Optimize(plan::Plan plan, const OptimizeOptions& options, Explain* explain);

// The passes, each usable (and tested) alone.

/// Decides gates whose conditions are compile-time literals: removes the
/// branches not taken (instances, gates, maps), drops guards that always
/// hold, resolves `choose` expressions over decided gates, and drops
/// expression nodes nothing reads. Returns the number of instances removed.
size_t EliminateDeadBranches(plan::Plan& plan, Explain* explain);
/// Merges instances of the same stage with the same inputs under the same
/// guards into one (stages with `cache false` are never merged). Returns the
/// number of instances removed.
size_t EliminateCommonCalls(plan::Plan& plan, Explain* explain);
/// Sets every instance's deps from what it reads: outputs in its arguments,
/// in its guards' conditions and in the maps it reads results of.
void ComputeDependencies(plan::Plan& plan);
/// Removes dependency edges implied by longer paths. Returns the number removed.
size_t ReduceDependencies(plan::Plan& plan, Explain* explain);
/// Sets estimate_ms, estimate_source and priority_s (the longest path from
/// the instance to the end, its own estimate included).
void AssignPriorities(plan::Plan& plan, const History* history, int64_t default_estimate_ms, Explain* explain);
/// Rebuilds the expression pool with only what the plan reaches. Returns
/// the number of nodes dropped.
size_t CompactExpressions(plan::Plan& plan);

/// Reads per-stage medians of earlier runs from the run store in `flow_dir`
/// (the `.flow/` folder beside the entry file). std::nullopt when there is
/// no store or it has no measurements.
std::optional<History> ReadHistory(const std::string& flow_dir);

}  // namespace flow::opt
