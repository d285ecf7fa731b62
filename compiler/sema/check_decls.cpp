// SPDX-License-Identifier: Apache-2.0
// Declarations: the global namespace, records, params, the signatures of
// stages and pipelines, and the bodies of stages.
#include <algorithm>

#include "llvm/ADT/StringRef.h"
#include "sema/checker.h"

namespace flow::sema {

namespace {
constexpr const char* kBuiltinFunctions[] = {"len", "range", "min", "max", "sum", "abs",
                                             "round", "str", "int", "float", "join", "basename"};
constexpr const char* kTypeNames[] = {"int", "float", "bool", "string", "duration", "size",
                                      "file", "dir", "json", "list"};

const char* DeclKindName(DeclKind k) {
  switch (k) {
    case DeclKind::Param: return "param";
    case DeclKind::Record: return "record";
    case DeclKind::Stage: return "stage";
    case DeclKind::Pipeline: return "pipeline";
  }
  return "declaration";
}
}  // namespace

SourceRange Checker::DeclRange(DeclRef ref) const {
  switch (ref.kind) {
    case DeclKind::Record: return prog_.records[ref.index].decl->name_range;
    case DeclKind::Stage: return prog_.stages[ref.index].decl->name_range;
    case DeclKind::Pipeline: return prog_.pipelines[ref.index].decl->name_range;
    case DeclKind::Param: return prog_.params[ref.index].decl->name_range;
  }
  return {};
}

int Checker::DeclModule(DeclRef ref) const {
  switch (ref.kind) {
    case DeclKind::Record: return prog_.records[ref.index].module;
    case DeclKind::Stage: return prog_.stages[ref.index].module;
    case DeclKind::Pipeline: return prog_.pipelines[ref.index].module;
    case DeclKind::Param: return prog_.params[ref.index].module;
  }
  return 0;
}

void Checker::AddDecl(const std::string& name, SourceRange range, DeclKind kind, int index, int module) {
  for (const char* b : kBuiltinFunctions)
    if (name == b && kind != DeclKind::Record) {
      Error(DiagKind::DuplicateDefinition, range, fmt::format("'{}' is a builtin function and cannot be redefined", name));
      return;
    }
  for (const char* t : kTypeNames)
    if (name == t) {
      Error(DiagKind::DuplicateDefinition, range, fmt::format("'{}' is a builtin type and cannot be redefined", name));
      return;
    }
  auto [it, inserted] = prog_.decls.try_emplace(name, DeclRef{kind, index});
  if (inserted) return;
  // Report in the user's own file when one of the two is there (an imported
  // library's declaration is not theirs to rename).
  SourceRange here = range, there = DeclRange(it->second);
  DeclKind there_kind = it->second.kind;
  if (module != prog_.entry_module && DeclModule(it->second) == prog_.entry_module) std::swap(here, there);
  auto& d = Error(DiagKind::DuplicateDefinition, here, fmt::format("duplicate definition of '{}'", name));
  d.notes.push_back({there, here.begin == range.begin && here.file == range.file
                                ? fmt::format("previous definition (a {}) is here", DeclKindName(there_kind))
                                : fmt::format("the other definition (a {}) is here", DeclKindName(kind))});
}

std::vector<int> Checker::OrderParams(const std::vector<int>& binding_of) {
  // Edges: param i's default names param j. Iterative DFS, post-order.
  size_t n = prog_.params.size();
  std::vector<std::vector<std::pair<int, SourceRange>>> uses(n);
  llvm::StringMap<int> by_name;
  for (size_t i = 0; i < n; ++i) by_name.try_emplace(prog_.params[i].decl->name, static_cast<int>(i));
  for (size_t i = 0; i < n; ++i) {
    const ast::Expr* def = prog_.params[i].decl->default_value.get();
    if (!def) continue;
    ast::ForEachNameRef(*def, [&](const ast::NameRef& r) {
      if (auto it = by_name.find(r.name); it != by_name.end()) uses[i].push_back({it->second, r.range});
    });
  }
  std::vector<int> order, color(n, 0);
  std::vector<bool> in_cycle(n, false);
  for (size_t root = 0; root < n; ++root) {
    if (color[root]) continue;
    std::vector<std::pair<int, size_t>> stack{{static_cast<int>(root), 0}};
    color[root] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == uses[node].size()) {
        color[node] = 2;
        order.push_back(node);
        stack.pop_back();
        continue;
      }
      auto [dep, site] = uses[node][next++];
      if (color[dep] == 1) {
        std::string chain;
        bool in = false;
        for (const auto& fr : stack) {
          if (fr.first == dep) in = true;
          if (in) {
            chain += prog_.params[fr.first].decl->name + " -> ";
            in_cycle[fr.first] = true;
          }
        }
        chain += prog_.params[dep].decl->name;
        auto& d = Error(DiagKind::ParamCycle, site,
                        dep == node ? fmt::format("param '{}' is defined in terms of itself",
                                                  prog_.params[dep].decl->name)
                                    : fmt::format("params are defined in a circle: {}", chain));
        d.fix_hint = "give one of them a literal default";
      } else if (color[dep] == 0) {
        color[dep] = 1;
        stack.push_back({dep, 0});
      }
    }
  }
  // A param in a cycle has no usable type: poison it, so its uses do not
  // report more errors.
  for (size_t i = 0; i < n; ++i)
    if (in_cycle[i] && binding_of[i] >= 0) prog_.bindings[binding_of[i]].type = prog_.types.Error();
  order.erase(std::remove_if(order.begin(), order.end(), [&](int i) { return in_cycle[i]; }), order.end());
  return order;
}

