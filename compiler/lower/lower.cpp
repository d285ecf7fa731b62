// SPDX-License-Identifier: Apache-2.0
// Lowering: interprets the entry pipeline at compile time, producing plan
// instances for stage calls and plan expressions for values. Static values
// (literals, params, loop variables of static loops) fold as they are built,
// so static loops unroll and static conditions become literal gates, which
// the dead-branch pass then removes.
#include "lower/lower.h"

#include <cerrno>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "fmt/format.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "opt/passes.h"
#include "plan/eval.h"
#include "syntax/lexer.h"

namespace flow::lower {

namespace json = llvm::json;
using plan::ExprId;
using plan::ExprNode;
using plan::Op;

namespace {

// ------------------------------------------------------------ the lowerer

class Lowerer {
 public:
  Lowerer(const sema::Program& prog, const SourceManager& sm, const LowerOptions& options, DiagSink& sink,
          LowerNotes* notes)
      : prog_(prog), sm_(sm), options_(options), sink_(sink), notes_(notes) {}

  std::optional<plan::Plan> Run();

 private:
  // A pipeline body being lowered: its module, its bindings' values, and
  // the prefix of the instance names it creates.
  struct Frame {
    int module = 0;
    std::string prefix;  // "measure." inside a call of pipeline measure
    std::string suffix;  // "[2]" for static loop iterations, "@3" for while iterations
    llvm::StringMap<ExprId> outputs;
    int id = 0;               // identifies the frame (call sites are per frame)
    Frame* caller = nullptr;  // the frame of the call that inlined this one
    SourceRange call_site;    // and the call
    std::string pipeline;
  };

  // ---- values and expressions
  ExprId Add(ExprNode n) { return plan_.Add(std::move(n)); }
  ExprId Lit(json::Value v, plan::Type t) {
    ExprNode n;
    n.op = Op::Lit;
    n.type = std::move(t);
    n.lit = std::move(v);
    return Add(std::move(n));
  }
  ExprId Make(Op op, plan::Type t, std::vector<ExprId> args, std::string name = {});
  ExprId MakeMember(ExprId base, const std::string& name, plan::Type t);
  ExprId MakeIndex(ExprId base, ExprId index, plan::Type t);
  /// `local`: a gate of the map template being filled.
  ExprId MakeChoose(plan::GateId gate, std::vector<ExprId> values, plan::Type t, bool local = false);
  std::vector<plan::Gate>& GatePool() { return map_ ? map_->gates : plan_.gates; }
  bool IsLit(ExprId e) const { return plan_.Get(e).op == Op::Lit; }
  plan::Type TypeOf(sema::TypeId t);
  plan::Type TypeOfExpr(const ast::Expr& e) { return TypeOf(prog_.TypeOf(frame_->module, e)); }

  ExprId LowerExpr(const ast::Expr& e);
  ExprId LowerString(const ast::StringLit& s);
  ExprId LowerName(const ast::NameRef& e);
  ExprId LowerCall(const ast::Call& e);
  ExprId LowerStageCall(const ast::Call& e, int stage);
  ExprId LowerPipelineCall(const ast::Call& e, int pipeline);
  /// The value of an argument, or the input's default, or none.
  ExprId ArgValue(const ast::Call& call, const sema::Port& port, int callee_module);

  /// The compile-time value of `e`, substituting params (which become
  /// structural); std::nullopt if it depends on anything at run time.
  std::optional<json::Value> Static(ExprId e, SourceRange where);
  /// Set by Static when a param without a value stopped it (lint mode).
  bool missing_param_ = false;
  bool SkipForLint() {
    bool skip = options_.lint && missing_param_;
    missing_param_ = false;
    return skip;
  }

  // ---- statements
  void LowerBlock(const ast::Block& b);
  void LowerStmt(const ast::Stmt& s);
  void LowerIf(const ast::IfStmt& s);
  void LowerFor(const ast::ForStmt& s);
  void LowerWhile(const ast::WhileStmt& s);

