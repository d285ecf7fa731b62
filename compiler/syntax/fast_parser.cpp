// SPDX-License-Identifier: Apache-2.0
// The fast parser: grammar/Flow.g4's parser rules by hand, over the
// hand-written lexer, building the AST directly. Each function names the
// rule it stands for. Where the grammar is ambiguous (statements have no
// separators), ANTLR's prediction resolves the ambiguity for the lowest
// alternative: an expression goes on while the next token can continue it,
// and `f (x)` is a call. This parser does the same by looking only at the
// next token; where ANTLR would look further and choose otherwise, the
// greedy choice fails and the file goes to ANTLR.
#include "syntax/fast_parser.h"

#include <algorithm>
#include <vector>

#include "syntax/lexer.h"
#include "syntax/literals.h"
#include "syntax/nesting.h"
#include "syntax/parse.h"

namespace flow::syntax {

namespace {

// Thrown at the first thing that needs a diagnostic; FastParse catches it.
struct Bail {};

// Below the ANTLR path's limit (kMaxExprDepth), so that nothing that draws
// NestingTooDeep there is accepted here; the rare deeper file goes to ANTLR.
constexpr int kMaxHeight = 4000;

// The tokens of one text (the file, or the inside of one `{...}`), with as
// much lookahead as asked for, and the nesting limits of nesting.h (those of the
// ANTLR path) applied to every token as it is read.
class Tokens {
 public:
  Tokens(std::string_view text, const OffsetMap& map) : lexer_(text), map_(map) {}

  // The parser looks at the next token several times for each one it
  // takes: a vector and the index of the next token (with a std::deque,
  // the parser took a tenth more instructions). The reference lasts until
  // the next Peek or Take (a vector moves its tokens as it grows).
  const RawToken& Peek(size_t k = 0) {
    while (ahead_.size() - head_ <= k) Pull();
    return ahead_[head_ + k];
  }
  RawToken Take() {
    Peek();
    RawToken t = ahead_[head_++];
    if (head_ == ahead_.size()) {
      ahead_.clear();
      head_ = 0;
    }
    last_end_ = map_.Byte(t.stop + 1);
    return t;
  }
  const OffsetMap& map() const { return map_; }
  /// The byte just after the last token taken.
  uint32_t last_end() const { return last_end_; }

 private:
  void Pull() {
    RawToken t = lexer_.Next();
    if (!nesting_.Feed(t.type).empty()) throw Bail{};
    ahead_.push_back(t);
  }

  Lexer lexer_;
  const OffsetMap& map_;
  std::vector<RawToken> ahead_;  // tokens looked at, not yet taken: from head_ on
  size_t head_ = 0;
  uint32_t last_end_ = 0;
  NestingCheck nesting_;
};

// An expression and its height in ANTLR's contexts: one per node, one more
// for parentheses and for a string around its `{...}` parts.
struct Built {
  ast::ExprPtr expr;
  int height = 1;
};

class Parser {
 public:
  Parser(std::string_view file_text, ast::Module& module) : text_(file_text), module_(module) {}

  // file : topItem* EOF ;
  void File(std::string_view body, const OffsetMap& map) {
    Tokens tokens(body, map);
    in_ = &tokens;
    while (LA() != kTokEof) {
      switch (LA()) {
        case kTokImport: Import(); break;
        case kTokParam: Param(); break;
        case kTokRecord: Record(); break;
        case kTokStage: Stage(); break;
        case kTokPipeline: Pipeline(); break;
        default: throw Bail{};
      }
    }
  }

 private:
  uint32_t LA(size_t k = 0) { return in_->Peek(k).type; }
  RawToken Take() { return in_->Take(); }
  RawToken Expect(uint32_t type) {
    if (LA() != type) throw Bail{};
    return Take();
  }
  uint32_t Begin(const RawToken& t) const { return in_->map().Byte(t.start); }
  uint32_t End(const RawToken& t) const { return in_->map().Byte(t.stop + 1); }
  SourceRange Range(const RawToken& t) const { return {module_.file, Begin(t), End(t)}; }
  /// From `first` to the last token taken.
  SourceRange From(const RawToken& first) const { return {module_.file, Begin(first), in_->last_end()}; }
  SourceRange From(uint32_t begin) const { return {module_.file, begin, in_->last_end()}; }
  std::string Text(const RawToken& t) const {
    uint32_t b = Begin(t), e = End(t);
    return std::string(text_.substr(b, e - b));
  }
  // A STRING token's text without its quotes and undecoded, as the ANTLR
  // path takes import targets and map keys.
  std::string Unquoted(const RawToken& t) const {
    std::string s = Text(t);
    return s.size() >= 2 ? s.substr(1, s.size() - 2) : s;
  }

