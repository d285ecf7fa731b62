// SPDX-License-Identifier: Apache-2.0
// Expressions: name resolution, the typing rules of SPEC 1.2 and 1.4, calls
// of stages, pipelines and builtins.
#include <algorithm>

#include "llvm/ADT/StringRef.h"
#include "sema/checker.h"

namespace flow::sema {

namespace {
std::string JoinNames(const std::vector<Port>& ports) {
  std::string s;
  for (size_t i = 0; i < ports.size(); ++i) s += (i ? ", " : "") + ports[i].name;
  return s.empty() ? "(none)" : s;
}
std::string JoinFields(const std::vector<RecordField>& fields) {
  std::string s;
  for (size_t i = 0; i < fields.size(); ++i) s += (i ? ", " : "") + fields[i].name;
  return s;
}
}  // namespace

TypeId Checker::CheckExpr(const ast::Expr& e) {
  bool is_static = true;
  TypeId t = CheckExprImpl(e, is_static);
  Facts().expr_type[e.id.value] = t;
  Facts().is_static[e.id.value] = is_static ? 1 : 0;
  return t;
}

TypeId Checker::CheckExprImpl(const ast::Expr& e, bool& is_static) {
  TypeTable& types = prog_.types;
  switch (e.kind) {
    case ast::ExprKind::Int: return types.Int();
    case ast::ExprKind::Float: return types.Float();
    case ast::ExprKind::Bool: return types.Bool();
    case ast::ExprKind::None: return types.None();
    case ast::ExprKind::Duration: return types.Duration();
    case ast::ExprKind::Size: return types.Size();
    case ast::ExprKind::Error: return types.Error();
    case ast::ExprKind::String: return CheckString(llvm::cast<ast::StringLit>(e), is_static);
    case ast::ExprKind::List: return CheckList(llvm::cast<ast::ListLit>(e), is_static);
    case ast::ExprKind::Name: return CheckName(llvm::cast<ast::NameRef>(e), is_static);
    case ast::ExprKind::Member: return CheckMember(llvm::cast<ast::Member>(e), is_static);
    case ast::ExprKind::Index: return CheckIndex(llvm::cast<ast::Index>(e), is_static);
    case ast::ExprKind::Unary: return CheckUnary(llvm::cast<ast::Unary>(e), is_static);
    case ast::ExprKind::Binary: return CheckBinary(llvm::cast<ast::Binary>(e), is_static);
    case ast::ExprKind::Call: return CheckCall(llvm::cast<ast::Call>(e), is_static);
  }
  return types.Error();
}

bool Checker::RejectOptional(TypeId t, const ast::Expr& e, const std::string& where) {
  if (prog_.types.Kind(t) != TypeKind::Optional) return false;
  std::string desc = Describe(e);
  auto& d = Error(DiagKind::OptionalWithoutDefault, e.range,
                  fmt::format("{} may be none here (its type is {})", desc.empty() ? "this value" : "'" + desc + "'",
                              TypeName(t)));
  d.fix_hint = fmt::format("{} needs a value: give a fallback with '??', as in {} ?? VALUE", where,
                           desc.empty() ? "(...)" : desc);
  return true;
}

// A string literal is a path where a file or dir is expected (SPEC 1.2: "a
// file/dir is a path"); a list literal of them is a list of paths. Only
// literals: a string-typed value never becomes a file implicitly.
bool Checker::LiteralFits(const ast::Expr& e, TypeId want) const {
  const TypeTable& types = prog_.types;
  TypeId w = types.StripOptional(want);
  TypeKind k = types.Kind(w);
  if (e.kind == ast::ExprKind::String) return k == TypeKind::File || k == TypeKind::Dir;
  if (e.kind == ast::ExprKind::List && k == TypeKind::List) {
    TypeId elem = types.Get(w).elem;
    for (const auto& el : llvm::cast<ast::ListLit>(e).elements)
      if (!LiteralFits(*el, elem) && !types.Assignable(Facts().expr_type[el->id.value], elem)) return false;
    return true;
  }
  return false;
}

void Checker::ExpectType(const ast::Expr& e, TypeId got, TypeId want, DiagKind kind, const std::string& what) {
  ExpectType(e, got, want, kind, [&] { return what; });
}

void Checker::ExpectType(const ast::Expr& e, TypeId got, TypeId want, DiagKind kind,
                         llvm::function_ref<std::string()> what) {
  TypeTable& types = prog_.types;
  if (types.Assignable(got, want) || LiteralFits(e, want)) return;
  if (types.Kind(got) == TypeKind::Optional && types.Assignable(types.StripOptional(got), want)) {
    RejectOptional(got, e, what());
    return;
  }
  Error(kind, e.range, fmt::format("{} expects {}, found {}", what(), TypeName(want), TypeName(got)));
}

// ------------------------------------------------------------------ names

TypeId Checker::CheckName(const ast::NameRef& e, bool& is_static) {
  int b = Lookup(e.name);
  if (b >= 0) {
    MarkUsed(b);
    Facts().name_binding[e.id.value] = b;
    is_static = prog_.bindings[b].is_static;
    return prog_.bindings[b].type;
  }
  is_static = false;
  if (ctx_ == Context::StageRun) {
    const StageInfo& st = prog_.stages[stage_];
    std::vector<std::string> ports;
    for (const auto& p : st.inputs) ports.push_back(p.name);
    for (const auto& p : st.outputs) ports.push_back(p.name);
    // Inside a string the user wrote {name}: quote it the same way.
    std::string shown = interpolating_ ? "{" + e.name + "}" : e.name;
    auto& d = Error(DiagKind::RunPlaceholder, e.range,
                    fmt::format("'{}' names no input or output of stage '{}'", shown, st.decl->name));
    std::string near = Suggest(e.name, ports);
    if (!scopes_.empty() && scopes_[0].names.count(e.name)) {
      d.fix_hint = fmt::format("'{}' is a param; pass it to the stage as an input", e.name);
      MarkUsed(scopes_[0].names.lookup(e.name));  // meant, so not "never used"
    } else if (!near.empty()) {
      d.fix_hint = fmt::format("did you mean '{}'?", near);
    } else {
      d.fix_hint = "in a string, write '{{' and '}}' for literal braces";
    }
    return prog_.types.Error();
  }
  if (ctx_ == Context::StageStatic && stage_ >= 0) {
    const StageInfo& st = prog_.stages[stage_];
    for (const auto* ports : {&st.inputs, &st.outputs})
      for (const auto& p : *ports)
        if (p.name == e.name) {
          auto& d = Error(DiagKind::BadStageItem, e.range,
                          fmt::format("'{}' is an input or output of stage '{}': resources, retry, timeout, estimate "
                                      "and cache must be known before the stage runs",
                                      e.name, st.decl->name));
          d.fix_hint = "use a literal or a param here";
          return prog_.types.Error();
        }
  }
  auto it = prog_.decls.find(e.name);
  if (it != prog_.decls.end()) {
    auto& d = Error(DiagKind::UnknownName, e.range, fmt::format("'{}' is a {}, not a value", e.name,
                                                                it->second.kind == DeclKind::Record ? "record type"
                                                                : it->second.kind == DeclKind::Stage ? "stage"
                                                                                                     : "pipeline"));
    if (it->second.kind != DeclKind::Record)
      d.fix_hint = fmt::format("call it with named arguments: {}(NAME: VALUE)", e.name);
    return prog_.types.Error();
  }
  auto& d = Error(DiagKind::UnknownName, e.range, fmt::format("unknown name '{}'", e.name));
  std::string near = Suggest(e.name, VisibleNames());
  if (!near.empty()) {
    d.fix_hint = fmt::format("did you mean '{}'?", near);
    // Typo recovery: the name meant is used, so it draws no unused warning.
    if (int meant = Lookup(near); meant >= 0) MarkUsed(meant);
  }
  return prog_.types.Error();
}

TypeId Checker::CheckMember(const ast::Member& e, bool& is_static) {
  TypeTable& types = prog_.types;
  TypeId base = CheckExpr(*e.base);
  is_static = IsStatic(*e.base);
  TypeKind k = types.Kind(base);
  if (k == TypeKind::Error) return base;
  if (k == TypeKind::Json) return base;
  // T? propagates: x.f is F? when x is T?; a list of records projects.
  bool optional = false, list = false;
  TypeId rec = base;
  if (k == TypeKind::Optional) optional = true, rec = types.Get(base).elem;
  if (types.Kind(rec) == TypeKind::List) {
    list = true;
    rec = types.Get(rec).elem;
    if (types.Kind(rec) == TypeKind::Optional) optional = true, rec = types.Get(rec).elem;
  }
  if (types.Kind(rec) == TypeKind::Json) return types.Json();
  if (types.Kind(rec) != TypeKind::Record) {
    Error(DiagKind::OperandType, e.name_range,
          fmt::format("'.{}' needs a record or the outputs of a call, found {}", e.name, TypeName(base)));
    return types.Error();
  }
  const RecordField* f = types.Field(rec, e.name);
  if (!f) {
    const TypeInfo& info = types.Get(rec);
    std::vector<std::string> names;
    for (const auto& fl : info.fields) names.push_back(fl.name);
    std::string desc = Describe(*e.base);
    Diagnostic* d;
    if (info.name.empty()) {
      d = &Error(DiagKind::UnknownOutput, e.name_range,
                 info.fields.empty()
                     ? fmt::format("{} has no outputs", desc.empty() ? "this call" : "'" + desc + "'")
                     : fmt::format("{} has no output '{}'; its outputs are: {}",
                                   desc.empty() ? "this call" : "'" + desc + "'", e.name, JoinFields(info.fields)));
    } else {
      d = &Error(DiagKind::UnknownField, e.name_range,
                 fmt::format("record '{}' has no field '{}'; its fields are: {}", info.name, e.name,
                             JoinFields(info.fields)));
    }
    std::string near = Suggest(e.name, names);
    if (!near.empty()) d->fix_hint = fmt::format("did you mean '{}'?", near);
    return types.Error();
  }
  TypeId t = f->type;
  if (optional) t = types.Optional(t);
  if (list) t = types.List(t);
  return t;
}

TypeId Checker::CheckIndex(const ast::Index& e, bool& is_static) {
  TypeTable& types = prog_.types;
  TypeId base = CheckExpr(*e.base);
  TypeId index = CheckExpr(*e.index);
  is_static = IsStatic(*e.base) && IsStatic(*e.index);
  TypeKind k = types.Kind(base);
  bool json_base = k == TypeKind::Json;  // json takes string keys too
  if (!types.IsError(index) && !RejectOptional(index, *e.index, "a list index") &&
      types.Kind(index) != TypeKind::Int && types.Kind(index) != TypeKind::Json &&
      !(json_base && types.Kind(index) == TypeKind::String))
    Error(DiagKind::OperandType, e.index->range, fmt::format("a list index must be an int, found {}", TypeName(index)));
  if (k == TypeKind::Error || k == TypeKind::Json) return base;
  bool optional = k == TypeKind::Optional;
  TypeId list = types.StripOptional(base);
  if (types.Kind(list) != TypeKind::List) {
    std::string desc = Describe(*e.base);
    Error(DiagKind::NotIndexable, e.base->range,
          fmt::format("{} is a {}, which cannot be indexed; only lists can", desc.empty() ? "this value" : "'" + desc + "'",
                      TypeName(base)));
    return types.Error();
  }
  TypeId elem = types.Get(list).elem;
  return optional ? types.Optional(elem) : elem;
}

TypeId Checker::CheckUnary(const ast::Unary& e, bool& is_static) {
  TypeTable& types = prog_.types;
  TypeId t = CheckExpr(*e.operand);
  is_static = IsStatic(*e.operand);
  if (types.IsError(t) || types.Kind(t) == TypeKind::Json) return t;
  if (RejectOptional(t, *e.operand, fmt::format("'{}'", ast::Spelling(e.op)))) return types.Error();
  TypeKind k = types.Kind(t);
  if (e.op == ast::UnaryOp::Not) {
    if (k == TypeKind::Bool) return t;
    Error(DiagKind::OperandType, e.operand->range, fmt::format("'not' needs a bool, found {}", TypeName(t)));
    return types.Error();
  }
  if (k == TypeKind::Int || k == TypeKind::Float || k == TypeKind::Duration || k == TypeKind::Size) return t;
  Error(DiagKind::OperandType, e.operand->range, fmt::format("'-' needs a number, found {}", TypeName(t)));
  return types.Error();
}

TypeId Checker::CheckBinary(const ast::Binary& e, bool& is_static) {
  TypeTable& types = prog_.types;
  TypeId l = CheckExpr(*e.lhs);
  TypeId r = CheckExpr(*e.rhs);
  is_static = IsStatic(*e.lhs) && IsStatic(*e.rhs);
  if (types.IsError(l) || types.IsError(r)) return types.Error();
  const char* op = ast::Spelling(e.op);
  auto mismatch = [&](const std::string& what) {
    Error(DiagKind::OperandType, e.op_range.valid() ? e.op_range : e.range, what);
    return types.Error();
  };
  TypeKind lk = types.Kind(l), rk = types.Kind(r);

  if (e.op == ast::BinaryOp::Coalesce) {
    if (lk == TypeKind::None) return r;
    if (lk == TypeKind::Json) return l;
    TypeId inner = types.StripOptional(l);
    if (types.Assignable(types.StripOptional(r), inner))
      return types.Kind(r) == TypeKind::Optional || rk == TypeKind::None ? types.Optional(inner) : inner;
    if (types.Assignable(inner, r)) return r;
    return mismatch(fmt::format("both sides of '??' must have one type, found {} and {}", TypeName(l), TypeName(r)));
  }
  if (e.op == ast::BinaryOp::Eq || e.op == ast::BinaryOp::Ne) {
    if (types.Assignable(l, r) || types.Assignable(r, l) || lk == TypeKind::None || rk == TypeKind::None)
      return types.Bool();
    return mismatch(fmt::format("cannot compare {} with {}", TypeName(l), TypeName(r)));
  }
  if (RejectOptional(l, *e.lhs, fmt::format("'{}'", op)) || RejectOptional(r, *e.rhs, fmt::format("'{}'", op)))
    return types.Error();
  if (e.op == ast::BinaryOp::And || e.op == ast::BinaryOp::Or) {
    if ((lk == TypeKind::Bool || lk == TypeKind::Json) && (rk == TypeKind::Bool || rk == TypeKind::Json))
      return types.Bool();
    return mismatch(fmt::format("'{}' needs bool operands, found {} and {}", op, TypeName(l), TypeName(r)));
  }
  bool ln = types.IsNumeric(l), rn = types.IsNumeric(r);
  if (e.op == ast::BinaryOp::Lt || e.op == ast::BinaryOp::Le || e.op == ast::BinaryOp::Gt ||
      e.op == ast::BinaryOp::Ge) {
    if ((ln && rn) || lk == TypeKind::Json || rk == TypeKind::Json) return types.Bool();
    if (lk == rk && (lk == TypeKind::String || lk == TypeKind::Duration || lk == TypeKind::Size)) return types.Bool();
    return mismatch(fmt::format("cannot order {} and {} with '{}'", TypeName(l), TypeName(r), op));
  }
  // Arithmetic.
  if (lk == TypeKind::Json || rk == TypeKind::Json) return types.Json();
  TypeId numeric = (lk == TypeKind::Int && rk == TypeKind::Int) ? types.Int() : types.Float();
  switch (e.op) {
    case ast::BinaryOp::Add:
      if (ln && rn) return numeric;
      if (lk == rk && (lk == TypeKind::String || lk == TypeKind::Duration || lk == TypeKind::Size)) return l;
      if (lk == TypeKind::List && rk == TypeKind::List) {
        TypeId j = types.Join(l, r);
        if (!types.IsError(j)) return j;
      }
      break;
    case ast::BinaryOp::Sub:
      if (ln && rn) return numeric;
      if (lk == rk && (lk == TypeKind::Duration || lk == TypeKind::Size)) return l;
      break;
    case ast::BinaryOp::Mul:
      if (ln && rn) return numeric;
      if ((lk == TypeKind::Duration || lk == TypeKind::Size) && rn) return l;
      if (ln && (rk == TypeKind::Duration || rk == TypeKind::Size)) return r;
      break;
    case ast::BinaryOp::Div:
      if (ln && rn) return numeric;
      if ((lk == TypeKind::Duration || lk == TypeKind::Size) && rn) return l;
      if (lk == rk && (lk == TypeKind::Duration || lk == TypeKind::Size)) return types.Float();
      break;
    case ast::BinaryOp::Mod:
      if (ln && rn) return numeric;
      break;
    default:
      break;
  }
  return mismatch(fmt::format("cannot apply '{}' to {} and {}", op, TypeName(l), TypeName(r)));
}

TypeId Checker::CheckString(const ast::StringLit& e, bool& is_static) {
  for (const auto& part : e.parts) {
    if (!part.expr) continue;
    bool saved = interpolating_;
    interpolating_ = true;
    TypeId t = CheckExpr(*part.expr);
    interpolating_ = saved;
    is_static = is_static && IsStatic(*part.expr);
    RejectOptional(t, *part.expr, "an interpolation");
  }
  return prog_.types.String();
}

TypeId Checker::CheckList(const ast::ListLit& e, bool& is_static) {
  TypeTable& types = prog_.types;
  TypeId elem = types.Error();
  bool first = true;
  bool only_string_literals = true;  // so far: ["a", "b"] may still be paths
  auto is_path = [&](TypeId t) { return types.Kind(t) == TypeKind::File || types.Kind(t) == TypeKind::Dir; };
  for (const auto& el : e.elements) {
    TypeId t = CheckExpr(*el);
    is_static = is_static && IsStatic(*el);
    if (types.IsError(t)) continue;
    bool literal = el->kind == ast::ExprKind::String;
    if (first) {
      elem = t;
      first = false;
      only_string_literals = literal;
      continue;
    }
    TypeId j = types.Join(elem, t);
    // String literals next to paths are paths (see LiteralFits).
    if (types.IsError(j) && literal && is_path(elem)) j = elem;
    if (types.IsError(j) && only_string_literals && is_path(t)) j = t;
    if (types.IsError(j)) {
      Error(DiagKind::TypeMismatch, el->range,
            fmt::format("list elements must have one type: this is {}, earlier ones are {}", TypeName(t),
                        TypeName(elem)));
      return types.Error();
    }
    elem = j;
    only_string_literals = only_string_literals && literal;
  }
  return types.List(elem);
}

// ------------------------------------------------------------------ calls

TypeId Checker::CheckCallArgs(const ast::Call& e, const std::vector<Port>& inputs, const char* kind_of_callee,
                              SourceRange decl_range) {
  auto desc = [&] { return fmt::format("{} '{}'", kind_of_callee, e.callee); };
  llvm::StringMap<SourceRange> given;
  llvm::StringMap<bool> meant;  // inputs a misspelled argument probably meant
  for (const auto& arg : e.args) {
    TypeId got = CheckExpr(*arg.value);
    if (arg.name.empty()) {
      auto& d = Error(DiagKind::PositionalArgument, arg.value->range,
                      fmt::format("arguments of {} are passed by name", desc()));
      d.fix_hint = fmt::format("write NAME: VALUE; its inputs are: {}", JoinNames(inputs));
      continue;
    }
    auto [it, inserted] = given.try_emplace(arg.name, arg.name_range);
    if (!inserted) {
      auto& d = Error(DiagKind::DuplicateArgument, arg.name_range, fmt::format("argument '{}' is given twice", arg.name));
      d.notes.push_back({it->second, "first given here"});
      continue;
    }
    auto port = std::find_if(inputs.begin(), inputs.end(), [&](const Port& p) { return p.name == arg.name; });
    if (port == inputs.end()) {
      auto& d = Error(DiagKind::UnknownArgument, arg.name_range,
                      fmt::format("{} has no input '{}'", desc(), arg.name));
      std::vector<std::string> names;
      for (const auto& p : inputs) names.push_back(p.name);
      std::string near = Suggest(arg.name, names);
      d.fix_hint = near.empty() ? fmt::format("its inputs are: {}", JoinNames(inputs))
                                : fmt::format("did you mean '{}'?", near);
      if (!near.empty()) meant[near] = true;
      continue;
    }
    ExpectType(*arg.value, got, port->type, DiagKind::ArgumentType,
               [&] { return fmt::format("argument '{}' of {}", arg.name, desc()); });
  }
  for (const auto& p : inputs) {
    if (p.has_default() || given.count(p.name) || meant.count(p.name)) continue;
    // An optional input may be left out: it is none.
    if (prog_.types.Kind(p.type) == TypeKind::Optional) continue;
    auto& d = Error(DiagKind::MissingArgument, e.callee_range,
                    fmt::format("missing argument '{}' ({}) in call to {}", p.name, TypeName(p.type), desc()));
    d.notes.push_back({p.decl ? p.decl->name_range : decl_range, "input declared here"});
  }
  return prog_.types.Error();
}

TypeId Checker::CheckCall(const ast::Call& e, bool& is_static) {
  TypeTable& types = prog_.types;
  static const std::pair<const char*, Builtin> kBuiltins[] = {
      {"len", Builtin::Len},     {"range", Builtin::Range}, {"min", Builtin::Min},     {"max", Builtin::Max},
      {"sum", Builtin::Sum},     {"abs", Builtin::Abs},     {"round", Builtin::Round}, {"str", Builtin::Str},
      {"int", Builtin::Int},     {"float", Builtin::Float}, {"join", Builtin::Join},   {"basename", Builtin::Basename}};
  for (const auto& [name, b] : kBuiltins)
    if (e.callee == name) {
      Facts().call_target[e.id.value] = CallTarget{CallTarget::Builtin, static_cast<int>(b)};
      return CheckBuiltin(e, b, is_static);
    }
  is_static = false;
  auto it = prog_.decls.find(e.callee);
  if (it == prog_.decls.end() || it->second.kind == DeclKind::Record || it->second.kind == DeclKind::Param) {
    auto& d = Error(DiagKind::UnknownCallee, e.callee_range,
                    it == prog_.decls.end()
                        ? fmt::format("unknown stage or pipeline '{}'", e.callee)
                        : fmt::format("'{}' is a record type; records are values that stages produce", e.callee));
    std::vector<std::string> names;
    for (const auto& s : prog_.stages) names.push_back(s.decl->name);
    for (const auto& p : prog_.pipelines) names.push_back(p.decl->name);
    for (const auto& [name, b] : kBuiltins) names.push_back(name);
    std::string near = Suggest(e.callee, names);
    if (!near.empty()) d.fix_hint = fmt::format("did you mean '{}'?", near);
    for (const auto& a : e.args) CheckExpr(*a.value);
    return types.Error();
  }
  if (ctx_ != Context::Pipeline) {
    auto& d = Error(DiagKind::CallOutsidePipeline, e.callee_range,
                    fmt::format("'{}' can only be called inside a pipeline", e.callee));
    d.fix_hint = "stages and pipelines run from pipeline bodies; params and stage items take plain values";
    for (const auto& a : e.args) CheckExpr(*a.value);
    return types.Error();
  }
  if (it->second.kind == DeclKind::Stage) {
    StageInfo& st = prog_.stages[it->second.index];
    st.used = true;
    Facts().call_target[e.id.value] = CallTarget{CallTarget::Stage, it->second.index};
    CheckCallArgs(e, st.inputs, "stage", st.decl->name_range);
    return st.outputs_type;
  }
  PipelineInfo& pl = prog_.pipelines[it->second.index];
  pl.used = true;
  Facts().call_target[e.id.value] = CallTarget{CallTarget::Pipeline, it->second.index};
  if (pipeline_ >= 0) {
    pipeline_calls_[pipeline_].push_back({it->second.index, e.callee_range});
    calls_of_pipelines_.push_back({pipeline_, it->second.index, module_, &e});
  }
  CheckCallArgs(e, pl.inputs, "pipeline", pl.decl->name_range);
  return pl.outputs_type;
}

TypeId Checker::CheckBuiltin(const ast::Call& e, Builtin b, bool& is_static) {
  TypeTable& types = prog_.types;
  std::vector<TypeId> args;
  bool bad = false;
  for (const auto& a : e.args) {
    TypeId t = CheckExpr(*a.value);
    is_static = is_static && IsStatic(*a.value);
    if (!a.name.empty()) {
      Error(DiagKind::BadBuiltinCall, a.name_range,
            fmt::format("builtin '{}' takes its arguments by position, not by name", e.callee));
      bad = true;
    }
    if (RejectOptional(t, *a.value, fmt::format("'{}'", e.callee))) bad = true;
    if (types.IsError(t)) bad = true;
    args.push_back(t);
  }
  if (bad) return types.Error();
  auto fail = [&](const std::string& expects) {
    Error(DiagKind::BadBuiltinCall, e.range, fmt::format("'{}' expects {}", e.callee, expects));
    return types.Error();
  };
  auto kind = [&](size_t i) { return types.Kind(args[i]); };
  auto list_of = [&](size_t i, auto pred) {
    return kind(i) == TypeKind::List && pred(types.Kind(types.Get(args[i]).elem));
  };
  auto orderable = [](TypeKind k) {
    return k == TypeKind::Int || k == TypeKind::Float || k == TypeKind::Duration || k == TypeKind::Size ||
           k == TypeKind::Json || k == TypeKind::Error;
  };
  auto scalar = [](TypeKind k) { return k != TypeKind::List && k != TypeKind::Record && k != TypeKind::None; };
  switch (b) {
    case Builtin::Len:
      if (args.size() == 1 && (kind(0) == TypeKind::List || kind(0) == TypeKind::String || kind(0) == TypeKind::Json))
        return types.Int();
      return fail("one list or string, as in len(xs)");
    case Builtin::Range:
      if ((args.size() == 1 || args.size() == 2) &&
          std::all_of(args.begin(), args.end(), [&](TypeId t) { return types.Kind(t) == TypeKind::Int; }))
        return types.List(types.Int());
      return fail("one or two ints, as in range(0, 10)");
    case Builtin::Min:
    case Builtin::Max:
      if (args.size() == 1 && list_of(0, orderable)) return types.Get(args[0]).elem;
      if (args.size() >= 2) {
        TypeId j = args[0];
        for (size_t i = 1; i < args.size() && !types.IsError(j); ++i) j = types.Join(j, args[i]);
        if (!types.IsError(j) && orderable(types.Kind(j))) return j;
      }
      return fail("a list of numbers, or two or more numbers of one kind");
    case Builtin::Sum:
      if (args.size() == 1 && list_of(0, orderable)) {
        TypeId elem = types.Get(args[0]).elem;
        return types.IsError(elem) ? types.Int() : elem;
      }
      return fail("a list of numbers, durations or sizes");
    case Builtin::Abs:
      if (args.size() == 1 && orderable(kind(0))) return args[0];
      return fail("one number");
    case Builtin::Round:
      if (args.size() == 1 && types.IsNumeric(args[0])) return types.Int();
      return fail("one number");
    case Builtin::Str:
      if (args.size() == 1 && scalar(kind(0))) return types.String();
      return fail("one single value (not a list or record)");
    case Builtin::Int:
      if (args.size() == 1 && (types.IsNumeric(args[0]) || kind(0) == TypeKind::String || kind(0) == TypeKind::Json ||
                               kind(0) == TypeKind::Bool))
        return types.Int();
      return fail("one number or string");
    case Builtin::Float:
      if (args.size() == 1 && (types.IsNumeric(args[0]) || kind(0) == TypeKind::String || kind(0) == TypeKind::Json))
        return types.Float();
      return fail("one number or string");
    case Builtin::Join:
      if ((args.size() == 1 || (args.size() == 2 && kind(1) == TypeKind::String)) &&
          list_of(0, [&](TypeKind k) { return k != TypeKind::List && k != TypeKind::Record; }))
        return types.String();
      return fail("a list of single values and an optional separator string (default \" \"), as in join(xs, \",\")");
    case Builtin::Basename:
      if (args.size() == 1 && (kind(0) == TypeKind::File || kind(0) == TypeKind::Dir || kind(0) == TypeKind::String))
        return types.String();
      return fail("one file, dir or string");
  }
  return types.Error();
}

}  // namespace flow::sema
