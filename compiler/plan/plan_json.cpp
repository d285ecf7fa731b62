// SPDX-License-Identifier: Apache-2.0
// The plan's JSON form (docs/plan-format.md): writing. Reading is in
// plan_read.cpp.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "fmt/format.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "plan/json_parse.h"
#include "plan/json_text.h"
#include "plan/plan.h"

namespace flow::plan {

namespace json = llvm::json;

// ----------------------------------------------------------------- writing

// Streams the plan with llvm::json::OStream: no JSON tree in memory, so a
// plan of 300,000 instances is written in well under a second. Keys come in
// a fixed order, and everything that reading normalizes (record fields,
// resources) is written sorted, so write(read(write(p))) gives the same bytes.
namespace {

class Writer {
 public:
  Writer(const Plan& plan, llvm::raw_ostream& os, bool pretty) : plan_(plan), j_(os, pretty ? 1 : 0) {}

  void Write() {
    FindShared();
    j_.object([&] {
      j_.attribute("format", kPlanFormat);
      j_.attribute("version", kPlanVersion);
      j_.attribute("source", plan_.source);
      j_.attribute("entry", plan_.entry);
      j_.attributeArray("params", [&] {
        for (const auto& p : plan_.params)
          j_.object([&] {
            j_.attribute("name", p.name);
            j_.attribute("type", p.type.Spell());
            j_.attribute("value", p.value);
            j_.attribute("required", p.required);
            j_.attribute("structural", p.structural);
          });
      });
      j_.attributeArray("records", [&] {
        for (const auto& r : plan_.records)
          j_.object([&] {
            j_.attribute("name", r.name);
            j_.attributeArray("fields", [&] { Fields(r.fields); });
          });
      });
      // Subexpressions used in more than one place, written once (an `if` in
      // a loop can make a value's tree exponentially larger than its DAG).
      if (!shared_order_.empty())
        j_.attributeArray("shared", [&] {
          for (size_t k = 0; k < shared_order_.size(); ++k) {
            writing_shared_ = shared_order_[k];
            Expr(ExprId{shared_order_[k]});
            shared_id_[shared_order_[k]] = static_cast<int32_t>(k);  // later uses refer to it
          }
          writing_shared_ = -1;
        });
      j_.attributeArray("stages", [&] {
        for (const auto& s : plan_.stages) Stage(s);
      });
      j_.attributeArray("instances", [&] {
        for (size_t i = 0; i < plan_.instances.size(); ++i) Instance(plan_.instances[i], i);
      });
      j_.attributeArray("gates", [&] { Gates(plan_.gates); });
      j_.attributeArray("maps", [&] {
        for (size_t i = 0; i < plan_.maps.size(); ++i) {
          const Map& m = plan_.maps[i];
          j_.object([&] {
            j_.attribute("id", static_cast<int64_t>(i));
            j_.attribute("name", m.name);
            j_.attributeBegin("over");
            Expr(m.over);
            j_.attributeEnd();
            j_.attribute("var", m.var);
            j_.attributeArray("instances", [&] {
              for (size_t k = 0; k < m.instances.size(); ++k) Instance(m.instances[k], k);
            });
            j_.attributeArray("gates", [&] { Gates(m.gates); });
            Guards(m.guards);
            Loc(m.loc);
          });
        }
      });
      j_.attributeArray("edges", [&] { Edges(); });
    });
  }

 private:
  void Loc(const SourceLoc& loc) {
    j_.attributeObject("loc", [&] {
      if (!loc.file.empty()) j_.attribute("file", loc.file);
      j_.attribute("line", loc.line);
      j_.attribute("col", loc.col);
    });
  }

  void Fields(const std::vector<Field>& fields) {
    for (const auto& f : fields)
      j_.object([&] {
        j_.attribute("name", f.name);
        j_.attribute("type", f.type.Spell());
      });
  }

  void Guards(const std::vector<Guard>& guards) {
    j_.attributeArray("guards", [&] {
      for (const auto& g : guards)
        j_.object([&] {
          j_.attribute("gate", g.gate.value);
          j_.attribute("branch", g.branch);
        });
    });
  }