  // --------------------------------------------------------- declarations

  // importDecl : IMPORT (STRING | dottedName) ;   dottedName : IDENT ('.' IDENT)* ;
  void Import() {
    RawToken first = Take();
    ast::Import imp;
    if (LA() == kTokString) {
      imp.target = Unquoted(Take());
    } else {
      imp.target = Text(Expect(kTokIdent));
      while (LA() == kTokDot) {
        Take();
        imp.target += "." + Text(Expect(kTokIdent));
      }
      imp.is_module = true;
    }
    imp.range = From(first);
    if (!imp.target.empty()) module_.imports.push_back(std::move(imp));
  }

  // paramDecl : PARAM IDENT (':' typeRef)? ('=' expr)? ;
  void Param() {
    RawToken first = Take();
    ast::Param p;
    Name(p);
    if (LA() == kTokColon) {
      Take();
      p.type = TypeRef(0);
    }
    if (LA() == kTokAssign) {
      Take();
      p.default_value = TopExpr();
    }
    p.range = From(first);
    module_.params.push_back(std::move(p));
  }

  // recordDecl : RECORD IDENT '{' (fieldDef (',' fieldDef)* ','?)? '}' ;
  // fieldDef : IDENT ':' typeRef ;
  void Record() {
    RawToken first = Take();
    ast::Record r;
    Name(r);
    Expect(kTokLBrace);
    Commas(kTokRBrace, [&] { r.fields.push_back(Field()); });
    Expect(kTokRBrace);
    r.range = From(first);
    module_.records.push_back(std::move(r));
  }

  // IDENT, as the name of a declaration: its text and range.
  template <typename Decl>
  void Name(Decl& d) {
    RawToken name = Expect(kTokIdent);
    d.name = Text(name);
    d.name_range = Range(name);
  }

  // IDENT ':' typeRef  (fieldDef, and paramDef up to its default)
  ast::Field Field() {
    ast::Field f;
    Name(f);
    Expect(kTokColon);
    f.type = TypeRef(0);
    return f;
  }

  // typeRef : IDENT ('<' typeRef (',' typeRef)* '>')? QUESTION? ;
  ast::TypeRef TypeRef(int depth) {
    if (depth > kMaxTypeNesting) throw Bail{};  // nesting.h refuses the file
    ast::TypeRef t;
    RawToken name = Expect(kTokIdent);
    t.name = Text(name);
    if (LA() == kTokLt) {
      Take();
      t.args.push_back(TypeRef(depth + 1));
      while (LA() == kTokComma) {
        Take();
        t.args.push_back(TypeRef(depth + 1));
      }
      Expect(kTokGt);
    }
    if (LA() == kTokQuestion) {
      Take();
      t.optional = true;
    }
    t.range = From(name);
    return t;
  }

  // paramList : paramDef (',' paramDef)* ','? ;  then ')'
  // paramDef  : IDENT ':' typeRef ('=' expr)? ;
  std::vector<ast::Field> ParamList() {
    std::vector<ast::Field> fields;
    Commas(kTokRParen, [&] {
      ast::Field f = Field();
      if (LA() == kTokAssign) {
        Take();
        f.default_value = TopExpr();
      }
      fields.push_back(std::move(f));
    });
    return fields;
  }

  // (x (',' x)* ','?)? before `close`, which is left for the caller.
  template <typename F>
  void Commas(uint32_t close, F item) {
    if (LA() == close) return;
    while (true) {
      item();
      if (LA() != kTokComma) return;
      Take();
      if (LA() == close) return;
    }
  }

  // '(' paramList? ')'
  std::vector<ast::Field> Fields() {
    Expect(kTokLParen);
    std::vector<ast::Field> fields = ParamList();
    Expect(kTokRParen);
    return fields;
  }

  // stageDecl : stageHead stageItem* '}' ;
  // stageHead : STAGE IDENT '(' paramList? ')' (ARROW '(' paramList? ')')? '{' ;
  void Stage() {
    RawToken first = Take();
    ast::Stage s;
    Name(s);
    s.inputs = Fields();
    if (LA() == kTokArrow) {
      Take();
      s.outputs = Fields();
    }
    Expect(kTokLBrace);
    while (LA() != kTokRBrace) StageItem(s);  // EOF and `stage` fail there
    Take();
    s.range = From(first);
    module_.stages.push_back(std::move(s));
  }

