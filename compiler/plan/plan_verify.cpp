// SPDX-License-Identifier: Apache-2.0
// Plan verification: every reference resolves and the graph is a DAG. The
// runtime refuses any plan that fails here, so a hand-edited or truncated
// plan gives an error, never a crash.
#include <deque>
#include <map>

#include "fmt/format.h"
#include "llvm/ADT/DenseSet.h"
#include "plan/plan.h"

namespace flow::plan {

namespace {

class Verifier {
 public:
  explicit Verifier(const Plan& plan) : plan_(plan) {}

  std::vector<std::string> Run() {
    for (size_t s = 0; s < plan_.stages.size(); ++s) CheckStage(plan_.stages[s], fmt::format("stages[{}]", s));
    for (size_t g = 0; g < plan_.gates.size(); ++g) {
      std::string path = fmt::format("gates[{}]", g);
      const Gate& gate = plan_.gates[g];
      if (gate.conds.empty()) Problem(path + ".conds: a gate needs at least one condition");
      for (size_t c = 0; c < gate.conds.size(); ++c)
        CheckExpr(gate.conds[c], fmt::format("{}.conds[{}]", path, c), Scope::Plan, nullptr);
      CheckGuards(gate.guards, path, plan_.gates);
      CheckGateOrder(gate, g, path, false);
    }
    // Instance names are how logs, reports and the run store tell them apart.
    std::map<std::string, size_t> names;
    for (size_t i = 0; i < plan_.instances.size(); ++i)
      if (auto [it, inserted] = names.emplace(plan_.instances[i].name, i); !inserted)
        Problem(fmt::format("instances[{}]: the name '{}' is already used by instances[{}]", i,
                            plan_.instances[i].name, it->second));
    for (size_t i = 0; i < plan_.params.size(); ++i) CheckParamValue(plan_.params[i], fmt::format("params[{}]", i));
    for (size_t i = 0; i < plan_.instances.size(); ++i)
      CheckInstance(plan_.instances[i], fmt::format("instances[{}]", i), nullptr);
    for (size_t m = 0; m < plan_.maps.size(); ++m) {
      const Map& map = plan_.maps[m];
      std::string path = fmt::format("maps[{}]", m);
      CheckExpr(map.over, path + ".over", Scope::Plan, nullptr);
      CheckGuards(map.guards, path, plan_.gates);
      for (size_t g = 0; g < map.gates.size(); ++g) {
        std::string gp = fmt::format("{}.gates[{}]", path, g);
        if (map.gates[g].conds.empty()) Problem(gp + ".conds: a gate needs at least one condition");
        for (size_t c = 0; c < map.gates[g].conds.size(); ++c)
          CheckExpr(map.gates[g].conds[c], fmt::format("{}.conds[{}]", gp, c), Scope::Template, nullptr, &map);
        CheckGuards(map.gates[g].guards, gp, map.gates);
        CheckGateOrder(map.gates[g], g, gp, true);
      }
      for (size_t i = 0; i < map.instances.size(); ++i)
        CheckInstance(map.instances[i], fmt::format("{}.instances[{}]", path, i), &map);
    }
    if (problems_.empty()) CheckAcyclic();
    return problems_;
  }

 private:
  enum class Scope { Plan, Stage, Template };

  void Problem(std::string p) {
    if (problems_.size() < 100) problems_.push_back(std::move(p));
  }

  const Stage* StageAt(int32_t index) const {
    if (index < 0 || index >= static_cast<int32_t>(plan_.stages.size())) return nullptr;
    return &plan_.stages[index];
  }

  static bool HasField(const std::vector<Field>& fields, const std::string& name) {
    for (const auto& f : fields)
      if (f.name == name) return true;
    return false;
  }

  bool RecordKnown(const Type& t) const {
    if (t.kind == Type::Record) {
      for (const auto& r : plan_.records)
        if (r.name == t.record) return true;
      return false;
    }
    for (const auto& e : t.elem)
      if (!RecordKnown(e)) return false;
    return true;
  }

  void CheckFields(const std::vector<Field>& fields, const std::string& path) {
    for (size_t i = 0; i < fields.size(); ++i)
      if (!RecordKnown(fields[i].type))
        Problem(fmt::format("{}[{}]: type '{}' names no record of the plan", path, i, fields[i].type.Spell()));
  }

