// SPDX-License-Identifier: Apache-2.0
// The engine of `flow run`: walks a plan as its instances finish, decides
// gates, expands map templates, asks the scheduler what to start, starts it
// through an executor, checks and commits outputs, caches, retries, and
// records every state change in the run store (docs/runtime.md).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exec/executor.h"
#include "llvm/Support/JSON.h"
#include "plan/plan.h"
#include "sched/scheduler.h"

namespace flow::rt {

class RunStore;

enum class ProgressMode { Auto, Live, Plain, None };

struct RunOptions {
  std::string project_dir;  // the entry file's folder: commands run here, `.flow/` lives here
  std::string plan_path;    // for the record: the plan file, or the .flow file compiled in process
  std::vector<std::string> args;  // the command line, for the record
  Capacity capacity;
  bool keep_going = false;
  bool dry_run = false;
  ProgressMode progress = ProgressMode::Auto;
  std::optional<int64_t> resumed_from;
  int64_t retry_backoff_ms = 1000;
  int64_t kill_grace_ms = 5000;
  /// Called once the run has its number (the CLI writes it into .flow/lock).
  std::function<void(int64_t run)> on_started;
  /// False where the process exits right after the run (flow run): the
  /// engine's item graph is then left to the exit instead of being freed
  /// piece by piece (6-7 ms for 10,000 instances), as compilers do with
  /// their trees. Everything else (the run store, the progress line) is
  /// finished either way.
  bool free_at_end = true;
};

struct RunSummary {
  int64_t run_id = 0;
  std::string status;  // succeeded, failed, cancelled
  int exit_code = 0;
  double wall_s = 0;
  size_t total = 0, ran = 0, cached = 0, skipped = 0, failed = 0, not_run = 0;
  std::string first_failure;  // "train[2]: exit code 1"
  std::string first_failed_instance;
  std::string line;  // the summary line printed last
};

/// Runs `plan` (params already bound: every param has a value) with the
/// given store (already locked by the caller) and executor. Prints progress
/// and the summary line on stderr.
RunSummary Run(const plan::Plan& plan, RunStore& store, Executor& executor, const RunOptions& options);

/// The error that makes a run impossible before anything starts: an
/// instance that can never fit the capacities, a param without a value.
/// Empty when the plan can run.
std::vector<std::string> PreflightErrors(const plan::Plan& plan, const Capacity& capacity);

/// The stage's resource demand (1 cpu when it declares none).
Demand DemandOf(const plan::Stage& stage);

/// Where attempt `attempt` of `instance` in run `run` writes its stdout (or,
/// with `stderr_log`, its stderr), relative to the project folder:
/// .flow/logs/RUN/INSTANCE.ATTEMPT.out|.err. The store records the paths
/// when an attempt ends; `flow logs` finds a running attempt's here.
std::string AttemptLogPath(int64_t run, const std::string& instance, int attempt, bool stderr_log);

}  // namespace flow::rt