  // stageItem : IDENT '{' (mapEntry (',' mapEntry)* ','?)? '}'   # stageMapItem
  //           | IDENT expr                                        # stageExprItem
  // mapEntry  : (IDENT | STRING) ':' expr ;
  // An unknown, repeated or misshapen item draws a diagnostic: give up.
  void StageItem(ast::Stage& s) {
    RawToken id = Expect(kTokIdent);
    std::string name = Text(id);
    auto [map_slot, scalar_slot] = StageItemSlot(s, name);
    if (!map_slot && !scalar_slot) throw Bail{};
    if ((map_slot && *map_slot) || (scalar_slot && *scalar_slot)) throw Bail{};
    if ((LA() == kTokLBrace) != (map_slot != nullptr)) throw Bail{};
    if (scalar_slot) {
      ast::ScalarItem item;
      item.value = TopExpr();
      item.range = From(id);
      *scalar_slot = std::move(item);
      return;
    }
    ast::MapItem item;
    Take();
    Commas(kTokRBrace, [&] {
      ast::MapEntry entry;
      RawToken key = Take();
      if (key.type == kTokIdent) entry.key = Text(key);
      else if (key.type == kTokString) entry.key = Unquoted(key);
      else throw Bail{};
      entry.key_range = Range(key);
      Expect(kTokColon);
      // An empty key: the ANTLR path parses the value but never builds it,
      // so its literals draw no diagnostic.
      unbuilt_ = entry.key.empty();
      Built value = Expr(0);
      unbuilt_ = false;
      if (entry.key.empty()) return;
      entry.value = Numbered(std::move(value.expr));
      item.entries.push_back(std::move(entry));
    });
    Expect(kTokRBrace);
    item.range = From(id);
    *map_slot = std::move(item);
  }

  // pipelineDecl : pipelineHead statement* '}' ;
  // pipelineHead : PIPELINE IDENT ('(' paramList? ')')? (ARROW '(' paramList? ')')? '{' ;
  void Pipeline() {
    RawToken first = Take();
    ast::Pipeline p;
    Name(p);
    if (LA() == kTokLParen) p.inputs = Fields();
    if (LA() == kTokArrow) {
      Take();
      p.outputs = Fields();
    }
    Expect(kTokLBrace);
    while (LA() != kTokRBrace) {
      if (LA() == kTokEof) throw Bail{};
      p.body.stmts.push_back(Statement());
    }
    Take();
    p.range = p.body.range = From(first);
    module_.pipelines.push_back(std::move(p));
  }

  // ----------------------------------------------------------- statements

  // block : '{' statement* '}' ;
  ast::Block Block() {
    ast::Block b;
    RawToken open = Expect(kTokLBrace);
    while (LA() != kTokRBrace) {
      if (LA() == kTokEof) throw Bail{};
      b.stmts.push_back(Statement());
    }
    Take();
    b.range = From(open);
    return b;
  }

  template <typename S>
  ast::StmtPtr Binding(const RawToken& first, bool keyword) {
    if (keyword) Take();
    RawToken name = Expect(kTokIdent);
    Expect(kTokAssign);
    auto s = std::make_unique<S>(SourceRange{});
    s->name = Text(name);
    s->name_range = Range(name);
    s->value = TopExpr();
    s->range = From(first);
    return s;
  }

