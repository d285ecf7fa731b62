// SPDX-License-Identifier: Apache-2.0
// Runs the generated ANTLR lexer and parser over a file and hands each parsed
// piece to the AstBuilder. Parses one top-level item, or one pipeline
// statement, at a time: SLL first, full LL only where SLL fails, and the
// parse tree is freed after each piece so memory stays flat on huge files.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "fmt/format.h"
#include "llvm/Support/ConvertUTF.h"
#include "syntax/ast_builder.h"
#include "syntax/fast_parser.h"
#include "syntax/lexer.h"
#include "syntax/nesting.h"
#include "syntax/parse.h"
#include "syntax/reference.h"

namespace flow::syntax {

using FP = flowgen::FlowParser;

namespace {

// Words for a token type, as users read them in "expected X, found Y".
std::string Describe(size_t type, const antlr4::dfa::Vocabulary& vocab) {
  switch (type) {
    case antlr4::Token::EOF: return "end of file";
    case FP::IDENT: return "a name";
    case FP::INT: return "an integer";
    case FP::FLOAT: return "a number";
    case FP::STRING: case FP::TRIPLE_STRING: return "a string";
    case FP::DURATION: return "a duration";
    case FP::SIZE: return "a size";
    default: break;
  }
  std::string lit = vocab.getLiteralName(type);
  if (!lit.empty()) return lit;
  return vocab.getSymbolicName(type);
}

std::string DescribeFound(antlr4::Token* tok) {
  if (!tok || tok->getType() == antlr4::Token::EOF) return "end of file";
  std::string text = tok->getText();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  switch (tok->getType()) {
    case FP::IDENT: return fmt::format("name '{}'", text);
    case FP::STRING: case FP::TRIPLE_STRING: return "a string";
    default: return fmt::format("'{}'", text);
  }
}

std::string DescribeExpected(const antlr4::misc::IntervalSet& set, const antlr4::dfa::Vocabulary& vocab) {
  std::vector<size_t> types;
  for (const auto& iv : set.getIntervals())
    for (ssize_t t = iv.a; t <= iv.b && types.size() < 64; ++t) types.push_back(t);
  bool expr_start = std::find(types.begin(), types.end(), size_t(FP::INT)) != types.end() &&
                    std::find(types.begin(), types.end(), size_t(FP::IDENT)) != types.end();
  if (expr_start) {
    bool stmt_start = std::find(types.begin(), types.end(), size_t(FP::LET)) != types.end();
    bool closes = std::find(types.begin(), types.end(), size_t(FP::RBRACE)) != types.end();
    if (stmt_start) return closes ? "a statement or '}'" : "a statement";
    return "an expression";
  }
  if (types.empty()) return {};
  if (types.size() > 5) return {};
  std::string out;
  for (size_t i = 0; i < types.size(); ++i) {
    if (i) out += i + 1 == types.size() ? " or " : ", ";
    out += Describe(types[i], vocab);
  }
  return out;
}

bool IsTopKeyword(size_t t) {
  return t == FP::IMPORT || t == FP::PARAM || t == FP::RECORD || t == FP::STAGE || t == FP::PIPELINE;
}
bool IsStatementKeyword(size_t t) {
  return t == FP::LET || t == FP::VAR || t == FP::OUTPUT || t == FP::IF || t == FP::FOR || t == FP::WHILE;
}

// Collects syntax errors as diagnostics in our words; one per parsed piece
// (the first is the useful one; the rest are usually echoes of it).
class ErrorCollector : public antlr4::BaseErrorListener {
 public:
  ErrorCollector(DiagSink& sink, const OffsetMap*& map) : sink_(sink), map_(map) {}

  void syntaxError(antlr4::Recognizer* recognizer, antlr4::Token* tok, size_t line, size_t col,
                   const std::string& msg, std::exception_ptr) override {
    (void)line, (void)col, (void)msg;
    auto* parser = dynamic_cast<antlr4::Parser*>(recognizer);
    std::optional<antlr4::misc::IntervalSet> expected;
    if (parser) {
      try {
        expected = parser->getExpectedTokens();
      } catch (...) {
        expected.reset();
      }
    }
    Report(parser, tok, expected ? &*expected : nullptr);
  }

