// SPDX-License-Identifier: Apache-2.0
// The syntax phase: source text in, ast::Module out, syntax errors as
// diagnostics. The only public face of compiler/syntax; no ANTLR here.
#pragma once

#include "ast/ast.h"
#include "diag/diagnostic.h"

namespace flow::syntax {

/// Limits that keep hostile input from exhausting the stack or the screen.
inline constexpr int kMaxBracketNesting = 256;
inline constexpr int kMaxTypeNesting = 256;  // `list<list<...>>`
inline constexpr int kMaxPrefixRun = 256;
inline constexpr int kMaxPrefixPerStatement = 10000;
inline constexpr int kMaxExprDepth = 10000;
inline constexpr size_t kMaxErrorsPerFile = 50;
inline constexpr size_t kMaxFileBytes = size_t{1} << 30;

/// Parses one file. Always returns a module: parts that failed to parse are
/// built as far as they go, with ast::ErrorExpr where an expression is
/// missing, so that sema can still check the rest without cascading errors.
/// Check `sink` for errors.
ast::Module ParseFile(const SourceManager& sm, FileId file, DiagSink& sink);

}  // namespace flow::syntax
