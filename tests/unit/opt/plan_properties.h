// SPDX-License-Identifier: Apache-2.0
// The properties that property_test.cpp checks on generated programs and
// property_regressions_test.cpp on the programs of the bugs they found
// (see property_test.cpp for what each property says): canonical forms of
// what runs, graph checks, longest paths, and CheckProgram, which compiles a
// program unoptimized and optimized and returns what failed.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

#include "compile_helper.h"
#include "gtest/gtest.h"
#include "lower/lower.h"
#include "opt/passes.h"
#include "plan/eval.h"
#include "plan/plan.h"

namespace flow::proptest {

namespace json = llvm::json;
using plan::ExprId;
using plan::ExprNode;
using plan::Op;

inline constexpr size_t kMaxExprs = 100000;

// --------------------------------------------------------------- interning

/// Canonical descriptions as small ids: a description names the ids of its
/// parts, so sharing stays cheap however deep the references go. One table
/// serves both plans of a program, so equal descriptions get equal ids.
class Interner {
 public:
  int Id(const std::string& s) {
    auto [it, inserted] = ids_.emplace(s, static_cast<int>(texts_.size()));
    if (inserted) texts_.push_back(s);
    return it->second;
  }
  const std::string& Text(int id) const { return texts_[static_cast<size_t>(id)]; }
  /// The description with its parts spelled out (cut at `budget` characters).
  std::string Expand(int id, size_t budget = 600) const {
    std::string out;
    ExpandInto(id, out, budget, 0);
    return out;
  }

 private:
  void ExpandInto(int id, std::string& out, size_t budget, int depth) const {
    const std::string& t = Text(id);
    for (size_t i = 0; i < t.size() && out.size() < budget; ++i) {
      if (t[i] == '#' && i + 1 < t.size() && std::isdigit(static_cast<unsigned char>(t[i + 1])) && depth < 12) {
        size_t j = i + 1;
        int ref = 0;
        while (j < t.size() && std::isdigit(static_cast<unsigned char>(t[j]))) ref = ref * 10 + (t[j++] - '0');
        out += "{";
        ExpandInto(ref, out, budget, depth + 1);
        out += "}";
        i = j - 1;
      } else {
        out += t[i];
      }
    }
    if (out.size() >= budget && depth == 0) out += "...";
  }
  std::unordered_map<std::string, int> ids_;
  std::vector<std::string> texts_;
};

inline std::string Ref(int id) { return "#" + std::to_string(id); }

inline std::string JsonText(const json::Value& v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << v;
  return os.str();
}

// --------------------------------------------------------- canonical form

/// Canonical descriptions of a plan's instances, gates, maps and
/// expressions. Gates whose conditions are literals are decided here, the
/// way the runtime would decide them.
class Canon {
 public:
  static constexpr int kRuntime = -2;  // decided at run time
  static constexpr int kDead = -3;     // inside a branch that is not taken

  Canon(const plan::Plan& p, Interner& in) : p_(p), in_(in) {
    gate_state_.assign(p.gates.size(), kUnset);
    inst_id_.assign(p.instances.size(), kUnset);
    map_id_.assign(p.maps.size(), kUnset);
    for (const auto& prm : p.params)
      if (!prm.required) params_.insert_or_assign(prm.name, prm.value);
  }

  /// The branch a top-level gate takes (-1: none), or kRuntime, or kDead.
  int Decision(int g) {
    int& st = gate_state_[static_cast<size_t>(g)];
    if (st != kUnset) return st;
    const plan::Gate& gate = p_.gates[static_cast<size_t>(g)];
    for (const auto& gd : gate.guards) {
      int d = Decision(gd.gate.value);
      if (d == kDead || (d != kRuntime && d != gd.branch)) return st = kDead;
    }
    for (size_t c = 0; c < gate.conds.size(); ++c) {
      const ExprNode& n = p_.Get(gate.conds[c]);
      if (n.op != Op::Lit) return st = kRuntime;
      if (n.lit.getAsBoolean().getValueOr(false)) return st = static_cast<int>(c);
    }
    return st = gate.has_else ? static_cast<int>(gate.conds.size()) : -1;
  }