  // Marks the nodes that more than one parent (or root) uses and that have
  // arguments (leaves are small enough to repeat), in an order where each
  // comes after the shared nodes it uses.
  void FindShared() {
    std::vector<uint32_t> refs(plan_.exprs.size(), 0);
    std::vector<bool> seen(plan_.exprs.size(), false);
    std::vector<ExprId> roots;
    for (const auto& s : plan_.stages) {
      for (const auto& part : s.command)
        if (part.expr.valid()) roots.push_back(part.expr);
      for (const auto& e : s.env)
        for (const auto& part : e.value)
          if (part.expr.valid()) roots.push_back(part.expr);
    }
    for (const auto& i : plan_.instances)
      for (const auto& a : i.args) roots.push_back(a.value);
    for (const auto& g : plan_.gates) roots.insert(roots.end(), g.conds.begin(), g.conds.end());
    for (const auto& m : plan_.maps) {
      roots.push_back(m.over);
      for (const auto& i : m.instances)
        for (const auto& a : i.args) roots.push_back(a.value);
      for (const auto& g : m.gates) roots.insert(roots.end(), g.conds.begin(), g.conds.end());
    }
    // Post-order over the DAG: children before parents.
    std::vector<int32_t> post;
    std::vector<std::pair<int32_t, size_t>> stack;
    for (ExprId r : roots) {
      ++refs[r.value];
      stack.clear();
      if (!seen[r.value]) {
        seen[r.value] = true;
        stack.push_back({r.value, 0});
      }
      while (!stack.empty()) {
        auto& [id, next] = stack.back();
        const ExprNode& n = plan_.exprs[id];
        if (next < n.args.size()) {
          int32_t c = n.args[next++].value;
          ++refs[c];
          if (!seen[c]) {
            seen[c] = true;
            stack.push_back({c, 0});
          }
          continue;
        }
        post.push_back(id);
        stack.pop_back();
      }
    }
    for (int32_t id : post)
      if (refs[id] > 1 && !plan_.exprs[id].args.empty()) shared_order_.push_back(id);
    for (int32_t id : shared_order_) shared_id_[id] = -1;  // known, not yet written
  }

  // A shared node already written: its reference.
  bool WriteSharedRef(ExprId id) {
    auto it = shared_id_.find(id.value);
    if (it == shared_id_.end() || it->second < 0 || id.value == writing_shared_) return false;
    j_.object([&] {
      j_.attribute("op", "shared");
      j_.attribute("id", it->second);
    });
    return true;
  }

  // Expressions nest as deep as the source; an explicit stack keeps deep
  // ones from exhausting the C++ stack.
  void Expr(ExprId root) {
    struct Frame {
      ExprId id;
      size_t next;                         // next argument to write
      llvm::SmallVector<uint32_t, 0> order;  // records only: arguments by field name
    };
    llvm::SmallVector<Frame, 8> stack;
    // Returns false when it wrote a reference to a shared node instead.
    auto open = [&](ExprId id) -> bool {
      if (WriteSharedRef(id)) return false;
      const ExprNode& n = plan_.Get(id);
      j_.objectBegin();
      j_.attribute("op", Spelling(n.op));
      j_.attribute("type", n.type.Spell());
      switch (n.op) {
        case Op::Lit: j_.attribute("value", n.lit); break;
        case Op::Param:
        case Op::Var:
        case Op::Input:
        case Op::OutPath:
        case Op::Member:
        case Op::Builtin: j_.attribute("name", n.name); break;
        case Op::Output:
          j_.attribute("name", n.name);
          j_.attribute("instance", n.instance.value);
          if (n.local) j_.attribute("local", true);
          break;
        case Op::MapValues: j_.attribute("map", n.map.value); break;
        case Op::Choose:
          j_.attribute("gate", n.gate.value);
          if (n.local) j_.attribute("local", true);
          break;
        default: break;
      }
      Frame f{id, 0, {}};
      if (n.op == Op::Record) {
        for (size_t i = 0; i < n.args.size(); ++i) f.order.push_back(static_cast<uint32_t>(i));
        std::sort(f.order.begin(), f.order.end(), [&](size_t a, size_t b) { return n.fields[a] < n.fields[b]; });
        j_.attributeBegin("fields");
        j_.objectBegin();
      } else if (!n.args.empty()) {
        j_.attributeBegin("args");
        j_.arrayBegin();
      }
      stack.push_back(std::move(f));
      return true;
    };
    if (!open(root)) return;
    while (!stack.empty()) {
      Frame& f = stack.back();
      const ExprNode& n = plan_.Get(f.id);
      if (f.next < n.args.size()) {
        size_t i = n.op == Op::Record ? f.order[f.next] : f.next;
        ++f.next;
        if (n.op == Op::Record) j_.attributeBegin(n.fields[i]);
        if (!open(n.args[i]) && n.op == Op::Record) j_.attributeEnd();
        continue;
      }
      if (n.op == Op::Record) {
        j_.objectEnd();
        j_.attributeEnd();
      } else if (!n.args.empty()) {
        j_.arrayEnd();
        j_.attributeEnd();
      }
      j_.objectEnd();
      stack.pop_back();
      if (!stack.empty() && plan_.Get(stack.back().id).op == Op::Record) j_.attributeEnd();
    }
  }

  void Parts(const char* key, const std::vector<TemplatePart>& parts) {
    j_.attributeArray(key, [&] {
      for (const auto& p : parts)
        j_.object([&] {
          if (p.expr.valid()) {
            j_.attributeBegin("expr");
            Expr(p.expr);
            j_.attributeEnd();
          } else {
            j_.attribute("text", p.text);
          }
        });
    });
  }

