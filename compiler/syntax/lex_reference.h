// SPDX-License-Identifier: Apache-2.0
// Both lexers over the same text, as plain tokens, for the differential test
// that keeps the hand-written lexer (lexer.h) equal to grammar/Flow.g4.
#pragma once

#include <string_view>
#include <vector>

#include "syntax/lexer.h"

namespace flow::syntax {

/// Tokens from the ANTLR-generated lexer (the reference), EOF included.
std::vector<RawToken> LexWithAntlr(std::string_view text);
/// Tokens from the hand-written lexer, EOF included.
std::vector<RawToken> LexFast(std::string_view text);

}  // namespace flow::syntax