void Checker::CollectDecls() {
  for (size_t m = 0; m < modules_.size(); ++m) {
    const ast::Module& mod = modules_[m];
    int mi = static_cast<int>(m);
    for (const auto& r : mod.records) {
      int idx = static_cast<int>(prog_.records.size());
      prog_.records.push_back(RecordInfo{&r, mi, prog_.types.DeclareRecord(r.name)});
      AddDecl(r.name, r.name_range, DeclKind::Record, idx, mi);
    }
    for (const auto& s : mod.stages) {
      int idx = static_cast<int>(prog_.stages.size());
      StageInfo info;
      info.decl = &s;
      info.module = mi;
      prog_.stages.push_back(std::move(info));
      AddDecl(s.name, s.name_range, DeclKind::Stage, idx, mi);
    }
    for (const auto& p : mod.pipelines) {
      if (p.name.empty()) continue;
      int idx = static_cast<int>(prog_.pipelines.size());
      PipelineInfo info;
      info.decl = &p;
      info.module = mi;
      prog_.pipelines.push_back(std::move(info));
      AddDecl(p.name, p.name_range, DeclKind::Pipeline, idx, mi);
    }
  }
}

TypeId Checker::ResolveType(const ast::TypeRef& ref) {
  TypeTable& types = prog_.types;
  if (ref.name.empty()) return types.Error();
  TypeId t = types.Error();
  if (ref.name == "list") {
    if (ref.args.size() != 1) {
      auto& d = Error(DiagKind::UnknownType, ref.range, "'list' needs one element type");
      d.fix_hint = "write list<T>, as in list<file>";
      return types.Error();
    }
    TypeId elem = ResolveType(ref.args[0]);
    t = types.IsError(elem) ? elem : types.List(elem);
  } else {
    if (!ref.args.empty()) {
      Error(DiagKind::UnknownType, ref.range, fmt::format("type '{}' takes no type arguments", ref.name));
      return types.Error();
    }
    if (!types.BuiltinByName(ref.name, &t)) {
      auto it = prog_.decls.find(ref.name);
      if (it != prog_.decls.end() && it->second.kind == DeclKind::Record) {
        t = prog_.records[it->second.index].type;
      } else {
        auto& d = Error(DiagKind::UnknownType, ref.range, fmt::format("unknown type '{}'", ref.name));
        std::vector<std::string> candidates(std::begin(kTypeNames), std::end(kTypeNames));
        for (const auto& r : prog_.records) candidates.push_back(r.decl->name);
        std::string near = Suggest(ref.name, candidates);
        if (!near.empty()) d.fix_hint = fmt::format("did you mean '{}'?", near);
        if (it != prog_.decls.end())
          d.notes.push_back({{}, fmt::format("'{}' is a {}, not a type", ref.name, DeclKindName(it->second.kind))});
        return types.Error();
      }
    }
  }
  return ref.optional ? types.Optional(t) : t;
}

