// SPDX-License-Identifier: Apache-2.0
// Pipeline bodies: bindings and their scopes (SPEC 1.4: names bound in an
// `if` become T? unless bound in every branch, names bound in a `for` become
// list<T>), assignment to `var`s, outputs and loop bounds.
#include <set>
#include <tuple>

#include "llvm/ADT/StringRef.h"
#include "sema/checker.h"

namespace flow::sema {

void Checker::CheckPipelineBody(int pipeline) {
  PipelineInfo& info = prog_.pipelines[pipeline];
  const ast::Pipeline& p = *info.decl;
  module_ = info.module;
  pipeline_ = pipeline;
  ctx_ = Context::Pipeline;
  outputs_set_.clear();
  PushScope();
  for (const auto& in : info.inputs) {
    Binding b;
    b.name = in.name;
    b.kind = BindingKind::PipelineInput;
    // Whether an input is known at compile time depends on the call site;
    // sema lets it pass and lowering checks each inlined call.
    b.is_static = true;
    b.type = in.type;
    b.range = in.decl->name_range;
    b.module = module_;
    info.input_bindings.push_back(Declare(std::move(b)));
  }
  pipeline_depth_ = scopes_.size();
  CheckBlock(p.body);
  for (const auto& out : info.outputs)
    if (!outputs_set_.count(out.name)) {
      auto& d = Error(DiagKind::MissingPipelineOutput, p.name_range,
                      fmt::format("pipeline '{}' never sets its output '{}'", p.name, out.name));
      d.fix_hint = fmt::format("add 'output {} = VALUE' to its body", out.name);
      d.notes.push_back({out.decl->name_range, "output declared here"});
    }
  PopScope();
  ctx_ = Context::Global;
  pipeline_ = -1;
  module_ = 0;
}

void Checker::CheckBlock(const ast::Block& block) {
  for (const auto& s : block.stmts) CheckStmt(*s);
}

void Checker::CheckStmt(const ast::Stmt& stmt) {
  switch (stmt.kind) {
    case ast::StmtKind::Let: {
      const auto& s = llvm::cast<ast::LetStmt>(stmt);
      Facts().stmt_binding[&stmt] = CheckBind(s.name, s.name_range, *s.value, BindingKind::Let);
      return;
    }
    case ast::StmtKind::Var: {
      const auto& s = llvm::cast<ast::VarStmt>(stmt);
      Facts().stmt_binding[&stmt] = CheckBind(s.name, s.name_range, *s.value, BindingKind::Var);
      return;
    }
    case ast::StmtKind::Assign: return CheckAssign(llvm::cast<ast::AssignStmt>(stmt));
    case ast::StmtKind::Output: return CheckOutput(llvm::cast<ast::OutputStmt>(stmt));
    case ast::StmtKind::If: return CheckIf(llvm::cast<ast::IfStmt>(stmt));
    case ast::StmtKind::For: return CheckFor(llvm::cast<ast::ForStmt>(stmt));
    case ast::StmtKind::While: return CheckWhile(llvm::cast<ast::WhileStmt>(stmt));
    case ast::StmtKind::Expr: {
      const auto& s = llvm::cast<ast::ExprStmt>(stmt);
      TypeId t = CheckExpr(*s.value);
      const auto* call = llvm::dyn_cast<ast::Call>(s.value.get());
      bool runs = call && (Facts().call_target[call->id.value].kind == CallTarget::Stage ||
                           Facts().call_target[call->id.value].kind == CallTarget::Pipeline);
      if (!runs && !(call && Facts().call_target[call->id.value].kind == CallTarget::None) &&
          !prog_.types.IsError(t)) {
        auto& d = Error(DiagKind::UnusedResult, s.value->range, "this value is computed but never used");
        d.fix_hint = "bind it with 'let NAME = ...', or call a stage";
      }
      return;
    }
  }
}

int Checker::CheckBind(const std::string& name, SourceRange name_range, const ast::Expr& value, BindingKind kind) {
  TypeId t = CheckExpr(value);
  if (prog_.types.Kind(t) == TypeKind::None) {
    auto& d = Error(DiagKind::TypeMismatch, value.range, fmt::format("cannot tell the type of '{}' from 'none'", name));
    d.fix_hint = "bind a value of the type you mean, or use '??' later";
    t = prog_.types.Error();
  }
  Binding b;
  b.name = name;
  b.kind = kind;
  b.type = t;
  b.range = name_range;
  b.module = module_;
  b.is_static = IsStatic(value);
  return Declare(std::move(b));
}

void Checker::CheckAssign(const ast::AssignStmt& s) {
  TypeId got = CheckExpr(*s.value);
  int b = Lookup(s.name);
  if (b < 0) {
    auto& d = Error(DiagKind::UnknownName, s.name_range, fmt::format("unknown name '{}'", s.name));
    d.fix_hint = fmt::format("declare it first: var {} = VALUE", s.name);
    return;
  }
  Binding& bd = prog_.bindings[b];
  Facts().stmt_binding[&s] = b;
  if (bd.kind != BindingKind::Var) {
    const char* how = bd.kind == BindingKind::Let             ? "it is bound with 'let'"
                      : bd.kind == BindingKind::Param         ? "it is a param"
                      : bd.kind == BindingKind::LoopVar       ? "it is a loop variable"
                      : bd.kind == BindingKind::PipelineInput ? "it is a pipeline input"
                                                              : "it is not a 'var'";
    auto& d = Error(DiagKind::ReassignLet, s.name_range, fmt::format("cannot assign to '{}': {}", s.name, how));
    d.notes.push_back({bd.range, "declared here"});
    if (bd.kind == BindingKind::Let) d.fix_hint = fmt::format("declare it with 'var {} = ...' to reassign it", s.name);
    return;
  }
  ExpectType(*s.value, got, bd.type, DiagKind::TypeMismatch, fmt::format("assignment to '{}'", s.name));
  bd.is_static = bd.is_static && IsStatic(*s.value);
}

void Checker::CheckOutput(const ast::OutputStmt& s) {
  const PipelineInfo& info = prog_.pipelines[pipeline_];
  TypeId got = CheckExpr(*s.value);
  if (scopes_.size() != pipeline_depth_) {
    Error(DiagKind::OutputOutsidePipeline, s.range,
          "'output' must be at the top level of the pipeline body, not inside if, for or while");
    return;
  }
  auto port = std::find_if(info.outputs.begin(), info.outputs.end(), [&](const Port& p) { return p.name == s.name; });
  if (port == info.outputs.end()) {
    auto& d = Error(DiagKind::UnknownPipelineOutput, s.name_range,
                    fmt::format("pipeline '{}' declares no output '{}'", info.decl->name, s.name));
    d.fix_hint = info.outputs.empty() ? fmt::format("declare it: pipeline {}(...) -> ({}: TYPE)", info.decl->name, s.name)
                                      : "declare it in the pipeline's '-> (...)' list";
    return;
  }
  auto [it, inserted] = outputs_set_.try_emplace(s.name, s.name_range);
  if (!inserted) {
    auto& d = Error(DiagKind::DuplicateOutput, s.name_range, fmt::format("output '{}' is set twice", s.name));
    d.notes.push_back({it->second, "first set here"});
    return;
  }
  ExpectType(*s.value, got, port->type, DiagKind::TypeMismatch, fmt::format("output '{}'", s.name));
}

void Checker::CheckIf(const ast::IfStmt& s) {
  TypeTable& types = prog_.types;
  std::vector<Scope> branches;
  bool all_static = true;
  for (const auto& br : s.branches) {
    TypeId c = CheckExpr(*br.cond);
    all_static = all_static && IsStatic(*br.cond);
    if (!types.IsError(c) && !RejectOptional(c, *br.cond, "an if condition") && types.Kind(c) != TypeKind::Bool &&
        types.Kind(c) != TypeKind::Json)
      Error(DiagKind::ConditionType, br.cond->range, fmt::format("an if condition must be a bool, found {}", TypeName(c)));
    PushScope();
    CheckBlock(br.body);
    branches.push_back(PopScope());
  }
  if (s.else_body) {
    PushScope();
    CheckBlock(*s.else_body);
    branches.push_back(PopScope());
  }
  bool exhaustive = s.else_body.has_value();
  // Lift each name bound in some branch into the enclosing scope.
  std::vector<std::string> names;
  llvm::StringMap<bool> seen;
  for (const auto& sc : branches)
    for (int b : sc.order)
      if (seen.try_emplace(prog_.bindings[b].name, true).second) names.push_back(prog_.bindings[b].name);
  for (const auto& name : names) {
    if (Lookup(name) >= 0) continue;  // shadows an outer name: the outer one stays
    std::vector<int> sources;
    bool everywhere = exhaustive, all_var = true, is_static = all_static;
    TypeId t = types.Error();
    bool first = true, conflict = false;
    for (const auto& sc : branches) {
      auto it = sc.names.find(name);
      if (it == sc.names.end()) {
        everywhere = false;
        continue;
      }
      const Binding& b = prog_.bindings[it->second];
      sources.push_back(it->second);
      all_var = all_var && b.kind == BindingKind::Var;
      is_static = is_static && b.is_static;
      if (first) {
        t = b.type;
        first = false;
      } else if (!conflict) {
        TypeId j = types.Join(t, b.type);
        if (types.IsError(j) && !types.IsError(t) && !types.IsError(b.type)) {
          auto& d = Error(DiagKind::TypeMismatch, b.range,
                          fmt::format("'{}' is bound with type {} here but {} in an earlier branch", name,
                                      TypeName(b.type), TypeName(t)));
          d.notes.push_back({prog_.bindings[sources.front()].range, "earlier binding is here"});
          conflict = true;
        }
        t = j;
      }
    }
    Binding lifted;
    lifted.name = name;
    lifted.kind = all_var ? BindingKind::Var : BindingKind::Let;
    lifted.type = everywhere ? t : types.Optional(t);
    lifted.range = prog_.bindings[sources.front()].range;
    lifted.module = module_;
    lifted.is_static = is_static;
    lifted.lifted = true;
    lifted.sources = std::move(sources);
    Facts().lifted[&s].push_back(Declare(std::move(lifted), /*warn_shadow=*/false));
  }
}

void Checker::CheckFor(const ast::ForStmt& s) {
  TypeTable& types = prog_.types;
  TypeId list = CheckExpr(*s.iterable);
  bool is_static = IsStatic(*s.iterable);
  TypeId elem = types.Error();
  TypeKind k = types.Kind(list);
  if (k == TypeKind::List) {
    elem = types.Get(list).elem;
  } else if (k == TypeKind::Json) {
    elem = types.Json();
  } else if (k != TypeKind::Error && !RejectOptional(list, *s.iterable, "a for loop")) {
    auto& d = Error(DiagKind::NotIterable, s.iterable->range, fmt::format("a for loop needs a list, found {}", TypeName(list)));
    if (types.IsNumeric(list)) d.fix_hint = "to count, loop over range(0, N)";
  }
  PushScope();
  Binding var;
  var.name = s.var;
  var.kind = BindingKind::LoopVar;
  var.type = elem;
  var.range = s.var_range;
  var.module = module_;
  var.is_static = is_static;
  int var_id = Declare(std::move(var));
  Facts().stmt_binding[&s] = var_id;
  CheckBlock(s.body);
  Scope body = PopScope();
  for (int b : body.order) {
    if (b == var_id) continue;
    const Binding& inner = prog_.bindings[b];
    if (Lookup(inner.name) >= 0) continue;
    Binding lifted;
    lifted.name = inner.name;
    lifted.kind = BindingKind::Let;
    lifted.type = types.IsError(inner.type) ? inner.type : types.List(inner.type);
    lifted.range = inner.range;
    lifted.module = module_;
    lifted.is_static = is_static && inner.is_static;
    lifted.lifted = true;
    lifted.sources = {b};
    Facts().lifted[&s].push_back(Declare(std::move(lifted), /*warn_shadow=*/false));
  }
}

void Checker::CheckWhile(const ast::WhileStmt& s) {
  TypeTable& types = prog_.types;
  TypeId c = CheckExpr(*s.cond);
  if (!types.IsError(c) && !RejectOptional(c, *s.cond, "a while condition") && types.Kind(c) != TypeKind::Bool &&
      types.Kind(c) != TypeKind::Json)
    Error(DiagKind::ConditionType, s.cond->range, fmt::format("a while condition must be a bool, found {}", TypeName(c)));
  if (s.bound) {
    TypeId bt = CheckExpr(*s.bound);
    if (types.Kind(bt) != TypeKind::Int && !types.IsError(bt)) {
      Error(DiagKind::BadBound, s.bound->range, fmt::format("the bound after 'max' must be an int, found {}", TypeName(bt)));
    } else if (!IsStatic(*s.bound) && !types.IsError(bt)) {
      auto& d = Error(DiagKind::NonConstantBound, s.bound->range,
                      "the bound after 'max' must be known at compile time");
      d.fix_hint = "use a literal or an expression over params and pipeline inputs, not a stage output";
    } else if (pipeline_ >= 0) {
      std::vector<int> inputs;
      InputsReadBy(*s.bound, inputs);
      for (int i : inputs) static_inputs_.try_emplace({pipeline_, i}, s.bound->range);
    } else if (auto* neg = llvm::dyn_cast<ast::Unary>(s.bound.get()); neg && neg->op == ast::UnaryOp::Neg) {
      Error(DiagKind::BadBound, s.bound->range, "the bound after 'max' cannot be negative");
    }
  }
  PushScope();
  CheckBlock(s.body);
  PopScope();
}

void Checker::InputsReadBy(const ast::Expr& e, std::vector<int>& inputs) {
  const PipelineInfo& info = prog_.pipelines[pipeline_];
  ast::ForEachNameRef(e, [&](const ast::NameRef& n) {
    int b = Facts().name_binding[n.id.value];
    for (size_t i = 0; i < info.input_bindings.size(); ++i)
      if (info.input_bindings[i] == b) inputs.push_back(static_cast<int>(i));
  });
}

void Checker::CheckStaticInputs() {
  // Until nothing changes: a caller passing its own input on to a static
  // input makes that input static too.
  std::set<std::tuple<const ast::Call*, int>> reported;
  bool changed = true;
  while (changed) {
    changed = false;
    for (const PipelineCall& pc : calls_of_pipelines_) {
      const PipelineInfo& callee = prog_.pipelines[pc.callee];
      for (size_t i = 0; i < callee.inputs.size(); ++i) {
        auto need = static_inputs_.find({pc.callee, static_cast<int>(i)});
        if (need == static_inputs_.end()) continue;
        const ast::Arg* arg = nullptr;
        for (const auto& a : pc.call->args)
          if (a.name == callee.inputs[i].name) arg = &a;
        if (!arg) continue;  // the default: static
        module_ = pc.module;
        pipeline_ = pc.caller;
        if (!IsStatic(*arg->value)) {
          if (reported.insert({pc.call, static_cast<int>(i)}).second) {
            auto& d = Error(DiagKind::NonConstantBound, arg->value->range,
                            fmt::format("input '{}' of pipeline '{}' bounds a while loop, so it must be known at "
                                        "compile time; this value comes from a stage output",
                                        callee.inputs[i].name, callee.decl->name));
            d.notes.push_back({need->second, "the loop it bounds"});
          }
          continue;
        }
        std::vector<int> inputs;
        InputsReadBy(*arg->value, inputs);
        for (int j : inputs)
          if (static_inputs_.try_emplace({pc.caller, j}, need->second).second) changed = true;
      }
    }
  }
  module_ = 0;
  pipeline_ = -1;
}

}  // namespace flow::sema