  // statement : LET IDENT '=' expr | VAR IDENT '=' expr | OUTPUT IDENT '=' expr
  //           | IF expr block (ELSE IF expr block)* (ELSE block)?
  //           | FOR IDENT IN expr block | WHILE expr (IDENT expr)? block
  //           | IDENT '=' expr | expr ;
  ast::StmtPtr Statement() {
    RawToken first = in_->Peek();
    switch (first.type) {
      case kTokLet: return Binding<ast::LetStmt>(first, true);
      case kTokVar: return Binding<ast::VarStmt>(first, true);
      case kTokOutput: return Binding<ast::OutputStmt>(first, true);
      case kTokIf: {
        auto s = std::make_unique<ast::IfStmt>(SourceRange{});
        Take();
        while (true) {
          ast::IfBranch br;
          br.cond = TopExpr();
          br.body = Block();
          s->branches.push_back(std::move(br));
          if (LA() != kTokElse) break;
          Take();
          if (LA() != kTokIf) {
            s->else_body = Block();
            break;
          }
          Take();
        }
        s->range = From(first);
        return s;
      }
      case kTokFor: {
        auto s = std::make_unique<ast::ForStmt>(SourceRange{});
        Take();
        RawToken var = Expect(kTokIdent);
        s->var = Text(var);
        s->var_range = Range(var);
        Expect(kTokIn);
        s->iterable = TopExpr();
        s->body = Block();
        s->range = From(first);
        return s;
      }
      case kTokWhile: {
        // A loop without `max N`, or with another word, draws a diagnostic.
        auto s = std::make_unique<ast::WhileStmt>(SourceRange{});
        Take();
        s->cond = TopExpr();
        if (LA() != kTokIdent || Text(in_->Peek()) != "max") throw Bail{};
        Take();
        s->bound = TopExpr();
        s->body = Block();
        s->range = From(first);
        return s;
      }
      case kTokIdent:
        if (LA(1) == kTokAssign) return Binding<ast::AssignStmt>(first, false);
        break;
      default:
        break;
    }
    auto s = std::make_unique<ast::ExprStmt>(SourceRange{});
    s->value = TopExpr();
    s->range = From(first);
    return s;
  }

  // ---------------------------------------------------------- expressions

  // An expression where a statement or declaration holds one: its ids are
  // given here, in the order in which the ANTLR path's builder gives them
  // (each node before its operands, operands left to right).
  ast::ExprPtr TopExpr() { return Numbered(Expr(0).expr); }

  ast::ExprPtr Numbered(ast::ExprPtr root) {
    std::vector<ast::Expr*> work{root.get()};
    while (!work.empty()) {
      ast::Expr* x = work.back();
      work.pop_back();
      x->id = ast::ExprId{module_.num_exprs++};
      size_t mark = work.size();
      auto push = [&](const ast::ExprPtr& e) { work.push_back(e.get()); };
      switch (x->kind) {
        case ast::ExprKind::Member: push(static_cast<ast::Member*>(x)->base); break;
        case ast::ExprKind::Index: {
          auto* i = static_cast<ast::Index*>(x);
          push(i->base), push(i->index);
          break;
        }
        case ast::ExprKind::Unary: push(static_cast<ast::Unary*>(x)->operand); break;
        case ast::ExprKind::Binary: {
          auto* b = static_cast<ast::Binary*>(x);
          push(b->lhs), push(b->rhs);
          break;
        }
        case ast::ExprKind::List:
          for (const auto& el : static_cast<ast::ListLit*>(x)->elements) push(el);
          break;
        case ast::ExprKind::String:
          for (const auto& part : static_cast<ast::StringLit*>(x)->parts)
            if (part.expr) push(part.expr);
          break;
        case ast::ExprKind::Call:
          for (const auto& a : static_cast<ast::Call*>(x)->args) push(a.value);
          break;
        default:
          break;
      }
      std::reverse(work.begin() + static_cast<std::ptrdiff_t>(mark), work.end());
    }
    return root;
  }

  // The precedence of a token that continues an expression (ANTLR numbers
  // the alternatives of `expr`, tightest first), or 0.
  static int Precedence(uint32_t type) {
    switch (type) {
      case kTokDot: return 11;
      case kTokLBrack: return 10;
      case kTokStar: case kTokSlash: case kTokPercent: return 8;
      case kTokPlus: case kTokMinus: return 7;
      case kTokQQ: return 6;
      case kTokLt: case kTokLe: case kTokGt: case kTokGe: return 5;
      case kTokEq: case kTokNe: return 4;
      case kTokAnd: return 2;
      case kTokOr: return 1;
      default: return 0;
    }
  }

  static ast::BinaryOp BinaryOf(uint32_t type) {
    switch (type) {
      case kTokStar: return ast::BinaryOp::Mul;
      case kTokSlash: return ast::BinaryOp::Div;
      case kTokPercent: return ast::BinaryOp::Mod;
      case kTokPlus: return ast::BinaryOp::Add;
      case kTokMinus: return ast::BinaryOp::Sub;
      case kTokQQ: return ast::BinaryOp::Coalesce;
      case kTokLt: return ast::BinaryOp::Lt;
      case kTokLe: return ast::BinaryOp::Le;
      case kTokGt: return ast::BinaryOp::Gt;
      case kTokGe: return ast::BinaryOp::Ge;
      case kTokEq: return ast::BinaryOp::Eq;
      case kTokNe: return ast::BinaryOp::Ne;
      case kTokAnd: return ast::BinaryOp::And;
      default: return ast::BinaryOp::Or;
    }
  }

