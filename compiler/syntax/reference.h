// SPDX-License-Identifier: Apache-2.0
// The ANTLR reference and the hand-written lexer and parser, each alone, for
// the differential tests that keep lexer.h and fast_parser.h equal to
// grammar/Flow.g4.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "ast/ast.h"
#include "diag/diagnostic.h"
#include "syntax/lexer.h"

namespace flow::syntax {

/// Tokens from the ANTLR-generated lexer (the reference), EOF included.
std::vector<RawToken> LexWithAntlr(std::string_view text);
/// Tokens from the hand-written lexer, EOF included.
std::vector<RawToken> LexFast(std::string_view text);

/// ParseFile with the ANTLR path only (the reference).
ast::Module ParseWithAntlr(const SourceManager& sm, FileId file, DiagSink& sink);
/// The fast parser alone; nullopt where it gives up (the file then needs a
/// diagnostic, or is one of the rare forms it leaves to ANTLR).
std::optional<ast::Module> ParseFast(const SourceManager& sm, FileId file);

}  // namespace flow::syntax