  /// The description of the guards that are decided at run time, or
  /// std::nullopt when some guard can never hold. `map`: -1 for top-level.
  std::optional<std::string> Guards(const std::vector<plan::Guard>& guards, int map) {
    std::vector<int> ids;
    for (const auto& g : guards) {
      if (map < 0) {
        int d = Decision(g.gate.value);
        if (d == kDead || (d != kRuntime && d != g.branch)) return std::nullopt;
        if (d != kRuntime) continue;  // holds: as good as no guard
      }
      auto gid = Gate(g.gate.value, map);
      if (!gid) return std::nullopt;
      ids.push_back(in_.Id("guard(" + Ref(*gid) + " branch " + std::to_string(g.branch) + ")"));
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::string s = "[";
    for (int id : ids) s += Ref(id) + ",";
    return s + "]";
  }

  /// A run-time gate: its conditions, whether it has an else, its guards.
  std::optional<int> Gate(int g, int map) {
    auto key = std::make_pair(map, g);
    if (auto it = gate_id_.find(key); it != gate_id_.end()) return it->second;
    const plan::Gate& gate =
        map < 0 ? p_.gates[static_cast<size_t>(g)] : p_.maps[static_cast<size_t>(map)].gates[static_cast<size_t>(g)];
    std::optional<int> result;
    if (auto guards = Guards(gate.guards, map)) {
      std::string s = "gate(";
      for (ExprId c : gate.conds) s += Ref(Expr(c, map)) + ";";
      s += gate.has_else ? " else;" : "";
      s += " under " + *guards + ")";
      result = in_.Id(s);
    }
    gate_id_[key] = result;
    return result;
  }

  /// A top-level instance, or std::nullopt when it never runs.
  std::optional<int> Instance(int i) {
    int& st = inst_id_[static_cast<size_t>(i)];
    if (st == kUnset) {
      auto d = InstanceDesc(p_.instances[static_cast<size_t>(i)], -1);
      st = d ? *d : kNever;
    }
    return st == kNever ? std::nullopt : std::optional<int>(st);
  }
  std::optional<int> LocalInstance(int map, int i) {
    auto key = std::make_pair(map, i);
    if (auto it = local_inst_.find(key); it != local_inst_.end()) return it->second;
    auto d = InstanceDesc(p_.maps[static_cast<size_t>(map)].instances[static_cast<size_t>(i)], map);
    local_inst_[key] = d;
    return d;
  }
  /// A map template: its list, guards, and template instances.
  std::optional<int> Map(int m) {
    int& st = map_id_[static_cast<size_t>(m)];
    if (st != kUnset) return st == kNever ? std::nullopt : std::optional<int>(st);
    const plan::Map& map = p_.maps[static_cast<size_t>(m)];
    auto guards = Guards(map.guards, -1);
    if (!guards) {
      st = kNever;
      return std::nullopt;
    }
    std::string s = "map(over " + Ref(Expr(map.over, -1)) + " as " + map.var + " under " + *guards + ": ";
    for (size_t i = 0; i < map.instances.size(); ++i) {
      auto li = LocalInstance(m, static_cast<int>(i));
      s += li ? Ref(*li) + ";" : "never;";
    }
    st = in_.Id(s + ")");
    return st;
  }

  int Expr(ExprId e, int map) {
    auto key = std::make_pair(map, e.value);
    if (auto it = expr_id_.find(key); it != expr_id_.end()) return it->second;
    int id = ExprDesc(e, map);
    expr_id_[key] = id;
    return id;
  }

  const plan::Plan& plan() const { return p_; }

 private:
  static constexpr int kUnset = -100;
  static constexpr int kNever = -101;

  std::optional<int> InstanceDesc(const plan::Instance& inst, int map) {
    auto guards = Guards(inst.guards, map);
    if (!guards) return std::nullopt;
    std::string s = "run " + p_.StageOf(inst).name + " under " + *guards + " with (";
    std::vector<std::string> args;
    for (const auto& a : inst.args) args.push_back(a.input + "=" + Ref(Expr(a.value, map)));
    std::sort(args.begin(), args.end());
    for (const auto& a : args) s += a + ", ";
    return in_.Id(s + ")");
  }

  int ExprDesc(ExprId e, int map) {
    const ExprNode& n = p_.Get(e);
    // Values known at compile time (literals, params, operations on them)
    // are described by their value.
    if (n.op == Op::Lit) return in_.Id("value " + n.type.Spell() + " " + JsonText(n.lit));
    if (Pure(e, map)) {
      plan::EvalEnv env;
      env.param = [&](const std::string& name) -> std::optional<json::Value> {
        auto it = params_.find(name);
        if (it == params_.end()) return std::nullopt;
        return it->second;
      };
      env.gate = [&](plan::GateId g, bool local) -> std::optional<int> {
        if (local) return std::nullopt;
        int d = Decision(g.value);
        if (d == kRuntime) return std::nullopt;
        return d == kDead ? -1 : d;
      };
      plan::EvalResult r = plan::Evaluate(p_, e, env);
      if (r.state == plan::EvalResult::Known) return in_.Id("value " + n.type.Spell() + " " + JsonText(r.value));
    }
    std::string s = plan::Spelling(n.op);
    s += "<" + n.type.Spell() + ">";
    if (!n.name.empty()) s += " " + n.name;
    for (const auto& f : n.fields) s += " ." + f;
    switch (n.op) {
      case Op::Output:
        if (n.local) {
          auto li = LocalInstance(map, n.instance.value);
          s += " of local " + (li ? Ref(*li) : std::string("<never runs>"));
        } else {
          auto inst = Instance(n.instance.value);
          s += " of " + (inst ? Ref(*inst) : std::string("<never runs>"));
        }
        break;
      case Op::Choose:
        if (!n.local) {
          int d = Decision(n.gate.value);
          if (d != kRuntime) {  // decided here: the value of the branch taken (the last when none or skipped)
            size_t pick =
                (d >= 0 && static_cast<size_t>(d) < n.args.size() - 1) ? static_cast<size_t>(d) : n.args.size() - 1;
            return Expr(n.args[pick], map);
          }
          auto g = Gate(n.gate.value, -1);
          s += " by " + (g ? Ref(*g) : std::string("<dead gate>"));
        } else {
          auto g = Gate(n.gate.value, map);
          s += " by local " + (g ? Ref(*g) : std::string("<dead gate>"));
        }
        break;
      case Op::MapValues: {
        auto m = Map(n.map.value);
        s += " of " + (m ? Ref(*m) : std::string("<never runs>"));
        s += " (" + Ref(Expr(n.args[0], n.map.value)) + ")";
        return in_.Id(s);
      }
      default:
        break;
    }
    s += "(";
    for (ExprId a : n.args) s += Ref(Expr(a, map)) + ",";
    return in_.Id(s + ")");
  }

  /// Whether `e` reads only literals, params with values and the branches
  /// taken by gates decided here (so that it has a value here).
  bool Pure(ExprId e, int map) {
    auto key = std::make_pair(map, e.value);
    if (auto it = pure_.find(key); it != pure_.end()) return it->second;
    const ExprNode& n = p_.Get(e);
    bool pure = true;
    switch (n.op) {
      case Op::Lit:
        break;
      case Op::Param:
        pure = params_.count(n.name) > 0;
        break;
      case Op::Output:
      case Op::MapValues:
      case Op::Var:
      case Op::Input:
      case Op::OutPath:
        pure = false;
        break;
      case Op::Choose: {
        int d = n.local ? kRuntime : Decision(n.gate.value);
        if (d == kRuntime) {
          pure = false;
          break;
        }
        size_t pick =
            (d >= 0 && static_cast<size_t>(d) < n.args.size() - 1) ? static_cast<size_t>(d) : n.args.size() - 1;
        pure = Pure(n.args[pick], map);
        break;
      }
      default:
        for (ExprId a : n.args) pure = pure && Pure(a, map);
    }
    return pure_[key] = pure;
  }

  const plan::Plan& p_;
  Interner& in_;
  std::map<std::pair<int, int32_t>, bool> pure_;
  std::map<std::string, json::Value> params_;
  std::vector<int> gate_state_;
  std::vector<int> inst_id_;
  std::vector<int> map_id_;
  std::map<std::pair<int, int>, std::optional<int>> gate_id_;
  std::map<std::pair<int, int>, std::optional<int>> local_inst_;
  std::map<std::pair<int, int32_t>, int> expr_id_;
};

// ------------------------------------------------------------- the checks

struct Stats {
  size_t instances_unopt = 0;
  size_t instances_opt = 0;
  size_t template_instances = 0;
  size_t gates = 0;
  size_t literal_gates = 0;
  size_t maps = 0;
  size_t merged = 0;
  size_t removed_dead = 0;
  size_t edges_reduced = 0;
  size_t checks = 0;
  size_t max_exprs = 0;
};

/// Collects failures of one program (printed with the program).
class Checker {
 public:
  Checker(Stats& stats) : stats_(stats) {}
  void Expect(bool ok, const std::string& what) {
    ++stats_.checks;
    if (!ok && failures_.size() < 20) failures_.push_back(what);
  }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  Stats& stats_;
  std::vector<std::string> failures_;
};

using Bits = std::vector<std::vector<bool>>;

/// reach[i][j]: j is a transitive dependency of i. Deps must point to
/// smaller indices (checked separately); larger ones are followed anyway.
inline Bits Closure(const std::vector<plan::Instance>& insts) {
  size_t n = insts.size();
  Bits reach(n, std::vector<bool>(n, false));
  // Iterate to a fixed point (cheap for these sizes, and right for any order).
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t i = 0; i < n; ++i)
      for (plan::InstanceId d : insts[i].deps) {
        if (d.value < 0 || static_cast<size_t>(d.value) >= n) continue;
        size_t j = static_cast<size_t>(d.value);
        if (!reach[i][j]) reach[i][j] = changed = true;
        for (size_t k = 0; k < n; ++k)
          if (reach[j][k] && !reach[i][k]) reach[i][k] = changed = true;
      }
  }
  return reach;
}