  // ---- bindings, with an undo journal (branches and loop bodies)
  void Set(int binding, ExprId value) {
    if (journaling_) journal_.push_back({binding, env_.count(binding) ? env_[binding] : ExprId{}});
    env_[binding] = value;
  }
  ExprId Get(int binding) const {
    auto it = env_.find(binding);
    return it == env_.end() ? ExprId{} : it->second;
  }
  size_t Mark() {
    journaling_ = true;
    return journal_.size();
  }
  /// Undoes the writes since `mark`; returns the bindings written and their
  /// values at the end of that stretch.
  std::vector<std::pair<int, ExprId>> Undo(size_t mark) {
    std::vector<std::pair<int, ExprId>> written;
    std::set<int> seen;
    for (size_t i = journal_.size(); i-- > mark;) {
      int b = journal_[i].first;
      if (seen.insert(b).second) written.push_back({b, env_[b]});
    }
    for (size_t i = journal_.size(); i-- > mark;) {
      auto [b, old] = journal_[i];
      if (old.valid()) env_[b] = old;
      else env_.erase(b);
    }
    journal_.resize(mark);
    return written;
  }

  // ---- plan pieces
  int PlanStage(int sema_stage);
  std::vector<plan::TemplatePart> Template(const ast::Expr& e, int module);
  /// The name of an instance (or a sub-pipeline call's prefix) for the call
  /// at `call`: the callee's name, `#k` for the k-th call site of that name
  /// in this pipeline body, then the loop suffix ([i] for static loops, @k for
  /// while iterations, [*] inside a map template). One site keeps its number
  /// across iterations, so names from different sites never collide.
  std::string SiteName(const ast::Call& call, const std::string& callee);
  plan::SourceLoc Loc(SourceRange r) const;
  std::string LineOf(SourceRange r) const { return std::to_string(sm_.GetLineCol(r.file, r.begin).line); }
  void BuildParams();
  std::optional<json::Value> ParamValue(int index);
  void Note(std::string line) {
    if (notes_) notes_->lines.push_back(std::move(line));
  }
  Diagnostic& Error(DiagKind kind, SourceRange r, std::string msg) {
    failed_ = true;
    Diagnostic& d = sink_.Emit(kind, r, std::move(msg));
    // Inside an inlined pipeline, the mistake may be the caller's: say where.
    for (Frame* f = frame_; f && f->call_site.valid(); f = f->caller)
      d.notes.push_back({f->call_site, fmt::format("in this call of pipeline '{}'", f->pipeline)});
    return d;
  }

  const sema::Program& prog_;
  const SourceManager& sm_;
  const LowerOptions& options_;
  DiagSink& sink_;
  LowerNotes* notes_;
  plan::Plan plan_;
  bool failed_ = false;

  Frame* frame_ = nullptr;
  llvm::DenseMap<int, ExprId> env_;
  std::vector<std::pair<int, ExprId>> journal_;
  bool journaling_ = false;
  std::vector<plan::Guard> guards_;
  plan::Map* map_ = nullptr;  // the map template being filled, if any
  std::set<int> map_outer_;   // bindings that existed when the template began
  int map_index_ = -1;