  /// Reports one syntax error at `tok`, given what the parser expected there.
  void Report(antlr4::Parser* parser, antlr4::Token* tok, const antlr4::misc::IntervalSet* expected_set) {
    ++errors_in_piece_;
    if (errors_in_piece_ > 1 || total_ >= kMaxErrorsPerFile) return;
    ++total_;
    SourceRange range = Range(tok);
    size_t type = tok ? tok->getType() : antlr4::Token::EOF;
    // A string literal inside another string's {...} ends that string early:
    // `"a {x ?? "b"} c"` lexes as "a {x ?? ", b, "} c". Say so.
    if (parser && tok && tok->getTokenIndex() > 0 && tok->getTokenIndex() != INVALID_INDEX) {
      antlr4::Token* prev = parser->getTokenStream()->get(tok->getTokenIndex() - 1);
      if (prev->getType() == FP::STRING && HasOpenBrace(prev->getText())) {
        auto& d = sink_.Emit(DiagKind::BadInterpolation, Range(prev),
                             "a string literal cannot appear inside '{...}' of another string");
        d.fix_hint = "bind the inner value with let first, or write '{{' for a literal brace";
        return;
      }
    }
    switch (type) {
      case FP::BAD_CHAR: {
        std::string t = tok->getText();
        sink_.Emit(DiagKind::UnexpectedChar, range,
                   t == "'" ? "unexpected character '''; strings use double quotes"
                            : fmt::format("unexpected character '{}'", t));
        return;
      }
      case FP::UNTERMINATED_STRING:
      case FP::UNTERMINATED_TRIPLE_STRING: {
        range.end = std::min(range.end, range.begin + 1);
        auto& d = sink_.Emit(DiagKind::UnterminatedString, range, "string is never closed");
        d.fix_hint = type == FP::UNTERMINATED_STRING
                         ? "close it with '\"' on the same line, or use \"\"\"...\"\"\" for several lines"
                         : "close it with '\"\"\"'";
        return;
      }
      case FP::BAD_NUMBER: {
        auto& d = sink_.Emit(DiagKind::BadNumber, range, fmt::format("invalid number '{}'", tok->getText()));
        d.fix_hint = "durations end in ms, s, m, h or d; sizes in B, KB, MB, GB or TB";
        return;
      }
      default:
        break;
    }
    std::string expected;
    if (parser && expected_set) expected = DescribeExpected(*expected_set, parser->getVocabulary());
    std::string found = DescribeFound(tok);
    std::string message = expected.empty() ? fmt::format("unexpected {}", found)
                                           : fmt::format("expected {}, found {}", expected, found);
    auto& d = sink_.Emit(DiagKind::SyntaxError, range, message);
    if (tok && type == FP::IDENT && parser) {
      // A keyword used as a name, or a missing comma, are the usual causes.
      if (expected == "')'" || expected == "',' or ')'") d.fix_hint = "arguments are separated by ','";
    }
  }

  void BeginPiece() { errors_in_piece_ = 0; }
  size_t PieceErrors() const { return errors_in_piece_; }
  void SetPieceErrors(size_t n) { errors_in_piece_ = n; }
  bool PieceHadError() const { return errors_in_piece_ > 0; }
  bool TooMany() const { return total_ >= kMaxErrorsPerFile; }

 private:
  // Whether a string's text ends inside an unclosed `{` interpolation.
  static bool HasOpenBrace(const std::string& text) {
    bool open = false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '{') {
        if (i + 1 < text.size() && text[i + 1] == '{') ++i;
        else open = true;
      } else if (text[i] == '}') {
        if (i + 1 < text.size() && text[i + 1] == '}') ++i;
        else open = false;
      }
    }
    return open;
  }