inline bool Acyclic(const std::vector<plan::Instance>& insts) {
  size_t n = insts.size();
  std::vector<int> state(n, 0);  // 0 new, 1 on stack, 2 done
  for (size_t root = 0; root < n; ++root) {
    if (state[root]) continue;
    std::vector<std::pair<size_t, size_t>> stack{{root, 0}};
    state[root] = 1;
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      if (next < insts[v].deps.size()) {
        int32_t d = insts[v].deps[next++].value;
        if (d < 0 || static_cast<size_t>(d) >= n) continue;
        if (state[static_cast<size_t>(d)] == 1) return false;
        if (state[static_cast<size_t>(d)] == 0) {
          state[static_cast<size_t>(d)] = 1;
          stack.push_back({static_cast<size_t>(d), 0});
        }
        continue;
      }
      state[v] = 2;
      stack.pop_back();
    }
  }
  return true;
}

/// What a top-level instance must wait for: the instances whose outputs its
/// arguments read, directly or through the gates and maps they depend on,
/// and those its guards' conditions read. Memoized per expression, gate and
/// map: expressions are DAGs whose trees can be exponentially larger.
class Reads {
 public:
  using Set = std::set<int32_t>;
  explicit Reads(const plan::Plan& p) : p_(p) {}

  Set OfInstance(const plan::Instance& inst) {
    Set out;
    for (const auto& a : inst.args) Add(out, OfExpr(a.value));
    for (const auto& g : inst.guards) Add(out, OfGate(g.gate.value));
    return out;
  }
  /// Local reads of a template instance (indices into the template).
  Set LocalOfInstance(int m, const plan::Instance& inst) {
    Set out;
    for (const auto& a : inst.args) Add(out, LocalOfExpr(m, a.value));
    for (const auto& g : inst.guards) Add(out, LocalOfGate(m, g.gate.value));
    return out;
  }

