// SPDX-License-Identifier: Apache-2.0
// The checking phase: resolves names across modules, types every expression
// and reports every error and warning of SPEC 1.5 in one pass.
#pragma once

#include <vector>

#include "ast/ast.h"
#include "diag/diagnostic.h"
#include "sema/program.h"

namespace flow::sema {

struct CheckOptions {
  /// Warn about unused params, stages and bindings (in the entry module).
  bool warn_unused = true;
};

/// Checks `modules` (the entry module and everything it imports, each once).
/// Always returns a program; it is usable only when `sink` has no errors.
Program Check(const std::vector<ast::Module>& modules, int entry_module, DiagSink& sink,
              const CheckOptions& options = {});

}  // namespace flow::sema
