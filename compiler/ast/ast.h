// SPDX-License-Identifier: Apache-2.0
// The abstract syntax tree of one .flow file: plain data with source ranges,
// built by compiler/syntax and read by sema. No ANTLR type appears here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llvm/Support/Casting.h"
#include "llvm/Support/raw_ostream.h"
#include "source/source_manager.h"

namespace flow::ast {

/// Module-local expression number, dense from 0; sema keeps per-expression
/// facts (types, resolutions) in vectors indexed by it.
struct ExprId {
  int32_t value = -1;
};

// ------------------------------------------------------------ expressions

enum class ExprKind {
  Int, Float, Bool, None, Duration, Size, String, List,
  Name, Member, Index, Unary, Binary, Call,
  Error,  // stands for an expression that failed to parse
};

struct Expr {
  Expr(ExprKind kind, SourceRange range, ExprId id) : kind(kind), range(range), id(id) {}
  virtual ~Expr() = default;
  const ExprKind kind;
  SourceRange range;
  ExprId id;
};
using ExprPtr = std::unique_ptr<Expr>;

template <ExprKind K>
struct ExprOf : Expr {
  ExprOf(SourceRange r, ExprId id) : Expr(K, r, id) {}
  static bool classof(const Expr* e) { return e->kind == K; }
};

struct IntLit : ExprOf<ExprKind::Int> {
  using ExprOf::ExprOf;
  int64_t value = 0;
};
struct FloatLit : ExprOf<ExprKind::Float> {
  using ExprOf::ExprOf;
  double value = 0;
};
struct BoolLit : ExprOf<ExprKind::Bool> {
  using ExprOf::ExprOf;
  bool value = false;
};
struct NoneLit : ExprOf<ExprKind::None> {
  using ExprOf::ExprOf;
};
struct ErrorExpr : ExprOf<ExprKind::Error> {
  using ExprOf::ExprOf;
};
/// `30s`: the value in milliseconds.
struct DurationLit : ExprOf<ExprKind::Duration> {
  using ExprOf::ExprOf;
  int64_t millis = 0;
};
/// `4GB`: the value in bytes (units are powers of 1024).
struct SizeLit : ExprOf<ExprKind::Size> {
  using ExprOf::ExprOf;
  int64_t bytes = 0;
};

/// One piece of a string: literal text (escapes decoded) or an interpolated
/// expression `{expr}`.
struct StringPart {
  std::string text;
  ExprPtr expr;  // null for a text part
};
struct StringLit : ExprOf<ExprKind::String> {
  using ExprOf::ExprOf;
  std::vector<StringPart> parts;
  bool triple = false;
  /// True when the string has no interpolation; `parts` then holds at most
  /// one text part.
  bool IsPlain() const {
    for (const auto& p : parts)
      if (p.expr) return false;
    return true;
  }
  std::string PlainText() const {
    std::string s;
    for (const auto& p : parts) s += p.text;
    return s;
  }
};
struct ListLit : ExprOf<ExprKind::List> {
  using ExprOf::ExprOf;
  std::vector<ExprPtr> elements;
};
struct NameRef : ExprOf<ExprKind::Name> {
  using ExprOf::ExprOf;
  std::string name;
};
struct Member : ExprOf<ExprKind::Member> {
  using ExprOf::ExprOf;
  ExprPtr base;
  std::string name;
  SourceRange name_range;
};
struct Index : ExprOf<ExprKind::Index> {
  using ExprOf::ExprOf;
  ExprPtr base;
  ExprPtr index;
};

enum class UnaryOp { Neg, Not };
enum class BinaryOp { Mul, Div, Mod, Add, Sub, Coalesce, Lt, Le, Gt, Ge, Eq, Ne, And, Or };
const char* Spelling(UnaryOp op);
const char* Spelling(BinaryOp op);

struct Unary : ExprOf<ExprKind::Unary> {
  using ExprOf::ExprOf;
  UnaryOp op = UnaryOp::Neg;
  ExprPtr operand;
};
struct Binary : ExprOf<ExprKind::Binary> {
  using ExprOf::ExprOf;
  BinaryOp op = BinaryOp::Add;
  SourceRange op_range;
  ExprPtr lhs;
  ExprPtr rhs;
};

/// `name: value` or, for builtins, a positional `value` (empty name).
struct Arg {
  std::string name;
  SourceRange name_range;
  ExprPtr value;
};
/// A call of a stage, a pipeline or a builtin; which one is sema's business.
struct Call : ExprOf<ExprKind::Call> {
  using ExprOf::ExprOf;
  std::string callee;
  SourceRange callee_range;
  std::vector<Arg> args;
};

// ------------------------------------------------------------------ types

/// A written type: `int`, `list<file>`, `Metrics?`.
struct TypeRef {
  std::string name;
  std::vector<TypeRef> args;
  bool optional = false;
  SourceRange range;
};

// ------------------------------------------------------------- statements

enum class StmtKind { Let, Var, Assign, Output, Expr, If, For, While };

struct Stmt {
  Stmt(StmtKind kind, SourceRange range) : kind(kind), range(range) {}
  virtual ~Stmt() = default;
  const StmtKind kind;
  SourceRange range;
};
using StmtPtr = std::unique_ptr<Stmt>;

template <StmtKind K>
struct StmtOf : Stmt {
  explicit StmtOf(SourceRange r) : Stmt(K, r) {}
  static bool classof(const Stmt* s) { return s->kind == K; }
};

struct Block {
  SourceRange range;
  std::vector<StmtPtr> stmts;
};

/// `let NAME = VALUE` / `var NAME = VALUE` / `NAME = VALUE` / `output NAME = VALUE`.
struct LetStmt : StmtOf<StmtKind::Let> {
  using StmtOf::StmtOf;
  std::string name;
  SourceRange name_range;
  ExprPtr value;
};
struct VarStmt : StmtOf<StmtKind::Var> {
  using StmtOf::StmtOf;
  std::string name;
  SourceRange name_range;
  ExprPtr value;
};
struct AssignStmt : StmtOf<StmtKind::Assign> {
  using StmtOf::StmtOf;
  std::string name;
  SourceRange name_range;
  ExprPtr value;
};
struct OutputStmt : StmtOf<StmtKind::Output> {
  using StmtOf::StmtOf;
  std::string name;
  SourceRange name_range;
  ExprPtr value;
};
struct ExprStmt : StmtOf<StmtKind::Expr> {
  using StmtOf::StmtOf;
  ExprPtr value;
};
struct IfBranch {
  ExprPtr cond;
  Block body;
};
/// `if C {} else if C {} else {}`: branches in order, then the else block.
struct IfStmt : StmtOf<StmtKind::If> {
  using StmtOf::StmtOf;
  std::vector<IfBranch> branches;
  std::optional<Block> else_body;
};
struct ForStmt : StmtOf<StmtKind::For> {
  using StmtOf::StmtOf;
  std::string var;
  SourceRange var_range;
  ExprPtr iterable;
  Block body;
};
/// `while C max N {}`; `bound` is null when `max N` is missing (an error).
struct WhileStmt : StmtOf<StmtKind::While> {
  using StmtOf::StmtOf;
  ExprPtr cond;
  ExprPtr bound;
  Block body;
};

// ----------------------------------------------------------- declarations

struct Import {
  SourceRange range;
  std::string target;  // "lib/common.flow" or "std.ml"
  bool is_module = false;  // dotted form: import std.ml
};

struct Param {
  SourceRange range;
  std::string name;
  SourceRange name_range;
  std::optional<TypeRef> type;
  ExprPtr default_value;  // null: required at run time
};

/// An input or output of a stage or pipeline, or a record field.
struct Field {
  std::string name;
  SourceRange name_range;
  TypeRef type;
  ExprPtr default_value;  // inputs only
};

struct Record {
  SourceRange range;
  std::string name;
  SourceRange name_range;
  std::vector<Field> fields;
};

struct MapEntry {
  std::string key;
  SourceRange key_range;
  ExprPtr value;
};
struct MapItem {
  SourceRange range;
  std::vector<MapEntry> entries;
};
struct ScalarItem {
  SourceRange range;  // the whole item, keyword included
  ExprPtr value;
};

struct Stage {
  SourceRange range;
  std::string name;
  SourceRange name_range;
  std::vector<Field> inputs;
  std::vector<Field> outputs;
  std::optional<MapItem> resources;
  std::optional<MapItem> env;
  std::optional<ScalarItem> retry;
  std::optional<ScalarItem> timeout;
  std::optional<ScalarItem> estimate;
  std::optional<ScalarItem> cache;
  std::optional<ScalarItem> run;
  /// An item failed to parse or was misspelled: a missing `run` may be
  /// that item, so it draws no error of its own.
  bool has_syntax_error = false;
};

struct Pipeline {
  SourceRange range;
  std::string name;
  SourceRange name_range;
  std::vector<Field> inputs;
  std::vector<Field> outputs;
  Block body;
};

/// One parsed file. Owns its nodes; refers to its text through `file`.
struct Module {
  FileId file;
  std::string path;
  std::vector<Import> imports;
  std::vector<Param> params;
  std::vector<Record> records;
  std::vector<Stage> stages;
  std::vector<Pipeline> pipelines;
  int32_t num_exprs = 0;  // ExprIds are [0, num_exprs)
};

/// Calls `f` on every name reference in `e` (iteratively: expressions can
/// nest deeply).
template <typename F>
void ForEachNameRef(const Expr& e, F&& f) {
  std::vector<const Expr*> work{&e};
  while (!work.empty()) {
    const Expr* x = work.back();
    work.pop_back();
    if (auto* r = llvm::dyn_cast<NameRef>(x)) {
      f(*r);
    } else if (auto* m = llvm::dyn_cast<Member>(x)) {
      work.push_back(m->base.get());
    } else if (auto* i = llvm::dyn_cast<Index>(x)) {
      work.push_back(i->base.get()), work.push_back(i->index.get());
    } else if (auto* u = llvm::dyn_cast<Unary>(x)) {
      work.push_back(u->operand.get());
    } else if (auto* b = llvm::dyn_cast<Binary>(x)) {
      work.push_back(b->lhs.get()), work.push_back(b->rhs.get());
    } else if (auto* l = llvm::dyn_cast<ListLit>(x)) {
      for (const auto& el : l->elements) work.push_back(el.get());
    } else if (auto* s = llvm::dyn_cast<StringLit>(x)) {
      for (const auto& p : s->parts)
        if (p.expr) work.push_back(p.expr.get());
    } else if (auto* c = llvm::dyn_cast<Call>(x)) {
      for (const auto& a : c->args) work.push_back(a.value.get());
    }
  }
}

/// Prints the tree as an indented outline (`flowc --emit ast`), for golden
/// tests. Locations are printed as line:col.
void Dump(const Module& m, const SourceManager& sm, llvm::raw_ostream& os);

}  // namespace flow::ast
