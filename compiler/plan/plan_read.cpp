// SPDX-License-Identifier: Apache-2.0
// Reading the plan's JSON form (docs/plan-format.md), with errors that name
// the JSON path of the problem; the large arrays are read element by
// element. Writing is in plan_json.cpp.
#include <algorithm>
#include <map>
#include <set>

#include "fmt/format.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"
#include "plan/json_parse.h"
#include "plan/plan.h"

namespace flow::plan {

namespace json = llvm::json;

namespace {

// Reads JSON into a Plan, remembering the first error with its JSON path.
class Reader {
 public:
  explicit Reader(Plan& plan) : plan_(plan) {}

  /// The elements of the top-level arrays "shared" and "instances", as text,
  /// when the caller split them off the document (LargeArrays below): each
  /// is parsed, read and freed in turn, so a plan of 300,000 instances never
  /// has its whole JSON tree in memory.
  struct Raw {
    std::vector<llvm::StringRef> shared, instances;
    bool has_shared = false, has_instances = false;
  };
  void SetRaw(const Raw* raw) { raw_ = raw; }

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  bool Fail(const std::string& path, const std::string& what) {
    if (error_.empty()) error_ = path + ": " + what;
    return false;
  }

  const json::Object* Obj(const json::Value* v, const std::string& path) {
    if (!v) return Fail(path, "missing"), nullptr;
    const json::Object* o = v->getAsObject();
    if (!o) Fail(path, "expected an object");
    return o;
  }
  const json::Array* Arr(const json::Object& o, const char* key, const std::string& path) {
    const json::Value* v = o.get(key);
    if (!v) return Fail(path + "." + key, "missing"), nullptr;
    const json::Array* a = v->getAsArray();
    if (!a) Fail(path + "." + key, "expected an array");
    return a;
  }
  std::string Str(const json::Object& o, const char* key, const std::string& path) {
    auto s = o.getString(key);
    if (!s) return Fail(path + "." + key, o.get(key) ? "expected a string" : "missing"), std::string();
    return s->str();
  }
  int64_t Int(const json::Object& o, const char* key, const std::string& path) {
    auto i = o.getInteger(key);
    if (!i) return Fail(path + "." + key, o.get(key) ? "expected an integer" : "missing"), 0;
    return *i;
  }
  /// An index or count: an integer that fits 32 bits (ids, lines, branches).
  int32_t Index(const json::Object& o, const char* key, const std::string& path, int64_t min = 0) {
    int64_t i = Int(o, key, path);
    if (failed()) return 0;
    if (i < min || i > INT32_MAX)
      return Fail(path + "." + key, fmt::format("{} is out of range", i)), 0;
    return static_cast<int32_t>(i);
  }
  double Num(const json::Object& o, const char* key, const std::string& path) {
    auto d = o.getNumber(key);
    if (!d) return Fail(path + "." + key, o.get(key) ? "expected a number" : "missing"), 0;
    return *d;
  }
  bool Bool(const json::Object& o, const char* key, const std::string& path) {
    auto b = o.getBoolean(key);
    if (!b) return Fail(path + "." + key, o.get(key) ? "expected true or false" : "missing"), false;
    return *b;
  }
  std::optional<int64_t> OptInt(const json::Object& o, const char* key, const std::string& path) {
    const json::Value* v = o.get(key);
    if (!v || v->getAsNull()) return std::nullopt;
    auto i = v->getAsInteger();
    if (!i) return Fail(path + "." + key, "expected an integer or null"), std::nullopt;
    return *i;
  }
  Type TypeAt(const json::Object& o, const char* key, const std::string& path) {
    std::string s = Str(o, key, path);
    if (failed()) return {};
    auto t = Type::Parse(s);
    if (!t) return Fail(path + "." + key, "unknown type '" + s + "'"), Type{};
    return *t;
  }
  SourceLoc Loc(const json::Object& o, const std::string& path) {
    SourceLoc loc;
    const json::Value* v = o.get("loc");
    if (!v) return loc;  // optional
    const json::Object* l = Obj(v, path + ".loc");
    if (!l) return loc;
    if (l->get("file")) loc.file = Str(*l, "file", path + ".loc");
    loc.line = static_cast<unsigned>(Index(*l, "line", path + ".loc"));
    loc.col = static_cast<unsigned>(Index(*l, "col", path + ".loc"));
    return loc;
  }
  std::vector<Field> Fields(const json::Object& o, const char* key, const std::string& path) {
    std::vector<Field> out;
    const json::Array* a = Arr(o, key, path);
    if (!a) return out;
    for (size_t i = 0; i < a->size(); ++i) {
      std::string p = fmt::format("{}.{}[{}]", path, key, i);
      const json::Object* f = Obj(&(*a)[i], p);
      if (!f) return out;
      Field field;
      field.name = Str(*f, "name", p);
      field.type = TypeAt(*f, "type", p);
      out.push_back(std::move(field));
    }
    return out;
  }
  std::vector<Guard> Guards(const json::Object& o, const std::string& path) {
    std::vector<Guard> out;
    const json::Value* v = o.get("guards");
    if (!v) return out;
    const json::Array* a = v->getAsArray();
    if (!a) return Fail(path + ".guards", "expected an array"), out;
    for (size_t i = 0; i < a->size(); ++i) {
      std::string p = fmt::format("{}.guards[{}]", path, i);
      const json::Object* g = Obj(&(*a)[i], p);
      if (!g) return out;
      out.push_back(Guard{GateId{Index(*g, "gate", p)}, Index(*g, "branch", p)});
    }
    return out;
  }

