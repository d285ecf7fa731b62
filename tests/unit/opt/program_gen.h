// SPDX-License-Identifier: Apache-2.0
// A generator of random but valid .flow programs, for the property tests of
// the back end (property_test.cpp). Deterministic for a seed: it uses only
// the raw output of std::mt19937_64 (the standard fixes that sequence), never
// a distribution (whose results differ between standard libraries).
//
// A program has params with defaults, 3 to 6 stages with file, int, float,
// string, bool and list inputs and outputs (some `cache false`, some with
// input defaults), up to two sub-pipelines with inputs and outputs, and a
// `main` built from: call bindings, bare calls, repeated identical calls,
// plain `let`s, static `for` loops (literal lists, params, range(), lists of
// call outputs) nested up to three deep, `if`/`else if`/`else` chains over
// params (compile time), over stage outputs (run time) and over both, names
// bound in every branch, names bound in some branches read with `??`, `var`s
// reassigned in branches, `while` loops with run-time and compile-time
// conditions and small bounds, sub-pipeline calls (once, twice, with
// identical arguments), `for` loops over stage outputs (map templates),
// record outputs read field by field, and builtins (len, sum, max, join,
// basename, range). The generator tracks what is in scope, its type and
// whether it is known at compile time, so every program it writes checks
// without errors; GenOptions keeps it away from known compiler bugs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace flow::testing::gen {

class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  int Below(int n) { return n <= 1 ? 0 : static_cast<int>(g_() % static_cast<uint64_t>(n)); }
  int Between(int lo, int hi) { return lo + Below(hi - lo + 1); }
  bool Chance(int percent) { return Below(100) < percent; }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(static_cast<int>(v.size()))];
  }

 private:
  std::mt19937_64 g_;
};

// kRec is the record `Metrics { acc: float, n: int }`, used as an output only.
enum Ty { kFile, kInt, kFloat, kString, kBool, kInts, kFiles, kStrings, kRec, kNumTy };
inline const char* TyName(Ty t) {
  static const char* names[] = {"file",      "int",        "float",        "string", "bool",
                                "list<int>", "list<file>", "list<string>", "Metrics"};
  return names[t];
}
inline const char* TyTag(Ty t) {
  static const char* tags[] = {"file", "int", "float", "str", "bool", "ints", "files", "strs", "rec"};
  return tags[t];
}
inline bool IsScalar(Ty t) { return t <= kBool; }
inline Ty ElemOf(Ty t) { return t == kInts ? kInt : t == kFiles ? kFile : kString; }
inline Ty ListOf(Ty t) { return t == kInt ? kInts : t == kFile ? kFiles : kStrings; }

struct GenOptions {
  /// Leave out the constructs that once hit compiler bugs (all fixed; each
  /// has a reproducer in property_test.cpp's PropertyRegressions, and
  /// PropertyBackend.WithoutGeneratorRestrictions runs the generator
  /// without this option):
  ///  - a map template reading another map's results (bogus template deps);
  ///  - conditions that depend on a gate through values no instance under
  ///    that gate produced: a map's results, `x ?? y` over a name bound in
  ///    some branches, a var reassigned in a branch, a let computed from
  ///    those, or a sub-pipeline input (whose argument may be any of those);
  ///    inside a map template, any such value at all, and any value made
  ///    outside the template (bogus deps, and priorities that leave the map
  ///    out);
  ///  - a `var` inside a map template that is inside a static `for` or a
  ///    `while`, and sub-pipelines with an if, a while or a var inside a map
  ///    template (lowering rejects the second lowering of the var; constant
  ///    arguments make the sub-pipeline's ifs compile-time ones, below);
  ///  - names bound in the branches of a compile-time `if` inside a map
  ///    template (lowering leaves them none);
  ///  - vars reassigned in the branches of an `if` inside a loop (the plan's
  ///    expressions grow exponentially with the iterations).
  bool avoid_known_bugs = true;
};

class ProgramGen {
 public:
  explicit ProgramGen(uint64_t seed, GenOptions options = {}) : rng_(seed), options_(options) {}

  /// One program, as .flow text.
  std::string Program() {
    Params();
    Stages();
    int subs = rng_.Below(3);
    for (int i = 0; i < subs; ++i) SubPipeline();
    Main();
    return out_;
  }

 private:
  struct Port {
    std::string name;
    Ty ty;
    std::string dflt;  // default value text, or empty
  };
  struct Callee {
    std::string name;
    bool pipeline = false;
    std::vector<Port> in, out;
    bool cache = true;
    bool has_control = false;  // a pipeline with an if, a while or a var (see GenOptions)
    int calls = 1;             // instances one call makes (estimate, for the size budget)
  };
  struct Val {
    std::string text;  // an expression usable here
    Ty ty;
    bool stat;               // known at compile time
    bool ref_list = false;   // a list of call outputs of known length (a static loop's results)
    bool from_call = false;  // a stage or pipeline output (or a list of them)
    bool from_map = false;   // the results of a map template
    bool arg_only = false;   // a required param: only ever passed to a stage
    bool via_gate = false;   // depends on a gate through a choose no instance under it made (GenOptions)
  };
  struct Bind {
    std::string name;
    int callee;
    bool in_map;  // declared inside a map template
  };
  struct Scope {
    std::vector<Val> vals;
    std::vector<Bind> vars;                          // vars bound to a call's outputs
    std::vector<Bind> lets;                          // names bound to a call's outputs here
    std::vector<std::pair<std::string, int>> calls;  // call texts made here (for repeats)
  };

