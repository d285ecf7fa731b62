// SPDX-License-Identifier: Apache-2.0
// The optimization passes over a plan.
#include "opt/passes.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#pragma GCC diagnostic pop

#include "fmt/format.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace flow::opt {

using plan::ExprId;
using plan::ExprNode;
using plan::GateId;
using plan::InstanceId;
using plan::Op;

namespace {

std::string Millis(int64_t ms) {
  if (ms % 3600000 == 0 && ms) return fmt::format("{}h", ms / 3600000);
  if (ms % 60000 == 0 && ms) return fmt::format("{}m", ms / 60000);
  if (ms >= 60000) return fmt::format("{}m {}s", ms / 60000, (ms % 60000) / 1000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string NameList(const std::vector<std::string>& names, size_t max = 6) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < max; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > max) s += fmt::format(" and {} more", names.size() - max);
  return s;
}

// Applies `f` to every expression root of the plan.
template <typename F>
void ForEachRoot(plan::Plan& p, F&& f) {
  for (auto& s : p.stages) {
    for (auto& part : s.command)
      if (part.expr.valid()) f(part.expr);
    for (auto& e : s.env)
      for (auto& part : e.value)
        if (part.expr.valid()) f(part.expr);
  }
  for (auto& i : p.instances)
    for (auto& a : i.args) f(a.value);
  for (auto& g : p.gates)
    for (auto& c : g.conds) f(c);
  for (auto& m : p.maps) {
    f(m.over);
    for (auto& i : m.instances)
      for (auto& a : i.args) f(a.value);
    for (auto& g : m.gates)
      for (auto& c : g.conds) f(c);
  }
}

// Keeps the instances with keep[i]; renumbers every reference. Output refs
// to removed instances must already be gone (or be redirected by `redirect`).
void KeepInstances(plan::Plan& p, const std::vector<bool>& keep, const std::vector<int32_t>& redirect) {
  std::vector<int32_t> remap(p.instances.size(), -1);
  std::vector<plan::Instance> kept;
  for (size_t i = 0; i < p.instances.size(); ++i)
    if (keep[i]) {
      remap[i] = static_cast<int32_t>(kept.size());
      kept.push_back(std::move(p.instances[i]));
    }
  p.instances = std::move(kept);
  auto target = [&](int32_t old) {
    int32_t r = redirect.empty() ? old : redirect[old];
    return r >= 0 ? remap[r] : -1;
  };
  for (auto& n : p.exprs)
    if (n.op == Op::Output && !n.local && n.instance.value >= 0 && static_cast<size_t>(n.instance.value) < remap.size())
      n.instance.value = target(n.instance.value);
  for (auto& i : p.instances) {
    std::vector<InstanceId> deps;
    for (InstanceId d : i.deps)
      if (int32_t t = target(d.value); t >= 0) deps.push_back({t});
    i.deps = std::move(deps);
  }
}

}  // namespace

// ------------------------------------------------------------ compaction

size_t CompactExpressions(plan::Plan& p) {
  std::vector<int32_t> remap(p.exprs.size(), -1);
  std::vector<ExprNode> out;
  out.reserve(p.exprs.size());
  // Post-order copy with an explicit stack (expressions can be deep).
  auto copy = [&](ExprId root) -> ExprId {
    std::vector<std::pair<int32_t, size_t>> stack{{root.value, 0}};
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      if (remap[id] >= 0) {
        stack.pop_back();
        continue;
      }
      const ExprNode& n = p.exprs[id];
      if (next < n.args.size()) {
        int32_t child = n.args[next++].value;
        if (remap[child] < 0) stack.push_back({child, 0});
        continue;
      }
      ExprNode c = std::move(p.exprs[id]);  // each node is copied once; the old pool goes
      for (auto& a : c.args) a.value = remap[a.value];
      remap[id] = static_cast<int32_t>(out.size());
      out.push_back(std::move(c));
      stack.pop_back();
    }
    return ExprId{remap[root.value]};
  };
  ForEachRoot(p, [&](ExprId& e) { e = copy(e); });
  size_t dropped = p.exprs.size() - out.size();
  p.exprs = std::move(out);
  return dropped;
}

