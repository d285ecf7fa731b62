// SPDX-License-Identifier: Apache-2.0
// The expression evaluator shared by compiler (constant folding) and
// runtime (gates, arguments, commands).
#include "plan/eval.h"

#include <cmath>
#include <unordered_map>

#include "fmt/format.h"
#include "llvm/Support/Path.h"
#include "plan/json_text.h"

namespace flow::plan {

namespace json = llvm::json;

namespace {

bool IsIntType(const Type& t) {
  return t.kind == Type::Int || t.kind == Type::Duration || t.kind == Type::Size;
}

std::optional<double> Num(const json::Value& v) {
  if (auto d = v.getAsNumber()) return *d;
  return std::nullopt;
}

json::Value MakeNumber(double d, const Type& type) {
  if (IsIntType(type)) return static_cast<int64_t>(std::llround(d));
  return d;
}

std::string UnitText(int64_t v, bool duration) {
  if (duration) {
    const std::pair<int64_t, const char*> units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (auto [scale, name] : units)
      if (v != 0 && v % scale == 0) return fmt::format("{}{}", v / scale, name);
    return fmt::format("{}ms", v);
  }
  const std::pair<int64_t, const char*> units[] = {
      {int64_t{1} << 40, "TB"}, {int64_t{1} << 30, "GB"}, {int64_t{1} << 20, "MB"}, {int64_t{1} << 10, "KB"}};
  for (auto [scale, name] : units)
    if (v != 0 && v % scale == 0) return fmt::format("{}{}", v / scale, name);
  return fmt::format("{}B", v);
}

class Evaluator {
 public:
  Evaluator(const Plan& plan, const EvalEnv& env) : plan_(plan), env_(env) {}

  EvalResult Eval(ExprId id) {
    if (!id.valid() || id.value >= static_cast<int32_t>(plan_.exprs.size()))
      return EvalResult::Fail("missing expression");
    // Expressions share subexpressions: evaluate each node once. A leaf
    // (a literal, or a value looked up by name) costs no more to take again
    // than to keep, so only the others are kept.
    switch (plan_.Get(id).op) {
      case Op::Lit: case Op::Param: case Op::Output: case Op::Var: case Op::Input: case Op::OutPath:
        return EvalNode(id);
      default: break;
    }
    if (auto it = memo_.find(id.value); it != memo_.end()) return it->second;
    EvalResult r = EvalNode(id);
    memo_[id.value] = r;
    return r;
  }

  /// The expression a caller asked for: evaluated once, so not kept.
  EvalResult EvalRoot(ExprId id) {
    if (!id.valid() || id.value >= static_cast<int32_t>(plan_.exprs.size()))
      return EvalResult::Fail("missing expression");
    return EvalNode(id);
  }

  EvalResult EvalNode(ExprId id) {
    const ExprNode& n = plan_.Get(id);
    // Plans are verified before they are evaluated, but never trust an
    // argument count: a wrong one must not crash.
    size_t need = 0;
    switch (n.op) {
      case Op::Member: case Op::Neg: case Op::Not: case Op::MapValues: need = 1; break;
      case Op::Index: case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Mod: case Op::Lt:
      case Op::Le: case Op::Gt: case Op::Ge: case Op::Eq: case Op::Ne: case Op::And: case Op::Or:
      case Op::Coalesce: case Op::Choose: need = 2; break;
      case Op::Builtin: need = 1; break;
      default: break;
    }
    if (n.args.size() < need) return EvalResult::Fail(std::string("'") + Spelling(n.op) + "' is missing arguments");
    auto from = [](std::optional<json::Value> v) { return v ? EvalResult::Of(std::move(*v)) : EvalResult{}; };
    switch (n.op) {
      case Op::Lit: return EvalResult::Of(n.lit);
      case Op::Param: return env_.param ? from(env_.param(n.name)) : EvalResult{};
      case Op::Output:
      case Op::MapValues: return env_.output ? from(env_.output(n)) : EvalResult{};
      case Op::Var: return env_.var ? from(env_.var(n.name)) : EvalResult{};
      case Op::Input: return env_.input ? from(env_.input(n.name)) : EvalResult{};
      case Op::OutPath: return env_.out_path ? from(env_.out_path(n.name)) : EvalResult{};
      case Op::Choose: {
        if (!env_.gate) return {};
        std::optional<int> b = env_.gate(n.gate, n.local);
        if (!b) return {};
        size_t pick = (*b >= 0 && static_cast<size_t>(*b) < n.args.size() - 1) ? *b : n.args.size() - 1;
        return Eval(n.args[pick]);
      }
      case Op::And:
      case Op::Or: {
        EvalResult l = Eval(n.args[0]);
        if (l.state == EvalResult::Failed) return l;
        bool short_value = n.op == Op::Or;  // or: true decides; and: false decides
        if (l.state == EvalResult::Known && l.value.getAsBoolean() == short_value) return EvalResult::Of(short_value);
        EvalResult r = Eval(n.args[1]);
        if (r.state != EvalResult::Known) return r;
        if (l.state != EvalResult::Known) {
          if (r.value.getAsBoolean() == short_value) return EvalResult::Of(short_value);
          return {};
        }
        return EvalResult::Of(*r.value.getAsBoolean());
      }
      case Op::Coalesce: {
        EvalResult l = Eval(n.args[0]);
        if (l.state != EvalResult::Known) return l;
        if (!l.value.getAsNull()) return l;
        return Eval(n.args[1]);
      }
      default:
        break;
    }
    std::vector<json::Value> args;
    for (ExprId a : n.args) {
      EvalResult r = Eval(a);
      if (r.state != EvalResult::Known) return r;
      args.push_back(std::move(r.value));
    }
    return Apply(n, args);
  }

