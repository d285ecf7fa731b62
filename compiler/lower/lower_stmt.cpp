// SPDX-License-Identifier: Apache-2.0
// Lowering of statements: bindings, if (gates), for (unrolled, or map
// templates), while (guarded iterations).
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
      if (int b = binding(); b >= 0) {
        Set(b, v);
        if (map_) map_declared_.insert(b);  // declared in the template: each copy has its own
      }
      return;
    }
    case ast::StmtKind::Assign: {
      ExprId v = LowerExpr(*llvm::cast<ast::AssignStmt>(s).value);
      if (map_ && !map_declared_.count(binding())) {
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
  // Inside a map template, even a condition known now becomes a (local) gate
  // with literal conditions, so the names its branches bind are lifted the
  // same way; the runtime decides it without waiting for anything.
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
  map_declared_.clear();
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

}  // namespace flow::lower::detail