  SourceRange Range(antlr4::Token* tok) {
    if (!tok) return {map_->file, map_->base, map_->base};
    size_t start = tok->getStartIndex(), stop = tok->getStopIndex();
    if (start == INVALID_INDEX || stop == INVALID_INDEX || stop + 1 < start)
      return {map_->file, map_->Byte(map_->length), map_->Byte(map_->length)};
    return {map_->file, map_->Byte(start), map_->Byte(stop + 1)};
  }

  DiagSink& sink_;
  const OffsetMap*& map_;
  size_t errors_in_piece_ = 0;
  size_t total_ = 0;
};

class FastTokenSource;

// The parsed text as an ANTLR CharStream. The parser never reads characters
// (the lexer is ours); it only asks for the text of token intervals, which
// this slices from the UTF-8 text instead of keeping a UTF-32 copy.
class TextStream : public antlr4::CharStream {
 public:
  TextStream(std::string_view text, const OffsetMap& map) : text_(text), map_(map) {}
  std::string getText(const antlr4::misc::Interval& interval) override {
    if (interval.a < 0 || interval.b < interval.a) return {};
    size_t begin = map_.Byte(static_cast<size_t>(interval.a)) - map_.base;
    size_t end = map_.Byte(static_cast<size_t>(interval.b) + 1) - map_.base;
    return std::string(text_.substr(begin, end - begin));
  }
  std::string toString() const override { return std::string(text_); }
  void consume() override {}
  size_t LA(ssize_t) override { return antlr4::IntStream::EOF; }
  ssize_t mark() override { return 0; }
  void release(ssize_t) override {}
  size_t index() override { return 0; }
  void seek(size_t) override {}
  size_t size() override { return map_.cp_to_byte.empty() ? text_.size() : map_.cp_to_byte.size() - 1; }
  std::string getSourceName() const override { return "<flow>"; }

 private:
  std::string_view text_;
  const OffsetMap& map_;
};

// A token in 48 bytes (ANTLR's CommonToken takes about 130): a million-line
// file makes a million tokens, and their allocation and first touch of
// memory was a quarter of the parse time.
class FlowToken final : public antlr4::WritableToken {
 public:
  FlowToken(FastTokenSource* source, const RawToken& t)
      : source_(source),
        start_(t.start),
        stop_(t.stop),
        type_(t.type),
        line_(static_cast<uint32_t>(t.line)),
        col_(static_cast<uint32_t>(t.col)) {}
  std::string getText() const override;
  size_t getType() const override { return type_ == kTokEof ? antlr4::Token::EOF : type_; }
  size_t getLine() const override { return line_; }
  size_t getCharPositionInLine() const override { return col_; }
  size_t getChannel() const override { return antlr4::Token::DEFAULT_CHANNEL; }
  size_t getTokenIndex() const override { return index_; }
  size_t getStartIndex() const override { return start_; }
  size_t getStopIndex() const override { return stop_; }
  antlr4::TokenSource* getTokenSource() const override;
  antlr4::CharStream* getInputStream() const override;
  std::string toString() const override { return "[@" + std::to_string(index_) + " " + getText() + "]"; }
  // The parser never rewrites tokens; these exist for the interface.
  void setText(const std::string&) override {}
  void setType(size_t type) override { type_ = static_cast<uint32_t>(type); }
  void setLine(size_t line) override { line_ = static_cast<uint32_t>(line); }
  void setCharPositionInLine(size_t pos) override { col_ = static_cast<uint32_t>(pos); }
  void setChannel(size_t) override {}
  void setTokenIndex(size_t index) override { index_ = static_cast<uint32_t>(index); }

 private:
  FastTokenSource* source_;
  size_t start_;
  size_t stop_;
  uint32_t type_;
  uint32_t line_;
  uint32_t col_;
  uint32_t index_ = 0;
};