  ExprId Expr(const json::Value* v, const std::string& path) {
    const json::Object* o = Obj(v, path);
    if (!o) return {};
    std::string op_name = Str(*o, "op", path);
    if (failed()) return {};
    if (op_name == "shared") {  // a subexpression written once in "shared"
      int32_t k = Index(*o, "id", path);
      if (failed()) return {};
      if (static_cast<size_t>(k) >= shared_.size())
        return Fail(path + ".id", fmt::format("shared expression {} is not defined before this", k)), ExprId{};
      return shared_[k];
    }
    auto op = OpFromSpelling(op_name);
    if (!op) return Fail(path + ".op", "unknown operation '" + op_name + "'"), ExprId{};
    ExprNode n;
    n.op = *op;
    n.type = TypeAt(*o, "type", path);
    switch (n.op) {
      case Op::Lit: {
        const json::Value* value = o->get("value");
        if (!value) return Fail(path + ".value", "missing"), ExprId{};
        n.lit = *value;
        break;
      }
      case Op::Param:
      case Op::Var:
      case Op::Input:
      case Op::OutPath:
      case Op::Member:
      case Op::Builtin:
        n.name = Str(*o, "name", path);
        break;
      case Op::Output:
        n.name = Str(*o, "name", path);
        n.instance = InstanceId{Index(*o, "instance", path)};
        n.local = o->getBoolean("local").getValueOr(false);
        break;
      case Op::MapValues:
        n.map = MapId{Index(*o, "map", path)};
        break;
      case Op::Choose:
        n.gate = GateId{Index(*o, "gate", path)};
        n.local = o->getBoolean("local").getValueOr(false);
        break;
      case Op::Record: {
        const json::Value* fv = o->get("fields");
        const json::Object* fields = Obj(fv, path + ".fields");
        if (!fields) return {};
        std::vector<std::string> keys;
        for (const auto& kv : *fields) keys.push_back(kv.first.str());
        std::sort(keys.begin(), keys.end());
        for (const auto& k : keys) {
          n.fields.push_back(k);
          n.args.push_back(Expr(fields->get(k), path + ".fields." + k));
        }
        return failed() ? ExprId{} : plan_.Add(std::move(n));
      }
      default:
        break;
    }
    if (const json::Value* av = o->get("args")) {
      const json::Array* args = av->getAsArray();
      if (!args) return Fail(path + ".args", "expected an array"), ExprId{};
      for (size_t i = 0; i < args->size(); ++i) n.args.push_back(Expr(&(*args)[i], fmt::format("{}.args[{}]", path, i)));
    }
    if (failed()) return {};
    return plan_.Add(std::move(n));
  }