  // A gate may depend only on earlier gates (its guards and the `choose`
  // values its conditions read), so gates can be decided in order; and its
  // conditions are bools.
  void CheckGateOrder(const Gate& gate, size_t index, const std::string& path, bool local) {
    for (const Guard& g : gate.guards)
      if (g.gate.value >= static_cast<int32_t>(index))
        Problem(fmt::format("{}.guards: guarded by gate {}, which does not come before it", path, g.gate.value));
    for (size_t c = 0; c < gate.conds.size(); ++c) {
      if (!gate.conds[c].valid() || gate.conds[c].value >= static_cast<int32_t>(plan_.exprs.size())) continue;
      const Type& t = plan_.Get(gate.conds[c]).type;
      if (t.kind != Type::Bool && t.kind != Type::Json)
        Problem(fmt::format("{}.conds[{}]: a condition must be a bool, not {}", path, c, t.Spell()));
      std::vector<ExprId> work{gate.conds[c]};
      llvm::DenseSet<int32_t> visited;
      while (!work.empty()) {
        ExprId e = work.back();
        work.pop_back();
        if (!visited.insert(e.value).second) continue;  // shared subexpression: once
        if (!e.valid() || e.value >= static_cast<int32_t>(plan_.exprs.size())) continue;
        const ExprNode& n = plan_.Get(e);
        if (n.op == Op::Choose && n.local == local && n.gate.value >= static_cast<int32_t>(index))
          Problem(fmt::format("{}.conds[{}]: reads the choice of gate {}, which does not come before it", path, c,
                              n.gate.value));
        if (n.op == Op::MapValues) continue;
        for (ExprId a : n.args) work.push_back(a);
      }
    }
  }

  // A param's value has the JSON shape of its type.
  void CheckParamValue(const plan::Param& p, const std::string& path) {
    if (p.value.getAsNull()) {
      if (!p.required && p.type.kind != Type::Optional && p.type.kind != Type::Json && p.type.kind != Type::None)
        Problem(path + ".value: null, but the param is not required");
      return;
    }
    if (!ValueFits(p.value, p.type)) Problem(fmt::format("{}.value: not a value of type {}", path, p.type.Spell()));
  }

  bool ValueFits(const llvm::json::Value& v, const Type& t) const {
    switch (t.kind) {
      case Type::Int:
      case Type::Duration:
      case Type::Size: return v.getAsInteger().hasValue();
      case Type::Float: return v.getAsNumber().hasValue();
      case Type::Bool: return v.getAsBoolean().hasValue();
      case Type::String:
      case Type::File:
      case Type::Dir: return v.getAsString().hasValue();
      case Type::None: return v.getAsNull().hasValue();
      case Type::Optional: return v.getAsNull() || ValueFits(v, t.elem[0]);
      case Type::List: {
        const llvm::json::Array* a = v.getAsArray();
        if (!a) return false;
        for (const auto& e : *a)
          if (!ValueFits(e, t.elem[0])) return false;
        return true;
      }
      case Type::Record: return v.getAsObject() != nullptr;
      case Type::Json: return true;
    }
    return true;
  }

  void CheckStage(const Stage& s, const std::string& path) {
    CheckFields(s.inputs, path + ".inputs");
    CheckFields(s.outputs, path + ".outputs");
    for (size_t i = 0; i < s.command.size(); ++i)
      if (s.command[i].expr.valid()) CheckExpr(s.command[i].expr, fmt::format("{}.command[{}]", path, i), Scope::Stage, &s);
    for (size_t e = 0; e < s.env.size(); ++e)
      for (size_t i = 0; i < s.env[e].value.size(); ++i)
        if (s.env[e].value[i].expr.valid())
          CheckExpr(s.env[e].value[i].expr, fmt::format("{}.env[{}].value[{}]", path, e, i), Scope::Stage, &s);
    for (const auto& r : s.resources)
      if (!(r.amount >= 0)) Problem(fmt::format("{}.resources.{}: {} is negative", path, r.name, r.amount));
    if (s.retry < 0) Problem(path + ".retry: negative");
  }

  void CheckGuards(const std::vector<Guard>& guards, const std::string& path, const std::vector<Gate>& pool) {
    for (size_t i = 0; i < guards.size(); ++i) {
      const Guard& g = guards[i];
      if (g.gate.value < 0 || g.gate.value >= static_cast<int32_t>(pool.size())) {
        Problem(fmt::format("{}.guards[{}]: gate {} does not exist", path, i, g.gate.value));
        continue;
      }
      const Gate& gate = pool[g.gate.value];
      int32_t branches = static_cast<int32_t>(gate.conds.size()) + (gate.has_else ? 1 : 0);
      if (g.branch < 0 || g.branch >= branches)
        Problem(fmt::format("{}.guards[{}]: branch {} of gate {}, which has branches 0 to {}", path, i, g.branch,
                            g.gate.value, branches - 1));
    }
  }

