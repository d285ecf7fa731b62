// SPDX-License-Identifier: Apache-2.0
// The plan's JSON form (docs/plan-format.md): writing, and reading with
// errors that name the JSON path of the problem.
#include <map>
#include <set>

#include "fmt/format.h"
#include "llvm/Support/FormatVariadic.h"
#include "plan/plan.h"

namespace flow::plan {

namespace json = llvm::json;

// ----------------------------------------------------------------- writing

namespace {

json::Value LocJson(const SourceLoc& loc) {
  return json::Object{{"file", loc.file}, {"line", loc.line}, {"col", loc.col}};
}

json::Value ExprJson(const Plan& plan, ExprId id) {
  const ExprNode& n = plan.Get(id);
  json::Object o{{"op", Spelling(n.op)}, {"type", n.type.Spell()}};
  switch (n.op) {
    case Op::Lit:
      o["value"] = n.lit;
      break;
    case Op::Param:
    case Op::Var:
    case Op::Input:
    case Op::OutPath:
    case Op::Member:
    case Op::Builtin:
      o["name"] = n.name;
      break;
    case Op::Output:
      o["name"] = n.name;
      o["instance"] = n.instance.value;
      if (n.local) o["local"] = true;
      break;
    case Op::MapValues:
      o["map"] = n.map.value;
      break;
    case Op::Choose:
      o["gate"] = n.gate.value;
      if (n.local) o["local"] = true;
      break;
    case Op::Record: {
      json::Object fields;
      for (size_t i = 0; i < n.args.size(); ++i) fields[n.fields[i]] = ExprJson(plan, n.args[i]);
      o["fields"] = std::move(fields);
      return o;
    }
    default:
      break;
  }
  if (!n.args.empty()) {
    json::Array args;
    for (ExprId a : n.args) args.push_back(ExprJson(plan, a));
    o["args"] = std::move(args);
  }
  return o;
}

json::Value PartsJson(const Plan& plan, const std::vector<TemplatePart>& parts) {
  json::Array out;
  for (const auto& p : parts) {
    if (p.expr.valid())
      out.push_back(json::Object{{"expr", ExprJson(plan, p.expr)}});
    else
      out.push_back(json::Object{{"text", p.text}});
  }
  return out;
}

json::Value FieldsJson(const std::vector<Field>& fields) {
  json::Array out;
  for (const auto& f : fields) out.push_back(json::Object{{"name", f.name}, {"type", f.type.Spell()}});
  return out;
}

json::Value GuardsJson(const std::vector<Guard>& guards) {
  json::Array out;
  for (const auto& g : guards) out.push_back(json::Object{{"gate", g.gate.value}, {"branch", g.branch}});
  return out;
}

json::Value InstanceJson(const Plan& plan, const Instance& inst, size_t index) {
  json::Object args;
  for (const auto& a : inst.args) args[a.input] = ExprJson(plan, a.value);
  json::Array deps;
  for (InstanceId d : inst.deps) deps.push_back(d.value);
  return json::Object{{"id", static_cast<int64_t>(index)},
                      {"name", inst.name},
                      {"stage", plan.stages[inst.stage].name},
                      {"args", std::move(args)},
                      {"guards", GuardsJson(inst.guards)},
                      {"deps", std::move(deps)},
                      {"estimate_ms", inst.estimate_ms},
                      {"estimate_source", Spelling(inst.estimate_source)},
                      {"priority_s", inst.priority_s},
                      {"loc", LocJson(inst.loc)}};
}

json::Array GatesJson(const Plan& plan, const std::vector<Gate>& gates) {
  json::Array out;
  for (size_t i = 0; i < gates.size(); ++i) {
    const Gate& g = gates[i];
    json::Array conds;
    for (ExprId c : g.conds) conds.push_back(ExprJson(plan, c));
    out.push_back(json::Object{{"id", static_cast<int64_t>(i)},
                               {"name", g.name},
                               {"conds", std::move(conds)},
                               {"else", g.has_else},
                               {"guards", GuardsJson(g.guards)},
                               {"loc", LocJson(g.loc)}});
  }
  return out;
}

// Data edges between top-level instances, labelled with the outputs read,
// for readers that want the graph without walking expressions.
json::Value EdgesJson(const Plan& plan) {
  json::Array out;
  for (size_t to = 0; to < plan.instances.size(); ++to) {
    std::map<int32_t, std::set<std::string>> from;
    std::vector<ExprId> work;
    for (const auto& a : plan.instances[to].args) work.push_back(a.value);
    while (!work.empty()) {
      ExprId e = work.back();
      work.pop_back();
      const ExprNode& n = plan.Get(e);
      if (n.op == Op::Output && !n.local) from[n.instance.value].insert(n.name);
      for (ExprId a : n.args) work.push_back(a);
    }
    for (const auto& [f, outputs] : from) {
      json::Array names;
      for (const auto& o : outputs) names.push_back(o);
      out.push_back(json::Object{{"from", f}, {"to", static_cast<int64_t>(to)}, {"outputs", std::move(names)}});
    }
  }
  return out;
}

}  // namespace

json::Value ToJson(const Plan& plan) {
  json::Array params;
  for (const auto& p : plan.params)
    params.push_back(json::Object{{"name", p.name},
                                  {"type", p.type.Spell()},
                                  {"value", p.value},
                                  {"required", p.required},
                                  {"structural", p.structural}});
  json::Array records;
  for (const auto& r : plan.records) records.push_back(json::Object{{"name", r.name}, {"fields", FieldsJson(r.fields)}});
  json::Array stages;
  for (const auto& s : plan.stages) {
    json::Object resources;
    for (const auto& r : s.resources) resources[r.name] = r.amount;
    json::Array env;
    for (const auto& e : s.env) env.push_back(json::Object{{"name", e.name}, {"value", PartsJson(plan, e.value)}});
    json::Object o{{"name", s.name},
                   {"inputs", FieldsJson(s.inputs)},
                   {"outputs", FieldsJson(s.outputs)},
                   {"command", PartsJson(plan, s.command)},
                   {"env", std::move(env)},
                   {"resources", std::move(resources)},
                   {"retry", s.retry},
                   {"cache", s.cache},
                   {"loc", LocJson(s.loc)}};
    o["timeout_ms"] = s.timeout_ms ? json::Value(*s.timeout_ms) : json::Value(nullptr);
    o["estimate_ms"] = s.estimate_ms ? json::Value(*s.estimate_ms) : json::Value(nullptr);
    stages.push_back(std::move(o));
  }
  json::Array instances;
  for (size_t i = 0; i < plan.instances.size(); ++i) instances.push_back(InstanceJson(plan, plan.instances[i], i));
  json::Array gates = GatesJson(plan, plan.gates);
  json::Array maps;
  for (size_t i = 0; i < plan.maps.size(); ++i) {
    const Map& m = plan.maps[i];
    json::Array insts;
    for (size_t j = 0; j < m.instances.size(); ++j) insts.push_back(InstanceJson(plan, m.instances[j], j));
    maps.push_back(json::Object{{"id", static_cast<int64_t>(i)},
                                {"name", m.name},
                                {"over", ExprJson(plan, m.over)},
                                {"var", m.var},
                                {"instances", std::move(insts)},
                                {"gates", GatesJson(plan, m.gates)},
                                {"guards", GuardsJson(m.guards)},
                                {"loc", LocJson(m.loc)}});
  }
  return json::Object{{"format", kPlanFormat},
                      {"version", kPlanVersion},
                      {"source", plan.source},
                      {"entry", plan.entry},
                      {"params", std::move(params)},
                      {"records", std::move(records)},
                      {"stages", std::move(stages)},
                      {"instances", std::move(instances)},
                      {"gates", std::move(gates)},
                      {"maps", std::move(maps)},
                      {"edges", EdgesJson(plan)}};
}

std::string Serialize(const Plan& plan) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << llvm::formatv("{0:1}", ToJson(plan)) << "\n";
  return os.str();
}