  std::vector<TemplatePart> Parts(const json::Value* v, const std::string& path) {
    std::vector<TemplatePart> out;
    if (!v) return Fail(path, "missing"), out;
    const json::Array* a = v->getAsArray();
    if (!a) return Fail(path, "expected an array"), out;
    for (size_t i = 0; i < a->size(); ++i) {
      std::string p = fmt::format("{}[{}]", path, i);
      const json::Object* part = Obj(&(*a)[i], p);
      if (!part) return out;
      if (auto t = part->getString("text")) {
        out.push_back({t->str(), {}});
      } else if (const json::Value* e = part->get("expr")) {
        out.push_back({"", Expr(e, p + ".expr")});
      } else {
        Fail(p, "expected {\"text\": ...} or {\"expr\": ...}");
      }
    }
    return out;
  }

  Instance ReadInstance(const json::Value& v, const std::string& path, size_t index,
                        const std::map<std::string, int32_t>& stage_index) {
    Instance inst;
    const json::Object* o = Obj(&v, path);
    if (!o) return inst;
    if (auto id = o->getInteger("id"); id && *id != static_cast<int64_t>(index))
      Fail(path + ".id", fmt::format("is {}, but the instance is at index {}", *id, index));
    inst.name = Str(*o, "name", path);
    std::string stage = Str(*o, "stage", path);
    if (failed()) return inst;
    auto it = stage_index.find(stage);
    if (it == stage_index.end()) return Fail(path + ".stage", "no stage named '" + stage + "'"), inst;
    inst.stage = it->second;
    const json::Object* args = Obj(o->get("args"), path + ".args");
    if (!args) return inst;
    // In stage input order, so that a read plan equals the written one.
    for (const auto& in : plan_.stages[inst.stage].inputs) {
      const json::Value* a = args->get(in.name);
      if (!a) return Fail(path + ".args", "no value for input '" + in.name + "'"), inst;
      inst.args.push_back({in.name, Expr(a, path + ".args." + in.name)});
    }
    for (const auto& kv : *args) {
      bool known = false;
      for (const auto& in : plan_.stages[inst.stage].inputs) known = known || in.name == kv.first.str();
      if (!known) return Fail(path + ".args." + kv.first.str(), "stage '" + stage + "' has no such input"), inst;
    }
    inst.guards = Guards(*o, path);
    if (const json::Array* deps = Arr(*o, "deps", path))
      for (size_t i = 0; i < deps->size(); ++i) {
        auto d = (*deps)[i].getAsInteger();
        if (!d || *d < 0 || *d > INT32_MAX)
          return Fail(fmt::format("{}.deps[{}]", path, i), "expected an instance index"), inst;
        inst.deps.push_back(InstanceId{static_cast<int32_t>(*d)});
      }
    inst.estimate_ms = Int(*o, "estimate_ms", path);
    if (!failed() && inst.estimate_ms < 0) Fail(path + ".estimate_ms", "negative");
    std::string source = Str(*o, "estimate_source", path);
    if (source == "declared") inst.estimate_source = EstimateSource::Declared;
    else if (source == "history") inst.estimate_source = EstimateSource::History;
    else if (source == "default") inst.estimate_source = EstimateSource::Default;
    else if (!failed()) Fail(path + ".estimate_source", "expected declared, history or default");
    inst.priority_s = Num(*o, "priority_s", path);
    inst.loc = Loc(*o, path);
    return inst;
  }

  std::vector<Gate> Gates(const json::Object& o, const std::string& path, const std::string& prefix) {
    std::vector<Gate> out;
    const json::Array* gates = Arr(o, "gates", path);
    if (!gates) return out;
    for (size_t i = 0; i < gates->size() && !failed(); ++i) {
      std::string p = fmt::format("{}[{}]", prefix, i);
      const json::Object* go = Obj(&(*gates)[i], p);
      if (!go) break;
      Gate g;
      if (auto id = go->getInteger("id"); id && *id != static_cast<int64_t>(i))
        Fail(p + ".id", fmt::format("is {}, but the gate is at index {}", *id, i));
      g.name = Str(*go, "name", p);
      if (const json::Array* conds = Arr(*go, "conds", p))
        for (size_t j = 0; j < conds->size(); ++j) g.conds.push_back(Expr(&(*conds)[j], fmt::format("{}.conds[{}]", p, j)));
      g.has_else = Bool(*go, "else", p);
      g.guards = Guards(*go, p);
      g.loc = Loc(*go, p);
      out.push_back(std::move(g));
    }
    return out;
  }

