// SPDX-License-Identifier: Apache-2.0
// Evaluates plan expressions over JSON values. The compiler folds constants
// with it; the runtime evaluates gates, arguments and commands with it.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "plan/plan.h"

namespace flow::plan {

/// Where the leaves of an expression get their values. A callback returns
/// std::nullopt when the value is not known (yet); the whole expression is
/// then unknown, unless an operator does not need that operand (`false and
/// x`, `v ?? x` with v not none).
struct EvalEnv {
  std::function<std::optional<llvm::json::Value>(const std::string& name)> param;
  std::function<std::optional<llvm::json::Value>(const ExprNode& ref)> output;  // Op::Output, Op::MapValues
  std::function<std::optional<llvm::json::Value>(const std::string& name)> var;
  std::function<std::optional<llvm::json::Value>(const std::string& name)> input;
  std::function<std::optional<llvm::json::Value>(const std::string& name)> out_path;
  /// The branch gate `g` took (a template gate when `local`); -1 when it
  /// took none (or was skipped).
  std::function<std::optional<int>(GateId g, bool local)> gate;
};

struct EvalResult {
  enum State { Known, Unknown, Failed } state = Unknown;
  llvm::json::Value value = nullptr;
  std::string error;  // Failed: what went wrong ("index 5 is out of range for a list of 3")
  static EvalResult Of(llvm::json::Value v) { return {Known, std::move(v), {}}; }
  static EvalResult Fail(std::string e) { return {Failed, nullptr, std::move(e)}; }
};

EvalResult Evaluate(const Plan& plan, ExprId expr, const EvalEnv& env);

/// The text of a value as interpolated into a string: strings as they are,
/// durations and sizes in flow's units ("30m", "4GB"), lists as their
/// elements separated by spaces, records and json as compact JSON.
std::string FormatValue(const llvm::json::Value& value, const Type& type);

}  // namespace flow::plan
