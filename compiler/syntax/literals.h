// SPDX-License-Identifier: Apache-2.0
// What the two parsers of compiler/syntax (the ANTLR path's AstBuilder and
// the fast parser) share, so that it means the same, and draws the same
// diagnostics, in both: literals from token text (numbers with their units,
// strings with their escapes and `{expr}` interpolations) and the slots of
// stage body items.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "ast/ast.h"
#include "diag/diagnostic.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace flow::syntax {

/// Builds an Int, Float, Duration or Size literal from the text of its token.
/// A value that does not fit draws NumberOutOfRange and gives an ErrorExpr.
/// Ids come from `num_exprs` (the module's counter).
ast::ExprPtr BuildNumberLit(std::string_view text, ast::ExprKind kind, SourceRange range, int32_t& num_exprs,
                            DiagSink& sink);

/// Parses the text inside one `{...}` of a string, which starts at byte
/// `offset` of the file.
using InterpolationFn = llvm::function_ref<ast::ExprPtr(std::string_view inner, uint32_t offset)>;

/// Builds a STRING or TRIPLE_STRING literal whose token covers `range` of
/// `file_text`: decodes escapes, splits out `{expr}` parts (through
/// `parse`) and reports bad escapes and braces. `in_interpolation`: the
/// token sits inside another string's `{...}`, which is an error.
ast::ExprPtr BuildStringLit(std::string_view file_text, SourceRange range, bool triple, bool in_interpolation,
                            int32_t& num_exprs, DiagSink& sink, InterpolationFn parse);

/// Where a stage body item of this name goes: its map slot (resources,
/// env) or its scalar slot (retry, timeout, estimate, cache, run); both null
/// for a name that is no stage item.
inline std::pair<std::optional<ast::MapItem>*, std::optional<ast::ScalarItem>*> StageItemSlot(ast::Stage& s,
                                                                                               std::string_view name) {
  if (name == "resources") return {&s.resources, nullptr};
  if (name == "env") return {&s.env, nullptr};
  if (name == "retry") return {nullptr, &s.retry};
  if (name == "timeout") return {nullptr, &s.timeout};
  if (name == "estimate") return {nullptr, &s.estimate};
  if (name == "cache") return {nullptr, &s.cache};
  if (name == "run") return {nullptr, &s.run};
  return {nullptr, nullptr};
}

}  // namespace flow::syntax