// The hand-written lexer (lexer.h) as an ANTLR token source.
class FastTokenSource : public antlr4::TokenSource {
 public:
  FastTokenSource(std::string_view text, const OffsetMap& map) : lexer_(text), stream_(text, map) {}
  std::unique_ptr<antlr4::Token> nextToken() override {
    RawToken t = lexer_.Next();
    line_ = t.line;
    col_ = t.col;
    return std::make_unique<FlowToken>(this, t);
  }
  size_t getLine() const override { return line_; }
  size_t getCharPositionInLine() override { return col_; }
  antlr4::CharStream* getInputStream() override { return &stream_; }
  std::string getSourceName() override { return stream_.getSourceName(); }
  antlr4::TokenFactory<antlr4::CommonToken>* getTokenFactory() override {
    return antlr4::CommonTokenFactory::DEFAULT.get();
  }
  TextStream& stream() { return stream_; }

 private:
  Lexer lexer_;
  TextStream stream_;
  size_t line_ = 1, col_ = 0;
};

std::string FlowToken::getText() const {
  if (type_ == kTokEof) return "<EOF>";
  return source_->stream().getText(antlr4::misc::Interval(start_, stop_));
}
antlr4::TokenSource* FlowToken::getTokenSource() const { return source_; }
antlr4::CharStream* FlowToken::getInputStream() const { return &source_->stream(); }

// Everything one ANTLR parse needs, kept together so an interpolation can run
// its own small parse while the file's parse is paused.
struct AntlrParse {
  AntlrParse(std::string_view text, const OffsetMap& map) : lexer(text, map), tokens(&lexer), parser(&tokens) {
    parser.removeErrorListeners();
    parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(
        antlr4::atn::PredictionMode::SLL);
  }
  FastTokenSource lexer;
  antlr4::CommonTokenStream tokens;
  FP parser;
};

// Rejects text that ANTLR must never see: NUL bytes (binary files), invalid
// UTF-8, and files too large for 32-bit offsets.
bool CheckEncoding(FileId file, std::string_view text, DiagSink& sink) {
  if (text.size() >= kMaxFileBytes) {
    sink.Emit(DiagKind::FileTooLarge, {file, 0, 0},
              fmt::format("file is too large ({} bytes; the limit is {})", text.size(), kMaxFileBytes));
    return false;
  }
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    auto& d = sink.Emit(DiagKind::FileBinary, {file, uint32_t(nul), uint32_t(nul + 1)},
                        "file contains a NUL byte; is it a binary file?");
    d.fix_hint = ".flow files are UTF-8 text";
    return false;
  }
  const auto* begin = reinterpret_cast<const llvm::UTF8*>(text.data());
  const auto* end = begin + text.size();
  const llvm::UTF8* pos = begin;
  while (pos < end) {
    if (*pos < 0x80) {  // ASCII, most of any file: valid without a table lookup and a call
      ++pos;
      continue;
    }
    unsigned len = llvm::getNumBytesForUTF8(*pos);
    if (len > static_cast<unsigned>(end - pos) || !llvm::isLegalUTF8Sequence(pos, pos + len)) {
      uint32_t at = static_cast<uint32_t>(pos - begin);
      auto& d = sink.Emit(DiagKind::FileNotUtf8, {file, at, at + 1},
                          fmt::format("file is not valid UTF-8 (byte 0x{:02X})", unsigned(*pos)));
      d.fix_hint = ".flow files are UTF-8 text";
      return false;
    }
    pos += len;
  }
  return true;
}

// Bracket nesting and runs of prefix operators are the inputs that make a
// recursive-descent parser recurse without bound; refuse them up front.
bool CheckNesting(antlr4::CommonTokenStream& tokens, const OffsetMap& map, DiagSink& sink) {
  NestingCheck check;
  for (antlr4::Token* t : tokens.getTokens()) {
    size_t type = t->getType();
    std::string error = check.Feed(type == antlr4::Token::EOF ? kTokEof : static_cast<uint32_t>(type));
    if (!error.empty()) {
      SourceRange r{map.file, map.Byte(t->getStartIndex()), map.Byte(t->getStopIndex() + 1)};
      sink.Emit(DiagKind::NestingTooDeep, r, error);
      return false;
    }
  }
  return true;
}