  void CheckInstance(const Instance& inst, const std::string& path, const Map* map) {
    const Stage* stage = StageAt(inst.stage);
    if (!stage) return Problem(fmt::format("{}: stage {} does not exist", path, inst.stage));
    if (inst.args.size() != stage->inputs.size())
      Problem(fmt::format("{}.args: {} values for the {} inputs of stage '{}'", path, inst.args.size(),
                          stage->inputs.size(), stage->name));
    for (const auto& a : inst.args) {
      if (!HasField(stage->inputs, a.input))
        Problem(fmt::format("{}.args.{}: stage '{}' has no such input", path, a.input, stage->name));
      CheckExpr(a.value, path + ".args." + a.input, map ? Scope::Template : Scope::Plan, nullptr, map);
    }
    CheckGuards(inst.guards, path, map ? map->gates : plan_.gates);
    size_t count = map ? map->instances.size() : plan_.instances.size();
    for (InstanceId d : inst.deps)
      if (d.value < 0 || static_cast<size_t>(d.value) >= count)
        Problem(fmt::format("{}.deps: instance {} does not exist", path, d.value));
    if (inst.estimate_ms < 0) Problem(path + ".estimate_ms: negative");
  }

  void CheckExpr(ExprId id, const std::string& path, Scope scope, const Stage* stage, const Map* map = nullptr) {
    struct Item {
      ExprId e;
      std::string p;
      Scope scope;
      const Map* map;
    };
    std::vector<Item> work{{id, path, scope, map}};
    while (!work.empty()) {
      Item it = std::move(work.back());
      work.pop_back();
      // Expressions share subexpressions: check each node once per scope.
      // The node in the low bits: DenseMap hashes a uint64_t as its value
      // times 37, truncated to 32 bits, so bits above 32 barely count (with
      // the node in the high bits every key collided: 2.3 s to load a plan
      // of 10,000 instances).
      uint64_t key = static_cast<uint64_t>(static_cast<uint32_t>(it.e.value)) |
                     (static_cast<uint64_t>(it.scope) << 32) |
                     (static_cast<uint64_t>(it.map ? (it.map - plan_.maps.data()) & 0xFFFFF : 0xFFFFF) << 36);
      if (!checked_.insert(key).second) continue;
      const std::string& p = it.p;
      if (!it.e.valid() || it.e.value >= static_cast<int32_t>(plan_.exprs.size())) {
        Problem(p + ": missing expression");
        continue;
      }
      const ExprNode& n = plan_.Get(it.e);
      const Map* child_map = it.map;
      Scope child_scope = it.scope;
      if (std::string arity = CheckArity(n); !arity.empty()) {
        Problem(p + ": " + arity);
        continue;
      }
      switch (n.op) {
        case Op::Output: {
          if (it.scope == Scope::Stage) {
            Problem(p + ": a stage template cannot read another instance's output");
            break;
          }
          if (n.local && !it.map) {
            Problem(p + ": a local output reference outside a map template");
            break;
          }
          const std::vector<Instance>& pool = n.local ? it.map->instances : plan_.instances;
          if (n.instance.value < 0 || static_cast<size_t>(n.instance.value) >= pool.size()) {
            Problem(fmt::format("{}: instance {} does not exist", p, n.instance.value));
            break;
          }
          const Stage* s = StageAt(pool[n.instance.value].stage);
          if (s && !HasField(s->outputs, n.name))
            Problem(fmt::format("{}: stage '{}' has no output '{}'", p, s->name, n.name));
          break;
        }
        case Op::MapValues:
          if (n.map.value < 0 || n.map.value >= static_cast<int32_t>(plan_.maps.size())) {
            Problem(fmt::format("{}: map {} does not exist", p, n.map.value));
            break;
          }
          if (n.args.size() != 1) Problem(p + ": map_values takes one template expression");
          child_map = &plan_.maps[n.map.value];  // its argument is evaluated inside the template
          child_scope = Scope::Template;
          break;
        case Op::Input:
          if (it.scope != Scope::Stage || !stage || !HasField(stage->inputs, n.name))
            Problem(fmt::format("{}: '{}' is not an input of this stage", p, n.name));
          break;
        case Op::OutPath:
          if (it.scope != Scope::Stage || !stage || !HasField(stage->outputs, n.name))
            Problem(fmt::format("{}: '{}' is not an output of this stage", p, n.name));
          break;
        case Op::Var:
          if (it.scope != Scope::Template || !it.map || it.map->var != n.name)
            Problem(fmt::format("{}: variable '{}' outside its map template", p, n.name));
          break;
        case Op::Param: {
          bool known = false;
          for (const auto& prm : plan_.params) known = known || prm.name == n.name;
          if (!known) Problem(fmt::format("{}: no param named '{}'", p, n.name));
          break;
        }
        case Op::Choose: {
          if (n.local && !it.map) {
            Problem(p + ": a local gate outside a map template");
            break;
          }
          const std::vector<Gate>& pool = n.local ? it.map->gates : plan_.gates;
          if (n.gate.value < 0 || n.gate.value >= static_cast<int32_t>(pool.size())) {
            Problem(fmt::format("{}: gate {} does not exist", p, n.gate.value));
            break;
          }
          const Gate& g = pool[n.gate.value];
          if (n.args.size() != g.conds.size() + 1)
            Problem(fmt::format("{}: choose over gate {} needs {} values, has {}", p, n.gate.value, g.conds.size() + 1,
                                n.args.size()));
          break;
        }
        case Op::Record:
          if (n.fields.size() != n.args.size()) Problem(p + ": record fields and values differ in number");
          break;
        default:
          break;
      }
      for (size_t i = 0; i < n.args.size(); ++i)
        work.push_back({n.args[i], fmt::format("{}.args[{}]", p, i), child_scope, child_map});
    }
  }