  void Read(const json::Value& root) {
    const json::Object* o = Obj(&root, "plan");
    if (!o) return;
    std::string format = Str(*o, "format", "plan");
    if (failed()) return;
    if (format != kPlanFormat) return void(Fail("plan.format", "is '" + format + "', not '" + kPlanFormat + "'"));
    int64_t version = Int(*o, "version", "plan");
    if (failed()) return;
    if (version != kPlanVersion)
      return void(Fail("plan.version", fmt::format("is {}; this flow reads version {} (recompile the .flow file "
                                                   "with this flowc)",
                                                   version, kPlanVersion)));
    plan_.source = Str(*o, "source", "plan");
    plan_.entry = Str(*o, "entry", "plan");
    if (const json::Array* params = Arr(*o, "params", "plan"))
      for (size_t i = 0; i < params->size() && !failed(); ++i) {
        std::string p = fmt::format("params[{}]", i);
        const json::Object* po = Obj(&(*params)[i], p);
        if (!po) break;
        Param param;
        param.name = Str(*po, "name", p);
        param.type = TypeAt(*po, "type", p);
        if (const json::Value* v = po->get("value")) param.value = *v;
        param.required = Bool(*po, "required", p);
        param.structural = Bool(*po, "structural", p);
        plan_.params.push_back(std::move(param));
      }
    if (const json::Array* records = Arr(*o, "records", "plan"))
      for (size_t i = 0; i < records->size() && !failed(); ++i) {
        std::string p = fmt::format("records[{}]", i);
        const json::Object* ro = Obj(&(*records)[i], p);
        if (!ro) break;
        plan_.records.push_back(Record{Str(*ro, "name", p), Fields(*ro, "fields", p)});
      }
    if (raw_ && raw_->has_shared) {
      for (size_t i = 0; i < raw_->shared.size() && !failed(); ++i) {
        std::string p = fmt::format("shared[{}]", i);
        auto v = ParseElement(raw_->shared[i], p);
        if (!v) break;
        shared_.push_back(Expr(&*v, p));
      }
    } else if (const json::Value* sv = o->get("shared")) {
      const json::Array* shared = sv->getAsArray();
      if (!shared) return void(Fail("plan.shared", "expected an array"));
      for (size_t i = 0; i < shared->size() && !failed(); ++i)
        shared_.push_back(Expr(&(*shared)[i], fmt::format("shared[{}]", i)));
    }
    std::map<std::string, int32_t> stage_index;
    if (const json::Array* stages = Arr(*o, "stages", "plan"))
      for (size_t i = 0; i < stages->size() && !failed(); ++i) {
        std::string p = fmt::format("stages[{}]", i);
        const json::Object* so = Obj(&(*stages)[i], p);
        if (!so) break;
        Stage s;
        s.name = Str(*so, "name", p);
        s.inputs = Fields(*so, "inputs", p);
        s.outputs = Fields(*so, "outputs", p);
        s.command = Parts(so->get("command"), p + ".command");
        if (const json::Array* env = Arr(*so, "env", p))
          for (size_t j = 0; j < env->size(); ++j) {
            std::string ep = fmt::format("{}.env[{}]", p, j);
            const json::Object* eo = Obj(&(*env)[j], ep);
            if (!eo) break;
            s.env.push_back(EnvVar{Str(*eo, "name", ep), Parts(eo->get("value"), ep + ".value")});
          }
        if (const json::Object* res = Obj(so->get("resources"), p + ".resources")) {
          std::vector<std::string> keys;
          for (const auto& kv : *res) keys.push_back(kv.first.str());
          std::sort(keys.begin(), keys.end());
          for (const auto& k : keys) {
            auto amount = res->getNumber(k);
            if (!amount) {
              Fail(p + ".resources." + k, "expected a number");
              break;
            }
            s.resources.push_back(Resource{k, *amount});
          }
        }
        s.retry = Index(*so, "retry", p);
        s.timeout_ms = OptInt(*so, "timeout_ms", p);
        s.estimate_ms = OptInt(*so, "estimate_ms", p);
        if (s.timeout_ms && *s.timeout_ms <= 0) Fail(p + ".timeout_ms", "must be positive");
        if (s.estimate_ms && *s.estimate_ms < 0) Fail(p + ".estimate_ms", "negative");
        s.cache = Bool(*so, "cache", p);
        s.loc = Loc(*so, p);
        if (!stage_index.emplace(s.name, static_cast<int32_t>(i)).second)
          Fail(p + ".name", "a second stage named '" + s.name + "'");
        plan_.stages.push_back(std::move(s));
      }
    if (failed()) return;
    if (raw_ && raw_->has_instances) {
      plan_.instances.reserve(raw_->instances.size());
      for (size_t i = 0; i < raw_->instances.size() && !failed(); ++i) {
        std::string p = fmt::format("instances[{}]", i);
        auto v = ParseElement(raw_->instances[i], p);
        if (!v) break;
        plan_.instances.push_back(ReadInstance(*v, p, i, stage_index));
      }
    } else if (const json::Array* insts = Arr(*o, "instances", "plan")) {
      for (size_t i = 0; i < insts->size() && !failed(); ++i)
        plan_.instances.push_back(ReadInstance((*insts)[i], fmt::format("instances[{}]", i), i, stage_index));
    }
    plan_.gates = Gates(*o, "plan", "gates");
    if (const json::Array* maps = Arr(*o, "maps", "plan"))
      for (size_t i = 0; i < maps->size() && !failed(); ++i) {
        std::string p = fmt::format("maps[{}]", i);
        const json::Object* mo = Obj(&(*maps)[i], p);
        if (!mo) break;
        Map m;
        m.name = Str(*mo, "name", p);
        m.over = Expr(mo->get("over"), p + ".over");
        m.var = Str(*mo, "var", p);
        if (const json::Array* insts = Arr(*mo, "instances", p))
          for (size_t j = 0; j < insts->size() && !failed(); ++j)
            m.instances.push_back(ReadInstance((*insts)[j], fmt::format("{}.instances[{}]", p, j), j, stage_index));
        m.gates = Gates(*mo, p, p + ".gates");
        m.guards = Guards(*mo, p);
        m.loc = Loc(*mo, p);
        plan_.maps.push_back(std::move(m));
      }
  }