  std::map<int, int> stage_index_;  // sema stage -> plan stage
  std::map<std::string, plan::Type> record_types_;
  llvm::StringMap<int> name_counts_;                        // call sites per callee name
  llvm::DenseMap<std::pair<int, const ast::Call*>, int> call_sites_;  // (frame id, call) -> site number
  llvm::StringSet<> used_names_;
  int next_frame_id_ = 0;
  std::vector<std::optional<json::Value>> param_values_;
  std::vector<int> param_state_;  // 0 unevaluated, 1 evaluating, 2 done
  std::set<std::string> structural_;
};

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

// ------------------------------------------------------------ statements

void Lowerer::LowerBlock(const ast::Block& b) {
  for (const auto& s : b.stmts) {
    LowerStmt(*s);
    if (failed_ && sink_.error_count() > 50) return;
  }
}

void Lowerer::LowerStmt(const ast::Stmt& s) {
  const sema::ModuleFacts& facts = prog_.facts[frame_->module];
  auto binding = [&]() {
    auto it = facts.stmt_binding.find(&s);
    return it == facts.stmt_binding.end() ? -1 : it->second;
  };
  switch (s.kind) {
    case ast::StmtKind::Let: {
      ExprId v = LowerExpr(*llvm::cast<ast::LetStmt>(s).value);
      if (int b = binding(); b >= 0) Set(b, v);
      return;
    }
    case ast::StmtKind::Var: {
      ExprId v = LowerExpr(*llvm::cast<ast::VarStmt>(s).value);
      if (int b = binding(); b >= 0) Set(b, v);
      return;
    }
    case ast::StmtKind::Assign: {
      ExprId v = LowerExpr(*llvm::cast<ast::AssignStmt>(s).value);
      if (map_ && map_outer_.count(binding())) {
        Error(DiagKind::UnsupportedInMap, s.range,
              "a for loop over a list known only at run time cannot assign to a 'var' (its iterations run in "
              "parallel)");
        return;
      }
      if (int b = binding(); b >= 0) Set(b, v);
      return;
    }
    case ast::StmtKind::Output: {
      const auto& o = llvm::cast<ast::OutputStmt>(s);
      frame_->outputs[o.name] = LowerExpr(*o.value);
      return;
    }
    case ast::StmtKind::Expr: LowerExpr(*llvm::cast<ast::ExprStmt>(s).value); return;
    case ast::StmtKind::If: return LowerIf(llvm::cast<ast::IfStmt>(s));
    case ast::StmtKind::For: return LowerFor(llvm::cast<ast::ForStmt>(s));
    case ast::StmtKind::While: return LowerWhile(llvm::cast<ast::WhileStmt>(s));
  }
}

void Lowerer::LowerIf(const ast::IfStmt& s) {
  std::vector<ExprId> conds;
  bool all_static = true;
  for (const auto& br : s.branches) {
    ExprId c = LowerExpr(*br.cond);
    if (auto v = Static(c, br.cond->range)) c = Lit(std::move(*v), plan::Type::Scalar(plan::Type::Bool));
    missing_param_ = false;
    all_static = all_static && IsLit(c);
    conds.push_back(c);
  }
  if (failed_) return;
  const sema::ModuleFacts& facts = prog_.facts[frame_->module];
  // Inside a map template, a condition known now picks its branch now (the
  // dead-branch pass works on the top level only).
  if (map_ && all_static) {
    size_t taken = s.branches.size();
    for (size_t i = 0; i < conds.size(); ++i)
      if (plan_.Get(conds[i]).lit.getAsBoolean().getValueOr(false)) {
        taken = i;
        break;
      }
    if (taken < s.branches.size()) LowerBlock(s.branches[taken].body);
    else if (s.else_body) LowerBlock(*s.else_body);
    return;
  }
  bool local = map_ != nullptr;
  plan::GateId gate{static_cast<int32_t>(GatePool().size())};
  plan::Gate g;
  g.name = "if@" + LineOf(s.range) + frame_->suffix;
  g.conds = conds;
  g.has_else = s.else_body.has_value();
  g.guards = guards_;
  g.loc = Loc(s.range);
  GatePool().push_back(std::move(g));

  size_t slots = s.branches.size() + 1;  // the last slot: else, or no branch taken
  std::vector<std::vector<std::pair<int, ExprId>>> written(slots);
  for (size_t i = 0; i < slots; ++i) {
    const ast::Block* body = i < s.branches.size() ? &s.branches[i].body : (s.else_body ? &*s.else_body : nullptr);
    if (!body) continue;
    bool was = journaling_;
    size_t mark = Mark();
    guards_.push_back({gate, static_cast<int32_t>(i)});
    LowerBlock(*body);
    guards_.pop_back();
    written[i] = Undo(mark);
    journaling_ = was || !journal_.empty();
  }
  auto value_in = [&](size_t slot, int b) -> ExprId {
    for (const auto& [wb, v] : written[slot])
      if (wb == b) return v;
    return Get(b);
  };
  // Vars assigned in some branch: the value of the branch taken.
  std::set<int> assigned;
  for (const auto& w : written)
    for (const auto& [b, v] : w)
      if (env_.count(b)) assigned.insert(b);
  for (int b : assigned) {
    std::vector<ExprId> values;
    for (size_t i = 0; i < slots; ++i) values.push_back(value_in(i, b));
    Set(b, MakeChoose(gate, std::move(values), TypeOf(prog_.bindings[b].type), local));
  }
  // Names bound inside branches, lifted (T? unless bound in every branch).
  auto it = facts.lifted.find(&s);
  if (it == facts.lifted.end()) return;
  for (int lifted : it->second) {
    const sema::Binding& lb = prog_.bindings[lifted];
    plan::Type t = TypeOf(lb.type);
    std::vector<ExprId> values;
    for (size_t i = 0; i < slots; ++i) {
      ExprId v;
      for (int src : lb.sources)
        for (const auto& [wb, wv] : written[i])
          if (wb == src) v = wv;
      values.push_back(v.valid() ? v : Lit(nullptr, t));
    }
    Set(lifted, MakeChoose(gate, std::move(values), t, local));
  }
}

void Lowerer::LowerFor(const ast::ForStmt& s) {
  const sema::ModuleFacts& facts = prog_.facts[frame_->module];
  int var = -1;
  if (auto it = facts.stmt_binding.find(&s); it != facts.stmt_binding.end()) var = it->second;
  std::vector<int> lifted;
  if (auto it = facts.lifted.find(&s); it != facts.lifted.end()) lifted = it->second;
  ExprId list = LowerExpr(*s.iterable);
  plan::Type list_type = plan_.Get(list).type;
  plan::Type elem_type =
      list_type.kind == plan::Type::List ? list_type.elem[0] : plan::Type::Scalar(plan::Type::Json);
  bool dynamic = false;
  std::optional<json::Value> value;
  // A list of call outputs is not static, but its length is: unroll over
  // its elements (t.model after a static loop is a list of references).
  if (plan_.Get(list).op == Op::List) {
    value = json::Array();
  } else {
    size_t errors = sink_.error_count();
    value = Static(list, s.iterable->range);
    if (sink_.error_count() != errors || SkipForLint()) return;
    dynamic = !value;
  }
  if (!dynamic) {
    std::vector<ExprId> elems;
    if (plan_.Get(list).op == Op::List) {
      elems = plan_.Get(list).args;
    } else if (const json::Array* arr = value->getAsArray()) {
      for (const auto& v : *arr) elems.push_back(Lit(v, elem_type));
    }
    std::vector<std::vector<ExprId>> per_iteration(lifted.size());
    std::string saved_suffix = frame_->suffix;
    for (size_t i = 0; i < elems.size(); ++i) {
      frame_->suffix = saved_suffix + fmt::format("[{}]", i);
      if (var >= 0) Set(var, elems[i]);
      LowerBlock(s.body);
      for (size_t l = 0; l < lifted.size(); ++l) {
        ExprId v = Get(prog_.bindings[lifted[l]].sources.at(0));
        per_iteration[l].push_back(v.valid() ? v : Lit(nullptr, TypeOf(prog_.bindings[lifted[l]].type)));
      }
    }
    frame_->suffix = saved_suffix;
    for (size_t l = 0; l < lifted.size(); ++l) {
      plan::Type t = TypeOf(prog_.bindings[lifted[l]].type);
      Set(lifted[l], per_iteration[l].empty() ? Lit(json::Array{}, t) : Make(Op::List, t, per_iteration[l]));
    }
    Note(fmt::format("for at line {}: unrolled into {} iteration{}", LineOf(s.range), elems.size(),
                     elems.size() == 1 ? "" : "s"));
    return;
  }
  // A list known only at run time: a map template.
  if (map_) {
    Error(DiagKind::UnsupportedInMap, s.range,
          "a for loop over a run-time list inside another one is not supported; move the inner loop into a "
          "stage, or make one of the lists known at compile time");
    return;
  }
  plan::Map m;
  m.name = "for@" + LineOf(s.range) + frame_->suffix;
  m.over = list;
  m.var = s.var;
  m.guards = guards_;
  m.loc = Loc(s.range);
  plan_.maps.push_back(std::move(m));
  int index = static_cast<int>(plan_.maps.size() - 1);
  if (var >= 0) Set(var, Make(Op::Var, elem_type, {}, s.var));
  map_ = &plan_.maps[index];
  map_index_ = index;
  map_outer_.clear();
  for (const auto& kv : env_) map_outer_.insert(kv.first);
  auto saved_guards = std::move(guards_);
  guards_.clear();
  std::string saved_suffix = frame_->suffix;
  frame_->suffix += "[*]";  // the runtime names the copies [0], [1], ...
  LowerBlock(s.body);
  frame_->suffix = saved_suffix;
  guards_ = std::move(saved_guards);
  map_ = nullptr;
  map_index_ = -1;
  // After the loop: each value bound in the body, as the list of its value
  // per element (a call's outputs field by field, so `t.model` stays a list
  // of files).
  for (int l : lifted) {
    const sema::Binding& lb = prog_.bindings[l];
    ExprId inner = Get(lb.sources.at(0));
    plan::Type t = TypeOf(lb.type);
    auto values = [&](ExprId per_element) {
      ExprNode mv;
      mv.op = Op::MapValues;
      mv.type = plan::Type::ListOf(plan_.Get(per_element).type);
      mv.map = plan::MapId{index};
      mv.args = {per_element};
      return Add(std::move(mv));
    };
    if (!inner.valid()) continue;
    if (plan_.Get(inner).op == Op::Record) {
      ExprNode rec = plan_.Get(inner);
      ExprNode r;
      r.op = Op::Record;
      r.type = t;
      r.fields = rec.fields;
      for (ExprId a : rec.args) r.args.push_back(values(a));
      Set(l, Add(std::move(r)));
    } else {
      Set(l, values(inner));
    }
  }
  Note(fmt::format("for at line {}: the list is known only at run time; made map template '{}' with {} "
                   "instance{} per element",
                   LineOf(s.range), plan_.maps[index].name, plan_.maps[index].instances.size(),
                   plan_.maps[index].instances.size() == 1 ? "" : "s"));
}

void Lowerer::LowerWhile(const ast::WhileStmt& s) {
  if (!s.bound) return;
  ExprId bound = LowerExpr(*s.bound);
  std::optional<json::Value> n = Static(bound, s.bound->range);
  if (SkipForLint()) return;
  if (!n) {
    if (!failed_)
      Error(DiagKind::NonConstantBound, s.bound->range,
            "the bound after 'max' must be known at compile time, and here it is not");
    return;
  }
  int64_t max = n->getAsInteger().getValueOr(0);
  if (max > options_.max_while_bound) {
    auto& d = Error(DiagKind::WhileBoundTooLarge, s.bound->range,
                    fmt::format("while loop bound {} is above the limit of {}", max, options_.max_while_bound));
    d.fix_hint = "each iteration becomes part of the plan; use a for loop over a list, or a smaller bound";
    return;
  }
  std::string saved_suffix = frame_->suffix;
  int64_t ran = 0;
  bool gated = false;
  size_t guard_depth = guards_.size();
  // Inside iteration k, the vars hold iteration k-1's values (k runs only if
  // k-1 did). After the loop each var holds the value of the last iteration
  // that ran: a chain of `choose` over the iterations' gates.
  struct Step {
    std::optional<plan::GateId> gate;
    std::vector<std::pair<int, ExprId>> written;
  };
  std::vector<Step> steps;
  std::map<int, ExprId> before_loop;
  for (int64_t k = 1; k <= max; ++k) {
    ExprId c = LowerExpr(*s.cond);
    if (auto v = Static(c, s.cond->range)) c = Lit(std::move(*v), plan::Type::Scalar(plan::Type::Bool));
    missing_param_ = false;
    if (failed_) break;
    if (IsLit(c) && !plan_.Get(c).lit.getAsBoolean().getValueOr(false)) break;  // statically over
    std::optional<plan::GateId> gate;
    if (!IsLit(c)) {
      plan::Gate g;
      g.name = fmt::format("while@{}{}#{}", LineOf(s.range), saved_suffix, k);
      g.conds = {c};
      g.guards = guards_;
      g.loc = Loc(s.range);
      gate = plan::GateId{static_cast<int32_t>(GatePool().size())};
      GatePool().push_back(std::move(g));
      // Iteration k runs only if k-1 did: later gates are guarded by this one.
      guards_.resize(guard_depth);
      guards_.push_back({*gate, 0});
      gated = true;
    }
    frame_->suffix = saved_suffix + fmt::format("@{}", k);
    bool was = journaling_;
    size_t mark = Mark();
    LowerBlock(s.body);
    auto written = Undo(mark);
    journaling_ = was || !journal_.empty();
    Step step{gate, {}};
    for (const auto& [b, v] : written) {
      if (!env_.count(b)) continue;  // bound inside the body: local to it
      before_loop.emplace(b, Get(b));
      Set(b, v);
      step.written.push_back({b, v});
    }
    steps.push_back(std::move(step));
    ++ran;
  }
  for (const auto& [b, initial] : before_loop) {
    ExprId value = initial;
    plan::Type t = TypeOf(prog_.bindings[b].type);
    for (const Step& step : steps)
      for (const auto& [wb, v] : step.written)
        if (wb == b) value = step.gate ? MakeChoose(*step.gate, {v, value}, t, map_ != nullptr) : v;
    Set(b, value);
  }
  guards_.resize(guard_depth);
  frame_->suffix = saved_suffix;
  Note(fmt::format("while at line {}: {} iteration{}{}", LineOf(s.range), ran, ran == 1 ? "" : "s",
                   gated ? ", each guarded by its condition" : ", all decided at compile time"));
}

// ------------------------------------------------------------ plan pieces

std::vector<plan::TemplatePart> Lowerer::Template(const ast::Expr& e, int module) {
  std::vector<plan::TemplatePart> parts;
  int saved = frame_->module;
  frame_->module = module;
  if (auto* s = llvm::dyn_cast<ast::StringLit>(&e)) {
    for (const auto& p : s->parts) {
      if (p.expr) parts.push_back({"", LowerExpr(*p.expr)});
      else if (!parts.empty() && !parts.back().expr.valid()) parts.back().text += p.text;
      else parts.push_back({p.text, {}});
    }
  } else {
    parts.push_back({"", LowerExpr(e)});
  }
  frame_->module = saved;
  return parts;
}

int Lowerer::PlanStage(int sema_stage) {
  if (auto it = stage_index_.find(sema_stage); it != stage_index_.end()) return it->second;
  const sema::StageInfo& info = prog_.stages[sema_stage];
  const ast::Stage& decl = *info.decl;
  plan::Stage st;
  st.name = decl.name;
  for (const auto& p : info.inputs) st.inputs.push_back({p.name, TypeOf(p.type)});
  for (const auto& p : info.outputs) st.outputs.push_back({p.name, TypeOf(p.type)});
  st.loc = Loc(decl.name_range);
  Frame frame;
  frame.module = info.module;
  Frame* saved = frame_;
  frame_ = &frame;
  if (decl.run) st.command = Template(*decl.run->value, info.module);
  if (decl.env)
    for (const auto& e : decl.env->entries) st.env.push_back({e.key, Template(*e.value, info.module)});
  auto number = [&](const ast::Expr& e) -> std::optional<double> {
    auto v = Static(LowerExpr(e), e.range);
    if (SkipForLint()) return std::nullopt;
    if (!v) {
      if (!failed_) Error(DiagKind::BadResource, e.range, "this must be known at compile time");
      return std::nullopt;
    }
    auto d = v->getAsNumber();
    if (!d) return std::nullopt;
    if (*d < 0) {
      Error(DiagKind::BadResource, e.range, fmt::format("this cannot be negative (it is {})", *d));
      return std::nullopt;
    }
    return *d;
  };
  if (decl.resources)
    for (const auto& r : decl.resources->entries)
      if (auto d = number(*r.value)) st.resources.push_back({r.key, *d});
  if (decl.retry)
    if (auto d = number(*decl.retry->value)) st.retry = static_cast<int>(*d);
  if (decl.timeout)
    if (auto d = number(*decl.timeout->value)) st.timeout_ms = static_cast<int64_t>(*d);
  if (decl.estimate)
    if (auto d = number(*decl.estimate->value)) st.estimate_ms = static_cast<int64_t>(*d);
  if (decl.cache)
    if (auto v = Static(LowerExpr(*decl.cache->value), decl.cache->value->range))
      st.cache = v->getAsBoolean().getValueOr(true);
  missing_param_ = false;
  frame_ = saved;
  plan_.stages.push_back(std::move(st));
  int index = static_cast<int>(plan_.stages.size() - 1);
  stage_index_[sema_stage] = index;
  return index;
}

std::optional<json::Value> Lowerer::ParamValue(int index) {
  if (param_state_[index] == 2) return param_values_[index];
  if (param_state_[index] == 1) return std::nullopt;  // a cycle: sema reported it
  param_state_[index] = 1;
  const sema::ParamInfo& info = prog_.params[index];
  std::optional<json::Value> value;
  bool overridden = false;
  for (const auto& [name, text] : options_.params)
    if (name == info.decl->name) {
      auto parsed = ParseParamValue(text, TypeOf(info.type));
      if (auto* err = std::get_if<std::string>(&parsed)) {
        auto& d = Error(DiagKind::BadParamValue, info.decl->name_range,
                        fmt::format("--param {}={}: {}", name, text, *err));
        d.fix_hint = fmt::format("param '{}' is of type {}", name, prog_.types.Name(info.type));
      } else {
        value = std::get<json::Value>(parsed);
      }
      overridden = true;
    }
  if (!overridden && info.decl->default_value) {
    Frame frame;
    frame.module = info.module;
    Frame* saved = frame_;
    frame_ = &frame;
    ExprId e = LowerExpr(*info.decl->default_value);
    frame_ = saved;
    plan::EvalEnv env;
    env.param = [&](const std::string& name) -> std::optional<json::Value> {
      for (size_t i = 0; i < prog_.params.size(); ++i)
        if (prog_.params[i].decl->name == name) return ParamValue(static_cast<int>(i));
      return std::nullopt;
    };
    plan::EvalResult r = plan::Evaluate(plan_, e, env);
    if (r.state == plan::EvalResult::Failed) Error(DiagKind::ConstantEvalError, info.decl->default_value->range, r.error);
    if (r.state == plan::EvalResult::Known) value = std::move(r.value);
  }
  param_values_[index] = value;
  param_state_[index] = 2;
  return value;
}

void Lowerer::BuildParams() {
  param_values_.resize(prog_.params.size());
  param_state_.assign(prog_.params.size(), 0);
  for (const auto& [name, text] : options_.params) {
    bool known = false;
    for (const auto& p : prog_.params) known = known || p.decl->name == name;
    if (!known) {
      std::string names;
      for (const auto& p : prog_.params) names += (names.empty() ? "" : ", ") + p.decl->name;
      auto& d = Error(DiagKind::UnknownParam, {}, fmt::format("--param {}: the program has no param '{}'", name, name));
      d.fix_hint = names.empty() ? "the program declares no params" : "its params are: " + names;
    }
  }
  for (size_t i = 0; i < prog_.params.size(); ++i) {
    plan::Param p;
    p.name = prog_.params[i].decl->name;
    p.type = TypeOf(prog_.params[i].type);
    std::optional<json::Value> v = ParamValue(static_cast<int>(i));
    p.required = !v;
    p.value = v ? *v : json::Value(nullptr);
    plan_.params.push_back(std::move(p));
  }
}

std::optional<plan::Plan> Lowerer::Run() {
  const sema::PipelineInfo* entry = prog_.FindPipeline(options_.entry);
  const ast::Module& mod = (*prog_.modules)[prog_.entry_module];
  if (!entry) {
    std::string names;
    for (const auto& p : prog_.pipelines) names += (names.empty() ? "" : ", ") + p.decl->name;
    auto& d = Error(DiagKind::UnknownEntry, {mod.file, 0, 0},
                    fmt::format("there is no pipeline '{}' to run", options_.entry));
    d.fix_hint = names.empty() ? "declare one: pipeline main { ... }"
                               : "pick one with --entry NAME; the pipelines are: " + names;
    return std::nullopt;
  }
  for (const auto& in : entry->inputs)
    if (!in.has_default() && prog_.types.Kind(in.type) != sema::TypeKind::Optional) {
      auto& d = Error(DiagKind::EntryWithInputs, in.decl->name_range,
                      fmt::format("pipeline '{}' is run as the entry, but its input '{}' has no default",
                                  entry->decl->name, in.name));
      d.fix_hint = "give the input a default, or call the pipeline from main with arguments";
    }
  plan_.source = sm_.Path(mod.file);
  plan_.entry = options_.entry;
  BuildParams();
  if (failed_) return std::nullopt;
  Frame frame;
  frame.module = entry->module;
  frame_ = &frame;
  for (size_t i = 0; i < entry->inputs.size() && i < entry->input_bindings.size(); ++i) {
    const sema::Port& port = entry->inputs[i];
    Set(entry->input_bindings[i], port.has_default() ? LowerExpr(*port.decl->default_value)
                                                     : Lit(nullptr, TypeOf(port.type)));
  }
  LowerBlock(entry->decl->body);
  frame_ = nullptr;
  for (auto& p : plan_.params) p.structural = structural_.count(p.name) > 0;
  if (failed_) return std::nullopt;
  opt::CompactExpressions(plan_);  // drop the intermediate nodes lowering made
  return std::move(plan_);
}

}  // namespace

std::optional<plan::Plan> Lower(const sema::Program& program, const SourceManager& sm, const LowerOptions& options,
                                DiagSink& sink, LowerNotes* notes) {
  return Lowerer(program, sm, options, sink, notes).Run();
}

// ------------------------------------------------------------ --param text

std::variant<json::Value, std::string> ParseParamValue(const std::string& text, const plan::Type& type) {
  using T = plan::Type;
  switch (type.kind) {
    case T::String:
    case T::File:
    case T::Dir: return json::Value(text);
    case T::Optional:
      if (text == "none") return json::Value(nullptr);
      return ParseParamValue(text, type.elem[0]);
    case T::Bool:
      if (text == "true") return json::Value(true);
      if (text == "false") return json::Value(false);
      return std::string("expected true or false");
    case T::List:
    case T::Json:
    case T::Record: {
      auto v = json::parse(text);
      if (!v) {
        llvm::consumeError(v.takeError());
        return std::string("expected JSON, as in [1, 2] or [\"a.csv\", \"b.csv\"]");
      }
      if (type.kind == T::List && !v->getAsArray()) return std::string("expected a JSON list, as in [1, 2]");
      return std::move(*v);
    }
    default: break;
  }
  // Numbers, durations and sizes: one token of the language.
  syntax::Lexer lexer(text);
  syntax::RawToken tok = lexer.Next();
  bool negative = false;
  if (tok.type == syntax::kTokMinus) {
    negative = true;
    tok = lexer.Next();
  }
  if (lexer.Next().type != syntax::kTokEof) return std::string("expected a single value");
  std::string body = text.substr(negative ? 1 : 0);
  errno = 0;
  switch (type.kind) {
    case T::Int:
      if (tok.type == syntax::kTokInt) {
        long long v = std::strtoll(body.c_str(), nullptr, 10);
        if (errno == ERANGE) return std::string("number out of range");
        return json::Value(static_cast<int64_t>(negative ? -v : v));
      }
      return std::string("expected an int");
    case T::Float:
      if (tok.type == syntax::kTokInt || tok.type == syntax::kTokFloat) {
        double v = std::strtod(body.c_str(), nullptr);
        return json::Value(negative ? -v : v);
      }
      return std::string("expected a number");
    case T::Duration:
    case T::Size: {
      bool duration = type.kind == T::Duration;
      if (tok.type != (duration ? syntax::kTokDuration : syntax::kTokSize) || negative)
        return std::string(duration ? "expected a duration such as 30s, 5m or 2h" : "expected a size such as 512MB or 4GB");
      size_t unit_at = body.find_first_not_of("0123456789.");
      double number = std::strtod(body.substr(0, unit_at).c_str(), nullptr);
      std::string unit = body.substr(unit_at);
      double scale = duration ? (unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 60e3 : unit == "h" ? 3600e3 : 86400e3)
                              : (unit == "B" ? 1 : unit == "KB" ? 0x1p10 : unit == "MB" ? 0x1p20 : unit == "GB" ? 0x1p30 : 0x1p40);
      return json::Value(static_cast<int64_t>(std::llround(number * scale)));
    }
    default: return std::string("cannot be given on the command line");
  }
}

}  // namespace flow::lower