  // ------------------------------------------------------------ output

  void Line(const std::string& s) { out_ += std::string(static_cast<size_t>(indent_) * 2, ' ') + s + "\n"; }
  std::string Fresh(const char* prefix) { return prefix + std::to_string(++counter_); }

  // ------------------------------------------------------------ params

  void Params() {
    Line("record Metrics { acc: float, n: int }");
    Line("");
    scopes_.emplace_back();
    auto param = [&](const std::string& name, Ty ty, const std::string& value) {
      Line("param " + name + ": " + TyName(ty) + (value.empty() ? "" : " = " + value));
      Val v{name, ty, !value.empty()};
      v.arg_only = value.empty();  // no value at compile time: nothing static may read it
      scopes_.back().vals.push_back(v);
    };
    p_n_ = rng_.Between(0, 3);
    p_m_ = rng_.Between(1, 3);
    param("p_n", kInt, std::to_string(p_n_));
    param("p_m", kInt, std::to_string(p_m_));
    param("p_rate", kFloat, rng_.Pick(std::vector<std::string>{"0.1", "0.5", "2.0"}));
    param("p_name", kString, rng_.Pick(std::vector<std::string>{"\"a\"", "\"b\"", "\"c\""}));
    param("p_flag", kBool, rng_.Chance(50) ? "true" : "false");
    param("p_src", kFile, "\"data/src" + std::to_string(rng_.Below(3)) + ".txt\"");
    p_ks_ = rng_.Between(1, 3);
    std::string ks;
    for (int i = 0; i < p_ks_; ++i) ks += (i ? ", " : "") + std::to_string(rng_.Between(0, 4));
    param("p_ks", kInts, "[" + ks + "]");
    p_tags_ = rng_.Between(1, 2);
    param("p_tags", kStrings, p_tags_ == 1 ? "[\"x\"]" : "[\"x\", \"y\"]");
    if (rng_.Chance(50)) param("p_k2", kInt, "p_n + " + std::to_string(rng_.Between(0, 2)));
    if (rng_.Chance(30)) param("p_req", kFile, "");  // required: given at run time
    Line("");
  }

  // ------------------------------------------------------------ stages

  std::string DefaultFor(Ty t) {
    switch (t) {
      case kFile:
        return "\"data/default.txt\"";
      case kInt:
        return std::to_string(rng_.Between(0, 3));
      case kFloat:
        return "0.5";
      case kString:
        return "\"d\"";
      case kBool:
        return rng_.Chance(50) ? "true" : "false";
      default:
        return "";
    }
  }

  Ty RandomTy(bool output) {
    // weights: file int float string bool ints files strings rec
    static const int in_w[] = {30, 20, 10, 14, 6, 10, 7, 3, 0};
    static const int out_w[] = {30, 22, 12, 8, 12, 8, 5, 3, 8};
    const int* w = output ? out_w : in_w;
    int total = 0;
    for (int i = 0; i < kNumTy; ++i) total += w[i];
    int r = rng_.Below(total);
    for (int i = 0; i < kNumTy; ++i) {
      if (r < w[i]) return static_cast<Ty>(i);
      r -= w[i];
    }
    return kFile;
  }

  void Stages() {
    std::vector<std::string> names = {"prep", "fit", "score", "merge", "tag", "check", "pack", "probe"};
    int count = rng_.Between(3, 6);
    for (int s = 0; s < count; ++s) {
      Callee c;
      c.name = names[static_cast<size_t>(s)];
      int ins = rng_.Between(1, 3);
      for (int i = 1; i <= ins; ++i) {
        Ty t = RandomTy(false);
        Port p{std::string(TyTag(t)) + "_in" + std::to_string(i), t, ""};
        if (IsScalar(t) && rng_.Chance(35)) p.dflt = DefaultFor(t);
        c.in.push_back(p);
      }
      std::vector<Ty> outs;
      if (s == 0)
        outs = {kFile, kInt};  // something for run-time conditions
      else if (s == 1)
        outs = {kBool, kFloat, kInts};
      else if (s == 2)
        outs = {kFile, kFiles};
      else if (!rng_.Chance(15))
        for (int i = rng_.Between(1, 3); i > 0; --i) outs.push_back(RandomTy(true));
      for (size_t i = 0; i < outs.size(); ++i)
        c.out.push_back({std::string(TyTag(outs[i])) + "_out" + std::to_string(i + 1), outs[i], ""});
      c.cache = !rng_.Chance(20);
      std::string head = "stage " + c.name + "(";
      for (size_t i = 0; i < c.in.size(); ++i)
        head += (i ? ", " : "") + c.in[i].name + ": " + TyName(c.in[i].ty) +
                (c.in[i].dflt.empty() ? "" : " = " + c.in[i].dflt);
      head += ")";
      if (!c.out.empty() || rng_.Chance(50)) {
        head += " -> (";
        for (size_t i = 0; i < c.out.size(); ++i) head += (i ? ", " : "") + c.out[i].name + ": " + TyName(c.out[i].ty);
        head += ")";
      }
      Line(head + " {");
      ++indent_;
      std::vector<std::string> items;
      std::string run = "run \"tool-" + c.name;
      for (const auto& p : c.in) run += " {" + p.name + "}";
      for (const auto& p : c.out) run += " {" + p.name + "}";
      items.push_back(run + "\"");
      if (!c.cache)
        items.push_back("cache false");
      else if (rng_.Chance(15))
        items.push_back("cache true");
      if (rng_.Chance(60))
        items.push_back("estimate " + rng_.Pick(std::vector<std::string>{"500ms", "30s", "2m", "1h"}));
      if (rng_.Chance(30))
        items.push_back("resources { cpus: " + std::to_string(rng_.Between(1, 4)) + ", memory: 1GB }");
      if (rng_.Chance(20)) items.push_back("retry 1");
      for (size_t i = items.size(); i > 1; --i)
        std::swap(items[i - 1], items[static_cast<size_t>(rng_.Below(static_cast<int>(i)))]);
      for (const auto& it : items) Line(it);
      --indent_;
      Line("}");
      Line("");
      callees_.push_back(std::move(c));
    }
    num_stages_ = callees_.size();
  }