  void Stage(const plan::Stage& s) {
    j_.object([&] {
      j_.attribute("name", s.name);
      j_.attributeArray("inputs", [&] { Fields(s.inputs); });
      j_.attributeArray("outputs", [&] { Fields(s.outputs); });
      Parts("command", s.command);
      j_.attributeArray("env", [&] {
        for (const auto& e : s.env)
          j_.object([&] {
            j_.attribute("name", e.name);
            Parts("value", e.value);
          });
      });
      std::vector<Resource> resources = s.resources;
      std::sort(resources.begin(), resources.end(), [](const Resource& a, const Resource& b) { return a.name < b.name; });
      j_.attributeObject("resources", [&] {
        for (const auto& r : resources) j_.attribute(r.name, r.amount);
      });
      j_.attribute("retry", s.retry);
      j_.attribute("timeout_ms", s.timeout_ms ? json::Value(*s.timeout_ms) : json::Value(nullptr));
      j_.attribute("estimate_ms", s.estimate_ms ? json::Value(*s.estimate_ms) : json::Value(nullptr));
      j_.attribute("cache", s.cache);
      Loc(s.loc);
    });
  }

  void Instance(const plan::Instance& inst, size_t index) {
    j_.object([&] {
      j_.attribute("id", static_cast<int64_t>(index));
      j_.attribute("name", inst.name);
      j_.attribute("stage", plan_.stages[inst.stage].name);
      j_.attributeObject("args", [&] {
        for (const auto& a : inst.args) {
          j_.attributeBegin(a.input);
          Expr(a.value);
          j_.attributeEnd();
        }
      });
      Guards(inst.guards);
      j_.attributeArray("deps", [&] {
        for (InstanceId d : inst.deps) j_.value(d.value);
      });
      j_.attribute("estimate_ms", inst.estimate_ms);
      j_.attribute("estimate_source", Spelling(inst.estimate_source));
      Seconds("priority_s", inst.priority_s);
      Loc(inst.loc);
    });
  }

  // Priorities are sums of whole milliseconds; llvm::json formats every
  // double with snprintf("%.17g"), which is most of the cost of writing a
  // large plan. A whole number is written as the integer it is: the same
  // bytes that "%.17g" gives for it.
  void Seconds(llvm::StringRef key, double v) {
    if (!std::signbit(v) && v == std::floor(v) && v < 1e15)
      j_.attribute(key, static_cast<int64_t>(v));
    else
      j_.attribute(key, v);
  }

  void Gates(const std::vector<Gate>& gates) {
    for (size_t i = 0; i < gates.size(); ++i) {
      const Gate& g = gates[i];
      j_.object([&] {
        j_.attribute("id", static_cast<int64_t>(i));
        j_.attribute("name", g.name);
        j_.attributeArray("conds", [&] {
          for (ExprId c : g.conds) Expr(c);
        });
        j_.attribute("else", g.has_else);
        Guards(g.guards);
        Loc(g.loc);
      });
    }
  }

  // Data edges between top-level instances, labelled with the outputs read,
  // for readers that want the graph without walking expressions.
  void Edges() {
    std::vector<ExprId> work;
    llvm::DenseSet<int32_t> visited;
    std::vector<std::pair<int32_t, llvm::StringRef>> from;  // (instance, output), sorted below
    for (size_t to = 0; to < plan_.instances.size(); ++to) {
      from.clear();
      work.clear();
      visited.clear();
      for (const auto& a : plan_.instances[to].args) work.push_back(a.value);
      while (!work.empty()) {
        ExprId e = work.back();
        work.pop_back();
        if (!visited.insert(e.value).second) continue;  // shared subexpression: once
        const ExprNode& n = plan_.Get(e);
        if (n.op == Op::Output && !n.local) from.emplace_back(n.instance.value, n.name);
        if (n.op == Op::MapValues) continue;  // inside a template: not top-level edges
        for (ExprId a : n.args) work.push_back(a);
      }
      std::sort(from.begin(), from.end());
      from.erase(std::unique(from.begin(), from.end()), from.end());
      for (size_t k = 0; k < from.size();) {
        size_t end = k;
        while (end < from.size() && from[end].first == from[k].first) ++end;
        j_.object([&] {
          j_.attribute("from", from[k].first);
          j_.attribute("to", static_cast<int64_t>(to));
          j_.attributeArray("outputs", [&] {
            for (size_t o = k; o < end; ++o) j_.value(from[o].second);
          });
        });
        k = end;
      }
    }
  }

  const Plan& plan_;
  json::OStream j_;
  std::vector<int32_t> shared_order_;
  std::unordered_map<int32_t, int32_t> shared_id_;  // node -> index in "shared" (-1: not yet written)
  int32_t writing_shared_ = -1;
};

}  // namespace

void WriteJson(const Plan& plan, llvm::raw_ostream& os, bool pretty) {
  Writer(plan, os, pretty).Write();
  os << "\n";
}

std::string Serialize(const Plan& plan, bool pretty) {
  std::string out;
  {
    StringAppender os(out);
    WriteJson(plan, os, pretty);
  }
  return out;
}

json::Value ToJson(const Plan& plan) {
  llvm::Expected<json::Value> v = ParseJson(Serialize(plan, false), kMaxJsonDepth);
  if (!v) {
    llvm::consumeError(v.takeError());
    return nullptr;
  }
  return std::move(*v);
}

}  // namespace flow::plan
