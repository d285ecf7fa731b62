// SPDX-License-Identifier: Apache-2.0
// A hand-written lexer for .flow text that produces exactly the tokens of the
// lexer rules in grammar/Flow.g4 (same types, same longest-match and
// first-rule-wins choices), about twenty times faster than ANTLR's
// interpreted lexer. The generated lexer stays the reference: a differential
// test compares the two on every test file and on random text.
#pragma once

#include <cstdint>
#include <string_view>

namespace flow::syntax {

/// Token types; the values are those ANTLR assigns from Flow.g4 (the bridge
/// static_asserts that they agree).
enum TokenType : uint32_t {
  kTokEof = static_cast<uint32_t>(-1),
  kTokImport = 1, kTokParam, kTokRecord, kTokStage, kTokPipeline, kTokLet, kTokVar, kTokOutput, kTokIf,
  kTokElse, kTokFor, kTokIn, kTokWhile, kTokTrue, kTokFalse, kTokNone, kTokAnd, kTokOr, kTokNot,
  kTokArrow, kTokQQ, kTokQuestion, kTokLParen, kTokRParen, kTokLBrace, kTokRBrace, kTokLBrack,
  kTokRBrack, kTokComma, kTokColon, kTokDot, kTokAssign, kTokPlus, kTokMinus, kTokStar, kTokSlash,
  kTokPercent, kTokEq, kTokNe, kTokLt, kTokLe, kTokGt, kTokGe, kTokDuration, kTokSize, kTokFloat,
  kTokInt, kTokBadNumber, kTokIdent, kTokTripleString, kTokString, kTokUnterminatedTripleString,
  kTokUnterminatedString, kTokComment, kTokWs, kTokBadChar,
};

/// One token. Positions count code points, as ANTLR's input streams do;
/// `stop` is inclusive (ANTLR's convention), so an EOF token has stop = start - 1.
struct RawToken {
  uint32_t type;
  size_t start;
  size_t stop;
  size_t line;  // 1-based
  size_t col;   // 0-based, in code points
};

/// Produces the tokens of `text` one at a time, skipping whitespace and
/// comments (the grammar's `-> skip` rules). `text` must be valid UTF-8 and
/// outlive the lexer.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}
  /// The next token; kTokEof forever once the text is used up.
  RawToken Next();

 private:
  size_t Ident(size_t at) const;  // length of [A-Za-z_][A-Za-z0-9_]* at `at`
  size_t Number() const;          // length in bytes; sets number_type_
  size_t Quoted() const;          // length in bytes; sets quoted_type_
  void Advance(size_t bytes);     // moves pos_, cp_, line_ and col_

  std::string_view text_;
  size_t pos_ = 0;   // byte offset
  size_t cp_ = 0;    // code point offset
  size_t line_ = 1;
  size_t col_ = 0;
  mutable uint32_t number_type_ = 0;
  mutable uint32_t quoted_type_ = 0;
};

}  // namespace flow::syntax