  // ------------------------------------------------------- sub-pipelines

  void SubPipeline() {
    Callee c;
    c.pipeline = true;
    c.name = "sub" + std::to_string(callees_.size() - num_stages_ + 1);
    static const Ty in_types[] = {kFile, kInt, kString};
    static const Ty out_types[] = {kFile, kInt};
    int ins = rng_.Between(1, 2);
    for (int i = 1; i <= ins; ++i) {
      Ty t = in_types[rng_.Below(3)];
      Port p{std::string("a") + std::to_string(i) + "_" + TyTag(t), t, ""};
      if (t != kFile && rng_.Chance(40)) p.dflt = DefaultFor(t);
      c.in.push_back(p);
    }
    int outs = rng_.Between(1, 2);
    for (int i = 1; i <= outs; ++i) {
      Ty t = out_types[rng_.Below(2)];
      c.out.push_back({std::string("r") + std::to_string(i) + "_" + TyTag(t), t, ""});
    }
    std::string head = "pipeline " + c.name + "(";
    for (size_t i = 0; i < c.in.size(); ++i)
      head += (i ? ", " : "") + c.in[i].name + ": " + TyName(c.in[i].ty) +
              (c.in[i].dflt.empty() ? "" : " = " + c.in[i].dflt);
    head += ") -> (";
    for (size_t i = 0; i < c.out.size(); ++i) head += (i ? ", " : "") + c.out[i].name + ": " + TyName(c.out[i].ty);
    head += ") {";
    Line(head);
    ++indent_;
    // The body sees the params and its inputs (treated as run-time values:
    // a call site may pass stage outputs).
    Scope body;
    for (const auto& p : c.in) body.vals.push_back({p.name, p.ty, false});
    scopes_.push_back(std::move(body));
    in_sub_ = true;
    sub_has_control_ = false;
    sub_calls_ = 0;
    int budget = budget_;
    budget_ = 12;
    int n = rng_.Between(1, 4);
    for (int i = 0; i < n; ++i) Stmt();
    for (const auto& o : c.out) {
      // A stage output (see GenOptions), or anything of the type.
      std::vector<const Val*> outs;
      for (const auto& v : scopes_.back().vals)
        if (v.from_call && v.ty == o.ty) outs.push_back(&v);
      if (outs.empty()) {
        BindCall(StageWithOutput(o.ty), false);
        for (const auto& v : scopes_.back().vals)
          if (v.from_call && v.ty == o.ty) outs.push_back(&v);
      }
      bool any = !options_.avoid_known_bugs && rng_.Chance(25);
      Line("output " + o.name + " = " + (any ? Expr(o.ty) : rng_.Pick(outs)->text));
    }
    c.calls = std::max(1, sub_calls_);
    c.has_control = sub_has_control_;
    budget_ = budget;
    in_sub_ = false;
    scopes_.pop_back();
    --indent_;
    Line("}");
    Line("");
    callees_.push_back(std::move(c));
  }

  // ---------------------------------------------------------------- main

  void Main() {
    Line("pipeline main {");
    ++indent_;
    scopes_.emplace_back();
    budget_ = 160;
    int n = rng_.Between(4, 10);
    for (int i = 0; i < n; ++i) Stmt();
    scopes_.pop_back();
    --indent_;
    Line("}");
  }

  // ------------------------------------------------------- scope queries

  std::vector<const Val*> Vals(Ty ty, bool static_only, bool runtime_only = false, bool stage_arg = false) const {
    std::vector<const Val*> out;
    for (const auto& s : scopes_)
      for (const auto& v : s.vals) {
        bool fits = v.ty == ty || (ty == kFloat && v.ty == kInt);
        if (v.arg_only && !stage_arg) continue;
        if ((v.from_map || v.via_gate) && in_map_ && options_.avoid_known_bugs) continue;
        // A sub-pipeline may use its inputs in conditions.
        if ((v.from_map || v.via_gate) && pipeline_arg_ && options_.avoid_known_bugs) continue;
        if (fits && (!static_only || v.stat) && (!runtime_only || !v.stat)) out.push_back(&v);
      }
    return out;
  }
  /// Whether a var may be reassigned here (see GenOptions).
  bool BranchAssignOk() const { return !(options_.avoid_known_bugs && loop_depth_ > 0 && if_depth_ > 0); }
  std::vector<Bind> AssignableVars() const {
    std::vector<Bind> out;
    for (const auto& s : scopes_)
      for (const auto& v : s.vars)
        if (v.in_map == in_map_) out.push_back(v);
    return out;
  }
  std::vector<int> Callable() const {
    std::vector<int> out;
    for (size_t i = 0; i < callees_.size(); ++i) {
      const Callee& c = callees_[i];
      if (c.pipeline && in_map_ && c.has_control && options_.avoid_known_bugs) continue;
      out.push_back(static_cast<int>(i));
    }
    return out;
  }
  int StageWithOutput(Ty ty) {
    std::vector<int> with;
    for (size_t i = 0; i < num_stages_; ++i)
      for (const auto& o : callees_[i].out)
        if (o.ty == ty) with.push_back(static_cast<int>(i));
    return with.empty() ? -1 : rng_.Pick(with);
  }

