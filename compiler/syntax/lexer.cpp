// SPDX-License-Identifier: Apache-2.0
// The lexer rules of grammar/Flow.g4, by hand. Each function names the rules
// it stands for; keep them in step with the grammar (the differential test
// in tests/unit/syntax/lexer_test.cpp fails otherwise).
#include "syntax/lexer.h"


namespace flow::syntax {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

struct Keyword {
  std::string_view text;
  uint32_t type;
};
constexpr Keyword kKeywords[] = {
    {"import", kTokImport}, {"param", kTokParam}, {"record", kTokRecord}, {"stage", kTokStage},
    {"pipeline", kTokPipeline}, {"let", kTokLet}, {"var", kTokVar}, {"output", kTokOutput},
    {"if", kTokIf}, {"else", kTokElse}, {"for", kTokFor}, {"in", kTokIn}, {"while", kTokWhile},
    {"true", kTokTrue}, {"false", kTokFalse}, {"none", kTokNone}, {"and", kTokAnd}, {"or", kTokOr},
    {"not", kTokNot},
};

uint32_t KeywordOrIdent(std::string_view word) {
  if (word.size() <= 8)
    for (const Keyword& k : kKeywords)
      if (word == k.text) return k.type;
  return kTokIdent;
}

// Bytes in the UTF-8 sequence that starts with `lead` (text is valid UTF-8).
size_t SeqLen(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  return 4;
}

}  // namespace

size_t Lexer::Ident(size_t at) const {
  if (at >= text_.size() || !IsIdentStart(text_[at])) return 0;
  size_t end = at + 1;
  while (end < text_.size() && IsIdentChar(text_[end])) ++end;
  return end - at;
}

// DURATION : DIGITS ('.' DIGITS)? ('ms' | 's' | 'm' | 'h' | 'd') ;
// SIZE     : DIGITS ('.' DIGITS)? ('B' | 'KB' | 'MB' | 'GB' | 'TB') ;
// FLOAT    : DIGITS '.' DIGITS EXPONENT? | DIGITS EXPONENT ;
// INT      : DIGITS ;
// BAD_NUMBER : DIGITS ('.' DIGITS)? [A-Za-z_] [A-Za-z0-9_]* ;
// The longest match wins; among equal lengths, the rule listed first.
size_t Lexer::Number() const {
  const size_t n = text_.size();
  auto at = [&](size_t i) { return i < n ? text_[i] : '\0'; };
  size_t p = pos_;
  while (p < n && IsDigit(text_[p])) ++p;  // after DIGITS
  size_t q = 0;                             // after DIGITS '.' DIGITS, if present
  if (at(p) == '.' && IsDigit(at(p + 1))) {
    q = p + 1;
    while (q < n && IsDigit(text_[q])) ++q;
  }
  auto exponent = [&](size_t i) -> size_t {  // length of EXPONENT at i, or 0
    if (at(i) != 'e' && at(i) != 'E') return 0;
    size_t j = i + 1;
    if (at(j) == '+' || at(j) == '-') ++j;
    if (!IsDigit(at(j))) return 0;
    while (IsDigit(at(j))) ++j;
    return j - i;
  };
  size_t best = p;
  uint32_t type = kTokInt;
  auto offer = [&](size_t end, uint32_t t) {
    // Rules earlier in the grammar win ties; offers come in any order, so
    // compare rule positions too.
    auto rank = [](uint32_t r) {
      switch (r) {
        case kTokDuration: return 0;
        case kTokSize: return 1;
        case kTokFloat: return 2;
        case kTokInt: return 3;
        default: return 4;
      }
    };
    if (end > best || (end == best && rank(t) < rank(type))) best = end, type = t;
  };
  for (size_t base : {p, q}) {
    if (base == 0) continue;
    char c0 = at(base), c1 = at(base + 1);
    if (c0 == 'm' && c1 == 's') offer(base + 2, kTokDuration);
    if (c0 == 's' || c0 == 'm' || c0 == 'h' || c0 == 'd') offer(base + 1, kTokDuration);
    if ((c0 == 'K' || c0 == 'M' || c0 == 'G' || c0 == 'T') && c1 == 'B') offer(base + 2, kTokSize);
    if (c0 == 'B') offer(base + 1, kTokSize);
    if (size_t id = Ident(base)) offer(base + id, kTokBadNumber);
  }
  if (q) {
    offer(q + exponent(q), kTokFloat);
  } else if (size_t e = exponent(p)) {
    offer(p + e, kTokFloat);
  }
  number_type_ = type;
  return best - pos_;
}

