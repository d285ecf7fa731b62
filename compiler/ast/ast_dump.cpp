// SPDX-License-Identifier: Apache-2.0
// Prints an ast::Module as an indented outline for `flowc --emit ast` and the
// parser's golden tests.
#include "ast/ast.h"

#include <string>

#include "llvm/Support/Format.h"

namespace flow::ast {

const char* Spelling(UnaryOp op) { return op == UnaryOp::Neg ? "-" : "not"; }

const char* Spelling(BinaryOp op) {
  switch (op) {
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
    case BinaryOp::Mod: return "%";
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Coalesce: return "??";
    case BinaryOp::Lt: return "<";
    case BinaryOp::Le: return "<=";
    case BinaryOp::Gt: return ">";
    case BinaryOp::Ge: return ">=";
    case BinaryOp::Eq: return "==";
    case BinaryOp::Ne: return "!=";
    case BinaryOp::And: return "and";
    case BinaryOp::Or: return "or";
  }
  return "?";
}

namespace {

class Dumper {
 public:
  Dumper(const SourceManager& sm, llvm::raw_ostream& os) : sm_(sm), os_(os) {}

  void Module(const ast::Module& m) {
    os_ << "module " << m.path << "\n";
    indent_ = 1;
    for (const auto& i : m.imports) Line(i.range) << "import " << (i.is_module ? "" : "\"") << i.target
                                                  << (i.is_module ? "" : "\"") << "\n";
    for (const auto& p : m.params) {
      Line(p.range) << "param " << p.name;
      if (p.type) os_ << ": " << Type(*p.type);
      os_ << "\n";
      if (p.default_value) Nested([&] { Expr(*p.default_value); });
    }
    for (const auto& r : m.records) {
      Line(r.range) << "record " << r.name << "\n";
      Nested([&] { Fields("field", r.fields); });
    }
    for (const auto& s : m.stages) Stage(s);
    for (const auto& p : m.pipelines) {
      Line(p.range) << "pipeline " << p.name << "\n";
      Nested([&] {
        Fields("input", p.inputs);
        Fields("output", p.outputs);
        Block(p.body);
      });
    }
  }

 private:
  template <typename F>
  void Nested(F f) {
    ++indent_;
    f();
    --indent_;
  }

  llvm::raw_ostream& Line(SourceRange r) {
    for (int i = 0; i < indent_; ++i) os_ << "  ";
    if (r.valid()) {
      LineCol lc = sm_.GetLineCol(r.file, r.begin);
      os_ << lc.line << ":" << lc.col << " ";
    }
    return os_;
  }

  static std::string Type(const TypeRef& t) {
    std::string s = t.name;
    if (!t.args.empty()) {
      s += "<";
      for (size_t i = 0; i < t.args.size(); ++i) s += (i ? ", " : "") + Type(t.args[i]);
      s += ">";
    }
    if (t.optional) s += "?";
    return s;
  }

  void Fields(const char* what, const std::vector<Field>& fields) {
    for (const auto& f : fields) {
      Line(f.name_range) << what << " " << f.name << ": " << Type(f.type) << "\n";
      if (f.default_value) Nested([&] { Expr(*f.default_value); });
    }
  }

  void Stage(const ast::Stage& s) {
    Line(s.range) << "stage " << s.name << "\n";
    Nested([&] {
      Fields("input", s.inputs);
      Fields("output", s.outputs);
      auto map = [&](const char* name, const std::optional<MapItem>& item) {
        if (!item) return;
        Line(item->range) << name << "\n";
        Nested([&] {
          for (const auto& e : item->entries) {
            Line(e.key_range) << e.key << "\n";
            Nested([&] { Expr(*e.value); });
          }
        });
      };
      auto scalar = [&](const char* name, const std::optional<ScalarItem>& item) {
        if (!item) return;
        Line(item->range) << name << "\n";
        Nested([&] { Expr(*item->value); });
      };
      map("resources", s.resources);
      map("env", s.env);
      scalar("retry", s.retry);
      scalar("timeout", s.timeout);
      scalar("estimate", s.estimate);
      scalar("cache", s.cache);
      scalar("run", s.run);
    });
  }

  void Block(const ast::Block& b) {
    for (const auto& s : b.stmts) Stmt(*s);
  }