// --------------------------------------------------------- dead branches

size_t EliminateDeadBranches(plan::Plan& p, Explain* explain) {
  const int kUnknown = -2, kDead = -3;
  std::vector<int> decided(p.gates.size(), kUnknown);  // branch, -1 for none, or the above
  auto guard_state = [&](const std::vector<plan::Guard>& guards) {
    // 1: holds for sure, 0: fails for sure, -1: decided at run time
    bool sure = true;
    for (const auto& g : guards) {
      int d = decided[g.gate.value];
      if (d == kDead) return 0;
      if (d == kUnknown) {
        sure = false;
        continue;
      }
      if (d != g.branch) return 0;
    }
    return sure ? 1 : -1;
  };
  for (size_t gi = 0; gi < p.gates.size(); ++gi) {
    plan::Gate& g = p.gates[gi];
    if (guard_state(g.guards) == 0) {
      decided[gi] = kDead;
      continue;
    }
    int branch = kUnknown;
    bool all_lit = true;
    for (size_t c = 0; c < g.conds.size() && branch == kUnknown; ++c) {
      const ExprNode& n = p.Get(g.conds[c]);
      if (n.op != Op::Lit) {
        all_lit = false;
        break;
      }
      if (n.lit.getAsBoolean().getValueOr(false)) branch = static_cast<int>(c);
    }
    if (branch == kUnknown && all_lit) branch = g.has_else ? static_cast<int>(g.conds.size()) : -1;
    decided[gi] = branch;
  }
  // Instances and maps under a branch not taken go; guards that hold go.
  std::vector<bool> keep(p.instances.size(), true);
  std::vector<std::string> removed_names;
  std::map<int, std::vector<std::string>> removed_by_gate;
  auto first_failing_gate = [&](const std::vector<plan::Guard>& guards) {
    for (const auto& g : guards) {
      int d = decided[g.gate.value];
      if (d == kDead || (d != kUnknown && d != g.branch)) return g.gate.value;
    }
    return -1;
  };
  auto prune = [&](std::vector<plan::Guard>& guards) {
    guards.erase(std::remove_if(guards.begin(), guards.end(),
                                [&](const plan::Guard& g) { return decided[g.gate.value] == g.branch; }),
                 guards.end());
  };
  for (size_t i = 0; i < p.instances.size(); ++i) {
    if (guard_state(p.instances[i].guards) == 0) {
      keep[i] = false;
      removed_by_gate[first_failing_gate(p.instances[i].guards)].push_back(p.instances[i].name);
      removed_names.push_back(p.instances[i].name);
    }
  }
  std::vector<bool> keep_map(p.maps.size(), true);
  for (size_t m = 0; m < p.maps.size(); ++m)
    if (guard_state(p.maps[m].guards) == 0) keep_map[m] = false;
  size_t decided_count = 0;
  if (explain)
    for (size_t gi = 0; gi < p.gates.size(); ++gi) {
      int d = decided[gi];
      if (d == kUnknown) continue;
      ++decided_count;
      const plan::Gate& g = p.gates[gi];
      if (d == kDead) continue;  // inside a removed branch: said with its parent
      std::string taken = d == -1 ? "no branch runs"
                          : d == static_cast<int>(g.conds.size()) ? "only the else branch runs"
                          : g.conds.size() == 1 ? "only its branch runs"
                                                : fmt::format("only branch {} runs", d + 1);
      const auto& names = removed_by_gate[static_cast<int>(gi)];
      explain->Add("dead-branches",
                   fmt::format("{} (line {}): the condition is known at compile time, so {}; removed {} instance{}{}",
                               g.name, g.loc.line, taken, names.size(), names.size() == 1 ? "" : "s",
                               names.empty() ? "" : ": " + NameList(names)));
    }
  for (auto& inst : p.instances) prune(inst.guards);
  for (auto& g : p.gates) prune(g.guards);
  for (auto& m : p.maps) prune(m.guards);
  // `choose` over a decided gate is the value of the branch taken.
  for (auto& n : p.exprs) {
    int guard = 0;
    while (n.op == Op::Choose && !n.local && decided[n.gate.value] != kUnknown && guard++ < 1000) {
      int d = decided[n.gate.value];
      size_t pick = (d >= 0 && static_cast<size_t>(d) < n.args.size() - 1) ? d : n.args.size() - 1;
      ExprNode chosen = p.exprs[n.args[pick].value];
      n = std::move(chosen);
    }
  }
  // Remove decided gates; renumber the rest.
  std::vector<int32_t> gate_remap(p.gates.size(), -1);
  std::vector<plan::Gate> gates;
  for (size_t gi = 0; gi < p.gates.size(); ++gi)
    if (decided[gi] == kUnknown) {
      gate_remap[gi] = static_cast<int32_t>(gates.size());
      gates.push_back(std::move(p.gates[gi]));
    }
  p.gates = std::move(gates);
  auto regate = [&](std::vector<plan::Guard>& guards) {
    for (auto& g : guards) g.gate.value = gate_remap[g.gate.value];
  };
  for (auto& inst : p.instances) regate(inst.guards);
  for (auto& g : p.gates) regate(g.guards);
  for (auto& m : p.maps) regate(m.guards);
  for (auto& n : p.exprs)
    if (n.op == Op::Choose && !n.local) n.gate.value = gate_remap[n.gate.value];
  // Maps under dead branches go too (their results cannot be read by
  // anything that stays).
  if (std::find(keep_map.begin(), keep_map.end(), false) != keep_map.end()) {
    std::vector<int32_t> map_remap(p.maps.size(), -1);
    std::vector<plan::Map> maps;
    for (size_t m = 0; m < p.maps.size(); ++m)
      if (keep_map[m]) {
        map_remap[m] = static_cast<int32_t>(maps.size());
        maps.push_back(std::move(p.maps[m]));
      }
    p.maps = std::move(maps);
    for (auto& n : p.exprs)
      if (n.op == Op::MapValues) n.map.value = map_remap[n.map.value];
  }
  if (!removed_names.empty()) KeepInstances(p, keep, {});
  size_t dropped = decided_count ? CompactExpressions(p) : 0;
  if (explain && dropped > 0)
    explain->Add("dead-branches", fmt::format("dropped {} expression node{} that nothing reads any more", dropped,
                                              dropped == 1 ? "" : "s"));
  if (explain && decided_count == 0) explain->Add("dead-branches", "no condition is known at compile time: nothing removed");
  return removed_names.size();
}