 private:
  static void Add(Set& to, const Set& from) { to.insert(from.begin(), from.end()); }

  const Set& OfExpr(ExprId e) {
    if (auto it = expr_.find(e.value); it != expr_.end()) return it->second;
    Set out;
    const ExprNode& n = p_.Get(e);
    if (n.op == Op::Output && !n.local) out.insert(n.instance.value);
    if (n.op == Op::Choose && !n.local) Add(out, OfGate(n.gate.value));
    if (n.op == Op::MapValues) Add(out, OfMap(n.map.value));
    for (ExprId a : n.args) Add(out, OfExpr(a));
    return expr_[e.value] = std::move(out);
  }
  const Set& OfGate(int g) {
    if (auto it = gate_.find(g); it != gate_.end()) return it->second;
    Set out;
    if (g >= 0 && static_cast<size_t>(g) < p_.gates.size()) {
      gate_[g];  // a guard cycle (Verify reports it) ends here
      for (ExprId c : p_.gates[static_cast<size_t>(g)].conds) Add(out, OfExpr(c));
      for (const auto& gd : p_.gates[static_cast<size_t>(g)].guards) Add(out, OfGate(gd.gate.value));
    }
    return gate_[g] = std::move(out);
  }
  const Set& OfMap(int m) {
    if (auto it = map_.find(m); it != map_.end()) return it->second;
    Set out;
    const plan::Map& map = p_.maps[static_cast<size_t>(m)];
    Add(out, OfExpr(map.over));
    for (const auto& g : map.guards) Add(out, OfGate(g.gate.value));
    for (const auto& inst : map.instances)
      for (const auto& a : inst.args) Add(out, OfExpr(a.value));
    for (const auto& g : map.gates)
      for (ExprId c : g.conds) Add(out, OfExpr(c));
    return map_[m] = std::move(out);
  }
  const Set& LocalOfExpr(int m, ExprId e) {
    auto key = std::make_pair(m, e.value);
    if (auto it = local_expr_.find(key); it != local_expr_.end()) return it->second;
    Set out;
    const ExprNode& n = p_.Get(e);
    if (n.op == Op::Output && n.local) out.insert(n.instance.value);
    if (n.op == Op::Choose && n.local) Add(out, LocalOfGate(m, n.gate.value));
    if (n.op != Op::MapValues)  // its argument is another template's expression
      for (ExprId a : n.args) Add(out, LocalOfExpr(m, a));
    return local_expr_[key] = std::move(out);
  }
  const Set& LocalOfGate(int m, int g) {
    auto key = std::make_pair(m, g);
    if (auto it = local_gate_.find(key); it != local_gate_.end()) return it->second;
    Set out;
    const plan::Map& map = p_.maps[static_cast<size_t>(m)];
    if (g >= 0 && static_cast<size_t>(g) < map.gates.size()) {
      local_gate_[key];
      for (ExprId c : map.gates[static_cast<size_t>(g)].conds) Add(out, LocalOfExpr(m, c));
      for (const auto& gd : map.gates[static_cast<size_t>(g)].guards) Add(out, LocalOfGate(m, gd.gate.value));
    }
    return local_gate_[key] = std::move(out);
  }

