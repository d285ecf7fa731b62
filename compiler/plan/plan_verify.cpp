// SPDX-License-Identifier: Apache-2.0
// Plan verification: every reference resolves and the graph is a DAG. The
// runtime refuses any plan that fails here, so a hand-edited or truncated
// plan gives an error, never a crash.
#include <deque>

#include "fmt/format.h"
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
    }
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
        Problem(fmt::format("{}.guards[{}]: gate {} has {} branches, not {}", path, i, g.gate.value, branches,
                            g.branch + 1));
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
      const std::string& p = it.p;
      if (!it.e.valid() || it.e.value >= static_cast<int32_t>(plan_.exprs.size())) {
        Problem(p + ": missing expression");
        continue;
      }
      const ExprNode& n = plan_.Get(it.e);
      const Map* child_map = it.map;
      Scope child_scope = it.scope;
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

  // Kahn's algorithm over every "must come before" relation: deps, data
  // references, and the outputs gates and maps read.
  void CheckAcyclic() {
    size_t n = plan_.instances.size();
    std::vector<std::vector<int32_t>> succ(n);
    std::vector<int32_t> indegree(n, 0);
    auto edge = [&](InstanceId from, size_t to) {
      succ[from.value].push_back(static_cast<int32_t>(to));
      ++indegree[to];
    };
    for (size_t i = 0; i < n; ++i) {
      const Instance& inst = plan_.instances[i];
      for (InstanceId d : inst.deps) edge(d, i);
      std::vector<InstanceId> refs;
      for (const auto& a : inst.args) CollectOutputRefs(plan_, a.value, refs);
      for (const Guard& g : inst.guards)
        for (ExprId c : plan_.gates[g.gate.value].conds) CollectOutputRefs(plan_, c, refs);
      for (InstanceId r : refs) edge(r, i);
    }
    std::deque<int32_t> ready;
    for (size_t i = 0; i < n; ++i)
      if (indegree[i] == 0) ready.push_back(static_cast<int32_t>(i));
    size_t seen = 0;
    while (!ready.empty()) {
      int32_t v = ready.front();
      ready.pop_front();
      ++seen;
      for (int32_t s : succ[v])
        if (--indegree[s] == 0) ready.push_back(s);
    }
    if (seen == n) return;
    for (size_t i = 0; i < n; ++i)
      if (indegree[i] > 0) {
        Problem(fmt::format("instances[{}] ('{}') is on a dependency cycle", i, plan_.instances[i].name));
        return;
      }
  }

  const Plan& plan_;
  std::vector<std::string> problems_;
  const std::vector<Instance> empty_;
};

}  // namespace

std::vector<std::string> Verify(const Plan& plan) { return Verifier(plan).Run(); }

}  // namespace flow::plan