class FileParser {
 public:
  /// Which parsers to use: the fast one, then ANTLR if it gives up; ANTLR
  /// alone; the fast one alone (for the differential test).
  enum class Mode { kFastThenAntlr, kAntlr, kFast };

  FileParser(FileId file, std::string_view text, DiagSink& sink, Mode mode)
      : mode_(mode),
        file_(file),
        text_(text),
        sink_(sink),
        map_(MakeMap(file, 0, text)),
        current_map_(&map_),
        errors_(sink, current_map_),
        builder_(module_, text, map_, sink,
                 [this](std::string_view inner, uint32_t offset, AstBuilder& b) {
                   return ParseInterpolation(inner, offset, b);
                 }) {
    module_.file = file;
  }

  bool fast_accepted() const { return fast_accepted_; }

  ast::Module Run() {
    if (!CheckEncoding(file_, text_, sink_)) return std::move(module_);
    // A UTF-8 byte order mark is not text: parse after it (columns count from
    // the first character after it, as editors show them).
    std::string_view body = text_;
    if (body.substr(0, 3) == "\xEF\xBB\xBF") {
      body.remove_prefix(3);
      map_ = MakeMap(file_, 3, body);
    }
    // Most files have no errors: the fast parser builds them in a fraction
    // of ANTLR's time. A file it gives up on is parsed again from scratch.
    if (mode_ != Mode::kAntlr) {
      fast_accepted_ = FastParse(text_, body, map_, module_);
      if (fast_accepted_ || mode_ == Mode::kFast) return std::move(module_);
      module_ = ast::Module{};
      module_.file = file_;
    }
    AntlrParse p(body, map_);
    p.tokens.fill();
    if (!CheckNesting(p.tokens, map_, sink_)) return std::move(module_);
    while (!errors_.TooMany()) {
      size_t la = p.tokens.LA(1);
      if (la == antlr4::Token::EOF) break;
      size_t before = p.tokens.index();
      if (la == FP::PIPELINE) {
        ParsePipeline(p);
      } else if (la == FP::STAGE) {
        ParseStage(p);
      } else if (la == FP::IMPORT || la == FP::PARAM || la == FP::RECORD) {
        if (auto* item = ParseBail(p, [](FP& parser) { return parser.topItem(); })) builder_.AddTopItem(item);
        else SkipTo(p, /*statement_level=*/false);
      } else {
        errors_.BeginPiece();
        if (la == FP::BAD_CHAR || la == FP::BAD_NUMBER || la == FP::UNTERMINATED_STRING ||
            la == FP::UNTERMINATED_TRIPLE_STRING) {
          errors_.Report(&p.parser, p.tokens.LT(1), nullptr);  // says what is wrong with the token itself
        } else {
          auto& d = sink_.Emit(DiagKind::SyntaxError, TokenRange(p.tokens.LT(1)),
                               fmt::format("expected a declaration, found {}", DescribeFound(p.tokens.LT(1))));
          d.fix_hint = "a file holds import, param, record, stage and pipeline declarations";
        }
        p.tokens.consume();
        SkipTo(p, /*statement_level=*/false);
      }
      p.parser.getTreeTracker().reset();
      if (p.tokens.index() == before) p.tokens.consume();  // always progress
    }
    if (errors_.TooMany())
      sink_.Emit(DiagKind::TooManyErrors, {file_, map_.length, map_.length},
                 fmt::format("too many errors in this file; stopped after {}", kMaxErrorsPerFile));
    return std::move(module_);
  }

 private:
  SourceRange TokenRange(antlr4::Token* t) const {
    return {file_, map_.Byte(t->getStartIndex()), map_.Byte(t->getStopIndex() + 1)};
  }