  // --------------------------------------------------------- expressions

  std::string Literal(Ty ty) {
    switch (ty) {
      case kFile:
        return "\"data/f" + std::to_string(rng_.Below(3)) + ".txt\"";
      case kInt:
        return std::to_string(rng_.Between(-1, 4));
      case kFloat:
        return rng_.Pick(std::vector<std::string>{"0.25", "0.5", "1.5", "2"});
      case kString:
        return rng_.Pick(std::vector<std::string>{"\"a\"", "\"b\"", "\"c d\""});
      case kBool:
        return rng_.Chance(50) ? "true" : "false";
      case kInts:
        return rng_.Chance(50) ? "[1, 2]" : "[" + std::to_string(rng_.Below(4)) + "]";
      case kFiles:
        return "[\"data/f1.txt\", \"data/f2.txt\"]";
      case kStrings:
        return rng_.Chance(50) ? "[\"a\", \"b\"]" : "[\"c\"]";
      default:
        return "none";
    }
  }

  /// Notes the taint of a value an expression reads (see Val).
  void Use(const Val& v) {
    used_via_gate_ = used_via_gate_ || v.via_gate;
    used_from_map_ = used_from_map_ || v.from_map;
  }
  /// A var reassigned in a branch: reading it waits for that branch's gate
  /// through values no instance under the gate made (see GenOptions).
  void TaintVar(const std::string& name) {
    for (auto& sc : scopes_)
      for (auto& v : sc.vals)
        if (v.text.rfind(name + ".", 0) == 0) v.via_gate = true;
  }

  /// An expression assignable to `ty`. `stat`: known at compile time.
  std::string Expr(Ty ty, bool static_only = false, int depth = 0, bool* stat = nullptr, bool stage_arg = false) {
    bool dummy;
    if (!stat) stat = &dummy;
    *stat = true;
    std::vector<const Val*> vals = Vals(ty, static_only, false, stage_arg);
    int form = rng_.Below(100);
    if (vals.empty() || form < 30 || depth > 2) return Literal(ty);
    const Val* v = rng_.Pick(vals);
    *stat = v->stat;
    Use(*v);
    if (form < 75) return v->text;
    switch (ty) {
      case kInt: {
        int f = rng_.Below(4);
        if (f == 0) return "max(" + v->text + ", " + std::to_string(rng_.Between(0, 2)) + ")";
        if (f == 1) {
          auto lists = Vals(kInts, static_only);
          if (!lists.empty()) {
            const Val* l = rng_.Pick(lists);
            *stat = l->stat;
            Use(*l);
            return (rng_.Chance(50) ? "sum(" : "len(") + l->text + ")";
          }
        }
        return v->text + " + " + std::to_string(rng_.Between(1, 2));
      }
      case kFloat:
        return v->text + " * 2";
      case kString: {
        if (rng_.Chance(30)) {
          auto lists = Vals(kStrings, static_only);
          if (!lists.empty()) {
            const Val* l = rng_.Pick(lists);
            *stat = l->stat;
            Use(*l);
            return "join(" + l->text + ", \"-\")";
          }
        }
        if (rng_.Chance(20)) {
          auto files = Vals(kFile, static_only);
          if (!files.empty()) {
            const Val* f = rng_.Pick(files);
            *stat = f->stat;
            Use(*f);
            return "basename(" + f->text + ")";
          }
        }
        std::vector<const Val*> scalars;
        for (Ty t : {kInt, kFile, kString, kFloat})
          for (const Val* s : Vals(t, static_only)) scalars.push_back(s);
        const Val* s = rng_.Pick(scalars);
        *stat = s->stat;
        Use(*s);
        return "\"" + rng_.Pick(std::vector<std::string>{"n-", "", "at "}) + "{" + s->text + "}\"";
      }
      case kBool:
        return rng_.Chance(50) ? "not " + v->text : v->text;
      case kInts: {
        if (rng_.Chance(30)) return "range(0, " + std::to_string(rng_.Between(1, 3)) + ")";
        bool s1, s2;
        std::string a = Expr(kInt, static_only, depth + 1, &s1), b = Expr(kInt, static_only, depth + 1, &s2);
        *stat = s1 && s2;
        return "[" + a + ", " + b + "]";
      }
      case kFiles: {
        if (rng_.Chance(50)) return v->text;
        bool s1, s2;
        std::string a = Expr(kFile, static_only, depth + 1, &s1), b = Expr(kFile, static_only, depth + 1, &s2);
        *stat = s1 && s2;
        return "[" + a + ", " + b + "]";
      }
      default:
        return v->text;
    }
  }