  // How many arguments each operation takes; "" when `n` has the right number.
  static std::string CheckArity(const ExprNode& n) {
    auto want = [&](size_t lo, size_t hi) -> std::string {
      if (n.args.size() >= lo && n.args.size() <= hi) return "";
      return lo == hi ? fmt::format("'{}' takes {} argument{}, not {}", Spelling(n.op), lo, lo == 1 ? "" : "s",
                                    n.args.size())
                      : fmt::format("'{}' takes {} to {} arguments, not {}", Spelling(n.op), lo, hi, n.args.size());
    };
    switch (n.op) {
      case Op::Lit:
      case Op::Param:
      case Op::Output:
      case Op::Var:
      case Op::Input:
      case Op::OutPath: return want(0, 0);
      case Op::MapValues:
      case Op::Member:
      case Op::Neg:
      case Op::Not: return want(1, 1);
      case Op::Index:
      case Op::Add:
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
      case Op::Mod:
      case Op::Lt:
      case Op::Le:
      case Op::Gt:
      case Op::Ge:
      case Op::Eq:
      case Op::Ne:
      case Op::And:
      case Op::Or:
      case Op::Coalesce: return want(2, 2);
      case Op::Builtin: {
        static const std::map<std::string, std::pair<size_t, size_t>> kArity = {
            {"len", {1, 1}}, {"range", {1, 2}}, {"min", {1, SIZE_MAX}}, {"max", {1, SIZE_MAX}},
            {"sum", {1, 1}}, {"abs", {1, 1}},   {"round", {1, 1}},      {"str", {1, 1}},
            {"int", {1, 1}}, {"float", {1, 1}}, {"join", {1, 2}},       {"basename", {1, 1}}};
        auto it = kArity.find(n.name);
        if (it == kArity.end()) return fmt::format("no builtin named '{}'", n.name);
        return want(it->second.first, it->second.second);
      }
      default: return "";
    }
  }

