// SPDX-License-Identifier: Apache-2.0
// Builds the AST from ANTLR contexts, the one place that walks parse trees.
// Every accessor may return null after error recovery, so every step checks.
#include "syntax/ast_builder.h"

#include "fmt/format.h"
#include "llvm/ADT/StringRef.h"
#include "syntax/literals.h"
#include "syntax/parse.h"

namespace flow::syntax {

using FP = flowgen::FlowParser;
using llvm::dyn_cast;

namespace {


template <typename T>
std::unique_ptr<T> New(SourceRange range, ast::ExprId id) {
  return std::make_unique<T>(range, id);
}

}  // namespace

std::string AstBuilder::Text(antlr4::Token* tok) const {
  // Sliced from the file's bytes: no UTF-32 round trip. Tokens conjured by
  // error recovery ("<missing IDENT>") have no position and give "".
  if (!tok || tok->getStartIndex() == INVALID_INDEX || tok->getStopIndex() == INVALID_INDEX) return {};
  SourceRange r = RangeOf(tok);
  if (r.end <= r.begin || r.end > text_.size()) return {};
  return std::string(text_.substr(r.begin, r.end - r.begin));
}

SourceRange AstBuilder::RangeOf(antlr4::Token* tok) const {
  if (!tok) return {map_->file, map_->base, map_->base};
  size_t start = tok->getStartIndex();
  size_t stop = tok->getStopIndex();
  if (start == INVALID_INDEX || stop == INVALID_INDEX || stop + 1 < start)
    return {map_->file, map_->Byte(map_->length), map_->Byte(map_->length)};
  return {map_->file, map_->Byte(start), map_->Byte(stop + 1)};
}

SourceRange AstBuilder::RangeOf(antlr4::ParserRuleContext* ctx) const {
  if (!ctx || !ctx->start) return {map_->file, map_->base, map_->base};
  SourceRange r = RangeOf(ctx->start);
  if (ctx->stop && ctx->stop->getStopIndex() != INVALID_INDEX &&
      ctx->stop->getTokenIndex() >= ctx->start->getTokenIndex()) {
    SourceRange e = RangeOf(ctx->stop);
    if (e.end > r.begin) r.end = e.end;
  }
  return r;
}

ast::ExprPtr AstBuilder::MakeError(SourceRange range) {
  return New<ast::ErrorExpr>(range, NextId());
}

// ---------------------------------------------------------------- types

// typeRef : IDENT ('<' typeRef (',' typeRef)* '>')? QUESTION? ;
ast::TypeRef AstBuilder::BuildType(FP::TypeRefContext* ctx) {
  ast::TypeRef t;
  if (!ctx) return t;
  t.range = RangeOf(ctx);
  t.name = Text(ctx->IDENT());
  for (auto* arg : ctx->typeRef()) t.args.push_back(BuildType(arg));
  t.optional = ctx->QUESTION() != nullptr;
  return t;
}

// paramList : paramDef (',' paramDef)* ','? ;
// paramDef  : IDENT ':' typeRef ('=' expr)? ;
std::vector<ast::Field> AstBuilder::BuildFields(FP::ParamListContext* ctx) {
  std::vector<ast::Field> fields;
  if (!ctx) return fields;
  for (auto* def : ctx->paramDef()) {
    ast::Field f;
    f.name = Text(def->IDENT());
    if (f.name.empty()) continue;
    f.name_range = RangeOf(def->IDENT());
    f.type = BuildType(def->typeRef());
    if (def->expr()) f.default_value = BuildExpr(def->expr());
    fields.push_back(std::move(f));
  }
  return fields;
}

// --------------------------------------------------------- declarations

// importDecl : IMPORT (STRING | dottedName) ;
void AstBuilder::AddImport(FP::ImportDeclContext* ctx) {
  ast::Import imp;
  imp.range = RangeOf(ctx);
  if (auto* s = ctx->STRING()) {
    std::string t = s->getText();
    if (t.size() >= 2) imp.target = t.substr(1, t.size() - 2);
  } else if (auto* d = ctx->dottedName()) {
    for (auto* id : d->IDENT()) {
      if (!imp.target.empty()) imp.target += ".";
      imp.target += Text(id);
    }
    imp.is_module = true;
  }
  if (!imp.target.empty()) module_.imports.push_back(std::move(imp));
}

// paramDecl : PARAM IDENT (':' typeRef)? ('=' expr)? ;
void AstBuilder::AddParam(FP::ParamDeclContext* ctx) {
  ast::Param p;
  p.range = RangeOf(ctx);
  p.name = Text(ctx->IDENT());
  if (p.name.empty()) return;
  p.name_range = RangeOf(ctx->IDENT());
  if (ctx->typeRef()) p.type = BuildType(ctx->typeRef());
  if (ctx->expr()) p.default_value = BuildExpr(ctx->expr());
  module_.params.push_back(std::move(p));
}

// recordDecl : RECORD IDENT '{' (fieldDef (',' fieldDef)* ','?)? '}' ;
void AstBuilder::AddRecord(FP::RecordDeclContext* ctx) {
  ast::Record r;
  r.range = RangeOf(ctx);
  r.name = Text(ctx->IDENT());
  if (r.name.empty()) return;
  r.name_range = RangeOf(ctx->IDENT());
  for (auto* fd : ctx->fieldDef()) {
    ast::Field f;
    f.name = Text(fd->IDENT());
    if (f.name.empty()) continue;
    f.name_range = RangeOf(fd->IDENT());
    f.type = BuildType(fd->typeRef());
    r.fields.push_back(std::move(f));
  }
  module_.records.push_back(std::move(r));
}

namespace {
constexpr const char* kMapItems[] = {"resources", "env"};
constexpr const char* kScalarItems[] = {"retry", "timeout", "estimate", "cache", "run"};

std::string ClosestItem(const std::string& name) {
  std::string best;
  unsigned best_d = 3;
  auto consider = [&](const char* cand) {
    unsigned d = llvm::StringRef(name).edit_distance(cand);
    if (d < best_d) best_d = d, best = cand;
  };
  for (auto* c : kMapItems) consider(c);
  for (auto* c : kScalarItems) consider(c);
  return best;
}
}  // namespace

// stageItem : IDENT '{' (mapEntry (',' mapEntry)* ','?)? '}'  # stageMapItem
//           | IDENT expr                                       # stageExprItem
void AstBuilder::BuildStageItem(ast::Stage& stage, FP::StageItemContext* ctx) {
  int alt = alts_[kSiteStageItem].Index<FP::StageMapItemContext, FP::StageExprItemContext>(ctx);
  auto* map_ctx = alt == 0 ? static_cast<FP::StageMapItemContext*>(ctx) : nullptr;
  auto* expr_ctx = alt == 1 ? static_cast<FP::StageExprItemContext*>(ctx) : nullptr;
  antlr4::tree::TerminalNode* id = map_ctx ? map_ctx->IDENT() : expr_ctx ? expr_ctx->IDENT() : nullptr;
  std::string name = Text(id);
  if (name.empty()) return;
  SourceRange range = RangeOf(ctx);
  SourceRange name_range = RangeOf(id);

  auto [map_slot, scalar_slot] = StageItemSlot(stage, name);

  if (!map_slot && !scalar_slot) {
    auto& d = sink_.Emit(DiagKind::UnknownStageItem, name_range,
                         fmt::format("unknown stage item '{}'", name));
    std::string near = ClosestItem(name);
    if (near == "run") stage.has_syntax_error = true;  // its run is likely this item
    d.fix_hint = near.empty()
                     ? "a stage body holds resources, env, retry, timeout, estimate, cache and run"
                     : fmt::format("did you mean '{}'?", near);
    return;
  }
  SourceRange previous;
  if (map_slot && *map_slot) previous = (*map_slot)->range;
  if (scalar_slot && *scalar_slot) previous = (*scalar_slot)->range;
  if (previous.valid()) {
    auto& d = sink_.Emit(DiagKind::DuplicateStageItem, name_range,
                         fmt::format("'{}' appears twice in stage '{}'", name, stage.name));
    d.notes.push_back({previous, "first given here"});
    return;
  }
  if (map_slot) {
    if (!map_ctx) {
      sink_.Emit(DiagKind::BadStageItem, range,
                 fmt::format("'{}' takes a block, as in {} {{ {} }}", name, name,
                             name == "env" ? "NAME: \"value\"" : "cpus: 2, memory: 4GB"));
      return;
    }
    ast::MapItem item;
    item.range = range;
    for (auto* e : map_ctx->mapEntry()) {
      ast::MapEntry entry;
      if (e->IDENT()) {
        entry.key = Text(e->IDENT());
        entry.key_range = RangeOf(e->IDENT());
      } else if (e->STRING()) {
        std::string t = e->STRING()->getText();
        entry.key = t.size() >= 2 ? t.substr(1, t.size() - 2) : t;
        entry.key_range = RangeOf(e->STRING());
      }
      if (entry.key.empty()) continue;
      entry.value = e->expr() ? BuildExpr(e->expr()) : MakeError(RangeOf(e));
      item.entries.push_back(std::move(entry));
    }
    *map_slot = std::move(item);
    return;
  }
  if (!expr_ctx) {
    sink_.Emit(DiagKind::BadStageItem, range,
               fmt::format("'{}' takes a value, not a block, as in {} {}", name, name,
                           name == "run"       ? "\"command {input}\""
                           : name == "retry"   ? "2"
                           : name == "cache"   ? "false"
                                               : "30m"));
    return;
  }
  ast::ScalarItem item;
  item.range = range;
  item.value = expr_ctx->expr() ? BuildExpr(expr_ctx->expr()) : MakeError(range);
  *scalar_slot = std::move(item);
}

// stageHead : STAGE IDENT '(' paramList? ')' (ARROW '(' paramList? ')')? '{' ;
ast::Stage& AstBuilder::BeginStage(FP::StageHeadContext* ctx) {
  ast::Stage s;
  s.range = RangeOf(ctx);
  s.name = Text(ctx->IDENT());
  s.name_range = RangeOf(ctx->IDENT());
  size_t arrow = ctx->ARROW() ? ctx->ARROW()->getSymbol()->getTokenIndex() : SIZE_MAX;
  for (auto* list : ctx->paramList()) {
    bool is_output = list->start && list->start->getTokenIndex() > arrow;
    (is_output ? s.outputs : s.inputs) = BuildFields(list);
  }
  module_.stages.push_back(std::move(s));
  return module_.stages.back();
}

// stageDecl : stageHead stageItem* '}' ;  (whole, outside the bridge's loop)
void AstBuilder::AddStage(FP::StageDeclContext* ctx) {
  if (!ctx->stageHead()) return;
  ast::Stage& s = BeginStage(ctx->stageHead());
  for (auto* item : ctx->stageItem()) BuildStageItem(s, item);
  s.range = RangeOf(ctx);
  if (s.name.empty()) module_.stages.pop_back();
}

// pipelineHead : PIPELINE IDENT ('(' paramList? ')')? (ARROW '(' paramList? ')')? '{' ;
ast::Pipeline& AstBuilder::BeginPipeline(FP::PipelineHeadContext* ctx) {
  ast::Pipeline p;
  p.range = RangeOf(ctx);
  p.name = Text(ctx->IDENT());
  p.name_range = RangeOf(ctx->IDENT());
  size_t arrow = ctx->ARROW() ? ctx->ARROW()->getSymbol()->getTokenIndex() : SIZE_MAX;
  for (auto* list : ctx->paramList()) {
    bool is_output = list->start && list->start->getTokenIndex() > arrow;
    (is_output ? p.outputs : p.inputs) = BuildFields(list);
  }
  p.body.range = p.range;
  module_.pipelines.push_back(std::move(p));
  return module_.pipelines.back();
}

// topItem : importDecl | paramDecl | recordDecl | stageDecl | pipelineDecl ;
void AstBuilder::AddTopItem(FP::TopItemContext* ctx) {
  if (auto* c = ctx->importDecl()) AddImport(c);
  else if (auto* c = ctx->paramDecl()) AddParam(c);
  else if (auto* c = ctx->recordDecl()) AddRecord(c);
  else if (auto* c = ctx->stageDecl()) AddStage(c);
  else if (auto* c = ctx->pipelineDecl()) {
    // Only reached for pipelines parsed whole (the bridge normally parses
    // pipelines statement by statement).
    if (!c->pipelineHead()) return;
    ast::Pipeline& p = BeginPipeline(c->pipelineHead());
    for (auto* st : c->statement())
      if (auto stmt = BuildStatement(st)) p.body.stmts.push_back(std::move(stmt));
    p.range = RangeOf(c);
  }
}

// ----------------------------------------------------------- statements

// block : '{' statement* '}' ;
ast::Block AstBuilder::BuildBlock(FP::BlockContext* ctx) {
  ast::Block b;
  if (!ctx) return b;
  b.range = RangeOf(ctx);
  for (auto* st : ctx->statement())
    if (auto stmt = BuildStatement(st)) b.stmts.push_back(std::move(stmt));
  return b;
}

namespace {
// Fills the fields shared by `let`, `var`, assignment and `output`.
template <typename S, typename Ctx>
ast::StmtPtr Binding(AstBuilder& b, Ctx* ctx, SourceRange range) {
  std::string name = b.Text(ctx->IDENT());
  if (name.empty()) return nullptr;
  auto s = std::make_unique<S>(range);
  s->name = std::move(name);
  s->name_range = b.RangeOf(ctx->IDENT());
  s->value = b.BuildExpr(ctx->expr());
  return s;
}
}  // namespace

ast::StmtPtr AstBuilder::BuildStatement(FP::StatementContext* ctx) {
  if (!ctx) return nullptr;
  SourceRange range = RangeOf(ctx);
  int alt = alts_[kSiteStatement].Index<FP::LetStmtContext, FP::VarStmtContext, FP::AssignStmtContext,
                                        FP::OutputStmtContext, FP::ExprStmtContext, FP::IfStmtContext,
                                        FP::ForStmtContext, FP::WhileStmtContext>(ctx);
  // letStmt : LET IDENT '=' expr
  if (auto* c = alt == 0 ? static_cast<FP::LetStmtContext*>(ctx) : nullptr) return Binding<ast::LetStmt>(*this, c, range);
  // varStmt : VAR IDENT '=' expr
  if (auto* c = alt == 1 ? static_cast<FP::VarStmtContext*>(ctx) : nullptr) return Binding<ast::VarStmt>(*this, c, range);
  // assignStmt : IDENT '=' expr
  if (auto* c = alt == 2 ? static_cast<FP::AssignStmtContext*>(ctx) : nullptr) return Binding<ast::AssignStmt>(*this, c, range);
  // outputStmt : OUTPUT IDENT '=' expr
  if (auto* c = alt == 3 ? static_cast<FP::OutputStmtContext*>(ctx) : nullptr) return Binding<ast::OutputStmt>(*this, c, range);
  // exprStmt : expr
  if (auto* c = alt == 4 ? static_cast<FP::ExprStmtContext*>(ctx) : nullptr) {
    auto s = std::make_unique<ast::ExprStmt>(range);
    s->value = BuildExpr(c->expr());
    return s;
  }
  // ifStmt : IF expr block (ELSE IF expr block)* (ELSE block)?
  if (auto* c = alt == 5 ? static_cast<FP::IfStmtContext*>(ctx) : nullptr) {
    auto s = std::make_unique<ast::IfStmt>(range);
    auto conds = c->expr();
    auto blocks = c->block();
    for (size_t i = 0; i < conds.size(); ++i) {
      ast::IfBranch br;
      br.cond = BuildExpr(conds[i]);
      if (i < blocks.size()) br.body = BuildBlock(blocks[i]);
      s->branches.push_back(std::move(br));
    }
    if (blocks.size() > conds.size()) s->else_body = BuildBlock(blocks.back());
    return s;
  }
  // forStmt : FOR IDENT IN expr block
  if (auto* c = alt == 6 ? static_cast<FP::ForStmtContext*>(ctx) : nullptr) {
    auto s = std::make_unique<ast::ForStmt>(range);
    s->var = Text(c->IDENT());
    s->var_range = RangeOf(c->IDENT());
    s->iterable = BuildExpr(c->expr());
    s->body = BuildBlock(c->block());
    if (s->var.empty()) return nullptr;
    return s;
  }
  // whileStmt : WHILE expr (IDENT expr)? block
  if (auto* c = alt == 7 ? static_cast<FP::WhileStmtContext*>(ctx) : nullptr) {
    auto s = std::make_unique<ast::WhileStmt>(range);
    auto exprs = c->expr();
    s->cond = BuildExpr(exprs.empty() ? nullptr : exprs[0]);
    if (c->IDENT() && Text(c->IDENT()) != "max") {
      auto& d = sink_.Emit(DiagKind::SyntaxError, RangeOf(c->IDENT()),
                           fmt::format("expected 'max' after the while condition, found '{}'",
                                       Text(c->IDENT())));
      d.fix_hint = "bound the loop: while COND max N { ... }";
    } else if (exprs.size() > 1) {
      s->bound = BuildExpr(exprs[1]);
    } else {
      auto& d = sink_.Emit(DiagKind::WhileWithoutMax, RangeOf(c->WHILE()),
                           "while loop has no bound");
      d.fix_hint = "write 'while COND max N { ... }' with N a compile-time int";
    }
    s->body = BuildBlock(c->block());
    return s;
  }
  return nullptr;  // recovery left a bare StatementContext: already reported
}

// ---------------------------------------------------------- expressions

ast::ExprPtr AstBuilder::BuildExpr(FP::ExprContext* ctx) {
  if (!ctx) return MakeError({map_->file, map_->base, map_->base});
  SourceRange range = RangeOf(ctx);
  if (ctx->exception) return MakeError(range);
  if (depth_ >= kMaxExprDepth) {
    if (!depth_reported_)
      sink_.Emit(DiagKind::NestingTooDeep, range,
                 fmt::format("expression nested more than {} levels deep", kMaxExprDepth));
    depth_reported_ = true;  // once per file: the rest is the same mistake
    return MakeError(range);
  }
  struct DepthGuard {
    int& d;
    explicit DepthGuard(int& d) : d(d) { ++d; }
    ~DepthGuard() { --d; }
  } guard(depth_);

  int alt = alts_[kSiteExpr].Index<FP::PrimaryExprContext, FP::MemberExprContext, FP::IndexExprContext, FP::NegExprContext, FP::NotExprContext, FP::MulExprContext, FP::AddExprContext, FP::CmpExprContext, FP::EqExprContext, FP::CoalesceExprContext, FP::AndExprContext, FP::OrExprContext>(ctx);
  // primary
  if (auto* c = (alt == 0 ? static_cast<FP::PrimaryExprContext*>(ctx) : nullptr)) return BuildPrimary(c->primary());
  // expr '.' IDENT
  if (auto* c = (alt == 1 ? static_cast<FP::MemberExprContext*>(ctx) : nullptr)) {
    auto e = New<ast::Member>(range, NextId());
    e->base = BuildExpr(c->expr());
    e->name = Text(c->IDENT());
    e->name_range = RangeOf(c->IDENT());
    if (e->name.empty()) return MakeError(range);
    return e;
  }
  // expr '[' expr ']'
  if (auto* c = (alt == 2 ? static_cast<FP::IndexExprContext*>(ctx) : nullptr)) {
    auto e = New<ast::Index>(range, NextId());
    auto parts = c->expr();
    e->base = BuildExpr(parts.size() > 0 ? parts[0] : nullptr);
    e->index = BuildExpr(parts.size() > 1 ? parts[1] : nullptr);
    return e;
  }
  // '-' expr | NOT expr
  if (auto* c = (alt == 3 ? static_cast<FP::NegExprContext*>(ctx) : nullptr)) {
    auto e = New<ast::Unary>(range, NextId());
    e->op = ast::UnaryOp::Neg;
    e->operand = BuildExpr(c->expr());
    return e;
  }
  if (auto* c = (alt == 4 ? static_cast<FP::NotExprContext*>(ctx) : nullptr)) {
    auto e = New<ast::Unary>(range, NextId());
    e->op = ast::UnaryOp::Not;
    e->operand = BuildExpr(c->expr());
    return e;
  }
  // Binary forms: expr OP expr.
  std::vector<FP::ExprContext*> operands;
  antlr4::Token* op_tok = nullptr;
  std::optional<ast::BinaryOp> op;
  auto from_token = [&](antlr4::Token* t) -> std::optional<ast::BinaryOp> {
    if (!t) return std::nullopt;
    switch (t->getType()) {
      case FP::STAR: return ast::BinaryOp::Mul;
      case FP::SLASH: return ast::BinaryOp::Div;
      case FP::PERCENT: return ast::BinaryOp::Mod;
      case FP::PLUS: return ast::BinaryOp::Add;
      case FP::MINUS: return ast::BinaryOp::Sub;
      case FP::LT: return ast::BinaryOp::Lt;
      case FP::LE: return ast::BinaryOp::Le;
      case FP::GT: return ast::BinaryOp::Gt;
      case FP::GE: return ast::BinaryOp::Ge;
      case FP::EQ: return ast::BinaryOp::Eq;
      case FP::NE: return ast::BinaryOp::Ne;
      default: return std::nullopt;
    }
  };
  if (auto* c = (alt == 5 ? static_cast<FP::MulExprContext*>(ctx) : nullptr)) operands = c->expr(), op_tok = c->op, op = from_token(c->op);
  else if (auto* c = (alt == 6 ? static_cast<FP::AddExprContext*>(ctx) : nullptr)) operands = c->expr(), op_tok = c->op, op = from_token(c->op);
  else if (auto* c = (alt == 7 ? static_cast<FP::CmpExprContext*>(ctx) : nullptr)) operands = c->expr(), op_tok = c->op, op = from_token(c->op);
  else if (auto* c = (alt == 8 ? static_cast<FP::EqExprContext*>(ctx) : nullptr)) operands = c->expr(), op_tok = c->op, op = from_token(c->op);
  else if (auto* c = (alt == 9 ? static_cast<FP::CoalesceExprContext*>(ctx) : nullptr)) {
    operands = c->expr();
    op_tok = c->QQ() ? c->QQ()->getSymbol() : nullptr;
    op = ast::BinaryOp::Coalesce;
  } else if (auto* c = (alt == 10 ? static_cast<FP::AndExprContext*>(ctx) : nullptr)) {
    operands = c->expr();
    op_tok = c->AND() ? c->AND()->getSymbol() : nullptr;
    op = ast::BinaryOp::And;
  } else if (auto* c = (alt == 11 ? static_cast<FP::OrExprContext*>(ctx) : nullptr)) {
    operands = c->expr();
    op_tok = c->OR() ? c->OR()->getSymbol() : nullptr;
    op = ast::BinaryOp::Or;
  }
  if (!op || operands.size() != 2) return MakeError(range);
  auto e = New<ast::Binary>(range, NextId());
  e->op = *op;
  e->op_range = RangeOf(op_tok);
  e->lhs = BuildExpr(operands[0]);
  e->rhs = BuildExpr(operands[1]);
  return e;
}

ast::ExprPtr AstBuilder::BuildNumber(antlr4::Token* tok, ast::ExprKind kind) {
  return BuildNumberLit(tok->getText(), kind, RangeOf(tok), module_.num_exprs, sink_);
}

// STRING | TRIPLE_STRING: decodes escapes, splits `{expr}` interpolations.
ast::ExprPtr AstBuilder::BuildString(antlr4::Token* tok) {
  return BuildStringLit(text_, RangeOf(tok), tok->getType() == FP::TRIPLE_STRING, in_interpolation_,
                        module_.num_exprs, sink_, [this](std::string_view inner, uint32_t offset) {
                          return parse_interpolation_(inner, offset, *this);
                        });
}

ast::ExprPtr AstBuilder::BuildPrimary(FP::PrimaryContext* ctx) {
  if (!ctx) return MakeError({map_->file, map_->base, map_->base});
  SourceRange range = RangeOf(ctx);
  if (ctx->exception) return MakeError(range);
  int alt = alts_[kSitePrimary].Index<FP::IntLitContext, FP::FloatLitContext, FP::DurationLitContext, FP::SizeLitContext, FP::BoolLitContext, FP::NoneLitContext, FP::StringLitContext, FP::ListLitContext, FP::ParenExprContext, FP::CallExprContext, FP::NameExprContext>(ctx);
  if (auto* c = (alt == 0 ? static_cast<FP::IntLitContext*>(ctx) : nullptr)) return BuildNumber(c->INT()->getSymbol(), ast::ExprKind::Int);
  if (auto* c = (alt == 1 ? static_cast<FP::FloatLitContext*>(ctx) : nullptr)) return BuildNumber(c->FLOAT()->getSymbol(), ast::ExprKind::Float);
  if (auto* c = (alt == 2 ? static_cast<FP::DurationLitContext*>(ctx) : nullptr)) return BuildNumber(c->DURATION()->getSymbol(), ast::ExprKind::Duration);
  if (auto* c = (alt == 3 ? static_cast<FP::SizeLitContext*>(ctx) : nullptr)) return BuildNumber(c->SIZE()->getSymbol(), ast::ExprKind::Size);
  if (auto* c = (alt == 4 ? static_cast<FP::BoolLitContext*>(ctx) : nullptr)) {
    auto e = New<ast::BoolLit>(range, NextId());
    e->value = c->TRUE() != nullptr;
    return e;
  }
  if (alt == 5) return New<ast::NoneLit>(range, NextId());
  if (auto* c = (alt == 6 ? static_cast<FP::StringLitContext*>(ctx) : nullptr)) {
    auto* node = c->STRING() ? c->STRING() : c->TRIPLE_STRING();
    if (!node) return MakeError(range);
    return BuildString(node->getSymbol());
  }
  if (auto* c = (alt == 7 ? static_cast<FP::ListLitContext*>(ctx) : nullptr)) {
    auto e = New<ast::ListLit>(range, NextId());
    for (auto* el : c->expr()) e->elements.push_back(BuildExpr(el));
    return e;
  }
  if (auto* c = (alt == 8 ? static_cast<FP::ParenExprContext*>(ctx) : nullptr)) {
    ast::ExprPtr inner = BuildExpr(c->expr());
    inner->range = range;  // diagnostics point at the parenthesized form
    return inner;
  }
  if (auto* c = (alt == 9 ? static_cast<FP::CallExprContext*>(ctx) : nullptr)) {
    auto e = New<ast::Call>(range, NextId());
    // callExpr : IDENT '(' ... : the callee is the first token (no search
    // through the children, which costs a dynamic_cast each).
    antlr4::Token* callee = c->start && c->start->getType() == FP::IDENT ? c->start : nullptr;
    e->callee = Text(callee);
    e->callee_range = RangeOf(callee);
    if (e->callee.empty()) return MakeError(range);
    for (auto* a : c->arg()) {
      ast::Arg arg;
      if (a->IDENT()) {
        arg.name = Text(a->IDENT());
        arg.name_range = RangeOf(a->IDENT());
      }
      arg.value = BuildExpr(a->expr());
      e->args.push_back(std::move(arg));
    }
    return e;
  }
  if (auto* c = (alt == 10 ? static_cast<FP::NameExprContext*>(ctx) : nullptr)) {
    auto e = New<ast::NameRef>(range, NextId());
    // nameExpr : IDENT : the name is the first token.
    e->name = Text(c->start && c->start->getType() == FP::IDENT ? c->start : nullptr);
    if (e->name.empty()) return MakeError(range);
    return e;
  }
  return MakeError(range);
}

}  // namespace flow::syntax