  // Parses one piece with `rule`: SLL first, then LL; both bail out at the
  // first error instead of letting ANTLR recover, because recovery in a
  // language without statement separators tends to swallow the statements
  // that follow. On an error: reports it, leaves the stream at the token
  // where it happened and returns null (the caller resynchronizes).
  template <typename Rule>
  auto ParseBail(AntlrParse& p, Rule rule) -> decltype(rule(p.parser)) {
    size_t start = p.tokens.index();
    errors_.BeginPiece();
    p.parser.setErrorHandler(bail_);
    p.parser.removeErrorListeners();
    for (auto mode : {antlr4::atn::PredictionMode::SLL, antlr4::atn::PredictionMode::LL}) {
      p.tokens.seek(start);
      p.parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(mode);
      antlr4::Token* offending = nullptr;
      std::optional<antlr4::misc::IntervalSet> expected;
      try {
        return rule(p.parser);
      } catch (const antlr4::ParseCancellationException& pce) {
        try {
          std::rethrow_if_nested(pce);
        } catch (const antlr4::RecognitionException& re) {
          offending = re.getOffendingToken();
          try {
            expected = re.getExpectedTokens();
          } catch (...) {
            expected.reset();
          }
        } catch (...) {
        }
      }
      if (mode == antlr4::atn::PredictionMode::SLL) continue;  // maybe only SLL's weakness
      if (!offending) offending = p.tokens.LT(1);
      errors_.Report(&p.parser, offending, expected ? &*expected : nullptr);
      error_start_ = start;
      error_token_ = offending;
    }
    return nullptr;
  }

  // Parses `{ item* }` after a stage or pipeline head, one item at a time;
  // `item` parses and builds one, returning false on a syntax error.
  template <typename Item>
  void ParseBody(AntlrParse& p, SourceRange& range, const std::string& what, const std::string& name, Item item) {
    SourceRange open = range;
    while (!errors_.TooMany()) {
      size_t la = p.tokens.LA(1);
      if (la == FP::RBRACE) {
        range.end = map_.Byte(p.tokens.LT(1)->getStopIndex() + 1);
        p.tokens.consume();
        return;
      }
      if (la == antlr4::Token::EOF || IsTopKeyword(la)) {
        auto& d = sink_.Emit(DiagKind::SyntaxError, TokenRange(p.tokens.LT(1)),
                             fmt::format("expected '}}' to close {} '{}', found {}", what, name,
                                         DescribeFound(p.tokens.LT(1))));
        d.notes.push_back({open, what + " opened here"});
        return;
      }
      size_t before = p.tokens.index();
      if (!item()) Resync(p, error_start_, error_token_);
      p.parser.getTreeTracker().reset();
      if (p.tokens.index() == before) p.tokens.consume();
    }
  }

  // stageDecl : stageHead stageItem* '}' ; driven here item by item, so that
  // one broken item loses only itself.
  void ParseStage(AntlrParse& p) {
    auto* head = ParseBail(p, [](FP& parser) { return parser.stageHead(); });
    if (!head) {
      SkipTo(p, /*statement_level=*/false);
      return;
    }
    ast::Stage& stage = builder_.BeginStage(head);
    size_t index = module_.stages.size() - 1;
    p.parser.getTreeTracker().reset();
    std::string name = stage.name;
    SourceRange range = stage.range;
    ParseBody(p, range, "stage", name, [&] {
      auto* it = ParseBail(p, [](FP& parser) { return parser.stageItem(); });
      if (it) builder_.BuildStageItem(module_.stages[index], it);
      else module_.stages[index].has_syntax_error = true;
      return it != nullptr;
    });
    module_.stages[index].range.end = range.end;
  }

  // pipelineDecl : pipelineHead statement* '}' ; driven here statement by
  // statement.
  void ParsePipeline(AntlrParse& p) {
    auto* head = ParseBail(p, [](FP& parser) { return parser.pipelineHead(); });
    if (!head) {
      SkipTo(p, /*statement_level=*/false);
      return;
    }
    ast::Pipeline& pipeline = builder_.BeginPipeline(head);
    size_t index = module_.pipelines.size() - 1;
    p.parser.getTreeTracker().reset();
    std::string name = pipeline.name;
    SourceRange range = pipeline.range;
    ParseBody(p, range, "pipeline", name, [&] {
      size_t start = p.tokens.index();
      auto* st = ParseBail(p, [](FP& parser) { return parser.statement(); });
      if (st) {
        if (auto stmt = builder_.BuildStatement(st)) module_.pipelines[index].body.stmts.push_back(std::move(stmt));
      } else {
        KeepBrokenBinding(p, start, error_token_);
      }
      return st != nullptr;
    });
    module_.pipelines[index].range.end = range.end;
    module_.pipelines[index].body.range.end = range.end;
  }