  const plan::Plan& p_;
  std::unordered_map<int32_t, Set> expr_, gate_, map_;
  std::map<std::pair<int, int32_t>, Set> local_expr_, local_gate_;
};

/// Ordering, deps and priorities of one list of instances (the top level
/// or one map template). `reads`: for each instance, what it must wait for.
inline void CheckGraph(Checker& c, const std::string& where, const std::vector<plan::Instance>& insts,
                const std::vector<std::set<int32_t>>& reads) {
  c.Expect(Acyclic(insts), where + ": the dependency graph has a cycle");
  Bits reach = Closure(insts);
  const double eps = 1e-6;
  for (size_t i = 0; i < insts.size(); ++i) {
    const plan::Instance& inst = insts[i];
    for (plan::InstanceId d : inst.deps)
      c.Expect(d.value >= 0 && static_cast<size_t>(d.value) < i, where + ": " + inst.name + " depends on instance " +
                                                                     std::to_string(d.value) +
                                                                     ", which does not run before it");
    for (int32_t r : reads[i]) {
      bool earlier = r >= 0 && static_cast<size_t>(r) < i;
      c.Expect(earlier,
               where + ": " + inst.name + " reads instance " + std::to_string(r) + ", which does not run before it");
      c.Expect(earlier && reach[i][static_cast<size_t>(r)],
               where + ": " + inst.name + " reads " +
                   (earlier ? insts[static_cast<size_t>(r)].name : std::to_string(r)) +
                   " but does not (transitively) depend on it");
    }
    // Priorities: at least the instance's own estimate, and at least that
    // plus each dependent's priority (CheckPriorities has the exact value).
    double own = static_cast<double>(inst.estimate_ms) / 1000.0;
    c.Expect(inst.priority_s + eps >= own, where + ": " + inst.name + " has priority " +
                                               std::to_string(inst.priority_s) + " below its own estimate " +
                                               std::to_string(own));
    for (size_t j = i + 1; j < insts.size(); ++j) {
      bool dependent = false;
      for (plan::InstanceId d : insts[j].deps) dependent = dependent || static_cast<size_t>(d.value) == i;
      if (!dependent) continue;
      c.Expect(inst.priority_s + eps >= insts[j].priority_s + own,
               where + ": " + inst.name + " has priority " + std::to_string(inst.priority_s) +
                   ", below its dependent " + insts[j].name + "'s " + std::to_string(insts[j].priority_s) +
                   " plus its own estimate " + std::to_string(own));
    }
  }
}