void Checker::ResolveRecords() {
  for (auto& r : prog_.records) {
    std::vector<RecordField> fields;
    llvm::StringMap<SourceRange> seen;
    for (const auto& f : r.decl->fields) {
      auto [it, inserted] = seen.try_emplace(f.name, f.name_range);
      if (!inserted) {
        auto& d = Error(DiagKind::DuplicateDefinition, f.name_range,
                        fmt::format("record '{}' already has a field '{}'", r.decl->name, f.name));
        d.notes.push_back({it->second, "previous definition is here"});
        continue;
      }
      fields.push_back({f.name, ResolveType(f.type)});
    }
    prog_.types.SetFields(r.type, std::move(fields));
  }
}

void Checker::CheckParams() {
  PushScope();  // the global scope: params, visible everywhere but in run/env
  ctx_ = Context::Global;
  std::vector<int> binding_of;
  for (size_t m = 0; m < modules_.size(); ++m) {
    for (const auto& p : modules_[m].params) {
      int idx = static_cast<int>(prog_.params.size());
      TypeId t = p.type ? ResolveType(*p.type) : prog_.types.Error();
      prog_.params.push_back(ParamInfo{&p, static_cast<int>(m), t, false});
      Binding b;
      b.name = p.name;
      b.kind = BindingKind::Param;
      b.type = t;
      b.range = p.name_range;
      b.module = static_cast<int>(m);
      b.is_static = true;
      b.param = idx;
      binding_of.push_back(Declare(std::move(b), /*warn_shadow=*/false));
      // Params share the global namespace with records, stages, pipelines.
      if (auto it = prog_.decls.find(p.name); it != prog_.decls.end()) {
        auto& d = Error(DiagKind::DuplicateDefinition, p.name_range,
                        fmt::format("param '{}' has the name of a {}", p.name, DeclKindName(it->second.kind)));
        d.notes.push_back({DeclRange(it->second), "the other definition is here"});
      }
    }
  }
  // Defaults may use other params: check them in dependency order, and
  // reject cycles (param a = b + 1, param b = a).
  for (int i : OrderParams(binding_of)) {
    ParamInfo& info = prog_.params[i];
    const ast::Param& p = *info.decl;
    module_ = info.module;
    if (!p.type && !p.default_value) {
      auto& d = Error(DiagKind::TypeMismatch, p.name_range, fmt::format("param '{}' needs a type or a default", p.name));
      d.fix_hint = fmt::format("write 'param {}: TYPE' or 'param {} = VALUE'", p.name, p.name);
      continue;
    }
    if (!p.default_value) continue;
    TypeId got = CheckExpr(*p.default_value);
    if (p.type) {
      ExpectType(*p.default_value, got, info.type, DiagKind::TypeMismatch,
                 fmt::format("default of param '{}'", p.name));
    } else if (prog_.types.Kind(got) == TypeKind::None) {
      auto& d = Error(DiagKind::TypeMismatch, p.default_value->range,
                      fmt::format("cannot tell the type of param '{}' from 'none'", p.name));
      d.fix_hint = fmt::format("write its type: param {}: TYPE? = none", p.name);
    } else {
      info.type = got;
      if (binding_of[i] >= 0) prog_.bindings[binding_of[i]].type = got;
    }
  }
  module_ = 0;
}

std::vector<Port> Checker::CheckPorts(const std::vector<ast::Field>& fields, const char* what,
                                      const std::string& owner, llvm::StringMap<SourceRange>& seen) {
  std::vector<Port> ports;
  for (const auto& f : fields) {
    auto [it, inserted] = seen.try_emplace(f.name, f.name_range);
    if (!inserted) {
      auto& d = Error(DiagKind::DuplicateDefinition, f.name_range,
                      fmt::format("{} already has an input or output named '{}'", owner, f.name));
      d.notes.push_back({it->second, "previous definition is here"});
      continue;
    }
    Port port{f.name, ResolveType(f.type), &f};
    if (f.default_value) {
      if (std::string(what) == "output") {
        Error(DiagKind::TypeMismatch, f.default_value->range,
              fmt::format("output '{}' cannot have a default value", f.name));
      } else {
        ctx_ = Context::StageStatic;
        TypeId got = CheckExpr(*f.default_value);
        ExpectType(*f.default_value, got, port.type, DiagKind::TypeMismatch,
                   fmt::format("default of input '{}'", f.name));
        ctx_ = Context::Global;
      }
    }
    ports.push_back(std::move(port));
  }
  return ports;
}