  // Whether the `[` ahead can open an index, `[ expr ]`. ANTLR goes on with
  // the expression only where it can; `[]` and `[a, b]` after an
  // expression begin a list, the next statement.
  bool IsIndex() {
    if (LA(1) == kTokRBrack) return false;
    int depth = 0;
    for (size_t k = 1;; ++k) {
      uint32_t t = LA(k);
      if (t == kTokEof) return true;  // broken either way
      if (t == kTokLBrack || t == kTokLParen || t == kTokLBrace) ++depth;
      if (t == kTokRBrack || t == kTokRParen || t == kTokRBrace) {
        if (depth == 0) return true;
        --depth;
      }
      if (t == kTokComma && depth == 0) return false;
    }
  }

  static int Checked(int height) {
    if (height > kMaxHeight) throw Bail{};
    return height;
  }

  // expr(p), as ANTLR generates it for the left-recursive rule: a prefix
  // form or a primary, then every operator of precedence >= p, the right
  // operand at one more (left-associative). `-` takes its operand at 9
  // (member and index bind tighter), `not` at 3 (comparisons bind tighter).
  Built Expr(int p) {
    if (++recursion_ > kMaxHeight) throw Bail{};
    struct Guard {
      int& r;
      ~Guard() { --r; }
    } guard{recursion_};
    RawToken first = in_->Peek();
    Built lhs;
    if (first.type == kTokMinus || first.type == kTokNot) {
      Take();
      Built operand = Expr(first.type == kTokMinus ? 9 : 3);
      auto u = std::make_unique<ast::Unary>(From(first), ast::ExprId{});
      u->op = first.type == kTokMinus ? ast::UnaryOp::Neg : ast::UnaryOp::Not;
      u->operand = std::move(operand.expr);
      lhs = {std::move(u), Checked(operand.height + 1)};
    } else {
      lhs = Primary();
    }
    uint32_t begin = Begin(first);
    while (true) {
      uint32_t type = LA();
      int prec = Precedence(type);
      if (prec == 0 || prec < p) return lhs;
      if (type == kTokLBrack && !IsIndex()) return lhs;  // `x` then the list `[1, 2]`
      RawToken op = Take();
      if (type == kTokDot) {
        RawToken name = Expect(kTokIdent);
        auto m = std::make_unique<ast::Member>(From(begin), ast::ExprId{});
        m->base = std::move(lhs.expr);
        m->name = Text(name);
        m->name_range = Range(name);
        lhs = {std::move(m), Checked(lhs.height + 1)};
      } else if (type == kTokLBrack) {
        Built index = Expr(0);
        Expect(kTokRBrack);
        auto i = std::make_unique<ast::Index>(From(begin), ast::ExprId{});
        i->base = std::move(lhs.expr);
        i->index = std::move(index.expr);
        lhs = {std::move(i), Checked(std::max(lhs.height, index.height) + 1)};
      } else {
        Built rhs = Expr(prec + 1);
        auto b = std::make_unique<ast::Binary>(From(begin), ast::ExprId{});
        b->op = BinaryOf(type);
        b->op_range = Range(op);
        b->lhs = std::move(lhs.expr);
        b->rhs = std::move(rhs.expr);
        lhs = {std::move(b), Checked(std::max(lhs.height, rhs.height) + 1)};
      }
    }
  }