 private:
  EvalResult Apply(const ExprNode& n, std::vector<json::Value>& a) {
    const Type& t = n.type;
    auto arg_type = [&](size_t i) -> const Type& { return plan_.Get(n.args[i]).type; };
    switch (n.op) {
      case Op::List: {
        json::Array out;
        for (auto& v : a) out.push_back(std::move(v));
        return EvalResult::Of(std::move(out));
      }
      case Op::Record: {
        json::Object out;
        for (size_t i = 0; i < a.size(); ++i) out[n.fields[i]] = std::move(a[i]);
        return EvalResult::Of(std::move(out));
      }
      case Op::Member: return Member(a[0], n.name);
      case Op::Index: {
        if (a[0].getAsNull()) return EvalResult::Of(nullptr);
        if (const json::Object* o = a[0].getAsObject()) {
          auto key = a[1].getAsString();
          if (!key) return EvalResult::Fail("a json object is indexed by a string");
          const json::Value* v = o->get(*key);
          return EvalResult::Of(v ? *v : json::Value(nullptr));
        }
        const json::Array* arr = a[0].getAsArray();
        auto i = a[1].getAsInteger();
        if (!arr || !i) return EvalResult::Fail("only lists can be indexed, by an int");
        if (*i < 0 || static_cast<size_t>(*i) >= arr->size())
          return EvalResult::Fail(fmt::format("index {} is out of range for a list of {}", *i, arr->size()));
        return EvalResult::Of((*arr)[*i]);
      }
      case Op::Neg: {
        auto v = Num(a[0]);
        if (!v) return EvalResult::Fail("'-' needs a number");
        return EvalResult::Of(MakeNumber(-*v, t));
      }
      case Op::Not: {
        auto b = a[0].getAsBoolean();
        if (!b) return EvalResult::Fail("'not' needs a bool");
        return EvalResult::Of(!*b);
      }
      case Op::Add: {
        if (auto l = a[0].getAsString()) {
          auto r = a[1].getAsString();
          if (!r) return EvalResult::Fail("'+' joins a string only with a string");
          return EvalResult::Of((*l + *r).str());
        }
        if (const json::Array* l = a[0].getAsArray()) {
          const json::Array* r = a[1].getAsArray();
          if (!r) return EvalResult::Fail("'+' joins a list only with a list");
          json::Array out(*l);
          for (const auto& v : *r) out.push_back(v);
          return EvalResult::Of(std::move(out));
        }
        return Arith(n.op, a, t, arg_type(0), arg_type(1));
      }
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
      case Op::Mod: return Arith(n.op, a, t, arg_type(0), arg_type(1));
      case Op::Lt:
      case Op::Le:
      case Op::Gt:
      case Op::Ge: {
        int c = 0;
        if (auto ls = a[0].getAsString()) {
          auto rs = a[1].getAsString();
          if (!rs) return EvalResult::Fail("cannot order a string and a non-string");
          c = ls->compare(*rs);
        } else {
          auto l = Num(a[0]), r = Num(a[1]);
          if (!l || !r) return EvalResult::Fail("cannot order these values");
          c = *l < *r ? -1 : *l > *r ? 1 : 0;
        }
        bool v = n.op == Op::Lt ? c < 0 : n.op == Op::Le ? c <= 0 : n.op == Op::Gt ? c > 0 : c >= 0;
        return EvalResult::Of(v);
      }
      case Op::Eq:
      case Op::Ne: {
        bool eq;
        auto l = Num(a[0]), r = Num(a[1]);
        if (l && r) eq = *l == *r;
        else eq = a[0] == a[1];
        return EvalResult::Of(n.op == Op::Eq ? eq : !eq);
      }
      case Op::Format: {
        std::string s;
        for (size_t i = 0; i < a.size(); ++i) s += FormatValue(a[i], arg_type(i));
        return EvalResult::Of(std::move(s));
      }
      case Op::Builtin: return Builtin(n, a);
      default: return EvalResult::Fail(std::string("cannot evaluate '") + Spelling(n.op) + "'");
    }
  }