/// The longest estimated path from each instance to the end, itself
/// included, as docs/plan-format.md defines priority_s: over the deps, and
/// through the maps, each of which counts as its template's longest path
/// between what it reads (its list, and the outputs its template's
/// instances and gates read) and the instances that read its values.
class LongestPaths {
 public:
  explicit LongestPaths(const plan::Plan& p) : p_(p) {
    size_t n = p.instances.size();
    dependents_.resize(n);
    maps_reading_.resize(n);
    readers_.resize(p.maps.size());
    for (size_t j = 0; j < n; ++j)
      for (plan::InstanceId d : p.instances[j].deps) dependents_[static_cast<size_t>(d.value)].push_back(j);
    for (size_t k = 0; k < p.maps.size(); ++k) {
      const plan::Map& m = p.maps[k];
      std::vector<plan::InstanceId> producers;
      plan::CollectOutputRefs(p, m.over, producers);
      for (const auto& inst : m.instances)
        for (const auto& a : inst.args) plan::CollectOutputRefs(p, a.value, producers);
      for (const auto& g : m.gates)
        for (ExprId cond : g.conds) plan::CollectOutputRefs(p, cond, producers);
      std::set<int32_t> unique;
      for (auto pr : producers) unique.insert(pr.value);
      for (int32_t pr : unique) maps_reading_[static_cast<size_t>(pr)].push_back(k);
    }
    for (size_t v = 0; v < n; ++v) {
      std::set<int32_t> maps, seen;
      std::vector<ExprId> work;
      for (const auto& a : p.instances[v].args) work.push_back(a.value);
      while (!work.empty()) {
        ExprId id = work.back();
        work.pop_back();
        if (!seen.insert(id.value).second) continue;
        const ExprNode& x = p.Get(id);
        if (x.op == Op::MapValues) maps.insert(x.map.value);
        for (ExprId a : x.args) work.push_back(a);
      }
      for (int32_t k : maps) readers_[static_cast<size_t>(k)].push_back(v);
    }
    top_.assign(n, -1);
    map_.assign(p.maps.size(), -1);
    local_.resize(p.maps.size());
    template_.assign(p.maps.size(), 0);
    for (size_t k = 0; k < p.maps.size(); ++k) {
      const auto& insts = p.maps[k].instances;
      local_[k].assign(insts.size(), 0);
      for (size_t j = insts.size(); j-- > 0;) {  // local deps point backwards (checked)
        double after = 0;
        for (size_t l = j + 1; l < insts.size(); ++l)
          for (plan::InstanceId d : insts[l].deps)
            if (static_cast<size_t>(d.value) == j) after = std::max(after, local_[k][l]);
        local_[k][j] = Own(insts[j]) + after;
        template_[k] = std::max(template_[k], local_[k][j]);
      }
    }
  }
  static double Own(const plan::Instance& i) { return static_cast<double>(i.estimate_ms) / 1000.0; }
  double Top(size_t i) {
    if (top_[i] >= 0) return top_[i];
    double after = 0;
    for (size_t j : dependents_[i]) after = std::max(after, Top(j));
    for (size_t k : maps_reading_[i]) after = std::max(after, Map(k));
    return top_[i] = Own(p_.instances[i]) + after;
  }
  /// From the start of map k's template to the end.
  double Map(size_t k) {
    if (map_[k] >= 0) return map_[k];
    double after = 0;
    for (size_t v : readers_[k]) after = std::max(after, Top(v));
    return map_[k] = template_[k] + after;
  }
  double Local(size_t k, size_t j) { return local_[k][j] + Map(k) - template_[k]; }

 private:
  const plan::Plan& p_;
  std::vector<std::vector<size_t>> dependents_, maps_reading_, readers_;
  std::vector<double> top_, map_, template_;
  std::vector<std::vector<double>> local_;
};

inline void CheckPriorities(Checker& c, const std::string& which, const plan::Plan& p) {
  const double eps = 1e-6;
  LongestPaths paths(p);
  auto expect = [&](const plan::Instance& inst, double want, const std::string& where) {
    c.Expect(std::abs(inst.priority_s - want) < eps,
             which + ": " + where + inst.name + " has priority " + std::to_string(inst.priority_s) +
                 ", not the longest path from it to the end (" + std::to_string(want) + ")");
  };
  for (size_t i = 0; i < p.instances.size(); ++i) expect(p.instances[i], paths.Top(i), "");
  for (size_t k = 0; k < p.maps.size(); ++k)
    for (size_t j = 0; j < p.maps[k].instances.size(); ++j)
      expect(p.maps[k].instances[j], paths.Local(k, j), p.maps[k].name + " ");
}

inline void CheckPlan(Checker& c, const std::string& which, const plan::Plan& p, const opt::OptimizeOptions& options) {
  size_t failures_before = c.failures().size();
  std::vector<std::string> problems = plan::Verify(p);
  std::string joined;
  for (const auto& s : problems) joined += "\n    " + s;
  c.Expect(problems.empty(), which + " plan: Verify: " + joined);
  if (!problems.empty()) return;
  Reads reads(p);
  std::vector<std::set<int32_t>> top;
  for (const auto& inst : p.instances) top.push_back(reads.OfInstance(inst));
  CheckGraph(c, which, p.instances, top);
  for (size_t m = 0; m < p.maps.size(); ++m) {
    std::vector<std::set<int32_t>> local;
    for (const auto& inst : p.maps[m].instances) local.push_back(reads.LocalOfInstance(static_cast<int>(m), inst));
    CheckGraph(c, which + " " + p.maps[m].name, p.maps[m].instances, local);
  }
  if (c.failures().size() == failures_before) CheckPriorities(c, which, p);  // on a sound graph only
  // No input that cannot be none gets a literal none.
  auto no_none = [&](const plan::Instance& inst, const std::string& where) {
    const plan::Stage& s = p.StageOf(inst);
    for (size_t a = 0; a < inst.args.size() && a < s.inputs.size(); ++a) {
      const plan::Type& t = s.inputs[a].type;
      if (t.kind == plan::Type::Optional || t.kind == plan::Type::Json || t.kind == plan::Type::None) continue;
      const ExprNode& n = p.Get(inst.args[a].value);
      c.Expect(!(n.op == Op::Lit && n.lit.getAsNull()), which + ": " + where + inst.name +
                                                            " gets none for its input '" + s.inputs[a].name +
                                                            "' of type " + t.Spell());
    }
  };
  for (const auto& inst : p.instances) no_none(inst, "");
  for (const auto& m : p.maps)
    for (const auto& inst : m.instances) no_none(inst, m.name + " ");
  // Estimates: declared, or the default.
  for (const auto& inst : p.instances) {
    const plan::Stage& s = p.StageOf(inst);
    c.Expect(inst.estimate_ms == s.estimate_ms.value_or(options.default_estimate_ms),
             which + ": " + inst.name + " has estimate " + std::to_string(inst.estimate_ms));
  }
  // JSON round trip.
  std::string text = plan::Serialize(p);
  auto back = plan::Deserialize(text, "round-trip");
  if (!back) {
    c.Expect(false, which + " plan: does not load back: " + llvm::toString(back.takeError()));
  } else {
    c.Expect(plan::Serialize(*back) == text, which + " plan: JSON round trip changes it");
  }
}