 private:
  std::optional<json::Value> ParseElement(llvm::StringRef text, const std::string& path) {
    auto v = ParseJson(text, kMaxJsonDepth);
    if (!v) {
      Fail(path, "invalid JSON (" + llvm::toString(v.takeError()) + ")");
      return std::nullopt;
    }
    return std::move(*v);
  }

  Plan& plan_;
  std::string error_;
  std::vector<ExprId> shared_;
  const Raw* raw_ = nullptr;
};

// Splitting the document: the text of a JSON value starting at `pos` (after
// blanks), or npos when the text is not well formed there. It only finds
// where values end; json::parse checks each piece.
size_t SkipBlanks(llvm::StringRef t, size_t pos) {
  while (pos < t.size() && (t[pos] == ' ' || t[pos] == '\n' || t[pos] == '\r' || t[pos] == '\t')) ++pos;
  return pos;
}

size_t ValueEnd(llvm::StringRef t, size_t pos) {
  pos = SkipBlanks(t, pos);
  if (pos >= t.size()) return llvm::StringRef::npos;
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < t.size(); ++i) {
    char c = t[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      if (!in_string && depth == 0) return i + 1;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '{':
      case '[': ++depth; break;
      case '}':
      case ']':
        if (--depth < 0) return llvm::StringRef::npos;
        if (depth == 0) return i + 1;
        break;
      case ',':
      case ' ':
      case '\n':
      case '\r':
      case '\t':
        if (depth == 0) return i;  // end of a number or literal
        break;
      default: break;
    }
  }
  return depth == 0 && !in_string ? t.size() : llvm::StringRef::npos;
}

// Splits the top-level object: the text of "shared" and "instances" goes
// to `raw` element by element; the rest, "edges" left out (derived data the
// reader does not use; each edge is still checked to be JSON), is rebuilt
// as a small document in `rest`. False when the text is not a well-formed
// object (the caller then parses it whole for the precise error).
bool LargeArrays(llvm::StringRef t, Reader::Raw& raw, std::string& rest) {
  size_t pos = SkipBlanks(t, 0);
  if (pos >= t.size() || t[pos] != '{') return false;
  rest = "{";
  pos = SkipBlanks(t, pos + 1);
  bool first = true;
  if (pos < t.size() && t[pos] == '}') return SkipBlanks(t, pos + 1) == t.size() && (rest += "}", true);
  for (;;) {
    size_t key_end = ValueEnd(t, pos);
    if (key_end == llvm::StringRef::npos || t[pos] != '"') return false;
    llvm::StringRef key = t.slice(pos, key_end);
    pos = SkipBlanks(t, key_end);
    if (pos >= t.size() || t[pos] != ':') return false;
    size_t vstart = SkipBlanks(t, pos + 1);
    size_t vend = ValueEnd(t, vstart);
    if (vend == llvm::StringRef::npos) return false;
    llvm::StringRef value = t.slice(vstart, vend);
    bool split = key == "\"shared\"" || key == "\"instances\"" || key == "\"edges\"";
    if (split && value.startswith("[")) {
      std::vector<llvm::StringRef> elems;
      size_t e = SkipBlanks(value, 1);
      if (e < value.size() && value[e] != ']')
        for (;;) {
          size_t ee = ValueEnd(value, e);
          if (ee == llvm::StringRef::npos) return false;
          elems.push_back(value.slice(e, ee));
          e = SkipBlanks(value, ee);
          if (e < value.size() && value[e] == ',') {
            e = SkipBlanks(value, e + 1);
            continue;
          }
          if (e < value.size() && value[e] == ']') break;
          return false;
        }
      if (key == "\"shared\"") {
        raw.shared = std::move(elems);
        raw.has_shared = true;
      } else if (key == "\"instances\"") {
        raw.instances = std::move(elems);
        raw.has_instances = true;
        rest += std::string(first ? "" : ",") + key.str() + ":[]";  // present, read from `raw`
        first = false;
      } else {
        for (auto edge : elems) {
          auto v = ParseJson(edge, kMaxJsonDepth);
          if (!v) {
            llvm::consumeError(v.takeError());
            return false;
          }
        }
      }
    } else {
      rest += std::string(first ? "" : ",") + key.str() + ":" + value.str();
      first = false;
    }
    pos = SkipBlanks(t, vend);
    if (pos < t.size() && t[pos] == ',') {
      pos = SkipBlanks(t, pos + 1);
      continue;
    }
    if (pos < t.size() && t[pos] == '}') {
      rest += "}";
      return SkipBlanks(t, pos + 1) == t.size();
    }
    return false;
  }
}

}  // namespace