  static EvalResult Member(const json::Value& v, const std::string& name) {
    if (v.getAsNull()) return EvalResult::Of(nullptr);
    if (const json::Array* arr = v.getAsArray()) {  // projection over a list of records
      json::Array out;
      for (const auto& el : *arr) {
        EvalResult r = Member(el, name);
        if (r.state != EvalResult::Known) return r;
        out.push_back(std::move(r.value));
      }
      return EvalResult::Of(std::move(out));
    }
    const json::Object* o = v.getAsObject();
    if (!o) return EvalResult::Fail("'." + name + "' needs a record");
    const json::Value* f = o->get(name);
    return EvalResult::Of(f ? *f : json::Value(nullptr));
  }

  static EvalResult Arith(Op op, std::vector<json::Value>& a, const Type& t, const Type& lt, const Type& rt) {
    auto l = Num(a[0]), r = Num(a[1]);
    if (!l || !r) return EvalResult::Fail("arithmetic needs numbers");
    bool ints = IsIntType(lt) && IsIntType(rt);
    if (ints && t.kind != Type::Float) {
      int64_t x = *a[0].getAsInteger(), y = *a[1].getAsInteger();
      switch (op) {
        case Op::Add: return EvalResult::Of(x + y);
        case Op::Sub: return EvalResult::Of(x - y);
        case Op::Mul: return EvalResult::Of(x * y);
        case Op::Div:
        case Op::Mod:
          if (y == 0) return EvalResult::Fail("division by zero");
          return EvalResult::Of(op == Op::Div ? x / y : x % y);
        default: break;
      }
    }
    double x = *l, y = *r, v = 0;
    switch (op) {
      case Op::Add: v = x + y; break;
      case Op::Sub: v = x - y; break;
      case Op::Mul: v = x * y; break;
      case Op::Div:
        if (y == 0) return EvalResult::Fail("division by zero");
        v = x / y;
        break;
      case Op::Mod:
        if (y == 0) return EvalResult::Fail("division by zero");
        v = std::fmod(x, y);
        break;
      default: break;
    }
    return EvalResult::Of(MakeNumber(v, t));
  }

