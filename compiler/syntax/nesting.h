// SPDX-License-Identifier: Apache-2.0
// The limits that keep a recursive-descent parse of hostile input off the
// end of the stack, checked token by token before or while parsing. Both
// parsers of compiler/syntax use this one check, so that they refuse the
// same files. No ANTLR here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "fmt/format.h"
#include "syntax/lexer.h"
#include "syntax/parse.h"

namespace flow::syntax {

class NestingCheck {
 public:
  /// Takes the next token's type; returns "" while within the limits, else
  /// the diagnostic's message (and keeps returning one).
  std::string Feed(uint32_t type) {
    if (type == kTokLParen || type == kTokLBrack || type == kTokLBrace) ++depth_;
    if (type == kTokRParen || type == kTokRBrack || type == kTokRBrace) depth_ = std::max(0, depth_ - 1);
    // Prefix operators also nest through precedence (`not 1 == not 1 == ...`
    // recurses once per `not`), so their number per statement is bounded
    // too; statements begin at keywords and braces.
    bool prefix = type == kTokMinus || type == kTokNot;
    prefix_run_ = prefix ? prefix_run_ + 1 : 0;
    bool keyword = type >= kTokImport && type <= kTokWhile && type != kTokElse && type != kTokIn;
    if (keyword || type == kTokLBrace || type == kTokRBrace) prefix_in_statement_ = 0;
    if (prefix) ++prefix_in_statement_;
    // Types nest through `<`: a type follows `NAME :` and is made of names,
    // `<`, `>`, `,` and `?`; count the `<` not yet closed in it.
    if (in_type_) {
      if (type == kTokLt) ++angles_;
      else if (type == kTokGt) angles_ = std::max(0, angles_ - 1);
      else if (type == kTokComma && angles_ == 0) in_type_ = false;
      else if (type != kTokIdent && type != kTokComma && type != kTokQuestion) in_type_ = false, angles_ = 0;
    }
    if (type == kTokColon && prev_ == kTokIdent) in_type_ = true, angles_ = 0;
    prev_ = type;
    if (depth_ > kMaxBracketNesting) return fmt::format("brackets nested more than {} levels deep", kMaxBracketNesting);
    if (prefix_run_ > kMaxPrefixRun) return fmt::format("more than {} prefix operators in a row", kMaxPrefixRun);
    if (prefix_in_statement_ > kMaxPrefixPerStatement)
      return fmt::format("more than {} '-' and 'not' operators in one statement", kMaxPrefixPerStatement);
    if (angles_ > kMaxTypeNesting) return fmt::format("type nested more than {} levels deep", kMaxTypeNesting);
    return {};
  }

 private:
  int depth_ = 0, prefix_run_ = 0, prefix_in_statement_ = 0, angles_ = 0;
  bool in_type_ = false;
  uint32_t prev_ = 0;
};

}  // namespace flow::syntax