void Checker::CheckSignatures() {
  auto outputs_type = [&](const std::vector<Port>& outs) {
    std::vector<RecordField> fields;
    for (const auto& p : outs) fields.push_back({p.name, p.type});
    return prog_.types.Outputs(std::move(fields));
  };
  for (auto& s : prog_.stages) {
    module_ = s.module;
    llvm::StringMap<SourceRange> seen;
    std::string owner = fmt::format("stage '{}'", s.decl->name);
    s.inputs = CheckPorts(s.decl->inputs, "input", owner, seen);
    s.outputs = CheckPorts(s.decl->outputs, "output", owner, seen);
    s.outputs_type = outputs_type(s.outputs);
  }
  for (auto& p : prog_.pipelines) {
    module_ = p.module;
    llvm::StringMap<SourceRange> seen;
    std::string owner = fmt::format("pipeline '{}'", p.decl->name);
    p.inputs = CheckPorts(p.decl->inputs, "input", owner, seen);
    p.outputs = CheckPorts(p.decl->outputs, "output", owner, seen);
    p.outputs_type = outputs_type(p.outputs);
  }
  module_ = 0;
}

// ------------------------------------------------------------ stage bodies

void Checker::CheckScalarItem(const std::optional<ast::ScalarItem>& item, const char* name, TypeId want,
                              const char* example) {
  if (!item) return;
  TypeId got = CheckExpr(*item->value);
  if (!prog_.types.Assignable(got, want) || prog_.types.IsOptional(got)) {
    auto& d = Error(DiagKind::BadStageItem, item->value->range,
                    fmt::format("'{}' needs a {}, found {}", name, TypeName(want), TypeName(got)));
    d.fix_hint = fmt::format("for example: {} {}", name, example);
    return;
  }
  if (auto* neg = llvm::dyn_cast<ast::Unary>(item->value.get()); neg && neg->op == ast::UnaryOp::Neg)
    Error(DiagKind::BadStageItem, item->value->range, fmt::format("'{}' cannot be negative", name));
}

void Checker::CheckResources(const ast::MapItem& item) {
  llvm::StringMap<SourceRange> seen;
  TypeTable& types = prog_.types;
  for (const auto& e : item.entries) {
    auto [it, inserted] = seen.try_emplace(e.key, e.key_range);
    if (!inserted) {
      auto& d = Error(DiagKind::DuplicateDefinition, e.key_range, fmt::format("resource '{}' is given twice", e.key));
      d.notes.push_back({it->second, "first given here"});
      continue;
    }
    TypeId got = CheckExpr(*e.value);
    if (types.IsError(got)) continue;
    TypeKind k = types.Kind(got);
    bool number = k == TypeKind::Int || k == TypeKind::Float;
    if (e.key == "memory") {
      if (k != TypeKind::Size) {
        auto& d = Error(DiagKind::BadResource, e.value->range,
                        fmt::format("resource 'memory' must be a size, found {}", TypeName(got)));
        d.fix_hint = "write a size such as 512MB or 4GB";
        continue;
      }
    } else if (e.key == "gpus") {
      if (k != TypeKind::Int) {
        auto& d = Error(DiagKind::BadResource, e.value->range,
                        fmt::format("resource 'gpus' must be a whole number, found {}", TypeName(got)));
        d.fix_hint = "write a count such as gpus: 1";
        continue;
      }
    } else if (!number && !(e.key != "cpus" && k == TypeKind::Size)) {
      auto& d = Error(DiagKind::BadResource, e.value->range,
                      fmt::format("resource '{}' must be a number{}, found {}", e.key,
                                  e.key == "cpus" ? "" : " or a size", TypeName(got)));
      d.fix_hint = e.key == "cpus" ? "write a count such as cpus: 2" : "write a number such as 1";
      continue;
    }
    if (auto* neg = llvm::dyn_cast<ast::Unary>(e.value.get()); neg && neg->op == ast::UnaryOp::Neg)
      Error(DiagKind::BadResource, e.value->range, fmt::format("resource '{}' cannot be negative", e.key));
  }
}