/// Transitive reduction of `p` (deps computed, not reduced): same closure,
/// and no remaining edge is implied by another path.
inline void CheckReducedPool(Checker& c, const std::string& which, const std::vector<plan::Instance>& original,
                      const std::vector<plan::Instance>& reduced) {
  Bits before = Closure(original), after = Closure(reduced);
  for (size_t i = 0; i < original.size(); ++i) {
    c.Expect(before[i] == after[i], which + ": transitive reduction changed what " + original[i].name + " waits for");
    const auto& deps = reduced[i].deps;
    for (plan::InstanceId d : deps) {
      bool implied = false;
      for (plan::InstanceId e : deps)
        if (e.value != d.value && after[static_cast<size_t>(e.value)][static_cast<size_t>(d.value)]) implied = true;
      c.Expect(!implied, which + ": after reduction, " + original[i].name + " still has the edge to " +
                             original[static_cast<size_t>(d.value)].name + ", implied by a longer path");
    }
  }
}

inline void CheckReduction(Checker& c, const std::string& which, const plan::Plan& p, Stats& stats) {
  plan::Plan reduced = p;
  stats.edges_reduced += opt::ReduceDependencies(reduced, nullptr);
  CheckReducedPool(c, which, p.instances, reduced.instances);
  for (size_t m = 0; m < p.maps.size(); ++m)
    CheckReducedPool(c, which + " " + p.maps[m].name, p.maps[m].instances, reduced.maps[m].instances);
}

/// The descriptions of what runs, with counts.
inline std::map<int, int> RunSet(Canon& canon, std::map<int, bool>& no_cache) {
  std::map<int, int> out;
  const plan::Plan& p = canon.plan();
  for (size_t i = 0; i < p.instances.size(); ++i)
    if (auto id = canon.Instance(static_cast<int>(i))) {
      ++out[*id];
      no_cache[*id] = !p.StageOf(p.instances[i]).cache;
    }
  for (size_t m = 0; m < p.maps.size(); ++m)
    if (auto id = canon.Map(static_cast<int>(m))) {
      ++out[*id];
      no_cache[*id] = true;  // templates are never merged
    }
  return out;
}

struct Compiled {
  std::optional<plan::Plan> lowered;
  std::string errors;
};

inline Compiled CompileProgram(const std::string& source) {
  Compiled out;
  testing::CompileHelper h(source);
  for (const auto& d : h.errors())
    out.errors += "\n  " + std::to_string(d.line) + ":" + std::to_string(d.col) + " " + d.message;
  if (!h.ok()) return out;
  DiagSink sink;
  lower::LowerOptions options;
  out.lowered = lower::Lower(h.program(), h.sm(), options, sink);
  for (const auto& d : sink.diagnostics())
    if (d.severity == Severity::Error) out.errors += "\n  lowering: " + d.message;
  if (sink.has_errors()) out.lowered.reset();
  return out;
}