// ---------------------------------------------------------- common calls

size_t EliminateCommonCalls(plan::Plan& p, Explain* explain) {
  // Instances only read earlier instances (lowering creates them in order),
  // so one pass in index order sees every input's representative first.
  // Expressions are compared by a structural hash, confirmed by a
  // structural comparison (so a hash collision never merges two calls).
  std::vector<int32_t> rep(p.instances.size());
  std::vector<uint64_t> hash(p.exprs.size(), 0);
  std::vector<bool> hashed(p.exprs.size(), false);
  auto mix = [](uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull + (h >> 29); };
  auto hash_of = [&](ExprId root) {
    std::vector<std::pair<int32_t, size_t>> stack{{root.value, 0}};
    while (!stack.empty()) {
      auto& [e, next] = stack.back();
      if (hashed[e]) {
        stack.pop_back();
        continue;
      }
      const ExprNode& n = p.exprs[e];
      if (next < n.args.size()) {
        int32_t c = n.args[next++].value;
        if (!hashed[c]) stack.push_back({c, 0});
        continue;
      }
      uint64_t h = mix(0xcbf29ce484222325ull, static_cast<uint64_t>(n.op));
      h = mix(h, std::hash<std::string>()(n.name));
      h = mix(h, static_cast<uint64_t>(n.type.kind));
      if (n.op == Op::Lit) {
        if (auto i = n.lit.getAsInteger()) h = mix(h, static_cast<uint64_t>(*i));
        else if (auto d = n.lit.getAsNumber()) h = mix(h, std::hash<double>()(*d));
        else if (auto s = n.lit.getAsString()) h = mix(h, std::hash<std::string>()(s->str()));
        else if (auto b = n.lit.getAsBoolean()) h = mix(h, *b ? 3 : 5);
      }
      if (n.op == Op::Output) h = mix(h, n.local ? 0x10000000u + n.instance.value : rep[n.instance.value]);
      if (n.op == Op::MapValues) h = mix(h, n.map.value);
      if (n.op == Op::Choose) h = mix(h, (n.local ? 0x20000000u : 0u) + n.gate.value);
      for (const auto& f : n.fields) h = mix(h, std::hash<std::string>()(f));
      for (ExprId a : n.args) h = mix(h, hash[a.value]);
      hash[e] = h;
      hashed[e] = true;
      stack.pop_back();
    }
    return hash[root.value];
  };
  // Structural equality under the representatives found so far.
  std::function<bool(ExprId, ExprId)> same = [&](ExprId x, ExprId y) -> bool {
    if (x == y) return true;
    const ExprNode& a = p.Get(x);
    const ExprNode& b = p.Get(y);
    if (a.op != b.op || a.name != b.name || !(a.type == b.type) || a.local != b.local || a.fields != b.fields ||
        a.args.size() != b.args.size())
      return false;
    if (a.op == Op::Lit && !(a.lit == b.lit)) return false;
    if (a.op == Op::Output &&
        (a.local ? a.instance.value != b.instance.value : rep[a.instance.value] != rep[b.instance.value]))
      return false;
    if (a.op == Op::MapValues && a.map.value != b.map.value) return false;
    if (a.op == Op::Choose && a.gate.value != b.gate.value) return false;
    for (size_t i = 0; i < a.args.size(); ++i)
      if (!same(a.args[i], b.args[i])) return false;
    return true;
  };
  auto same_call = [&](const plan::Instance& a, const plan::Instance& b) {
    if (a.stage != b.stage || !(a.guards == b.guards) || a.args.size() != b.args.size()) return false;
    for (size_t i = 0; i < a.args.size(); ++i)
      if (!same(a.args[i].value, b.args[i].value)) return false;
    return true;
  };
  // First instance per hash, then a chain through `next_same` for the
  // (rare) instances whose hashes are equal.
  llvm::DenseMap<uint64_t, int32_t> seen;
  seen.reserve(p.instances.size());
  std::vector<int32_t> next_same(p.instances.size(), -1);
  std::map<int32_t, std::vector<std::string>> merged;
  std::vector<bool> keep(p.instances.size(), true);
  for (size_t i = 0; i < p.instances.size(); ++i) {
    rep[i] = static_cast<int32_t>(i);
    const plan::Instance& inst = p.instances[i];
    if (!p.stages[inst.stage].cache) continue;  // may have effects each time
    uint64_t h = mix(0x84222325ull, static_cast<uint64_t>(inst.stage));
    for (const auto& g : inst.guards) h = mix(mix(h, g.gate.value), g.branch);
    for (const auto& a : inst.args) h = mix(h, hash_of(a.value));
    h &= ~(uint64_t{1} << 63);  // DenseMap reserves ~0 and ~0 - 1 as markers
    auto [it, inserted] = seen.try_emplace(h, static_cast<int32_t>(i));
    if (inserted) continue;
    int32_t found = -1, last = -1;
    for (int32_t cand = it->second; cand >= 0; last = cand, cand = next_same[cand])
      if (same_call(p.instances[cand], inst)) {
        found = cand;
        break;
      }
    if (found < 0) {
      next_same[last] = static_cast<int32_t>(i);
      continue;
    }
    rep[i] = found;
    keep[i] = false;
    merged[found].push_back(inst.name);
  }
  size_t removed = 0;
  for (const auto& [r, names] : merged) {
    removed += names.size();
    if (explain)
      explain->Add("common-calls", fmt::format("merged {} into {}: the same stage '{}' with the same inputs",
                                               NameList(names), p.instances[r].name, p.stages[p.instances[r].stage].name));
  }
  if (removed == 0) {
    if (explain) explain->Add("common-calls", "no two calls have the same stage and inputs: nothing merged");
    return 0;
  }
  KeepInstances(p, keep, rep);
  return removed;
}