  /// A condition over `v` (an int, float, bool or string value).
  std::string CondOn(const Val& v) {
    switch (v.ty) {
      case kInt: {
        static const std::vector<std::string> ops = {" > ", " >= ", " == ", " != ", " < "};
        if (rng_.Chance(15)) return v.text + " % 2 == 0";
        return v.text + rng_.Pick(ops) + std::to_string(rng_.Between(0, 3));
      }
      case kFloat:
        return v.text + (rng_.Chance(50) ? " < " : " >= ") + rng_.Pick(std::vector<std::string>{"0.5", "1.0", "1"});
      case kBool:
        return rng_.Chance(70) ? v.text : "not " + v.text;
      case kString:
        return v.text + (rng_.Chance(60) ? " == " : " != ") + Literal(kString);
      case kInts:
      case kFiles:
      case kStrings:
        return "len(" + v.text + ") > " + std::to_string(rng_.Between(0, 2));
      default:
        return "true";
    }
  }
  std::vector<const Val*> CondVals(bool want_static) const {
    std::vector<const Val*> out;
    // Inside a map template, run-time conditions read only what the template
    // makes (see GenOptions).
    size_t from = !want_static && in_map_ && options_.avoid_known_bugs ? map_scope_ : 0;
    for (size_t si = from; si < scopes_.size(); ++si)
      for (const auto& v : scopes_[si].vals)
        if (v.stat == want_static && v.ty != kFile && (v.ty != kFiles || !want_static) && !v.arg_only &&
            !(v.from_map && (in_map_ || options_.avoid_known_bugs)) && !(v.via_gate && options_.avoid_known_bugs))
          out.push_back(&v);
    return out;
  }
  std::string StaticCond() {
    auto vals = CondVals(true);
    std::string c = CondOn(*rng_.Pick(vals));
    if (rng_.Chance(20)) c = c + (rng_.Chance(50) ? " and " : " or ") + CondOn(*rng_.Pick(vals));
    return c;
  }
  /// `pure`: never mixed with a compile-time part (which may decide it).
  std::string RuntimeCond(bool pure = false) {
    auto vals = CondVals(false);
    if (vals.empty()) return StaticCond();  // callers make sure there is one first
    std::string c = CondOn(*rng_.Pick(vals));
    int mix = pure ? 100 : rng_.Below(100);
    if (mix < 12)
      c = StaticCond() + " and " + c;  // may fold to false at compile time
    else if (mix < 22)
      c = c + " or " + StaticCond();  // may fold to true
    else if (mix < 28)
      c = rng_.Pick(std::vector<std::string>{"false and ", "true or "}) + "(" + c + ")";
    else if (mix < 38)
      c = c + " and " + CondOn(*rng_.Pick(vals));
    return c;
  }

  // ------------------------------------------------------------- calls

  std::string CallText(int callee) {
    const Callee& c = callees_[static_cast<size_t>(callee)];
    std::vector<std::string> args;
    pipeline_arg_ = c.pipeline;
    for (const auto& p : c.in) {
      if (!p.dflt.empty() && rng_.Chance(40)) continue;
      args.push_back(p.name + ": " + Expr(p.ty, false, 0, nullptr, /*stage_arg=*/!c.pipeline));
    }
    pipeline_arg_ = false;
    if (rng_.Chance(25))
      for (size_t i = args.size(); i > 1; --i)
        std::swap(args[i - 1], args[static_cast<size_t>(rng_.Below(static_cast<int>(i)))]);
    std::string s = c.name + "(";
    for (size_t i = 0; i < args.size(); ++i) s += (i ? ", " : "") + args[i];
    return s + ")";
  }
  void Spend(int callee) {
    const Callee& c = callees_[static_cast<size_t>(callee)];
    budget_ -= mult_ * c.calls;
    if (in_sub_) sub_calls_ += c.calls;
    if (in_sub_ && c.has_control) sub_has_control_ = true;
  }
  void AddOutputs(const std::string& name, int callee) {
    for (const auto& o : callees_[static_cast<size_t>(callee)].out) {
      if (o.ty == kRec) {  // its fields
        Val acc{name + "." + o.name + ".acc", kFloat, false}, n{name + "." + o.name + ".n", kInt, false};
        acc.from_call = n.from_call = true;
        scopes_.back().vals.push_back(acc);
        scopes_.back().vals.push_back(n);
        continue;
      }
      Val v{name + "." + o.name, o.ty, false};
      v.from_call = true;
      scopes_.back().vals.push_back(v);
    }
  }
  /// `let NAME = CALL` (or `var`); returns the name.
  std::string BindCall(int callee, bool as_var, const std::string& text = {}) {
    std::string call = text.empty() ? CallText(callee) : text;
    std::string name = Fresh(as_var ? "w" : callees_[static_cast<size_t>(callee)].pipeline ? "q" : "x");
    Line(std::string(as_var ? "var " : "let ") + name + " = " + call);
    Spend(callee);
    scopes_.back().calls.push_back({call, callee});
    Bind b{name, callee, in_map_};
    scopes_.back().lets.push_back(b);
    if (as_var) scopes_.back().vars.push_back(b);
    AddOutputs(name, callee);
    return name;
  }
  /// A value of type `ty` from a stage output, making a call if none is in scope.
  const Val* Ensure(Ty ty) {
    auto vals = Vals(ty, false, true);
    if (!vals.empty()) return rng_.Pick(vals);
    int s = StageWithOutput(ty);
    if (s < 0) return nullptr;
    BindCall(s, false);
    vals = Vals(ty, false, true);
    return vals.empty() ? nullptr : vals.back();
  }
  void EnsureRuntimeScalar() {
    if (!CondVals(false).empty()) return;
    BindCall(rng_.Chance(50) ? 0 : 1, false);
  }
  int CalleeWith(bool need_scalar_output) {
    std::vector<int> ok;
    for (int i : Callable()) {
      if (!need_scalar_output) {
        ok.push_back(i);
        continue;
      }
      for (const auto& o : callees_[static_cast<size_t>(i)].out)
        if (o.ty == kInt || o.ty == kBool || o.ty == kFloat) {
          ok.push_back(i);
          break;
        }
    }
    return rng_.Pick(ok);
  }