  // Kahn's algorithm over every "must come before" relation: deps, data
  // references, the outputs gates read, and, for maps, the outputs their list
  // and template read. Nodes: instances, then one node per map. Each map
  // template is checked the same way over its own instances and gates.
  void CheckAcyclic() {
    size_t n = plan_.instances.size(), m = plan_.maps.size();
    std::vector<std::vector<int32_t>> succ(n + m);
    std::vector<int32_t> indegree(n + m, 0);
    auto edge = [&](int32_t from, size_t to) {
      succ[from].push_back(static_cast<int32_t>(to));
      ++indegree[to];
    };
    // What an expression waits for: instances, and maps whose values it reads.
    auto reads = [&](ExprId root, std::vector<int32_t>& out) {
      std::vector<ExprId> work{root};
      llvm::DenseSet<int32_t> visited;
      while (!work.empty()) {
        ExprId visit_id = work.back();
        work.pop_back();
        if (!visited.insert(visit_id.value).second) continue;  // shared subexpression: once
        const ExprNode& x = plan_.Get(visit_id);
        if (x.op == Op::Output && !x.local) out.push_back(x.instance.value);
        if (x.op == Op::MapValues) out.push_back(static_cast<int32_t>(n + x.map.value));
        for (ExprId a : x.args) work.push_back(a);
      }
    };
    auto gate_reads = [&](const std::vector<Guard>& guards, std::vector<int32_t>& out) {
      std::vector<const Gate*> pending;
      for (const Guard& g : guards) pending.push_back(&plan_.gates[g.gate.value]);
      while (!pending.empty()) {  // gates only guard later gates: this ends
        const Gate* g = pending.back();
        pending.pop_back();
        for (ExprId c : g->conds) reads(c, out);
        for (const Guard& o : g->guards) pending.push_back(&plan_.gates[o.gate.value]);
      }
    };
    for (size_t i = 0; i < n; ++i) {
      const Instance& inst = plan_.instances[i];
      std::vector<int32_t> from;
      for (InstanceId d : inst.deps) from.push_back(d.value);
      for (const auto& a : inst.args) reads(a.value, from);
      gate_reads(inst.guards, from);
      for (int32_t f : from) edge(f, i);
    }
    for (size_t k = 0; k < m; ++k) {
      const Map& map = plan_.maps[k];
      std::vector<int32_t> from;
      reads(map.over, from);
      for (const auto& inst : map.instances)
        for (const auto& a : inst.args) reads(a.value, from);
      for (const auto& g : map.gates)
        for (ExprId c : g.conds) reads(c, from);
      gate_reads(map.guards, from);
      for (int32_t f : from) edge(f, n + k);
      CheckTemplateAcyclic(map, fmt::format("maps[{}]", k));
    }
    std::deque<int32_t> ready;
    for (size_t i = 0; i < n + m; ++i)
      if (indegree[i] == 0) ready.push_back(static_cast<int32_t>(i));
    size_t seen = 0;
    while (!ready.empty()) {
      int32_t v = ready.front();
      ready.pop_front();
      ++seen;
      for (int32_t s : succ[v])
        if (--indegree[s] == 0) ready.push_back(s);
    }
    if (seen == n + m) return;
    for (size_t i = 0; i < n + m; ++i)
      if (indegree[i] > 0) {
        Problem(i < n ? fmt::format("instances[{}] ('{}') is on a dependency cycle", i, plan_.instances[i].name)
                      : fmt::format("maps[{}] ('{}') is on a dependency cycle", i - n, plan_.maps[i - n].name));
        return;
      }
  }

  // Inside a template: deps and local output references must come from
  // earlier template instances, which rules out cycles.
  void CheckTemplateAcyclic(const Map& map, const std::string& path) {
    for (size_t j = 0; j < map.instances.size(); ++j) {
      std::vector<int32_t> from;
      for (InstanceId d : map.instances[j].deps) from.push_back(d.value);
      std::vector<ExprId> work;
      llvm::DenseSet<int32_t> visited;
      for (const auto& a : map.instances[j].args) work.push_back(a.value);
      while (!work.empty()) {
        ExprId visit_id = work.back();
        work.pop_back();
        if (!visited.insert(visit_id.value).second) continue;  // shared subexpression: once
        const ExprNode& x = plan_.Get(visit_id);
        if (x.op == Op::Output && x.local) from.push_back(x.instance.value);
        if (x.op == Op::MapValues) continue;  // another map's template
        for (ExprId a : x.args) work.push_back(a);
      }
      for (int32_t f : from)
        if (f >= static_cast<int32_t>(j))
          Problem(fmt::format("{}.instances[{}] ('{}') depends on template instance {}, which does not come before it "
                              "(a dependency cycle)",
                              path, j, map.instances[j].name, f));
    }
  }

  const Plan& plan_;
  std::vector<std::string> problems_;
  llvm::DenseSet<uint64_t> checked_;
  const std::vector<Instance> empty_;
};

}  // namespace

std::vector<std::string> Verify(const Plan& plan) { return Verifier(plan).Run(); }

}  // namespace flow::plan