// TRIPLE_STRING : '"""' .*? '"""' ;
// STRING        : '"' (ESC | ~["\\\r\n])* '"' ;     ESC : '\\' . ;
// UNTERMINATED_TRIPLE_STRING : '"""' (~'"' | '"' ~'"' | '""' ~'"')* EOF ;
// UNTERMINATED_STRING : '"' (ESC | ~["\\\r\n])* ;
size_t Lexer::Quoted() const {
  const size_t n = text_.size();
  if (text_.substr(pos_, 3) == "\"\"\"") {
    size_t close = text_.find("\"\"\"", pos_ + 3);
    if (close != std::string_view::npos) {
      quoted_type_ = kTokTripleString;
      return close + 3 - pos_;
    }
    // No closing quotes: the unterminated rule matches only if its chunks
    // reach end of file exactly (a trailing '"' or '""' cannot be matched).
    size_t i = pos_ + 3;
    bool reaches_eof = true;
    while (i < n) {
      if (text_[i] != '"') {
        ++i;
      } else if (i + 1 < n && text_[i + 1] != '"') {
        i += 2;
      } else if (i + 2 < n && text_[i + 1] == '"' && text_[i + 2] != '"') {
        i += 3;
      } else {
        reaches_eof = false;
        break;
      }
    }
    if (reaches_eof) {
      quoted_type_ = kTokUnterminatedTripleString;
      return n - pos_;
    }
    quoted_type_ = kTokString;  // `""`: the empty string
    return 2;
  }
  size_t i = pos_ + 1;
  while (i < n) {
    char c = text_[i];
    if (c == '\\') {
      if (i + 1 >= n) break;
      i += 1 + SeqLen(static_cast<unsigned char>(text_[i + 1]));
      continue;
    }
    if (c == '"') {
      quoted_type_ = kTokString;
      return i + 1 - pos_;
    }
    if (c == '\r' || c == '\n') break;
    i += SeqLen(static_cast<unsigned char>(c));
  }
  quoted_type_ = kTokUnterminatedString;
  return i - pos_;
}

void Lexer::Advance(size_t bytes) {
  size_t end = pos_ + bytes;
  while (pos_ < end) {
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    size_t len = SeqLen(c);
    pos_ += len;
    ++cp_;
    if (c == '\n') {
      ++line_;
      col_ = 0;
    } else {
      ++col_;
    }
  }
}

RawToken Lexer::Next() {
  const size_t n = text_.size();
  // WS : [ \t\r\n\f]+ -> skip ;  COMMENT : '#' ~[\r\n]* -> skip ;
  while (pos_ < n) {
    char c = text_[pos_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
      ++pos_, ++cp_, ++col_;
    } else if (c == '\n') {
      ++pos_, ++cp_, ++line_;
      col_ = 0;
    } else if (c == '#') {
      size_t end = pos_;
      while (end < n && text_[end] != '\r' && text_[end] != '\n') ++end;
      Advance(end - pos_);
    } else {
      break;
    }
  }
  RawToken tok{kTokEof, cp_, cp_ - 1, line_, col_};
  if (pos_ >= n) return tok;
  char c = text_[pos_];
  char c1 = pos_ + 1 < n ? text_[pos_ + 1] : '\0';
  size_t len = 1;
  uint32_t type = kTokBadChar;
  if (IsIdentStart(c)) {
    len = Ident(pos_);
    type = KeywordOrIdent(text_.substr(pos_, len));
  } else if (IsDigit(c)) {
    len = Number();
    type = number_type_;
  } else if (c == '"') {
    len = Quoted();
    type = quoted_type_;
  } else {
    switch (c) {
      case '-': type = c1 == '>' ? (len = 2, kTokArrow) : kTokMinus; break;
      case '?': type = c1 == '?' ? (len = 2, kTokQQ) : kTokQuestion; break;
      case '=': type = c1 == '=' ? (len = 2, kTokEq) : kTokAssign; break;
      case '!': type = c1 == '=' ? (len = 2, kTokNe) : kTokBadChar; break;
      case '<': type = c1 == '=' ? (len = 2, kTokLe) : kTokLt; break;
      case '>': type = c1 == '=' ? (len = 2, kTokGe) : kTokGt; break;
      case '(': type = kTokLParen; break;
      case ')': type = kTokRParen; break;
      case '{': type = kTokLBrace; break;
      case '}': type = kTokRBrace; break;
      case '[': type = kTokLBrack; break;
      case ']': type = kTokRBrack; break;
      case ',': type = kTokComma; break;
      case ':': type = kTokColon; break;
      case '.': type = kTokDot; break;
      case '+': type = kTokPlus; break;
      case '*': type = kTokStar; break;
      case '/': type = kTokSlash; break;
      case '%': type = kTokPercent; break;
      default: len = SeqLen(static_cast<unsigned char>(c)); break;  // BAD_CHAR : . ;
    }
  }
  tok.type = type;
  Advance(len);
  tok.stop = cp_ - 1;
  return tok;
}

}  // namespace flow::syntax