// ---------------------------------------------------------- dependencies

void ComputeDependencies(plan::Plan& p) {
  // What a value waits for: the instances whose outputs it reads, and, for a
  // `choose`, what its gate's decision waits for; for `map_values`, what the
  // map waits for. Gates and maps are resolved on demand and memoized
  // (a gate only reads earlier gates and maps; the verifier checks that).
  std::vector<std::optional<std::vector<InstanceId>>> gate_memo(p.gates.size()), map_memo(p.maps.size());
  std::function<const std::vector<InstanceId>&(int32_t)> gate_reads, map_reads;
  auto reads = [&](const std::vector<ExprId>& roots, std::vector<InstanceId>& out) {
    std::vector<ExprId> work = roots;
    llvm::DenseSet<int32_t> visited;
    while (!work.empty()) {
      ExprId id = work.back();
      work.pop_back();
      if (!visited.insert(id.value).second) continue;  // shared subexpression: once
      const ExprNode& n = p.Get(id);
      if (n.op == Op::Output && !n.local) out.push_back(n.instance);
      if (n.op == Op::Choose && !n.local) {
        const auto& g = gate_reads(n.gate.value);
        out.insert(out.end(), g.begin(), g.end());
      }
      if (n.op == Op::MapValues) {  // the map's own reads; its template's locals are not ours
        const auto& m = map_reads(n.map.value);
        out.insert(out.end(), m.begin(), m.end());
        continue;
      }
      for (ExprId x : n.args) work.push_back(x);
    }
  };
  gate_reads = [&](int32_t g) -> const std::vector<InstanceId>& {
    if (!gate_memo[g]) {
      gate_memo[g].emplace();
      std::vector<InstanceId> out;
      reads(p.gates[g].conds, out);
      for (const auto& guard : p.gates[g].guards) {
        const auto& outer = gate_reads(guard.gate.value);
        out.insert(out.end(), outer.begin(), outer.end());
      }
      *gate_memo[g] = std::move(out);
    }
    return *gate_memo[g];
  };
  map_reads = [&](int32_t m) -> const std::vector<InstanceId>& {
    if (!map_memo[m]) {
      map_memo[m].emplace();
      const plan::Map& map = p.maps[m];
      std::vector<InstanceId> out;
      std::vector<ExprId> roots{map.over};
      for (const auto& g : map.gates) roots.insert(roots.end(), g.conds.begin(), g.conds.end());
      for (const auto& inst : map.instances)
        for (const auto& a : inst.args) roots.push_back(a.value);
      reads(roots, out);
      for (const auto& guard : map.guards) {
        const auto& outer = gate_reads(guard.gate.value);
        out.insert(out.end(), outer.begin(), outer.end());
      }
      *map_memo[m] = std::move(out);
    }
    return *map_memo[m];
  };
  // Within a template: the template instances a value reads, through its
  // local gates (deps of template instances index the template).
  for (auto& map : p.maps) {
    std::vector<std::set<int32_t>> gate_local(map.gates.size());
    std::function<void(const std::vector<ExprId>&, std::set<int32_t>&)> local_reads =
        [&](const std::vector<ExprId>& roots, std::set<int32_t>& out) {
          std::vector<ExprId> work = roots;
          llvm::DenseSet<int32_t> visited;
          while (!work.empty()) {
            ExprId id = work.back();
            work.pop_back();
            if (!visited.insert(id.value).second) continue;
            const ExprNode& n = p.Get(id);
            if (n.op == Op::Output && n.local) out.insert(n.instance.value);
            if (n.op == Op::Choose && n.local && n.gate.value >= 0 &&
                static_cast<size_t>(n.gate.value) < gate_local.size())
              out.insert(gate_local[n.gate.value].begin(), gate_local[n.gate.value].end());
            if (n.op == Op::MapValues) continue;  // another map's template
            for (ExprId x : n.args) work.push_back(x);
          }
        };
    for (size_t g = 0; g < map.gates.size(); ++g) {  // gates only use earlier gates
      local_reads(map.gates[g].conds, gate_local[g]);
      for (const auto& guard : map.gates[g].guards)
        if (guard.gate.value < static_cast<int32_t>(g))
          gate_local[g].insert(gate_local[guard.gate.value].begin(), gate_local[guard.gate.value].end());
    }
    for (auto& inst : map.instances) {
      std::vector<ExprId> roots;
      for (const auto& a : inst.args) roots.push_back(a.value);
      std::set<int32_t> local;
      local_reads(roots, local);
      for (const auto& g : inst.guards) local.insert(gate_local[g.gate.value].begin(), gate_local[g.gate.value].end());
      inst.deps.clear();
      for (int32_t l : local) inst.deps.push_back({l});
    }
  }
  for (auto& inst : p.instances) {
    std::vector<InstanceId> deps;
    std::vector<ExprId> roots;
    for (const auto& a : inst.args) roots.push_back(a.value);
    reads(roots, deps);
    for (const auto& g : inst.guards) {
      const auto& outer = gate_reads(g.gate.value);
      deps.insert(deps.end(), outer.begin(), outer.end());
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    inst.deps = std::move(deps);
  }
}

namespace {
// Removes the deps of each instance that another of its deps already reaches.
// Deps point to lower indices (lowering creates instances in order), so the
// search for ancestors can stop below the lowest dep.
size_t ReducePool(std::vector<plan::Instance>& pool, size_t* before_out) {
  size_t n = pool.size();
  std::vector<uint32_t> stamp(n, 0);
  uint32_t round = 0;
  size_t before = 0, removed = 0;
  std::vector<int32_t> work;
  for (size_t v = 0; v < n; ++v) {
    auto& deps = pool[v].deps;
    before += deps.size();
    if (deps.size() < 2) continue;
    ++round;
    int32_t lowest = deps.front().value;
    for (InstanceId d : deps) lowest = std::min(lowest, d.value);
    work.clear();
    for (InstanceId d : deps)
      for (InstanceId a : pool[d.value].deps)
        if (a.value >= lowest && stamp[a.value] != round) {
          stamp[a.value] = round;
          work.push_back(a.value);
        }
    while (!work.empty()) {
      int32_t u = work.back();
      work.pop_back();
      for (InstanceId a : pool[u].deps)
        if (a.value >= lowest && stamp[a.value] != round) {
          stamp[a.value] = round;
          work.push_back(a.value);
        }
    }
    size_t old = deps.size();
    deps.erase(std::remove_if(deps.begin(), deps.end(), [&](InstanceId d) { return stamp[d.value] == round; }),
               deps.end());
    removed += old - deps.size();
  }
  *before_out += before;
  return removed;
}
}  // namespace

size_t ReduceDependencies(plan::Plan& p, Explain* explain) {
  size_t before = 0;
  size_t removed = ReducePool(p.instances, &before);
  for (auto& m : p.maps) removed += ReducePool(m.instances, &before);
  if (explain) {
    if (removed)
      explain->Add("transitive-reduction", fmt::format("removed {} of {} dependency edge{}: each is implied by a longer path",
                                                       removed, before, before == 1 ? "" : "s"));
    else
      explain->Add("transitive-reduction",
                   before == 1 ? "the one dependency edge is needed"
                               : fmt::format("all {} dependency edges are needed: none is implied by a longer path", before));
  }
  return removed;
}

// ------------------------------------------------------------ priorities

void AssignPriorities(plan::Plan& p, const History* history, int64_t default_estimate_ms, Explain* explain) {
  int declared = 0, measured = 0, defaulted = 0;
  auto estimate = [&](plan::Instance& inst) {
    const plan::Stage& s = p.stages[inst.stage];
    // SPEC: `estimate` is "for priorities until measured": a measurement wins.
    auto own = history ? history->instance_median_ms.find(s.name + "\t" + inst.name)
                       : std::map<std::string, double>::const_iterator();
    if (history && own != history->instance_median_ms.end()) {
      inst.estimate_ms = static_cast<int64_t>(own->second);
      inst.estimate_source = plan::EstimateSource::History;
      ++measured;
    } else if (history && history->median_ms.count(s.name)) {
      inst.estimate_ms = static_cast<int64_t>(history->median_ms.at(s.name));
      inst.estimate_source = plan::EstimateSource::History;
      ++measured;
    } else if (s.estimate_ms) {
      inst.estimate_ms = *s.estimate_ms;
      inst.estimate_source = plan::EstimateSource::Declared;
      ++declared;
    } else {
      inst.estimate_ms = default_estimate_ms;
      inst.estimate_source = plan::EstimateSource::Default;
      ++defaulted;
    }
  };
  for (auto& inst : p.instances) estimate(inst);
  for (auto& m : p.maps)
    for (auto& inst : m.instances) estimate(inst);
  // Each map template's own longest path (its copies run side by side).
  std::vector<double> template_path(p.maps.size(), 0);
  for (size_t k = 0; k < p.maps.size(); ++k) {
    plan::Map& m = p.maps[k];
    std::vector<double> lm(m.instances.size(), 0);
    for (size_t j = m.instances.size(); j-- > 0;) {  // deps point backwards
      lm[j] += m.instances[j].estimate_ms / 1000.0;
      m.instances[j].priority_s = lm[j];
      template_path[k] = std::max(template_path[k], lm[j]);
      for (InstanceId d : m.instances[j].deps) lm[d.value] = std::max(lm[d.value], lm[j]);
    }
  }
  // Longest path to the end over instances and maps (a map stands for its
  // template's longest path, between what it reads and who reads its
  // values), in reverse topological order (Boost.Graph).
  size_t n = p.instances.size();
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  Graph g(n + p.maps.size());
  std::vector<double> own(n + p.maps.size(), 0);
  for (size_t v = 0; v < n; ++v) {
    own[v] = p.instances[v].estimate_ms / 1000.0;
    for (InstanceId d : p.instances[v].deps) boost::add_edge(d.value, v, g);
  }
  for (size_t k = 0; k < p.maps.size(); ++k) {
    own[n + k] = template_path[k];
    std::vector<InstanceId> producers;
    plan::CollectOutputRefs(p, p.maps[k].over, producers);
    for (const auto& inst : p.maps[k].instances)
      for (const auto& a : inst.args) plan::CollectOutputRefs(p, a.value, producers);
    for (const auto& g : p.maps[k].gates)
      for (ExprId c : g.conds) plan::CollectOutputRefs(p, c, producers);
    for (InstanceId pr : producers) boost::add_edge(pr.value, n + k, g);
  }
  for (size_t v = 0; v < n; ++v) {  // readers of map values
    std::vector<ExprId> work;
    llvm::DenseSet<int32_t> visited;
    for (const auto& a : p.instances[v].args) work.push_back(a.value);
    std::set<int32_t> maps;
    while (!work.empty()) {
      ExprId visit_id = work.back();
      work.pop_back();
      if (!visited.insert(visit_id.value).second) continue;  // shared subexpression: once
      const ExprNode& x = p.Get(visit_id);
      if (x.op == Op::MapValues) maps.insert(x.map.value);
      for (ExprId a : x.args) work.push_back(a);
    }
    for (int32_t k : maps) boost::add_edge(n + k, v, g);
  }
  std::vector<Graph::vertex_descriptor> order;  // reverse topological order
  try {
    boost::topological_sort(g, std::back_inserter(order));
  } catch (const boost::not_a_dag&) {
    if (explain) explain->Add("priorities", "the dependency graph has a cycle: priorities not assigned");
    return;
  }
  std::vector<double> longest(n + p.maps.size(), 0);
  std::vector<int32_t> next(n + p.maps.size(), -1);
  for (auto v : order) {  // successors come first in this order
    double best = 0;
    auto [e, end] = boost::out_edges(v, g);
    for (; e != end; ++e) {
      auto s = boost::target(*e, g);
      if (longest[s] > best) best = longest[s], next[v] = static_cast<int32_t>(s);
    }
    longest[v] = own[v] + best;
    if (v < n) p.instances[v].priority_s = longest[v];
  }
  // Inside a template, what follows the map counts too.
  for (size_t k = 0; k < p.maps.size(); ++k)
    for (auto& inst : p.maps[k].instances) inst.priority_s += longest[n + k] - own[n + k];
  if (!explain) return;
  int32_t start = -1;
  for (size_t v = 0; v < longest.size(); ++v)
    if (start < 0 || longest[v] > longest[start]) start = static_cast<int32_t>(v);
  std::vector<std::string> path;
  for (int32_t v = start; v >= 0; v = next[v])
    path.push_back(static_cast<size_t>(v) < n ? p.instances[v].name
                                               : p.maps[v - n].name + " (each element)");
  std::string chain;
  for (size_t i = 0; i < path.size() && i < 12; ++i) chain += (i ? " -> " : "") + path[i];
  if (path.size() > 12) chain += fmt::format(" -> ... ({} more)", path.size() - 12);
  if (start >= 0)
    explain->Add("priorities", fmt::format("critical path, {} estimated: {}", Millis(static_cast<int64_t>(longest[start] * 1000)), chain));
  explain->Add("priorities",
               fmt::format("estimates: {} declared with 'estimate', {} from the median of earlier runs, {} default ({} each); "
                           "each instance's priority is the longest path from it to the end",
                           declared, measured, defaulted, Millis(default_estimate_ms)));
}

// ------------------------------------------------------------------ driver

plan::Plan Optimize(plan::Plan p, const OptimizeOptions& options, Explain* explain) {
  auto timed = [&](const char* name, auto&& pass) {
    auto start = std::chrono::steady_clock::now();
    pass();
    if (explain)
      explain->seconds.push_back({name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
  };
  size_t merged = 0;
  if (options.dead_branches) timed("dead-branches", [&] { EliminateDeadBranches(p, explain); });
  if (options.common_calls) timed("common-calls", [&] { merged = EliminateCommonCalls(p, explain); });
  timed("dependencies", [&] { ComputeDependencies(p); });
  if (options.reduce_edges) timed("transitive-reduction", [&] { ReduceDependencies(p, explain); });
  timed("priorities", [&] { AssignPriorities(p, options.history, options.default_estimate_ms, explain); });
  // Merged calls leave their argument expressions behind; lowering and the
  // dead-branch pass leave the pool compact themselves.
  if (merged) timed("compaction", [&] { CompactExpressions(p); });
  return p;
}

}  // namespace flow::opt