  // `let x = <broken>` still binds x, to an error value.
  void KeepBrokenBinding(AntlrParse& p, size_t start, antlr4::Token* offending) {
    antlr4::Token* first = p.tokens.get(start);
    if (first->getType() != FP::LET && first->getType() != FP::VAR) return;
    if (start + 1 >= p.tokens.size()) return;
    antlr4::Token* name = p.tokens.get(start + 1);
    if (name->getType() != FP::IDENT || offending->getTokenIndex() <= start + 1) return;
    SourceRange name_range{file_, map_.Byte(name->getStartIndex()), map_.Byte(name->getStopIndex() + 1)};
    SourceRange whole{file_, map_.Byte(first->getStartIndex()), map_.Byte(offending->getStartIndex())};
    std::unique_ptr<ast::Stmt> stmt;
    auto value = std::make_unique<ast::ErrorExpr>(whole, builder_.NextId());
    if (first->getType() == FP::LET) {
      auto s = std::make_unique<ast::LetStmt>(whole);
      s->name = builder_.Text(name), s->name_range = name_range, s->value = std::move(value);
      stmt = std::move(s);
    } else {
      auto s = std::make_unique<ast::VarStmt>(whole);
      s->name = builder_.Text(name), s->name_range = name_range, s->value = std::move(value);
      stmt = std::move(s);
    }
    module_.pipelines.back().body.stmts.push_back(std::move(stmt));
  }

  // Skips the rest of a broken statement: out of any block it opened (braces
  // only: parentheses do not span statements), then to the next statement.
  void Resync(AntlrParse& p, size_t start, antlr4::Token* offending) {
    int depth = 0;
    size_t at = std::max(start, std::min(offending->getTokenIndex(), p.tokens.size() - 1));
    for (size_t i = start; i < at; ++i) {
      size_t t = p.tokens.get(i)->getType();
      if (t == FP::LBRACE) ++depth;
      if (t == FP::RBRACE) --depth;
    }
    p.tokens.seek(at);
    while (depth > 0 && p.tokens.LA(1) != antlr4::Token::EOF) {
      size_t t = p.tokens.LA(1);
      if (t == FP::LBRACE) ++depth;
      if (t == FP::RBRACE) --depth;
      p.tokens.consume();
    }
    if (p.tokens.index() == start) p.tokens.consume();
    SkipTo(p, /*statement_level=*/true);
  }

  // After a syntax error: skip to the next token that can start a statement
  // (or a top-level item), staying outside any brackets opened meanwhile. A
  // name at the start of a later line also starts a statement (a call or an
  // assignment): statements have no separators, so lines are the best guess.
  void SkipTo(AntlrParse& p, bool statement_level) {
    int depth = 0;
    size_t line = p.tokens.LT(1)->getLine();
    if (p.tokens.index() > 0) line = p.tokens.LT(-1)->getLine();
    while (true) {
      size_t la = p.tokens.LA(1);
      if (la == antlr4::Token::EOF) return;
      if (depth == 0 && IsTopKeyword(la)) return;
      if (depth == 0 && statement_level && (IsStatementKeyword(la) || la == FP::RBRACE)) return;
      if (depth == 0 && statement_level && la == FP::IDENT && p.tokens.LT(1)->getLine() > line &&
          p.tokens.LT(-1)->getLine() < p.tokens.LT(1)->getLine())
        return;
      if (la == FP::LBRACE) ++depth;
      if (la == FP::RBRACE) --depth;
      p.tokens.consume();
    }
  }