void Checker::CheckStageBody(int stage) {
  StageInfo& info = prog_.stages[stage];
  const ast::Stage& s = *info.decl;
  module_ = info.module;
  stage_ = stage;
  if (!s.run && !s.has_syntax_error) {
    auto& d = Error(DiagKind::StageWithoutRun, s.name_range, fmt::format("stage '{}' has no 'run' command", s.name));
    d.fix_hint = "add run \"COMMAND\" to the stage body";
  }

  // Items fixed before the stage runs: literals and params only.
  ctx_ = Context::StageStatic;
  if (s.resources) CheckResources(*s.resources);
  CheckScalarItem(s.retry, "retry", prog_.types.Int(), "2");
  CheckScalarItem(s.timeout, "timeout", prog_.types.Duration(), "30m");
  CheckScalarItem(s.estimate, "estimate", prog_.types.Duration(), "2m");
  CheckScalarItem(s.cache, "cache", prog_.types.Bool(), "false");

  // The command and its environment see the stage's inputs and outputs.
  ctx_ = Context::StageRun;
  hide_globals_ = true;
  PushScope();
  auto declare_ports = [&](const std::vector<Port>& ports, BindingKind kind) {
    for (const auto& p : ports) {
      Binding b;
      b.name = p.name;
      b.kind = kind;
      b.type = p.type;
      b.range = p.decl->name_range;
      b.module = module_;
      Declare(std::move(b), /*warn_shadow=*/false);
    }
  };
  declare_ports(info.inputs, BindingKind::StageInput);
  declare_ports(info.outputs, BindingKind::StageOutput);
  if (s.env) {
    llvm::StringMap<SourceRange> seen;
    for (const auto& e : s.env->entries) {
      auto [it, inserted] = seen.try_emplace(e.key, e.key_range);
      if (!inserted) {
        auto& d = Error(DiagKind::DuplicateDefinition, e.key_range, fmt::format("env variable '{}' is set twice", e.key));
        d.notes.push_back({it->second, "first set here"});
        continue;
      }
      TypeId got = CheckExpr(*e.value);
      TypeKind k = prog_.types.Kind(got);
      if (k == TypeKind::List || k == TypeKind::Record) {
        auto& d = Error(DiagKind::BadStageItem, e.value->range,
                        fmt::format("env variable '{}' must be a single value, found {}", e.key, TypeName(got)));
        d.fix_hint = "interpolate it into a string, as in \"{name}\"";
      } else {
        RejectOptional(got, *e.value, fmt::format("env variable '{}'", e.key));
      }
    }
  }
  if (s.run) {
    TypeId got = CheckExpr(*s.run->value);
    if (prog_.types.Kind(got) != TypeKind::String && !prog_.types.IsError(got)) {
      auto& d = Error(DiagKind::BadStageItem, s.run->value->range,
                      fmt::format("'run' needs a string command, found {}", TypeName(got)));
      d.fix_hint = "for example: run \"python3 train.py --data {data}\"";
    } else if (const auto* str = dynamic_cast<const ast::StringLit*>(s.run->value.get());
               str && str->IsPlain() && str->PlainText().find_first_not_of(" \t\r\n") == std::string::npos) {
      // An empty command runs nothing and always succeeds: surely a mistake.
      auto& d = Error(DiagKind::BadStageItem, s.run->value->range,
                      fmt::format("stage '{}' has an empty 'run' command", s.name));
      d.fix_hint = "for example: run \"python3 train.py --data {data}\"";
    }
  }
  PopScope();
  hide_globals_ = false;
  ctx_ = Context::Global;
  stage_ = -1;
  module_ = 0;
}

}  // namespace flow::sema
