// SPDX-License-Identifier: Apache-2.0
// Lowering: interprets the entry pipeline at compile time, producing plan
// instances for stage calls and plan expressions for values. Static values
// (literals, params, loop variables of static loops) fold as they are built,
// so static loops unroll and static conditions become literal gates, which
// the dead-branch pass then removes. This file: types and expressions;
// lower_stmt.cpp: statements; lower_plan.cpp: stages, params and the driver.
#include <cerrno>
#include <cmath>
#include <map>
#include <set>

#include "fmt/format.h"
#include "lower/lowerer.h"
#include "opt/passes.h"
#include "plan/eval.h"
#include "syntax/lexer.h"

namespace flow::lower::detail {

// ------------------------------------------------------------------ types

plan::Type Lowerer::TypeOf(sema::TypeId t) {
  const sema::TypeTable& types = prog_.types;
  const sema::TypeInfo& info = types.Get(t);
  switch (info.kind) {
    case sema::TypeKind::Int: return plan::Type::Scalar(plan::Type::Int);
    case sema::TypeKind::Float: return plan::Type::Scalar(plan::Type::Float);
    case sema::TypeKind::Bool: return plan::Type::Scalar(plan::Type::Bool);
    case sema::TypeKind::String: return plan::Type::Scalar(plan::Type::String);
    case sema::TypeKind::Duration: return plan::Type::Scalar(plan::Type::Duration);
    case sema::TypeKind::Size: return plan::Type::Scalar(plan::Type::Size);
    case sema::TypeKind::File: return plan::Type::Scalar(plan::Type::File);
    case sema::TypeKind::Dir: return plan::Type::Scalar(plan::Type::Dir);
    case sema::TypeKind::None: return plan::Type::Scalar(plan::Type::None);
    case sema::TypeKind::List: return plan::Type::ListOf(TypeOf(info.elem));
    case sema::TypeKind::Optional: return plan::Type::OptionalOf(TypeOf(info.elem));
    case sema::TypeKind::Record: {
      if (info.name.empty()) return plan::Type::Scalar(plan::Type::Json);  // a call's outputs
      auto it = record_types_.find(info.name);
      if (it != record_types_.end()) return it->second;
      plan::Type rt = plan::Type::RecordNamed(info.name);
      record_types_[info.name] = rt;  // before the fields: records may nest
      plan::Record rec{info.name, {}};
      for (const auto& f : info.fields) rec.fields.push_back({f.name, TypeOf(f.type)});
      plan_.records.push_back(std::move(rec));
      return rt;
    }
    default: return plan::Type::Scalar(plan::Type::Json);
  }
}

// ------------------------------------------------------------ expressions

ExprId Lowerer::Make(Op op, plan::Type t, std::vector<ExprId> args, std::string name) {
  ExprNode n;
  n.op = op;
  n.type = std::move(t);
  n.args = std::move(args);
  n.name = std::move(name);
  bool all_lit = !n.args.empty();
  for (ExprId a : n.args) all_lit = all_lit && IsLit(a);
  if (op == Op::Coalesce && IsLit(n.args[0])) {
    return plan_.Get(n.args[0]).lit.getAsNull() ? n.args[1] : n.args[0];
  }
  ExprId id = Add(std::move(n));
  if (all_lit && op != Op::Format) {
    plan::EvalResult r = plan::Evaluate(plan_, id, plan::EvalEnv{});
    if (r.state == plan::EvalResult::Known) {
      plan_.Get(id).op = Op::Lit;
      plan_.Get(id).lit = std::move(r.value);
      plan_.Get(id).args.clear();
      plan_.Get(id).name.clear();
    }
  }
  return id;
}

ExprId Lowerer::MakeMember(ExprId base, const std::string& name, plan::Type t) {
  // Memoized: member access pushed through a `choose` chain must share the
  // results, or a var reassigned in branches of a loop doubles every time.
  // Only a `choose` base can be reached twice; records and lists resolve
  // directly (the common case, a call's outputs) without the memo.
  if (plan_.Get(base).op != Op::Choose) return MakeMemberUncached(base, name, std::move(t));
  const void* interned = member_names_.insert(name).first->getKey().data();
  auto key = std::make_pair(base.value, interned);
  if (auto it = member_memo_.find(key); it != member_memo_.end()) return it->second;
  ExprId result = MakeMemberUncached(base, name, std::move(t));
  member_memo_[key] = result;
  return result;
}

ExprId Lowerer::MakeMemberUncached(ExprId base, const std::string& name, plan::Type t) {
  const ExprNode& b = plan_.Get(base);
  if (b.op == Op::Record)
    for (size_t i = 0; i < b.fields.size(); ++i)
      if (b.fields[i] == name) return b.args[i];
  if (b.op == Op::List) {  // projection over a list of records: t.model
    std::vector<ExprId> elems;
    plan::Type elem = t.kind == plan::Type::List ? t.elem[0] : t;
    std::vector<ExprId> args = b.args;
    for (ExprId a : args) elems.push_back(MakeMember(a, name, elem));
    return Make(Op::List, t, std::move(elems));
  }
  if (b.op == Op::Choose) {
    std::vector<ExprId> branches;
    std::vector<ExprId> args = b.args;
    plan::GateId g = b.gate;
    bool local = b.local;
    for (ExprId a : args) branches.push_back(MakeMember(a, name, t));
    return MakeChoose(g, std::move(branches), t, local);
  }
  return Make(Op::Member, std::move(t), {base}, name);
}

ExprId Lowerer::MakeIndex(ExprId base, ExprId index, plan::Type t) {
  const ExprNode& b = plan_.Get(base);
  if (b.op == Op::List && IsLit(index)) {
    auto i = plan_.Get(index).lit.getAsInteger();
    if (i && *i >= 0 && static_cast<size_t>(*i) < b.args.size()) return b.args[*i];
  }
  if (b.op == Op::Record) {  // index into the outputs of a map: t[0].model
    std::vector<ExprId> fields;
    ExprNode rec = b;
    for (ExprId a : rec.args) {
      plan::Type at = plan_.Get(a).type;
      fields.push_back(Make(Op::Index, at.kind == plan::Type::List ? at.elem[0] : at, {a, index}));
    }
    ExprNode n;
    n.op = Op::Record;
    n.type = plan::Type::Scalar(plan::Type::Json);
    n.fields = rec.fields;
    n.args = std::move(fields);
    return Add(std::move(n));
  }
  return Make(Op::Index, std::move(t), {base, index});
}

ExprId Lowerer::MakeChoose(plan::GateId gate, std::vector<ExprId> values, plan::Type t, bool local) {
  bool same = true;
  for (ExprId v : values) same = same && v == values[0];
  if (same) return values[0];
  ExprNode n;
  n.op = Op::Choose;
  n.type = std::move(t);
  n.gate = gate;
  n.local = local;
  n.args = std::move(values);
  return Add(std::move(n));
}

std::optional<json::Value> Lowerer::Static(ExprId e, SourceRange where) {
  std::set<std::string> used;
  bool missing = false;
  std::string missing_name;
  plan::EvalEnv env;
  env.param = [&](const std::string& name) -> std::optional<json::Value> {
    for (size_t i = 0; i < plan_.params.size(); ++i)
      if (plan_.params[i].name == name) {
        used.insert(name);
        if (!param_values_[i]) {
          missing = true;
          missing_name = name;
        }
        return param_values_[i];
      }
    return std::nullopt;
  };
  plan::EvalResult r = plan::Evaluate(plan_, e, env);
  if (r.state == plan::EvalResult::Failed) {
    Error(DiagKind::ConstantEvalError, where, r.error);
    return std::nullopt;
  }
  if (r.state != plan::EvalResult::Known) {
    if (missing) {
      missing_param_ = true;
      if (options_.lint) return std::nullopt;
      auto& d = Error(DiagKind::ParamNeededAtCompileTime, where,
                      fmt::format("param '{}' has no value, but this must be known at compile time", missing_name));
      d.fix_hint = fmt::format("give it a default, or compile with --param {}=VALUE", missing_name);
    }
    return std::nullopt;
  }
  for (const auto& u : used) structural_.insert(u);
  return std::move(r.value);
}

ExprId Lowerer::LowerExpr(const ast::Expr& e) {
  using K = ast::ExprKind;
  plan::Type t = TypeOfExpr(e);
  switch (e.kind) {
    case K::Int: return Lit(llvm::cast<ast::IntLit>(e).value, t);
    case K::Float: return Lit(llvm::cast<ast::FloatLit>(e).value, t);
    case K::Bool: return Lit(llvm::cast<ast::BoolLit>(e).value, t);
    case K::None: return Lit(nullptr, t);
    case K::Duration: return Lit(llvm::cast<ast::DurationLit>(e).millis, t);
    case K::Size: return Lit(llvm::cast<ast::SizeLit>(e).bytes, t);
    case K::String: return LowerString(llvm::cast<ast::StringLit>(e));
    case K::Error: return Lit(nullptr, t);
    case K::List: {
      std::vector<ExprId> elems;
      for (const auto& el : llvm::cast<ast::ListLit>(e).elements) elems.push_back(LowerExpr(*el));
      if (elems.empty()) return Lit(json::Array{}, t);
      return Make(Op::List, t, std::move(elems));
    }
    case K::Name: return LowerName(llvm::cast<ast::NameRef>(e));
    case K::Member: {
      const auto& m = llvm::cast<ast::Member>(e);
      return MakeMember(LowerExpr(*m.base), m.name, t);
    }
    case K::Index: {
      const auto& x = llvm::cast<ast::Index>(e);
      ExprId base = LowerExpr(*x.base);
      return MakeIndex(base, LowerExpr(*x.index), t);
    }
    case K::Unary: {
      const auto& u = llvm::cast<ast::Unary>(e);
      return Make(u.op == ast::UnaryOp::Neg ? Op::Neg : Op::Not, t, {LowerExpr(*u.operand)});
    }
    case K::Binary: {
      const auto& b = llvm::cast<ast::Binary>(e);
      static const Op kOps[] = {Op::Mul, Op::Div, Op::Mod, Op::Add, Op::Sub, Op::Coalesce, Op::Lt,
                                Op::Le,  Op::Gt,  Op::Ge,  Op::Eq,  Op::Ne,  Op::And,      Op::Or};
      ExprId l = LowerExpr(*b.lhs);
      ExprId r = LowerExpr(*b.rhs);
      // A call's outputs are never none: `x ?? y` is x.
      if (b.op == ast::BinaryOp::Coalesce && plan_.Get(l).op == Op::Record) return l;
      return Make(kOps[static_cast<int>(b.op)], t, {l, r});
    }
    case K::Call: return LowerCall(llvm::cast<ast::Call>(e));
  }
  return Lit(nullptr, t);
}

ExprId Lowerer::LowerString(const ast::StringLit& s) {
  plan::Type str = plan::Type::Scalar(plan::Type::String);
  if (s.IsPlain()) return Lit(s.PlainText(), str);
  std::vector<ExprId> parts;
  for (const auto& p : s.parts) parts.push_back(p.expr ? LowerExpr(*p.expr) : Lit(p.text, str));
  ExprId id = Make(Op::Format, str, parts);
  // Fold when every part is known (params stay symbolic: they may change).
  bool all_lit = true;
  for (ExprId p : parts) all_lit = all_lit && IsLit(p);
  if (all_lit) {
    plan::EvalResult r = plan::Evaluate(plan_, id, plan::EvalEnv{});
    if (r.state == plan::EvalResult::Known) return Lit(std::move(r.value), str);
  }
  return id;
}

ExprId Lowerer::LowerName(const ast::NameRef& e) {
  int b = prog_.facts[frame_->module].name_binding[e.id.value];
  plan::Type t = TypeOfExpr(e);
  if (b < 0) return Lit(nullptr, t);
  const sema::Binding& bd = prog_.bindings[b];
  switch (bd.kind) {
    case sema::BindingKind::Param: return Make(Op::Param, t, {}, bd.name);
    case sema::BindingKind::StageInput: return Make(Op::Input, t, {}, bd.name);
    case sema::BindingKind::StageOutput: return Make(Op::OutPath, t, {}, bd.name);
    default: break;
  }
  ExprId v = Get(b);
  return v.valid() ? v : Lit(nullptr, t);
}

ExprId Lowerer::LowerCall(const ast::Call& e) {
  sema::CallTarget target = prog_.facts[frame_->module].call_target[e.id.value];
  switch (target.kind) {
    case sema::CallTarget::Stage: return LowerStageCall(e, target.index);
    case sema::CallTarget::Pipeline: return LowerPipelineCall(e, target.index);
    case sema::CallTarget::Builtin: {
      std::vector<ExprId> args;
      for (const auto& a : e.args) args.push_back(LowerExpr(*a.value));
      return Make(Op::Builtin, TypeOfExpr(e), std::move(args), sema::BuiltinName(static_cast<sema::Builtin>(target.index)));
    }
    default: return Lit(nullptr, TypeOfExpr(e));
  }
}

ExprId Lowerer::ArgValue(const ast::Call& call, const sema::Port& port, int callee_module) {
  for (const auto& a : call.args)
    if (a.name == port.name) return LowerExpr(*a.value);
  if (port.has_default()) {
    int saved = frame_->module;
    frame_->module = callee_module;
    ExprId v = LowerExpr(*port.decl->default_value);
    frame_->module = saved;
    return v;
  }
  return Lit(nullptr, TypeOf(port.type));
}

std::string Lowerer::SiteName(const ast::Call& call, const std::string& callee) {
  std::string base = frame_->prefix + callee;
  auto [it, inserted] = call_sites_.try_emplace({frame_->id, &call}, 0);
  if (inserted) it->second = ++name_counts_[base];
  std::string name = (it->second == 1 ? base : fmt::format("{}#{}", base, it->second)) + frame_->suffix;
  // A site lowered twice in one place cannot happen; keep names unique anyway.
  if (!used_names_.insert(name).second) {
    int k = 2;
    while (!used_names_.insert(fmt::format("{}~{}", name, k)).second) ++k;
    name = fmt::format("{}~{}", name, k);
  }
  return name;
}

plan::SourceLoc Lowerer::Loc(SourceRange r) const {
  if (!r.valid()) return {};
  LineCol lc = sm_.GetLineCol(r.file, r.begin);
  // The file is left out when it is the plan's source (most locations).
  const std::string& path = sm_.Path(r.file);
  return {path == plan_.source ? std::string() : path, lc.line, lc.col};
}

ExprId Lowerer::LowerStageCall(const ast::Call& e, int stage) {
  const sema::StageInfo& info = prog_.stages[stage];
  plan::Instance inst;
  inst.stage = PlanStage(stage);
  for (const auto& port : info.inputs) inst.args.push_back({port.name, ArgValue(e, port, info.module)});
  inst.name = SiteName(e, info.decl->name);
  inst.guards = guards_;
  inst.loc = Loc(e.callee_range);
  std::vector<plan::Instance>& pool = map_ ? map_->instances : plan_.instances;
  plan::InstanceId id{static_cast<int32_t>(pool.size())};
  pool.push_back(std::move(inst));
  ExprNode rec;
  rec.op = Op::Record;
  rec.type = plan::Type::Scalar(plan::Type::Json);
  for (const auto& port : info.outputs) {
    ExprNode out;
    out.op = Op::Output;
    out.type = TypeOf(port.type);
    out.name = port.name;
    out.instance = id;
    out.local = map_ != nullptr;
    rec.fields.push_back(port.name);
    rec.args.push_back(Add(std::move(out)));
  }
  return Add(std::move(rec));
}

ExprId Lowerer::LowerPipelineCall(const ast::Call& e, int pipeline) {
  const sema::PipelineInfo& info = prog_.pipelines[pipeline];
  std::vector<ExprId> inputs;
  for (const auto& port : info.inputs) inputs.push_back(ArgValue(e, port, info.module));
  Frame callee;
  callee.id = ++next_frame_id_;
  callee.module = info.module;
  callee.caller = frame_;
  callee.call_site = e.range;
  callee.pipeline = info.decl->name;
  callee.prefix = SiteName(e, info.decl->name) + ".";
  for (size_t i = 0; i < inputs.size() && i < info.input_bindings.size(); ++i) Set(info.input_bindings[i], inputs[i]);
  Frame* caller = frame_;
  frame_ = &callee;
  LowerBlock(info.decl->body);
  frame_ = caller;
  ExprNode rec;
  rec.op = Op::Record;
  rec.type = plan::Type::Scalar(plan::Type::Json);
  for (const auto& port : info.outputs) {
    rec.fields.push_back(port.name);
    auto it = callee.outputs.find(port.name);
    rec.args.push_back(it != callee.outputs.end() ? it->second : Lit(nullptr, TypeOf(port.type)));
  }
  return Add(std::move(rec));
}

}  // namespace flow::lower::detail