llvm::Expected<Plan> FromJson(const json::Value& value) {
  Plan plan;
  Reader reader(plan);
  reader.Read(value);
  if (reader.failed()) return llvm::createStringError(llvm::inconvertibleErrorCode(), reader.error());
  return plan;
}

llvm::Expected<Plan> Deserialize(llvm::StringRef text, const std::string& origin) {
  // The large arrays are read element by element (llvm::json keeps at least
  // 64 slots per object: a whole 10,000-instance plan as one JSON tree took
  // 450 MB). A document that does not split cleanly is parsed whole, which
  // gives the precise error.
  Reader::Raw raw;
  std::string rest;
  bool split = LargeArrays(text, raw, rest);
  llvm::Expected<json::Value> value = ParseJson(split ? llvm::StringRef(rest) : text, kMaxJsonDepth);
  if (!value)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   origin + ": not a plan: invalid JSON (" + llvm::toString(value.takeError()) + ")");
  Plan result;
  Reader reader(result);
  if (split) reader.SetRaw(&raw);
  reader.Read(*value);
  llvm::Expected<Plan> plan = reader.failed()
                                  ? llvm::Expected<Plan>(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                                                                 reader.error()))
                                  : llvm::Expected<Plan>(std::move(result));
  if (!plan)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   origin + ": bad plan: " + llvm::toString(plan.takeError()));
  std::vector<std::string> problems = Verify(*plan);
  if (!problems.empty()) {
    std::string all = origin + ": bad plan: " + problems.front();
    if (problems.size() > 1) all += fmt::format(" (and {} more problems)", problems.size() - 1);
    return llvm::createStringError(llvm::inconvertibleErrorCode(), all);
  }
  return plan;
}

}  // namespace flow::plan