  // --------------------------------------------------------- statements

  enum Kind {
    kCall,
    kRepeat,
    kBare,
    kLetVal,
    kFor,
    kStaticIf,
    kRuntimeIf,
    kWhile,
    kSubCall,
    kDynFor,
    kAssign,
    kNumKinds
  };

  void Block(int n) {
    ++indent_;
    for (int i = 0; i < n; ++i) Stmt();
    --indent_;
  }

  void Stmt() {
    static const int weights[kNumKinds] = {26, 8, 5, 6, 11, 8, 12, 7, 8, 5, 4};
    int w[kNumKinds];
    for (int k = 0; k < kNumKinds; ++k) w[k] = weights[k];
    bool deep = depth_ >= 3;
    if (deep || budget_ <= 0) w[kFor] = w[kStaticIf] = w[kRuntimeIf] = w[kWhile] = w[kDynFor] = 0;
    if (budget_ <= 0) w[kCall] = w[kRepeat] = w[kBare] = w[kSubCall] = w[kAssign] = 0;
    if (in_map_ || in_sub_) w[kDynFor] = 0;
    if (in_map_ && !map_vars_ok_) w[kWhile] = 0;
    bool any_sub = false;
    for (int i : Callable()) any_sub = any_sub || callees_[static_cast<size_t>(i)].pipeline;
    if (!any_sub) w[kSubCall] = 0;
    if (AssignableVars().empty() || !BranchAssignOk()) w[kAssign] = 0;
    bool any_repeat = false;
    for (const auto& s : scopes_) any_repeat = any_repeat || !s.calls.empty();
    if (!any_repeat) w[kRepeat] = 0;
    int total = 0;
    for (int k = 0; k < kNumKinds; ++k) total += w[k];
    int r = rng_.Below(total);
    int kind = 0;
    while (r >= w[kind]) r -= w[kind++];
    switch (static_cast<Kind>(kind)) {
      case kCall: {
        std::vector<int> stages;
        for (int i : Callable())
          if (!callees_[static_cast<size_t>(i)].pipeline) stages.push_back(i);
        int s = rng_.Pick(stages);
        if (callees_[static_cast<size_t>(s)].out.empty()) {
          std::string call = CallText(s);
          Line(call);
          Spend(s);
          scopes_.back().calls.push_back({call, s});
        } else {
          BindCall(s, false);
        }
        return;
      }
      case kRepeat: {
        std::vector<std::pair<std::string, int>> calls;
        // Inside a map template, only calls made in it (one from outside
        // may read another map's results; see GenOptions).
        size_t from = in_map_ && options_.avoid_known_bugs ? map_scope_ : 0;
        for (size_t si = from; si < scopes_.size(); ++si)
          for (const auto& c : scopes_[si].calls)
            if (!(in_map_ && options_.avoid_known_bugs && callees_[static_cast<size_t>(c.second)].pipeline &&
                  callees_[static_cast<size_t>(c.second)].has_control))
              calls.push_back(c);
        if (calls.empty()) return;
        auto [text, callee] = rng_.Pick(calls);
        if (callees_[static_cast<size_t>(callee)].out.empty() || rng_.Chance(20)) {
          Line(text);
          Spend(callee);
        } else {
          BindCall(callee, false, text);
        }
        return;
      }
      case kBare: {
        int c = CalleeWith(false);
        Line(CallText(c));
        Spend(c);
        return;
      }
      case kLetVal: {
        static const Ty tys[] = {kInt, kString, kInts, kBool};
        Ty ty = tys[rng_.Below(4)];
        bool stat;
        // Inside a map template: no value from outside it (see CondVals).
        used_via_gate_ = used_from_map_ = false;
        std::string e = Expr(ty, rng_.Chance(50) || (in_map_ && options_.avoid_known_bugs), 0, &stat);
        // A bare list literal of int literals, or a string literal, is exactly
        // its type; anything built by Expr from values of `ty` is too.
        std::string name = Fresh("v");
        Line("let " + name + " = " + e);
        Val v{name, ty, stat};
        v.via_gate = used_via_gate_;
        v.from_map = used_from_map_;
        scopes_.back().vals.push_back(v);
        return;
      }
      case kFor:
        return For();
      case kStaticIf:
        return If(false);
      case kRuntimeIf:
        return If(true);
      case kWhile:
        return While();
      case kSubCall: {
        std::vector<int> subs;
        for (int i : Callable())
          if (callees_[static_cast<size_t>(i)].pipeline) subs.push_back(i);
        int s = rng_.Pick(subs);
        std::string text = CallText(s);
        BindCall(s, false, text);
        if (rng_.Chance(40)) BindCall(s, false, rng_.Chance(70) ? text : std::string());  // called twice
        return;
      }
      case kDynFor:
        return DynFor();
      case kAssign: {
        Bind v = rng_.Pick(AssignableVars());
        Line(v.name + " = " + CallText(v.callee));
        Spend(v.callee);
        if (if_depth_ > 0 && options_.avoid_known_bugs) TaintVar(v.name);
        if (in_sub_) sub_has_control_ = true;
        return;
      }
      default:
        return;
    }
  }