// ----------------------------------------------------------------- reading

namespace {

// Reads JSON into a Plan, remembering the first error with its JSON path.
class Reader {
 public:
  explicit Reader(Plan& plan) : plan_(plan) {}

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
    loc.file = Str(*l, "file", path + ".loc");
    loc.line = static_cast<unsigned>(Int(*l, "line", path + ".loc"));
    loc.col = static_cast<unsigned>(Int(*l, "col", path + ".loc"));
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
      out.push_back(Guard{GateId{static_cast<int32_t>(Int(*g, "gate", p))}, static_cast<int32_t>(Int(*g, "branch", p))});
    }
    return out;
  }

  ExprId Expr(const json::Value* v, const std::string& path) {
    const json::Object* o = Obj(v, path);
    if (!o) return {};
    std::string op_name = Str(*o, "op", path);
    if (failed()) return {};
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
        n.instance = InstanceId{static_cast<int32_t>(Int(*o, "instance", path))};
        n.local = o->getBoolean("local").getValueOr(false);
        break;
      case Op::MapValues:
        n.map = MapId{static_cast<int32_t>(Int(*o, "map", path))};
        break;
      case Op::Choose:
        n.gate = GateId{static_cast<int32_t>(Int(*o, "gate", path))};
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
        if (!d) return Fail(fmt::format("{}.deps[{}]", path, i), "expected an instance index"), inst;
        inst.deps.push_back(InstanceId{static_cast<int32_t>(*d)});
      }
    inst.estimate_ms = Int(*o, "estimate_ms", path);
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
        s.retry = static_cast<int>(Int(*so, "retry", p));
        s.timeout_ms = OptInt(*so, "timeout_ms", p);
        s.estimate_ms = OptInt(*so, "estimate_ms", p);
        s.cache = Bool(*so, "cache", p);
        s.loc = Loc(*so, p);
        if (!stage_index.emplace(s.name, static_cast<int32_t>(i)).second)
          Fail(p + ".name", "a second stage named '" + s.name + "'");
        plan_.stages.push_back(std::move(s));
      }
    if (failed()) return;
    if (const json::Array* insts = Arr(*o, "instances", "plan"))
      for (size_t i = 0; i < insts->size() && !failed(); ++i)
        plan_.instances.push_back(ReadInstance((*insts)[i], fmt::format("instances[{}]", i), i, stage_index));
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
  Plan& plan_;
  std::string error_;
};

}  // namespace

llvm::Expected<Plan> FromJson(const json::Value& value) {
  Plan plan;
  Reader reader(plan);
  reader.Read(value);
  if (reader.failed()) return llvm::createStringError(llvm::inconvertibleErrorCode(), reader.error());
  return plan;
}

llvm::Expected<Plan> Deserialize(llvm::StringRef text, const std::string& origin) {
  llvm::Expected<json::Value> value = json::parse(text);
  if (!value)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   origin + ": not a plan: invalid JSON (" + llvm::toString(value.takeError()) + ")");
  llvm::Expected<Plan> plan = FromJson(*value);
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
