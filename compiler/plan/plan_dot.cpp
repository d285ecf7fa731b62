// SPDX-License-Identifier: Apache-2.0
// The plan as Graphviz DOT (`flowc FILE --emit dot`).
#include <map>
#include <set>

#include "fmt/format.h"
#include "llvm/ADT/DenseSet.h"
#include "plan/plan.h"

namespace flow::plan {

namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Outputs of instances read by `expr`, grouped by producing instance.
std::map<int32_t, std::set<std::string>> Reads(const Plan& plan, ExprId expr, bool local) {
  std::map<int32_t, std::set<std::string>> out;
  std::vector<ExprId> work{expr};
  llvm::DenseSet<int32_t> visited;
  while (!work.empty()) {
    ExprId e = work.back();
    work.pop_back();
    if (!visited.insert(e.value).second) continue;  // shared subexpression: once
    const ExprNode& n = plan.Get(e);
    if (n.op == Op::Output && n.local == local) out[n.instance.value].insert(n.name);
    for (ExprId a : n.args) work.push_back(a);
  }
  return out;
}

std::string Join(const std::set<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::string ToDot(const Plan& plan) {
  std::string out = "digraph plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  for (size_t i = 0; i < plan.instances.size(); ++i) {
    const Instance& inst = plan.instances[i];
    out += fmt::format("  i{} [label={}];\n", i, Quote(inst.name + "\n" + plan.stages[inst.stage].name));
  }
  for (size_t g = 0; g < plan.gates.size(); ++g)
    out += fmt::format("  g{} [shape=diamond, label={}];\n", g, Quote(plan.gates[g].name));
  auto guard_edges = [&](const std::vector<Guard>& guards, const std::string& node) {
    for (const Guard& g : guards) {
      const Gate& gate = plan.gates[g.gate.value];
      bool is_else = gate.has_else && g.branch == static_cast<int32_t>(gate.conds.size());
      std::string label = is_else ? "else" : (gate.conds.size() == 1 ? "true" : fmt::format("branch {}", g.branch));
      out += fmt::format("  g{} -> {} [style=dashed, label={}];\n", g.gate.value, node, Quote(label));
    }
  };
  for (size_t i = 0; i < plan.instances.size(); ++i) {
    const Instance& inst = plan.instances[i];
    std::map<int32_t, std::set<std::string>> from;
    for (const auto& a : inst.args)
      for (auto& [src, names] : Reads(plan, a.value, false)) from[src].insert(names.begin(), names.end());
    for (const auto& [src, names] : from) out += fmt::format("  i{} -> i{} [label={}];\n", src, i, Quote(Join(names)));
    for (InstanceId d : inst.deps)
      if (!from.count(d.value)) out += fmt::format("  i{} -> i{} [style=dotted];\n", d.value, i);
    guard_edges(inst.guards, fmt::format("i{}", i));
  }
  for (size_t g = 0; g < plan.gates.size(); ++g) {
    std::map<int32_t, std::set<std::string>> from;
    for (ExprId c : plan.gates[g].conds)
      for (auto& [src, names] : Reads(plan, c, false)) from[src].insert(names.begin(), names.end());
    for (const auto& [src, names] : from) out += fmt::format("  i{} -> g{} [label={}];\n", src, g, Quote(Join(names)));
    guard_edges(plan.gates[g].guards, fmt::format("g{}", g));
  }
  for (size_t m = 0; m < plan.maps.size(); ++m) {
    const Map& map = plan.maps[m];
    out += fmt::format("  subgraph cluster_m{} {{\n    label={};\n    style=dashed;\n", m,
                       Quote(map.name + ": for " + map.var + " in ..."));
    for (size_t j = 0; j < map.instances.size(); ++j)
      out += fmt::format("    m{}_{} [label={}];\n", m, j,
                         Quote(map.instances[j].name + "\n" + plan.stages[map.instances[j].stage].name));
    for (size_t g = 0; g < map.gates.size(); ++g)
      out += fmt::format("    m{}_g{} [shape=diamond, label={}];\n", m, g, Quote(map.gates[g].name));
    out += "  }\n";
    for (size_t j = 0; j < map.instances.size(); ++j)
      for (const Guard& g : map.instances[j].guards)
        out += fmt::format("  m{}_g{} -> m{}_{} [style=dashed];\n", m, g.gate.value, m, j);
    for (auto& [src, names] : Reads(plan, map.over, false))
      out += fmt::format("  i{} -> m{}_0 [label={}, lhead=cluster_m{}];\n", src, m, Quote(Join(names)), m);
    for (size_t j = 0; j < map.instances.size(); ++j) {
      std::map<int32_t, std::set<std::string>> local, outer;
      for (const auto& a : map.instances[j].args) {
        for (auto& [src, names] : Reads(plan, a.value, true)) local[src].insert(names.begin(), names.end());
        for (auto& [src, names] : Reads(plan, a.value, false)) outer[src].insert(names.begin(), names.end());
      }
      for (const auto& [src, names] : local)
        out += fmt::format("  m{}_{} -> m{}_{} [label={}];\n", m, src, m, j, Quote(Join(names)));
      for (const auto& [src, names] : outer)
        out += fmt::format("  i{} -> m{}_{} [label={}];\n", src, m, j, Quote(Join(names)));
    }
  }
  // Instances reading a map's results: an edge from each template instance
  // whose outputs the per-element expression reads.
  for (size_t i = 0; i < plan.instances.size(); ++i) {
    std::set<std::pair<int32_t, int32_t>> seen;
    std::vector<ExprId> work;
    llvm::DenseSet<int32_t> visited;
    for (const auto& a : plan.instances[i].args) work.push_back(a.value);
    while (!work.empty()) {
      ExprId visit_id = work.back();
      work.pop_back();
      if (!visited.insert(visit_id.value).second) continue;  // shared subexpression: once
      const ExprNode& n = plan.Get(visit_id);
      if (n.op == Op::MapValues)
        for (auto& [src, names] : Reads(plan, n.args[0], true))
          if (seen.insert({n.map.value, src}).second)
            out += fmt::format("  m{}_{} -> i{} [label={}];\n", n.map.value, src, i, Quote(Join(names) + " (all)"));
      for (ExprId a : n.args) work.push_back(a);
    }
  }
  out += "}\n";
  return out;
}

}  // namespace flow::plan