  void For() {
    // The list: literal, param, range(), or the outputs of an earlier static loop.
    std::string list;
    Ty elem = kInt;
    int len = 1;
    bool stat = true;
    std::vector<const Val*> ref_lists;
    for (const auto& s : scopes_)
      for (const auto& v : s.vals)
        if (v.ref_list) ref_lists.push_back(&v);
    int form = rng_.Below(100);
    if (form < 25) {
      len = rng_.Between(1, 3);
      for (int i = 0; i < len; ++i) list += (i ? ", " : "") + std::to_string(rng_.Between(0, 3));
      list = "[" + list + "]";
    } else if (form < 35) {
      elem = kString;
      len = 2;
      list = "[\"u\", \"v\"]";
    } else if (form < 45) {
      list = "p_ks";
      len = p_ks_;
    } else if (form < 52) {
      elem = kString;
      list = "p_tags";
      len = p_tags_;
    } else if (form < 62) {
      list = "range(0, p_n)";
      len = p_n_;
    } else if (form < 70) {
      list = "range(p_m)";
      len = p_m_;
    } else if (form < 85 || ref_lists.empty()) {
      int a = rng_.Between(0, 1), b = a + rng_.Between(1, 3);
      list = "range(" + std::to_string(a) + ", " + std::to_string(b) + ")";
      len = b - a;
    } else {
      const Val* v = rng_.Pick(ref_lists);
      list = v->text;
      elem = ElemOf(v->ty);
      stat = false;
      len = 2;  // at most, for the budget
    }
    std::string var = Fresh("i");
    Line("for " + var + " in " + list + " {");
    Scope body;
    body.vals.push_back({var, elem, stat});
    scopes_.push_back(std::move(body));
    int saved = mult_;
    mult_ *= std::max(1, len);
    ++depth_;
    ++loop_depth_;
    Block(rng_.Between(1, 3));
    --loop_depth_;
    --depth_;
    mult_ = saved;
    Scope done = std::move(scopes_.back());
    scopes_.pop_back();
    Line("}");
    // After the loop, each call bound in the body is a list of its outputs.
    for (const auto& b : done.lets) {
      for (const auto& o : callees_[static_cast<size_t>(b.callee)].out) {
        if (IsScalar(o.ty) && o.ty != kBool && o.ty != kFloat) {
          Val v{b.name + "." + o.name, ListOf(o.ty), false};
          v.ref_list = v.from_call = true;
          scopes_.back().vals.push_back(v);
        }
        if (IsScalar(o.ty) && len >= 1 && stat && rng_.Chance(50)) {
          Val v{b.name + "[0]." + o.name, o.ty, false};
          v.from_call = true;
          scopes_.back().vals.push_back(v);
        }
      }
    }
  }

  void If(bool runtime) {
    EnsureRuntimeScalar();  // before the chain: a call cannot go between its branches
    if (in_sub_) sub_has_control_ = true;
    int branches = rng_.Between(1, 3);
    bool has_else = rng_.Chance(55);
    // Variants: a name bound in every branch (needs else), vars assigned in branches.
    // Inside a map template only an if decided at run time may bind names
    // for after it (see GenOptions); its first condition is then pure.
    bool lifts = !(in_map_ && options_.avoid_known_bugs) || runtime;
    bool bind_all = lifts && has_else && rng_.Chance(35) && budget_ > 0;
    int bind_callee = bind_all ? CalleeWith(false) : -1;
    if (bind_all && callees_[static_cast<size_t>(bind_callee)].out.empty()) bind_all = false;
    std::string bound = bind_all ? Fresh("r") : "";
    auto vars = AssignableVars();
    // A name bound in some branches only is optional after the if: read with `??`.
    std::string opt_plain = lifts && rng_.Chance(15) ? Fresh("o") : "";
    std::string opt_call;
    Bind opt_like{"", -1, false};
    if (lifts && rng_.Chance(15) && budget_ > 0) {
      std::vector<Bind> lets;
      std::vector<int> callable = Callable();
      for (const auto& sc : scopes_)
        for (const auto& b : sc.lets)
          if (!callees_[static_cast<size_t>(b.callee)].out.empty() &&
              std::find(callable.begin(), callable.end(), b.callee) != callable.end())
            lets.push_back(b);
      if (!lets.empty()) {
        opt_like = rng_.Pick(lets);
        opt_call = Fresh("o");
      }
    }
    bool plain_bound = false, call_bound = false;
    for (int b = 0; b <= branches; ++b) {
      if (b == branches && !has_else) break;
      std::string cond;
      if (b < branches) {
        bool rt = runtime ? (b == 0 || rng_.Chance(60)) : rng_.Chance(15);
        cond = rt ? RuntimeCond(/*pure=*/b == 0 && in_map_ && options_.avoid_known_bugs) : StaticCond();
      }
      Line(b == 0 ? "if " + cond + " {" : b < branches ? "} else if " + cond + " {" : "} else {");
      scopes_.emplace_back();
      ++depth_;
      ++if_depth_;
      Block(rng_.Between(0, 2));
      ++indent_;
      if (bind_all) {
        Line("let " + bound + " = " + CallText(bind_callee));
        Spend(bind_callee);
      }
      if (!opt_plain.empty() && rng_.Chance(60)) {
        Line("let " + opt_plain + " = " + Expr(kInt));
        plain_bound = true;
      }
      if (!opt_call.empty() && rng_.Chance(60)) {
        Line("let " + opt_call + " = " + CallText(opt_like.callee));
        Spend(opt_like.callee);
        call_bound = true;
      }
      if (!vars.empty() && BranchAssignOk() && rng_.Chance(30)) {
        Bind v = rng_.Pick(vars);
        Line(v.name + " = " + CallText(v.callee));
        Spend(v.callee);
        if (options_.avoid_known_bugs) TaintVar(v.name);
        if (in_sub_) sub_has_control_ = true;
      }
      --indent_;
      --if_depth_;
      --depth_;
      scopes_.pop_back();
    }
    Line("}");
    if (bind_all) {
      Bind b{bound, bind_callee, in_map_};
      scopes_.back().lets.push_back(b);
      AddOutputs(bound, bind_callee);
    }
    if (plain_bound) {
      Val v{"(" + opt_plain + " ?? " + std::to_string(rng_.Between(0, 3)) + ")", kInt, false};
      v.via_gate = true;
      scopes_.back().vals.push_back(v);
    }
    if (call_bound)
      for (const auto& o : callees_[static_cast<size_t>(opt_like.callee)].out) {
        if (o.ty == kRec) continue;
        Val v{"(" + opt_call + " ?? " + opt_like.name + ")." + o.name, o.ty, false};
        v.via_gate = true;
        scopes_.back().vals.push_back(v);
      }
  }

