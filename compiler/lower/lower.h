// SPDX-License-Identifier: Apache-2.0
// The lowering phase: a checked program in, a plan out. Inlines
// sub-pipelines, unrolls static loops, turns runtime conditions into gates,
// `while` loops into bounded guarded iterations and loops over runtime lists
// into map templates.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "diag/diagnostic.h"
#include "plan/plan.h"
#include "sema/program.h"

namespace flow::lower {

struct LowerOptions {
  std::string entry = "main";
  /// `--param NAME=VALUE`, as written; bound at compile time. When a name
  /// comes more than once, the last one wins.
  std::vector<std::pair<std::string, std::string>> params;
  /// Values already parsed (JSON, as a plan holds them) for params not in
  /// `params`: those that `flow run --resume` carries over from the run it
  /// resumes. Names the program does not declare are ignored.
  std::vector<std::pair<std::string, llvm::json::Value>> param_values;
  /// Refuse `while ... max N` with N above this (each iteration is lowered).
  int64_t max_while_bound = 10000;
  /// Checking only (flowc --lint): a param without a value is no error; the
  /// parts of the program it shapes are skipped.
  bool lint = false;
};

/// Notes on what lowering did, for `flowc --explain`.
struct LowerNotes {
  std::vector<std::string> lines;
};

/// Lowers the entry pipeline of `program`. std::nullopt (with diagnostics in
/// `sink`) when the program cannot become a plan. `sm` gives source
/// locations; `program` must have been checked without errors.
std::optional<plan::Plan> Lower(const sema::Program& program, const SourceManager& sm, const LowerOptions& options,
                                DiagSink& sink, LowerNotes* notes = nullptr);

/// Parses a `--param` value for a param of type `type` (a plan type):
/// strings, files and dirs verbatim; numbers, bools, durations (30m) and
/// sizes (4GB) as in .flow files; lists and json as JSON; `none` for T?.
/// Returns the JSON value, or an error message.
std::variant<llvm::json::Value, std::string> ParseParamValue(const std::string& text, const plan::Type& type);

}  // namespace flow::lower