  // primary : INT | FLOAT | DURATION | SIZE | TRUE | FALSE | NONE | STRING | TRIPLE_STRING
  //         | '[' (expr (',' expr)* ','?)? ']' | '(' expr ')'
  //         | IDENT '(' (arg (',' arg)* ','?)? ')' | IDENT ;
  // arg : (IDENT ':')? expr ;
  Built Primary() {
    RawToken first = in_->Peek();
    switch (first.type) {
      case kTokInt: return Number(ast::ExprKind::Int);
      case kTokFloat: return Number(ast::ExprKind::Float);
      case kTokDuration: return Number(ast::ExprKind::Duration);
      case kTokSize: return Number(ast::ExprKind::Size);
      case kTokTrue:
      case kTokFalse: {
        Take();
        auto e = std::make_unique<ast::BoolLit>(Range(first), ast::ExprId{});
        e->value = first.type == kTokTrue;
        return {std::move(e), 1};
      }
      case kTokNone: Take(); return {std::make_unique<ast::NoneLit>(Range(first), ast::ExprId{}), 1};
      case kTokString:
      case kTokTripleString: return String();
      case kTokLBrack: {
        Take();
        auto e = std::make_unique<ast::ListLit>(SourceRange{}, ast::ExprId{});
        int height = 0;
        Commas(kTokRBrack, [&] {
          Built el = Expr(0);
          height = std::max(height, el.height);
          e->elements.push_back(std::move(el.expr));
        });
        Expect(kTokRBrack);
        e->range = From(first);
        return {std::move(e), Checked(height + 1)};
      }
      case kTokLParen: {
        Take();
        Built inner = Expr(0);
        Expect(kTokRParen);
        inner.expr->range = From(first);  // diagnostics point at the parenthesized form
        return {std::move(inner.expr), Checked(inner.height + 1)};
      }
      case kTokIdent: {
        Take();
        if (LA() != kTokLParen) {
          auto e = std::make_unique<ast::NameRef>(Range(first), ast::ExprId{});
          e->name = Text(first);
          return {std::move(e), 1};
        }
        Take();
        auto e = std::make_unique<ast::Call>(SourceRange{}, ast::ExprId{});
        e->callee = Text(first);
        e->callee_range = Range(first);
        int height = 0;
        Commas(kTokRParen, [&] {
          ast::Arg arg;
          if (LA() == kTokIdent && LA(1) == kTokColon) {
            RawToken name = Take();
            Take();
            arg.name = Text(name);
            arg.name_range = Range(name);
          }
          Built value = Expr(0);
          height = std::max(height, value.height);
          arg.value = std::move(value.expr);
          e->args.push_back(std::move(arg));
        });
        Expect(kTokRParen);
        e->range = From(first);
        return {std::move(e), Checked(height + 1)};
      }
      default:
        throw Bail{};
    }
  }

  Built Number(ast::ExprKind kind) {
    RawToken t = Take();
    if (unbuilt_) return {std::make_unique<ast::NoneLit>(Range(t), ast::ExprId{}), 1};
    int32_t unused_ids = 0;
    ast::ExprPtr e = BuildNumberLit(Text(t), kind, Range(t), unused_ids, scratch_);
    if (!scratch_.diagnostics().empty()) throw Bail{};
    return {std::move(e), 1};
  }

  Built String() {
    RawToken t = Take();
    if (unbuilt_) return {std::make_unique<ast::NoneLit>(Range(t), ast::ExprId{}), 1};
    int32_t unused_ids = 0;
    int parts_height = 0;
    ast::ExprPtr e = BuildStringLit(text_, Range(t), t.type == kTokTripleString, in_interpolation_, unused_ids,
                                    scratch_, [&](std::string_view inner, uint32_t offset) {
                                      Built part = Interpolation(inner, offset);
                                      parts_height = std::max(parts_height, part.height);
                                      return std::move(part.expr);
                                    });
    if (!scratch_.diagnostics().empty()) throw Bail{};
    return {std::move(e), Checked(parts_height + 1)};
  }

  // interpolation : expr EOF ;  over the text inside one `{...}`.
  Built Interpolation(std::string_view inner, uint32_t offset) {
    OffsetMap map = MakeMap(module_.file, offset, inner);
    Tokens tokens(inner, map);
    Tokens* outer = in_;
    in_ = &tokens;
    in_interpolation_ = true;
    Built b = Expr(0);
    if (LA() != kTokEof) throw Bail{};
    in_interpolation_ = false;
    in_ = outer;
    return b;
  }

  std::string_view text_;
  ast::Module& module_;
  Tokens* in_ = nullptr;
  DiagSink scratch_;  // literals report here; anything in it means: give up
  bool in_interpolation_ = false;
  bool unbuilt_ = false;  // parsing a value that the ANTLR path drops unbuilt
  int recursion_ = 0;
};

}  // namespace

bool FastParse(std::string_view file_text, std::string_view body, const OffsetMap& map, ast::Module& module) {
  try {
    Parser(file_text, module).File(body, map);
    return true;
  } catch (const Bail&) {
    return false;
  }
}

}  // namespace flow::syntax