/// Checks one program; returns the failures. `mutate` (for testing the
/// checks themselves) changes the optimized plan before it is checked.
inline std::vector<std::string> CheckProgram(const std::string& source, Stats& stats,
                                      const std::function<void(plan::Plan&)>& mutate = nullptr) {
  Checker c(stats);
  Compiled compiled = CompileProgram(source);
  c.Expect(compiled.lowered.has_value(), "the program does not compile:" + compiled.errors);
  if (!compiled.lowered) return c.failures();
  const plan::Plan& lowered = *compiled.lowered;
  stats.max_exprs = std::max(stats.max_exprs, lowered.exprs.size());
  // These programs have at most a few hundred instances; a pool this big
  // means expressions were copied instead of shared (see the regressions below).
  c.Expect(lowered.exprs.size() < kMaxExprs, "the lowered plan has " + std::to_string(lowered.exprs.size()) +
                                                 " expression nodes for " + std::to_string(lowered.instances.size()) +
                                                 " instances");
  if (lowered.exprs.size() >= kMaxExprs) return c.failures();
  {
    auto problems = plan::Verify(lowered);
    c.Expect(problems.empty(), "lowered plan: Verify: " + (problems.empty() ? "" : problems[0]));
    if (!problems.empty()) return c.failures();  // the passes may not survive it (they index deps unchecked)
  }

  opt::OptimizeOptions off;
  off.dead_branches = off.common_calls = off.reduce_edges = false;
  plan::Plan unopt = opt::Optimize(lowered, off, nullptr);
  opt::OptimizeOptions on;
  plan::Plan optimized = opt::Optimize(lowered, on, nullptr);
  if (mutate) mutate(optimized);

  CheckPlan(c, "unoptimized", unopt, off);
  CheckPlan(c, "optimized", optimized, on);
  if (!c.failures().empty()) return c.failures();

  // Transitive reduction, on the deps of both plans before reduction.
  CheckReduction(c, "unoptimized", unopt, stats);
  opt::OptimizeOptions no_reduce;
  no_reduce.reduce_edges = false;
  plan::Plan unreduced = opt::Optimize(lowered, no_reduce, nullptr);
  CheckReduction(c, "optimized", unreduced, stats);
  // The optimized plan's deps are exactly the reduction of those.
  {
    plan::Plan reduced = unreduced;
    opt::ReduceDependencies(reduced, nullptr);
    bool same = reduced.instances.size() == optimized.instances.size();
    for (size_t i = 0; same && i < reduced.instances.size(); ++i)
      same = reduced.instances[i].deps == optimized.instances[i].deps;
    for (size_t m = 0; same && m < reduced.maps.size(); ++m)
      for (size_t i = 0; same && i < reduced.maps[m].instances.size(); ++i)
        same = reduced.maps[m].instances[i].deps == optimized.maps[m].instances[i].deps;
    c.Expect(same, "Optimize's deps differ from ComputeDependencies + ReduceDependencies");
  }

  // No gate decided by literals survives dead-branch elimination.
  for (const auto& g : optimized.gates) {
    bool literal_decides = false;
    for (ExprId cond : g.conds) {
      const ExprNode& n = optimized.Get(cond);
      if (n.op != Op::Lit) break;
      if (n.lit.getAsBoolean().getValueOr(false)) literal_decides = true;
    }
    bool all_lit =
        std::all_of(g.conds.begin(), g.conds.end(), [&](ExprId e) { return optimized.Get(e).op == Op::Lit; });
    c.Expect(!literal_decides && !all_lit, "optimized plan keeps gate " + g.name + ", decided by literals");
  }

  // Same commands with the same inputs.
  Interner in;
  Canon cu(unopt, in), co(optimized, in);
  std::map<int, bool> no_cache;
  std::map<int, int> ru = RunSet(cu, no_cache), ro = RunSet(co, no_cache);
  for (const auto& [id, n] : ru) {
    auto it = ro.find(id);
    c.Expect(it != ro.end(), "runs unoptimized but not optimized: " + in.Expand(id));
    if (it != ro.end() && no_cache[id])
      c.Expect(it->second == n, "a 'cache false' call runs " + std::to_string(n) + " times unoptimized but " +
                                    std::to_string(it->second) + " times optimized: " + in.Expand(id));
  }
  for (const auto& [id, n] : ro) c.Expect(ru.count(id) > 0, "runs optimized but not unoptimized: " + in.Expand(id));
  // Nothing that runs is lost to a merge: every optimized instance runs.
  for (size_t i = 0; i < optimized.instances.size(); ++i)
    c.Expect(co.Instance(static_cast<int>(i)).has_value(),
             "optimized plan keeps " + optimized.instances[i].name + ", which never runs");

  size_t live = 0;
  for (size_t i = 0; i < unopt.instances.size(); ++i) live += cu.Instance(static_cast<int>(i)).has_value();
  stats.instances_unopt += unopt.instances.size();
  stats.instances_opt += optimized.instances.size();
  for (const auto& m : unopt.maps) stats.template_instances += m.instances.size();
  stats.maps += unopt.maps.size();
  stats.gates += unopt.gates.size();
  for (size_t g = 0; g < unopt.gates.size(); ++g)
    stats.literal_gates += cu.Decision(static_cast<int>(g)) != Canon::kRuntime;
  stats.removed_dead += unopt.instances.size() - live;
  stats.merged += live - optimized.instances.size();
  return c.failures();
}

}  // namespace flow::proptest