  void Stmt(const ast::Stmt& s) {
    if (auto* x = llvm::dyn_cast<LetStmt>(&s)) return Bind("let", x->name, s.range, *x->value);
    if (auto* x = llvm::dyn_cast<VarStmt>(&s)) return Bind("var", x->name, s.range, *x->value);
    if (auto* x = llvm::dyn_cast<AssignStmt>(&s)) return Bind("assign", x->name, s.range, *x->value);
    if (auto* x = llvm::dyn_cast<OutputStmt>(&s)) return Bind("output", x->name, s.range, *x->value);
    if (auto* x = llvm::dyn_cast<ExprStmt>(&s)) {
      Line(s.range) << "expr\n";
      return Nested([&] { Expr(*x->value); });
    }
    if (auto* x = llvm::dyn_cast<IfStmt>(&s)) {
      Line(s.range) << "if\n";
      Nested([&] {
        for (const auto& br : x->branches) {
          Line(br.cond->range) << "when\n";
          Nested([&] { Expr(*br.cond); });
          Line(br.body.range) << "then\n";
          Nested([&] { Block(br.body); });
        }
        if (x->else_body) {
          Line(x->else_body->range) << "else\n";
          Nested([&] { Block(*x->else_body); });
        }
      });
      return;
    }
    if (auto* x = llvm::dyn_cast<ForStmt>(&s)) {
      Line(s.range) << "for " << x->var << "\n";
      Nested([&] {
        Expr(*x->iterable);
        Block(x->body);
      });
      return;
    }
    if (auto* x = llvm::dyn_cast<WhileStmt>(&s)) {
      Line(s.range) << "while\n";
      Nested([&] {
        Expr(*x->cond);
        if (x->bound) {
          Line(x->bound->range) << "max\n";
          Nested([&] { Expr(*x->bound); });
        }
        Block(x->body);
      });
    }
  }

  void Bind(const char* what, const std::string& name, SourceRange r, const ast::Expr& value) {
    Line(r) << what << " " << name << "\n";
    Nested([&] { Expr(value); });
  }

  void Expr(const ast::Expr& e) {
    auto& os = Line(e.range);
    switch (e.kind) {
      case ExprKind::Int: os << "int " << llvm::cast<IntLit>(e).value << "\n"; return;
      case ExprKind::Float: os << "float " << llvm::format("%g", llvm::cast<FloatLit>(e).value) << "\n"; return;
      case ExprKind::Bool: os << (llvm::cast<BoolLit>(e).value ? "true" : "false") << "\n"; return;
      case ExprKind::None: os << "none\n"; return;
      case ExprKind::Error: os << "<error>\n"; return;
      case ExprKind::Duration: os << "duration " << llvm::cast<DurationLit>(e).millis << "ms\n"; return;
      case ExprKind::Size: os << "size " << llvm::cast<SizeLit>(e).bytes << "B\n"; return;
      case ExprKind::Name: os << "name " << llvm::cast<NameRef>(e).name << "\n"; return;
      case ExprKind::String: {
        const auto& s = llvm::cast<StringLit>(e);
        os << (s.triple ? "string\"\"\"" : "string") << "\n";
        Nested([&] {
          for (const auto& p : s.parts) {
            if (p.expr) {
              Line({}) << "interp\n";
              Nested([&] { Expr(*p.expr); });
            } else {
              Line({}) << "text \"";
              os_.write_escaped(p.text);
              os_ << "\"\n";
            }
          }
        });
        return;
      }
      case ExprKind::List: {
        os << "list\n";
        Nested([&] {
          for (const auto& el : llvm::cast<ListLit>(e).elements) Expr(*el);
        });
        return;
      }
      case ExprKind::Member: {
        const auto& m = llvm::cast<Member>(e);
        os << "member ." << m.name << "\n";
        Nested([&] { Expr(*m.base); });
        return;
      }
      case ExprKind::Index: {
        const auto& x = llvm::cast<Index>(e);
        os << "index\n";
        Nested([&] {
          Expr(*x.base);
          Expr(*x.index);
        });
        return;
      }
      case ExprKind::Unary: {
        const auto& u = llvm::cast<Unary>(e);
        os << "unary " << Spelling(u.op) << "\n";
        Nested([&] { Expr(*u.operand); });
        return;
      }
      case ExprKind::Binary: {
        const auto& b = llvm::cast<Binary>(e);
        os << "binary " << Spelling(b.op) << "\n";
        Nested([&] {
          Expr(*b.lhs);
          Expr(*b.rhs);
        });
        return;
      }
      case ExprKind::Call: {
        const auto& c = llvm::cast<Call>(e);
        os << "call " << c.callee << "\n";
        Nested([&] {
          for (const auto& a : c.args) {
            Line(a.name_range.valid() ? a.name_range : a.value->range) << "arg " << (a.name.empty() ? "_" : a.name)
                                                                        << "\n";
            Nested([&] { Expr(*a.value); });
          }
        });
        return;
      }
    }
  }

  const SourceManager& sm_;
  llvm::raw_ostream& os_;
  int indent_ = 0;
};

}  // namespace

void Dump(const Module& m, const SourceManager& sm, llvm::raw_ostream& os) { Dumper(sm, os).Module(m); }

}  // namespace flow::ast