  EvalResult Builtin(const ExprNode& n, std::vector<json::Value>& a) {
    const std::string& f = n.name;
    auto type_of = [&](size_t i) -> const Type& { return plan_.Get(n.args[i]).type; };
    if (f == "len") {
      if (auto s = a[0].getAsString()) return EvalResult::Of(static_cast<int64_t>(s->size()));
      if (auto* arr = a[0].getAsArray()) return EvalResult::Of(static_cast<int64_t>(arr->size()));
      if (auto* o = a[0].getAsObject()) return EvalResult::Of(static_cast<int64_t>(o->size()));
      return EvalResult::Fail("len needs a list or string");
    }
    if (f == "range") {
      int64_t lo = 0, hi = 0;
      if (a.size() == 1) hi = a[0].getAsInteger().getValueOr(0);
      else lo = a[0].getAsInteger().getValueOr(0), hi = a[1].getAsInteger().getValueOr(0);
      if (hi - lo > 10'000'000) return EvalResult::Fail(fmt::format("range({}, {}) is too long", lo, hi));
      json::Array out;
      for (int64_t i = lo; i < hi; ++i) out.push_back(i);
      return EvalResult::Of(std::move(out));
    }
    if (f == "min" || f == "max" || f == "sum") {
      std::vector<json::Value> items;
      Type elem = n.type;
      if (a.size() == 1 && a[0].getAsArray()) {
        for (const auto& v : *a[0].getAsArray()) items.push_back(v);
      } else {
        items = a;
      }
      if (items.empty() && f != "sum") return EvalResult::Fail(f + " of an empty list");
      double acc = f == "sum" ? 0 : *Num(items[0]);
      for (const auto& v : items) {
        auto d = Num(v);
        if (!d) return EvalResult::Fail(f + " needs numbers");
        acc = f == "sum" ? acc + *d : f == "min" ? std::min(acc, *d) : std::max(acc, *d);
      }
      return EvalResult::Of(MakeNumber(acc, elem));
    }
    if (f == "abs") {
      auto d = Num(a[0]);
      if (!d) return EvalResult::Fail("abs needs a number");
      return EvalResult::Of(MakeNumber(std::fabs(*d), n.type));
    }
    if (f == "round") {
      auto d = Num(a[0]);
      if (!d) return EvalResult::Fail("round needs a number");
      return EvalResult::Of(static_cast<int64_t>(std::llround(*d)));
    }
    if (f == "str") return EvalResult::Of(FormatValue(a[0], type_of(0)));
    if (f == "int" || f == "float") {
      double d = 0;
      if (auto s = a[0].getAsString()) {
        char* end = nullptr;
        std::string text = s->str();
        d = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') return EvalResult::Fail("'" + text + "' is not a number");
      } else if (auto b = a[0].getAsBoolean()) {
        d = *b ? 1 : 0;
      } else if (auto x = Num(a[0])) {
        d = *x;
      } else {
        return EvalResult::Fail(f + " needs a number or string");
      }
      if (f == "int") return EvalResult::Of(static_cast<int64_t>(std::trunc(d)));
      return EvalResult::Of(d);
    }
    if (f == "join") {
      const json::Array* arr = a[0].getAsArray();
      if (!arr) return EvalResult::Fail("join needs a list");
      std::string sep = a.size() > 1 ? a[1].getAsString().getValueOr(" ").str() : " ";
      Type elem = type_of(0).kind == Type::List ? type_of(0).elem[0] : Type::Scalar(Type::Json);
      std::string out;
      for (size_t i = 0; i < arr->size(); ++i) out += (i ? sep : "") + FormatValue((*arr)[i], elem);
      return EvalResult::Of(std::move(out));
    }
    if (f == "basename") {
      auto s = a[0].getAsString();
      if (!s) return EvalResult::Fail("basename needs a path");
      return EvalResult::Of(llvm::sys::path::filename(*s).str());
    }
    return EvalResult::Fail("unknown builtin '" + f + "'");
  }

  const Plan& plan_;
  const EvalEnv& env_;
  std::unordered_map<int32_t, EvalResult> memo_;
};

}  // namespace

EvalResult Evaluate(const Plan& plan, ExprId expr, const EvalEnv& env) { return Evaluator(plan, env).EvalRoot(expr); }

std::string FormatValue(const json::Value& value, const Type& type) {
  if (value.getAsNull()) return "";
  if (auto s = value.getAsString()) return s->str();
  if (auto b = value.getAsBoolean()) return *b ? "true" : "false";
  if (type.kind == Type::Duration || type.kind == Type::Size) {
    if (auto i = value.getAsInteger()) return UnitText(*i, type.kind == Type::Duration);
  }
  if (type.kind == Type::Float) {  // 1.0 stays a float: "1.0", not "1"
    if (auto d = value.getAsNumber()) {
      std::string s = fmt::format("{}", *d);
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
  }
  if (auto i = value.getAsInteger()) return std::to_string(*i);
  if (auto d = value.getAsNumber()) return fmt::format("{}", *d);
  if (const json::Array* arr = value.getAsArray()) {
    Type elem = type.kind == Type::List ? type.elem[0] : Type::Scalar(Type::Json);
    std::string s;
    for (size_t i = 0; i < arr->size(); ++i) s += (i ? " " : "") + FormatValue((*arr)[i], elem);
    return s;
  }
  return JsonText(value);
}

}  // namespace flow::plan