  ast::ExprPtr ParseInterpolation(std::string_view inner, uint32_t offset, AstBuilder& b) {
    OffsetMap sub = MakeMap(file_, offset, inner);
    const OffsetMap* saved_listener_map = current_map_;
    current_map_ = &sub;
    const OffsetMap* saved = b.SwapMap(&sub);
    b.SetInInterpolation(true);
    size_t outer_errors = errors_.PieceErrors();
    AntlrParse p(inner, sub);
    p.tokens.fill();
    ast::ExprPtr result;
    if (CheckNesting(p.tokens, sub, sink_)) {
      auto* ctx = ParseBail(p, [](FP& parser) { return parser.interpolation(); });
      if (!ctx || !ctx->expr()) {
        result = std::make_unique<ast::ErrorExpr>(SourceRange{file_, offset, offset + uint32_t(inner.size())},
                                                  b.NextId());
      } else {
        result = b.BuildExpr(ctx->expr());
      }
    } else {
      result = std::make_unique<ast::ErrorExpr>(SourceRange{file_, offset, offset + uint32_t(inner.size())},
                                                b.NextId());
    }
    b.SwapMap(saved);
    b.SetInInterpolation(false);
    current_map_ = saved_listener_map;
    errors_.SetPieceErrors(outer_errors);
    return result;
  }

  Mode mode_;
  bool fast_accepted_ = false;
  FileId file_;
  std::string_view text_;
  DiagSink& sink_;
  ast::Module module_;
  OffsetMap map_;
  const OffsetMap* current_map_;
  ErrorCollector errors_;
  AstBuilder builder_;
  std::shared_ptr<antlr4::BailErrorStrategy> bail_ = std::make_shared<antlr4::BailErrorStrategy>();
  size_t error_start_ = 0;                 // where the last failed piece began
  antlr4::Token* error_token_ = nullptr;   // and the token it failed at
};

}  // namespace

std::vector<RawToken> LexWithAntlr(std::string_view text) {
  antlr4::ANTLRInputStream input(text.data(), text.size());
  flowgen::FlowLexer lexer(&input);
  lexer.removeErrorListeners();
  std::vector<RawToken> out;
  while (true) {
    std::unique_ptr<antlr4::Token> t = lexer.nextToken();
    uint32_t type = t->getType() == antlr4::Token::EOF ? kTokEof : static_cast<uint32_t>(t->getType());
    out.push_back({type, t->getStartIndex(), t->getStopIndex(), t->getLine(), t->getCharPositionInLine()});
    if (type == kTokEof) break;
  }
  return out;
}

std::vector<RawToken> LexFast(std::string_view text) {
  Lexer lexer(text);
  std::vector<RawToken> out;
  while (true) {
    out.push_back(lexer.Next());
    if (out.back().type == kTokEof) break;
  }
  return out;
}

namespace {
ast::Module Parse(const SourceManager& sm, FileId file, DiagSink& sink, FileParser::Mode mode,
                  bool* fast_accepted = nullptr) {
  FileParser parser(file, sm.Text(file), sink, mode);
  ast::Module m = parser.Run();
  m.path = sm.Path(file);
  if (fast_accepted) *fast_accepted = parser.fast_accepted();
  return m;
}
}  // namespace

ast::Module ParseFile(const SourceManager& sm, FileId file, DiagSink& sink) {
  // FLOW_PARSER=antlr: the reference parser alone, to rule the fast one out.
  static const bool antlr_only = [] {
    const char* v = std::getenv("FLOW_PARSER");
    return v && std::strcmp(v, "antlr") == 0;
  }();
  return Parse(sm, file, sink, antlr_only ? FileParser::Mode::kAntlr : FileParser::Mode::kFastThenAntlr);
}

ast::Module ParseWithAntlr(const SourceManager& sm, FileId file, DiagSink& sink) {
  return Parse(sm, file, sink, FileParser::Mode::kAntlr);
}

std::optional<ast::Module> ParseFast(const SourceManager& sm, FileId file) {
  DiagSink sink;
  bool accepted = false;
  ast::Module m = Parse(sm, file, sink, FileParser::Mode::kFast, &accepted);
  if (!accepted) return std::nullopt;
  return m;
}

}  // namespace flow::syntax