  void While() {
    int bound = rng_.Between(1, 3);
    int callee = CalleeWith(true);
    std::string w = BindCall(callee, true);
    if (in_sub_) sub_has_control_ = true;
    std::string cond;
    int form = rng_.Below(100);
    if (form < 75) {
      std::vector<const Val*> outs;
      for (const auto& v : scopes_.back().vals)
        if (v.text.rfind(w + ".", 0) == 0 && (v.ty == kInt || v.ty == kBool || v.ty == kFloat)) outs.push_back(&v);
      cond = CondOn(*rng_.Pick(outs));
      if (rng_.Chance(20)) cond = StaticCond() + " and " + cond;
    } else {
      cond = StaticCond();
    }
    Line("while " + cond + " max " + std::to_string(bound) + " {");
    scopes_.emplace_back();
    int saved = mult_;
    mult_ *= bound;
    ++depth_;
    ++loop_depth_;
    Block(rng_.Between(0, 2));
    --loop_depth_;
    ++indent_;
    Line(w + " = " + CallText(callee));
    Spend(callee);
    --indent_;
    --depth_;
    mult_ = saved;
    scopes_.pop_back();
    Line("}");
  }

  void DynFor() {
    static const Ty list_types[] = {kInts, kFiles, kStrings};
    Ty lt = list_types[rng_.Below(3)];
    std::vector<const Val*> lists;
    for (const auto& s : scopes_)
      for (const auto& v : s.vals)
        if (v.ty == lt && !v.stat && !v.ref_list && (v.from_call || (v.from_map && !options_.avoid_known_bugs)) &&
            !(v.via_gate && options_.avoid_known_bugs))
          lists.push_back(&v);
    if (lists.empty()) {  // call a stage with such an output
      int s = StageWithOutput(lt);
      if (s < 0) return;
      std::string name = BindCall(s, false);
      for (const auto& v : scopes_.back().vals)
        if (v.ty == lt && v.text.rfind(name + ".", 0) == 0) lists.push_back(&v);
    }
    const Val* list = rng_.Pick(lists);
    std::string var = Fresh("e");
    Line("for " + var + " in " + list->text + " {");
    Scope body;
    body.vals.push_back({var, ElemOf(lt), false});
    scopes_.push_back(std::move(body));
    in_map_ = true;
    map_scope_ = scopes_.size() - 1;
    map_vars_ok_ = !(options_.avoid_known_bugs && loop_depth_ > 0);
    ++depth_;
    Block(rng_.Between(1, 3));
    --depth_;
    in_map_ = false;
    Scope done = std::move(scopes_.back());
    scopes_.pop_back();
    Line("}");
    for (const auto& b : done.lets)
      for (const auto& o : callees_[static_cast<size_t>(b.callee)].out)
        if (o.ty == kFile || o.ty == kInt || o.ty == kString) {
          Val v{b.name + "." + o.name, ListOf(o.ty), false};
          v.from_map = true;
          scopes_.back().vals.push_back(v);
        }
  }

  Rng rng_;
  GenOptions options_;
  std::string out_;
  int indent_ = 0;
  int counter_ = 0;
  std::vector<Callee> callees_;
  size_t num_stages_ = 0;
  std::vector<Scope> scopes_;
  int p_n_ = 0, p_m_ = 1, p_ks_ = 1, p_tags_ = 1;
  int budget_ = 0;
  int mult_ = 1;
  int depth_ = 0;
  int loop_depth_ = 0;
  int if_depth_ = 0;
  bool in_map_ = false;
  bool map_vars_ok_ = true;
  bool pipeline_arg_ = false;                           // making the arguments of a sub-pipeline call
  bool used_via_gate_ = false, used_from_map_ = false;  // see Use()
  size_t map_scope_ = 0;
  bool in_sub_ = false;
  bool sub_has_control_ = false;
  int sub_calls_ = 0;
};

}  // namespace flow::testing::gen
