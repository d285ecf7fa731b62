// SPDX-License-Identifier: Apache-2.0
// Number and string literals from token text, for both parsers.
#include "syntax/literals.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "fmt/format.h"

namespace flow::syntax {

namespace {
template <typename T>
std::unique_ptr<T> New(SourceRange range, ast::ExprId id) {
  return std::make_unique<T>(range, id);
}
}  // namespace

ast::ExprPtr BuildNumberLit(std::string_view token_text, ast::ExprKind kind, SourceRange range, int32_t& num_exprs,
                            DiagSink& sink) {
  std::string text(token_text);
  auto next_id = [&] { return ast::ExprId{num_exprs++}; };
  auto out_of_range = [&] {
    sink.Emit(DiagKind::NumberOutOfRange, range, fmt::format("number '{}' is out of range", text));
    return New<ast::ErrorExpr>(range, next_id());
  };
  if (kind == ast::ExprKind::Int) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (errno == ERANGE) return out_of_range();
    auto e = New<ast::IntLit>(range, next_id());
    e->value = v;
    return e;
  }
  if (kind == ast::ExprKind::Float) {
    errno = 0;
    double v = std::strtod(text.c_str(), nullptr);
    if (errno == ERANGE && std::isinf(v)) return out_of_range();
    auto e = New<ast::FloatLit>(range, next_id());
    e->value = v;
    return e;
  }
  // Duration or size: a decimal number, then a unit.
  size_t unit_at = text.find_first_not_of("0123456789.");
  double number = std::strtod(text.substr(0, unit_at).c_str(), nullptr);
  std::string unit = text.substr(unit_at);
  double scale = 1;
  if (kind == ast::ExprKind::Duration) {
    scale = unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 60e3 : unit == "h" ? 3600e3 : 86400e3;
  } else {
    scale = unit == "B" ? 1 : unit == "KB" ? 0x1p10 : unit == "MB" ? 0x1p20 : unit == "GB" ? 0x1p30 : 0x1p40;
  }
  double value = std::round(number * scale);
  if (!(value < 0x1p62)) return out_of_range();
  if (kind == ast::ExprKind::Duration) {
    auto e = New<ast::DurationLit>(range, next_id());
    e->millis = static_cast<int64_t>(value);
    return e;
  }
  auto e = New<ast::SizeLit>(range, next_id());
  e->bytes = static_cast<int64_t>(value);
  return e;
}

// STRING | TRIPLE_STRING: decodes escapes, splits `{expr}` interpolations.
ast::ExprPtr BuildStringLit(std::string_view file_text, SourceRange range, bool triple, bool in_interpolation,
                            int32_t& num_exprs, DiagSink& sink, InterpolationFn parse) {
  auto lit = New<ast::StringLit>(range, ast::ExprId{num_exprs++});
  lit->triple = triple;
  if (in_interpolation || range.end > file_text.size()) {
    // A string inside an interpolation: the outer string ended at its quote.
    sink.Emit(DiagKind::BadInterpolation, range,
               "a string literal cannot appear inside '{...}' of another string");
    return New<ast::ErrorExpr>(range, ast::ExprId{num_exprs++});
  }
  size_t quote = triple ? 3 : 1;
  uint32_t begin = range.begin + quote;
  uint32_t end = range.end - quote;
  std::string_view raw = file_text.substr(begin, end - begin);
  std::string text;
  auto flush = [&] {
    if (!text.empty()) lit->parts.push_back({std::move(text), nullptr});
    text.clear();
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size()) {
      char n = raw[i + 1];
      switch (n) {
        case '"': text += '"'; ++i; continue;
        case '\\': text += '\\'; ++i; continue;
        case 'n': text += '\n'; ++i; continue;
        case 't': text += '\t'; ++i; continue;
        default:
          if (triple) {  // triple-quoted strings keep unknown escapes as written
            text += c;
            continue;
          }
          auto& d = sink.Emit(DiagKind::BadEscape, {range.file, uint32_t(begin + i), uint32_t(begin + i + 2)},
                               fmt::format("unknown escape '\\{}' in string", n));
          d.fix_hint = "the escapes are \\\" \\\\ \\n \\t; write \\\\ for a backslash";
          ++i;
          continue;
      }
    }
    if (c == '{') {
      if (i + 1 < raw.size() && raw[i + 1] == '{') {
        text += '{';
        ++i;
        continue;
      }
      size_t close = raw.find('}', i + 1);
      if (close == std::string_view::npos) {
        auto& d = sink.Emit(DiagKind::BadInterpolation, {range.file, uint32_t(begin + i), uint32_t(begin + i + 1)},
                             "'{' in string is never closed");
        d.fix_hint = "write '{{' for a literal brace; a string literal cannot appear inside '{...}' (bind it "
                     "with let first)";
        break;
      }
      std::string_view inner = raw.substr(i + 1, close - i - 1);
      if (inner.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        auto& d = sink.Emit(DiagKind::BadInterpolation,
                             {range.file, uint32_t(begin + i), uint32_t(begin + close + 1)},
                             "empty '{}' in string");
        d.fix_hint = "write '{{}}' for literal braces";
        i = close;
        continue;
      }
      flush();
      lit->parts.push_back({"", parse(inner, uint32_t(begin + i + 1))});
      i = close;
      continue;
    }
    if (c == '}') {
      if (i + 1 < raw.size() && raw[i + 1] == '}') {
        text += '}';
        ++i;
        continue;
      }
      auto& d = sink.Emit(DiagKind::BadInterpolation, {range.file, uint32_t(begin + i), uint32_t(begin + i + 1)},
                           "unmatched '}' in string");
      d.fix_hint = "write '}}' for a literal brace";
      continue;
    }
    text += c;
  }
  flush();
  return lit;
}

}  // namespace flow::syntax
