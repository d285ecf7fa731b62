// SPDX-License-Identifier: Apache-2.0
// The checker's driver: phase order, scopes, recursion among pipelines and
// the unused-declaration warnings.
#include "sema/check.h"

#include "llvm/ADT/StringRef.h"
#include "sema/checker.h"

namespace flow::sema {

const char* BuiltinName(Builtin b) {
  switch (b) {
    case Builtin::Len: return "len";
    case Builtin::Range: return "range";
    case Builtin::Min: return "min";
    case Builtin::Max: return "max";
    case Builtin::Sum: return "sum";
    case Builtin::Abs: return "abs";
    case Builtin::Round: return "round";
    case Builtin::Str: return "str";
    case Builtin::Int: return "int";
    case Builtin::Float: return "float";
    case Builtin::Join: return "join";
    case Builtin::Basename: return "basename";
  }
  return "?";
}

const PipelineInfo* Program::FindPipeline(const std::string& name) const {
  auto it = decls.find(name);
  if (it == decls.end() || it->second.kind != DeclKind::Pipeline) return nullptr;
  return &pipelines[it->second.index];
}

Checker::Checker(const std::vector<ast::Module>& modules, int entry, DiagSink& sink, const CheckOptions& options)
    : modules_(modules), sink_(sink), options_(options) {
  prog_.modules = &modules;
  prog_.entry_module = entry;
  prog_.facts.resize(modules.size());
  for (size_t m = 0; m < modules.size(); ++m) {
    auto n = static_cast<size_t>(modules[m].num_exprs);
    prog_.facts[m].expr_type.assign(n, prog_.types.Error());
    prog_.facts[m].name_binding.assign(n, -1);
    prog_.facts[m].call_target.assign(n, CallTarget{});
    prog_.facts[m].is_static.assign(n, 0);
  }
}

Program Checker::Run() {
  CollectDecls();
  ResolveRecords();
  CheckParams();
  CheckSignatures();
  for (size_t s = 0; s < prog_.stages.size(); ++s) CheckStageBody(static_cast<int>(s));
  pipeline_calls_.resize(prog_.pipelines.size());
  for (size_t p = 0; p < prog_.pipelines.size(); ++p) CheckPipelineBody(static_cast<int>(p));
  CheckRecursion();
  CheckStaticInputs();
  if (options_.warn_unused) ReportUnused();
  return std::move(prog_);
}

Program Check(const std::vector<ast::Module>& modules, int entry_module, DiagSink& sink,
              const CheckOptions& options) {
  return Checker(modules, entry_module, sink, options).Run();
}

// ------------------------------------------------------------------ scopes

int Checker::Lookup(const std::string& name) const {
  for (size_t i = scopes_.size(); i-- > 0;) {
    if (i == 0 && hide_globals_) break;
    auto it = scopes_[i].names.find(name);
    if (it != scopes_[i].names.end()) return it->second;
  }
  return -1;
}

int Checker::Declare(Binding b, bool warn_shadow) {
  Scope& scope = scopes_.back();
  auto it = scope.names.find(b.name);
  if (it != scope.names.end()) {
    const Binding& prev = prog_.bindings[it->second];
    auto& d = Error(DiagKind::DuplicateDefinition, b.range, fmt::format("'{}' is already defined in this scope", b.name));
    d.notes.push_back({prev.range, "previous definition is here"});
    return it->second;
  }
  if (warn_shadow) {
    int outer = Lookup(b.name);
    if (outer >= 0 && !llvm::StringRef(b.name).startswith("_")) {
      const Binding& prev = prog_.bindings[outer];
      auto& d = sink_.Emit(DiagKind::Shadowing, b.range,
                           fmt::format("'{}' shadows {} of the same name", b.name,
                                       prev.kind == BindingKind::Param ? "a param" : "an outer binding"));
      d.notes.push_back({prev.range, "shadowed definition is here"});
    }
  }
  int id = static_cast<int>(prog_.bindings.size());
  scope.names[b.name] = id;
  scope.order.push_back(id);
  prog_.bindings.push_back(std::move(b));
  return id;
}

void Checker::MarkUsed(int binding) {
  // Lifted bindings pass the use on to the bindings they were made from;
  // an explicit stack, since chains of lifts can be long.
  std::vector<int> work{binding};
  while (!work.empty()) {
    int b = work.back();
    work.pop_back();
    Binding& bd = prog_.bindings[b];
    if (bd.used) continue;
    bd.used = true;
    if (bd.param >= 0) prog_.params[bd.param].used = true;
    for (int s : bd.sources) work.push_back(s);
  }
}

std::vector<std::string> Checker::VisibleNames() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < scopes_.size(); ++i) {
    if (i == 0 && hide_globals_) continue;
    for (const auto& entry : scopes_[i].names) names.push_back(entry.first().str());
  }
  return names;
}

std::string Checker::Suggest(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  // One edit per three letters, rounded up: trian -> train, ouput -> out.
  unsigned limit = std::max<unsigned>(1, (static_cast<unsigned>(name.size()) + 1) / 3);
  unsigned best_d = limit + 1;
  for (const auto& c : candidates) {
    unsigned d = llvm::StringRef(name).edit_distance(c, true, best_d);
    // Replacing every character is no suggestion ('x' for 'a').
    if (d < best_d && d < name.size()) best_d = d, best = c;
  }
  return best;
}

std::string Checker::Describe(const ast::Expr& e) {
  if (auto* n = llvm::dyn_cast<ast::NameRef>(&e)) return n->name;
  if (auto* m = llvm::dyn_cast<ast::Member>(&e)) {
    std::string base = Describe(*m->base);
    return base.empty() ? std::string() : base + "." + m->name;
  }
  if (auto* c = llvm::dyn_cast<ast::Call>(&e)) return c->callee + "(...)";
  return {};
}

// --------------------------------------------------------------- recursion

void Checker::CheckRecursion() {
  // Iterative DFS over the pipeline call graph; a back edge closes a cycle.
  size_t n = prog_.pipelines.size();
  std::vector<int> color(n, 0);  // 0 new, 1 on stack, 2 done
  for (size_t root = 0; root < n; ++root) {
    if (color[root]) continue;
    struct Frame {
      int node;
      size_t next;
    };
    std::vector<Frame> stack{{static_cast<int>(root), 0}};
    color[root] = 1;
    while (!stack.empty()) {
      Frame& f = stack.back();
      auto& edges = pipeline_calls_[f.node];
      if (f.next == edges.size()) {
        color[f.node] = 2;
        stack.pop_back();
        continue;
      }
      auto [callee, site] = edges[f.next++];
      if (color[callee] == 1) {
        std::string chain;
        bool in_cycle = false;
        for (const Frame& fr : stack) {
          if (fr.node == callee) in_cycle = true;
          if (in_cycle) chain += "'" + prog_.pipelines[fr.node].decl->name + "' -> ";
        }
        chain += "'" + prog_.pipelines[callee].decl->name + "'";
        const auto& caller = prog_.pipelines[stack.back().node];
        auto& d = Error(DiagKind::RecursivePipeline, site,
                        callee == stack.back().node
                            ? fmt::format("pipeline '{}' calls itself", caller.decl->name)
                            : fmt::format("recursive pipeline call: {}", chain));
        d.fix_hint = "pipelines are inlined at compile time, so they cannot recurse; use a 'while' loop";
      } else if (color[callee] == 0) {
        color[callee] = 1;
        stack.push_back({callee, 0});
      }
    }
  }
}

// ------------------------------------------------------------------ unused

void Checker::ReportUnused() {
  int entry = prog_.entry_module;
  for (const auto& p : prog_.params)
    if (p.module == entry && !p.used && !llvm::StringRef(p.decl->name).startswith("_")) {
      auto& d = sink_.Emit(DiagKind::UnusedParam, p.decl->name_range, fmt::format("param '{}' is never used", p.decl->name));
      d.fix_hint = "remove it, or pass it to a stage";
    }
  for (size_t i = 0; i < prog_.stages.size(); ++i) {
    const StageInfo& s = prog_.stages[i];
    auto it = prog_.decls.find(s.decl->name);
    bool duplicate = it == prog_.decls.end() || it->second.kind != DeclKind::Stage ||
                     it->second.index != static_cast<int>(i);
    if (s.module == entry && !s.used && !duplicate && !llvm::StringRef(s.decl->name).startswith("_"))
      sink_.Emit(DiagKind::UnusedStage, s.decl->name_range,
                 fmt::format("stage '{}' is never called", s.decl->name));
  }
  for (const auto& b : prog_.bindings) {
    if (b.used || b.lifted || b.module != entry || llvm::StringRef(b.name).startswith("_")) continue;
    if (prog_.types.IsError(b.type)) continue;  // its definition already has an error
    if (b.kind != BindingKind::Let && b.kind != BindingKind::Var && b.kind != BindingKind::LoopVar &&
        b.kind != BindingKind::PipelineInput)
      continue;
    auto& d = sink_.Emit(DiagKind::UnusedBinding, b.range, fmt::format("'{}' is never used", b.name));
    if (b.kind == BindingKind::Let || b.kind == BindingKind::Var)
      d.fix_hint = "to run a call for its effect, write it without 'let'; or name it '_" + b.name + "'";
    else
      d.fix_hint = "name it '_" + b.name + "' to say it is unused on purpose";
  }
}

}  // namespace flow::sema
