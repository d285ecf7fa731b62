// SPDX-License-Identifier: Apache-2.0
// The engine's state machine. Every instance, gate and map of the plan (and
// every copy made from a map template) is an Item; an item waits on the
// items whose results it reads, and is activated when the last of them is
// done: a node is skipped, reused from the cache, or queued for the
// scheduler; a gate is decided; a map is expanded into copies.
#include "engine/engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "engine/progress.h"
#include "engine/values.h"
#include "exec/command.h"
#include "exec/signals.h"
#include "fmt/format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"
#include "plan/eval.h"
#include "store/run_store.h"

extern char** environ;

namespace flow::rt {

namespace json = llvm::json;
using plan::ExprId;
using plan::ExprNode;
using plan::Op;
using plan::Type;

Demand DemandOf(const plan::Stage& stage) {
  Demand d;
  for (const auto& r : stage.resources) {
    if (r.name == "cpus")
      d.cpus = r.amount;
    else if (r.name == "memory")
      d.memory_bytes = r.amount;
    else if (r.name == "gpus")
      d.gpus = static_cast<int>(std::ceil(r.amount));
    else
      d.pools[r.name] = r.amount;
  }
  return d;
}

std::vector<std::string> PreflightErrors(const plan::Plan& plan, const Capacity& capacity) {
  std::vector<std::string> errors;
  for (const auto& p : plan.params)
    if (p.required && p.value.getAsNull() && p.type.kind != Type::Optional)
      errors.push_back(fmt::format("param '{}' ({}) has no value: give one with --param {}=VALUE", p.name,
                                   p.type.Spell(), p.name));
  Scheduler probe(capacity);
  auto check = [&](const plan::Instance& inst) {
    const plan::Stage& s = plan.StageOf(inst);
    if (auto why = probe.NeverFits(DemandOf(s)))
      errors.push_back(fmt::format("instance '{}' (stage '{}') can never run: it {}", inst.name, s.name, *why));
  };
  std::set<int32_t> seen_stage;
  for (const auto& inst : plan.instances)
    if (seen_stage.insert(inst.stage).second) check(inst);
  for (const auto& m : plan.maps)
    for (const auto& inst : m.instances)
      if (seen_stage.insert(inst.stage).second) check(inst);
  return errors;
}

namespace {

using Clock = std::chrono::steady_clock;

enum class Kind : uint8_t { Node, Gate, Map };
enum class St : uint8_t {
  Waiting,
  Queued,
  Running,
  Retrying,
  Succeeded,
  Cached,
  Skipped,
  Failed,
  NotRun,
  Cancelled,
  Decided,   // gate
  Expanded,  // map: copies made, not all done
  Done,      // map: every copy done
  WouldRun,  // --dry-run
};

const char* StatusName(St s) {
  switch (s) {
    case St::Waiting: return "pending";
    case St::Queued: return "pending";
    case St::Running: return "running";
    case St::Retrying: return "running";
    case St::Succeeded: return "succeeded";
    case St::Cached: return "cached";
    case St::Skipped: return "skipped";
    case St::Failed: return "failed";
    case St::NotRun: return "not_run";
    case St::Cancelled: return "cancelled";
    case St::Decided: return "decided";
    case St::Expanded: return "expanded";
    case St::Done: return "done";
    case St::WouldRun: return "would_run";
  }
  return "?";
}

struct Item {
  Kind kind;
  int32_t copy = -1;  // the map copy it belongs to; -1: top level
  int32_t index = 0;  // into plan.instances/gates/maps, or the template's instances/gates
  std::string name;
  St st = St::Waiting;
  bool done = false, ok = false;
  int waiting = 0;
  std::string blocked;  // why it cannot run: a dependency failed
  std::string reason;   // skipped / failed / not run: why
  std::vector<uint32_t> dependents;
  // nodes
  json::Object inputs;   // evaluated args
  json::Object outputs;  // committed output values
  std::string key, key_parts, dir;  // cache key (hex), what went into it, the output folder name
  int attempt = 0;
  uint64_t job = 0;
  double ready_at = 0, started_at = 0, ended_at = 0, retry_at = 0;
  std::string tmp_suffix, command, stdout_path, stderr_path;  // outputs are written to DIR.OUTPUT + tmp_suffix
  std::vector<int> gpus;
  // gates: the branch taken, -1 none, -2 unknown (dry run)
  int branch = -1;
  // maps: items of its copies not yet done
  int open = 0;
  std::vector<int32_t> copies;
};

struct Copy {
  uint32_t map_item;
  json::Value element = nullptr;
  std::vector<uint32_t> nodes, gates;
};

std::string SafeName(const std::string& name) {
  std::string s;
  for (char c : name) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '@' ||
              c == '#' || c == '[' || c == ']';
    s += ok ? c : '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

bool MakeDirs(const std::string& path, std::string& error) {
  if (auto ec = llvm::sys::fs::create_directories(path)) {
    error = "cannot create " + path + ": " + ec.message();
    return false;
  }
  return true;
}

std::string ToText(const json::Value& v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << v;
  return os.str();
}

// A canonical text of an expression, for the stage-definition part of
// cache keys.
void ExprText(const plan::Plan& plan, ExprId id, std::string& out, int depth = 0) {
  const ExprNode& n = plan.Get(id);
  out += plan::Spelling(n.op);
  if (!n.name.empty()) out += ":" + n.name;
  if (n.op == Op::Lit) out += "=" + ToText(n.lit);
  out += "(";
  if (depth < 64)
    for (ExprId a : n.args) {
      ExprText(plan, a, out, depth + 1);
      out += ",";
    }
  out += ")";
}

std::string TemplateText(const plan::Plan& plan, const std::vector<plan::TemplatePart>& parts, bool canonical) {
  std::string s;
  for (const auto& p : parts) {
    if (!p.expr.valid()) {
      s += p.text;
      continue;
    }
    if (canonical) {
      s += "{";
      ExprText(plan, p.expr, s);
      s += "}";
      continue;
    }
    const ExprNode& n = plan.Get(p.expr);
    s += "{" + (n.op == Op::Input || n.op == Op::OutPath ? n.name : std::string("...")) + "}";
  }
  return s;
}

bool IsHex16(const std::string& s, size_t at) {
  if (at + 16 > s.size()) return false;
  for (size_t i = at; i < at + 16; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(s[i])) || std::isupper(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// Output paths name their instance's key: `.flow/out/INSTANCE.KEY.OUTPUT`.
// In cache keys they become `.flow/out/INSTANCE.*.OUTPUT`: the file's
// content is keyed separately, so an upstream instance that reran and made
// the same content does not make this one rerun.
std::string NormalizeOutputPaths(const std::string& text) {
  static const std::string kOut = ".flow/out/";
  std::string out;
  size_t p = 0;
  for (;;) {
    size_t at = text.find(kOut, p);
    if (at == std::string::npos) break;
    size_t seg = at + kOut.size();
    size_t end = text.find_first_of("\"/", seg);
    if (end == std::string::npos) end = text.size();
    // The output name has no dot: the key is the 16 hex digits before it.
    size_t dot = text.rfind('.', end);
    if (dot != std::string::npos && dot >= seg + 17 && text[dot - 17] == '.' && IsHex16(text, dot - 16)) {
      out += text.substr(p, dot - 16 - p) + "*";
      p = dot;
    } else {
      out += text.substr(p, seg - p);
      p = seg;
    }
  }
  return out + text.substr(p);
}

class Engine {
 public:
  Engine(const plan::Plan& plan, RunStore& store, Executor& exec, const RunOptions& opt)
      : plan_(plan), store_(store), exec_(exec), opt_(opt), sched_(opt.capacity) {}

  RunSummary Run();

 private:
  // ---- building the item graph
  uint32_t NewItem(Kind kind, int32_t copy, int32_t index, std::string name);
  void Wire(uint32_t id);
  void ScanExpr(ExprId root, int32_t copy, std::set<uint32_t>& deps);
  uint32_t NodeOf(plan::InstanceId i, bool local, int32_t copy) const {
    return local ? copies_[copy].nodes[i.value] : top_nodes_[i.value];
  }
  uint32_t GateOf(plan::GateId g, bool local, int32_t copy) const {
    return local ? copies_[copy].gates[g.value] : top_gates_[g.value];
  }
  const plan::Instance& InstanceOf(const Item& it) const {
    return it.copy >= 0 ? plan_.maps[items_[copies_[it.copy].map_item].index].instances[it.index]
                        : plan_.instances[it.index];
  }
  const plan::Gate& GateDef(const Item& it) const {
    return it.copy >= 0 ? plan_.maps[items_[copies_[it.copy].map_item].index].gates[it.index]
                        : plan_.gates[it.index];
  }
  const std::vector<plan::Guard>& GuardsOf(const Item& it) const;

  // ---- state changes
  void Finish(uint32_t id, bool ok);
  void Activate(uint32_t id);
  void ActivateNode(uint32_t id);
  void ActivateGate(uint32_t id);
  void ActivateMap(uint32_t id);
  void Fail(uint32_t id, const std::string& error);
  void Launch(uint32_t id, const std::vector<int>& gpus);
  void OnCompletion(const Completion& c);
  void AttemptFailed(uint32_t id, const std::string& error, const Completion* c);
  bool CommitOutputs(uint32_t id, std::string& error);
  void Record(uint32_t id);
  void Event(uint32_t id, const std::string& event, const std::string& detail);
  void CancelAll();

  // ---- evaluation
  plan::EvalEnv EnvFor(int32_t copy, const json::Object* inputs = nullptr, const std::string* out_prefix = nullptr,
                       const std::string* out_suffix = nullptr);
  bool ComputeKey(uint32_t id, std::string& error);
  std::optional<std::string> TryCache(uint32_t id);
  std::vector<CommandPiece> Pieces(uint32_t id, const std::vector<plan::TemplatePart>& parts,
                                   const std::string& out_suffix, bool command, std::string& error);
  std::string ValueFile(uint32_t id, const json::Value& v, std::string& error);

  std::string Abs(const std::string& rel) const {
    return !rel.empty() && rel[0] == '/' ? rel : opt_.project_dir + "/" + rel;
  }
  double Now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  const plan::Plan& plan_;
  RunStore& store_;
  Executor& exec_;
  const RunOptions& opt_;
  Scheduler sched_;
  std::unique_ptr<Progress> progress_;
  int64_t run_ = 0;
  Clock::time_point start_ = Clock::now();

  std::vector<Item> items_;
  std::vector<Copy> copies_;
  std::vector<uint32_t> top_nodes_, top_gates_, top_maps_;
  std::deque<uint32_t> activate_;
  std::unordered_map<uint64_t, uint32_t> by_job_;
  std::multimap<double, uint32_t> retries_;  // due time -> node
  std::map<int32_t, std::string> stage_def_;  // stage -> hash of its definition
  std::map<std::string, std::string> base_env_;  // flow's own environment
  std::map<int32_t, std::string> resources_text_;  // stage -> its resources as JSON
  bool stopping_ = false, cancelled_ = false, made_dirs_ = false;
  std::string first_failure_, first_failed_;
  size_t value_files_ = 0;
};

uint32_t Engine::NewItem(Kind kind, int32_t copy, int32_t index, std::string name) {
  Item it;
  it.kind = kind;
  it.copy = copy;
  it.index = index;
  it.name = std::move(name);
  items_.push_back(std::move(it));
  return static_cast<uint32_t>(items_.size() - 1);
}

const std::vector<plan::Guard>& Engine::GuardsOf(const Item& it) const {
  switch (it.kind) {
    case Kind::Node: return InstanceOf(it).guards;
    case Kind::Gate: return GateDef(it).guards;
    case Kind::Map: return plan_.maps[it.index].guards;
  }
  return plan_.maps[0].guards;
}

// What an expression waits for: the nodes whose outputs it reads, the gates
// its `choose`s need, the maps whose values it collects.
void Engine::ScanExpr(ExprId root, int32_t copy, std::set<uint32_t>& deps) {
  std::vector<std::pair<ExprId, bool>> work = {{root, false}};  // (node, inside a map_values template)
  std::set<std::pair<int32_t, bool>> seen;
  while (!work.empty()) {
    auto [id, in_template] = work.back();
    work.pop_back();
    if (!seen.insert({id.value, in_template}).second) continue;
    const ExprNode& n = plan_.Get(id);
    bool local_ok = !in_template && copy >= 0;
    if (n.op == Op::Output && (!n.local || local_ok)) deps.insert(NodeOf(n.instance, n.local, copy));
    if (n.op == Op::Choose && (!n.local || local_ok)) deps.insert(GateOf(n.gate, n.local, copy));
    if (n.op == Op::MapValues) {
      deps.insert(top_maps_[n.map.value]);
      for (ExprId a : n.args) work.push_back({a, true});
      continue;
    }
    for (ExprId a : n.args) work.push_back({a, in_template});
  }
}

void Engine::Wire(uint32_t id) {
  std::set<uint32_t> deps;
  Item& it = items_[id];
  int32_t copy = it.copy;
  for (const auto& g : GuardsOf(it)) deps.insert(GateOf(g.gate, copy >= 0, copy));
  if (it.kind == Kind::Node) {
    const plan::Instance& inst = InstanceOf(it);
    for (auto d : inst.deps) deps.insert(copy >= 0 ? copies_[copy].nodes[d.value] : top_nodes_[d.value]);
    for (const auto& a : inst.args) ScanExpr(a.value, copy, deps);
  } else if (it.kind == Kind::Gate) {
    for (ExprId c : GateDef(it).conds) ScanExpr(c, copy, deps);
  } else {
    ScanExpr(plan_.maps[it.index].over, -1, deps);
  }
  deps.erase(id);
  for (uint32_t d : deps) {
    Item& dep = items_[d];
    if (dep.done) {
      if (!dep.ok && items_[id].blocked.empty()) items_[id].blocked = dep.name + " did not succeed";
      continue;
    }
    ++items_[id].waiting;
    dep.dependents.push_back(id);
  }
  if (items_[id].waiting == 0) activate_.push_back(id);
}

// ------------------------------------------------------------------ evaluation

plan::EvalEnv Engine::EnvFor(int32_t copy, const json::Object* inputs, const std::string* out_prefix,
                             const std::string* out_suffix) {
  plan::EvalEnv env;
  env.param = [this](const std::string& name) -> std::optional<json::Value> {
    for (const auto& p : plan_.params)
      if (p.name == name) return p.value;
    return std::nullopt;
  };
  env.output = [this, copy](const ExprNode& n) -> std::optional<json::Value> {
    if (n.op == Op::MapValues) {
      const Item& m = items_[top_maps_[n.map.value]];
      if (m.st == St::Skipped) return json::Value(nullptr);
      if (m.st != St::Done) return std::nullopt;
      json::Array out;
      for (int32_t c : m.copies) {
        plan::EvalResult r = plan::Evaluate(plan_, n.args[0], EnvFor(c));
        if (r.state != plan::EvalResult::Known) return std::nullopt;
        out.push_back(std::move(r.value));
      }
      return json::Value(std::move(out));
    }
    const Item& src = items_[NodeOf(n.instance, n.local, copy)];
    if (src.st == St::Skipped) return json::Value(nullptr);
    if (src.st != St::Succeeded && src.st != St::Cached) return std::nullopt;
    if (const json::Value* v = src.outputs.get(n.name)) return *v;
    return std::nullopt;
  };
  env.var = [this, copy](const std::string&) -> std::optional<json::Value> {
    if (copy < 0) return std::nullopt;
    return copies_[copy].element;
  };
  env.gate = [this, copy](plan::GateId g, bool local) -> std::optional<int> {
    const Item& gi = items_[GateOf(g, local, copy)];
    if (gi.st == St::Skipped) return -1;
    if (gi.st != St::Decided || gi.branch == -2) return std::nullopt;
    return gi.branch;
  };
  if (inputs)
    env.input = [inputs](const std::string& name) -> std::optional<json::Value> {
      if (const json::Value* v = inputs->get(name)) return *v;
      return std::nullopt;
    };
  if (out_prefix && out_suffix)
    env.out_path = [out_prefix, out_suffix](const std::string& name) -> std::optional<json::Value> {
      return *out_prefix + "." + name + *out_suffix;
    };
  return env;
}

// The key: stage definition, input values (outputs of other instances by
// their instance and output name), and the content of every file among them.
bool Engine::ComputeKey(uint32_t id, std::string& error) {
  Item& it = items_[id];
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  auto def = stage_def_.find(inst.stage);
  if (def == stage_def_.end()) {
    std::string s = "stage " + stage.name + "\n" + TemplateText(plan_, stage.command, true) + "\n";
    for (const auto& e : stage.env) s += "env " + e.name + "=" + TemplateText(plan_, e.value, true) + "\n";
    for (const auto& f : stage.inputs) s += "in " + f.name + ":" + f.type.Spell() + "\n";
    for (const auto& f : stage.outputs) s += "out " + f.name + ":" + f.type.Spell() + "\n";
    def = stage_def_.emplace(inst.stage, Hex64(llvm::xxHash64(s))).first;
  }
  json::Object parts;
  parts["stage"] = stage.name;
  parts["definition"] = def->second;
  parts["command"] = TemplateText(plan_, stage.command, false);
  json::Object inputs, files;
  for (size_t i = 0; i < stage.inputs.size() && i < inst.args.size(); ++i) {
    const plan::Field& f = stage.inputs[i];
    const json::Value* v = it.inputs.get(f.name);
    if (!v) continue;
    inputs[f.name] = *v;
    bool bad = false;
    ForEachPath(plan_, f.type, *v, [&](const std::string& path, bool) {
      if (bad || files.get(path)) return;
      auto h = HashPath(&store_, opt_.project_dir, path, error);
      if (!h) {
        error = fmt::format("input '{}': {}", f.name, error);
        bad = true;
        return;
      }
      files[path] = Hex64(*h);
    });
    if (bad) return false;
  }
  parts["inputs"] = std::move(inputs);
  parts["files"] = std::move(files);
  if (!stage.cache) parts["run"] = run_;
  // Paths of earlier outputs name their key folder; the key uses their
  // content (in "files") and the instance and output they come from, not the
  // folder, so an upstream rerun that gives the same content reuses this.
  std::string text = ToText(json::Value(std::move(parts)));
  std::string norm = NormalizeOutputPaths(text);
  it.key = Hex64(llvm::xxHash64(norm)) + Hex64(llvm::xxHash64(norm + "\x01"));
  it.key_parts = norm;
  it.dir = ".flow/out/" + SafeName(it.name) + "." + it.key.substr(0, 16);
  return true;
}

std::optional<std::string> Engine::TryCache(uint32_t id) {
  Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  if (!stage.cache) return std::nullopt;
  auto row = store_.FindCache(it.key);
  if (!row) return std::nullopt;
  auto parsed = json::parse(row->outputs);
  if (!parsed || !parsed->getAsObject()) {
    if (!parsed) llvm::consumeError(parsed.takeError());
    store_.DropCache(it.key);
    return std::nullopt;
  }
  bool missing = false;
  for (const auto& f : stage.outputs)
    if (const json::Value* v = parsed->getAsObject()->get(f.name))
      ForEachPath(plan_, f.type, *v, [&](const std::string& path, bool) {
        if (::access(Abs(path).c_str(), F_OK) != 0) missing = true;
      });
  if (missing) {
    store_.DropCache(it.key);
    return std::nullopt;
  }
  it.outputs = std::move(*parsed->getAsObject());
  return fmt::format("from run {}", row->run_id);
}

std::string Engine::ValueFile(uint32_t id, const json::Value& v, std::string& error) {
  std::string dir = fmt::format(".flow/values/{}/{}", run_, SafeName(items_[id].name));
  if (!MakeDirs(Abs(dir), error)) return {};
  std::string path = fmt::format("{}/v{}.json", dir, value_files_++);
  std::error_code ec;
  llvm::raw_fd_ostream os(Abs(path), ec);
  if (ec) {
    error = "cannot write " + path + ": " + ec.message();
    return {};
  }
  os << v << "\n";
  return path;
}

// The words of each piece of a template. `command`: quoted words for the
// command line; otherwise (env values) one text.
std::vector<CommandPiece> Engine::Pieces(uint32_t id, const std::vector<plan::TemplatePart>& parts,
                                         const std::string& out_suffix, bool command, std::string& error) {
  Item& it = items_[id];
  std::vector<CommandPiece> pieces;
  plan::EvalEnv env = EnvFor(it.copy, &it.inputs, &it.dir, &out_suffix);
  for (const auto& part : parts) {
    if (!part.expr.valid()) {
      pieces.push_back(CommandPiece::Text(part.text));
      continue;
    }
    plan::EvalResult r = plan::Evaluate(plan_, part.expr, env);
    if (r.state != plan::EvalResult::Known) {
      error = r.state == plan::EvalResult::Failed ? r.error : "a placeholder's value is not known";
      return {};
    }
    Type type = plan_.Get(part.expr).type;
    while (type.kind == Type::Optional) type = type.elem[0];
    std::vector<std::string> words;
    auto structured = [&](const Type& t) {
      return t.kind == Type::Record || t.kind == Type::Json || t.kind == Type::List;
    };
    if (plan_.Get(part.expr).op == Op::OutPath) {
      words.push_back(plan::FormatValue(r.value, Type::Scalar(Type::File)));  // a path, whatever the output's type
    } else if (r.value.getAsNull()) {
      // an absent optional: no word
    } else if (type.kind == Type::Record || type.kind == Type::Json ||
               (type.kind == Type::List && structured(type.elem[0]))) {
      std::string path = ValueFile(id, r.value, error);
      if (path.empty()) return {};
      words.push_back(path);
    } else if (type.kind == Type::List && command) {
      if (const json::Array* arr = r.value.getAsArray())
        for (const auto& e : *arr) words.push_back(plan::FormatValue(e, type.elem[0]));
    } else {
      words.push_back(plan::FormatValue(r.value, type));
    }
    pieces.push_back(CommandPiece::Words(std::move(words)));
  }
  return pieces;
}

// ------------------------------------------------------------------ state changes

void Engine::Record(uint32_t id) {
  const Item& it = items_[id];
  if (it.kind != Kind::Node || opt_.dry_run) return;
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  InstanceRow row;
  row.name = it.name;
  row.stage = stage.name;
  row.status = StatusName(it.st);
  row.reason = it.reason;
  row.cache_key = it.key;
  row.priority_s = inst.priority_s;
  row.estimate_ms = inst.estimate_ms;
  auto cached = resources_text_.find(inst.stage);
  if (cached == resources_text_.end() || !it.gpus.empty()) {
    json::Object res;
    Demand d = DemandOf(stage);
    res["cpus"] = d.cpus;
    res["memory"] = d.memory_bytes;
    res["gpus"] = d.gpus;
    for (const auto& [k, v] : d.pools) res[k] = v;
    if (!it.gpus.empty()) {
      json::Array ids;
      for (int g : it.gpus) ids.push_back(g);
      res["gpu_ids"] = std::move(ids);
      row.resources = ToText(json::Value(std::move(res)));
    } else {
      cached = resources_text_.emplace(inst.stage, ToText(json::Value(std::move(res)))).first;
    }
  }
  if (it.gpus.empty()) row.resources = cached->second;
  row.outputs = ToText(json::Value(json::Object(it.outputs)));
  row.key_parts = it.key_parts;
  if (it.ready_at > 0) row.ready_at = it.ready_at;
  if (it.started_at > 0) row.started_at = it.started_at;
  if (it.ended_at > 0) row.ended_at = it.ended_at;
  row.attempts = it.attempt;
  store_.PutInstance(run_, row);
}

void Engine::Event(uint32_t id, const std::string& event, const std::string& detail) {
  if (!opt_.dry_run) store_.AddEvent(run_, items_[id].name, event, detail);
}

void Engine::Finish(uint32_t id, bool ok) {
  Item& it = items_[id];
  if (it.done) return;
  it.done = true;
  it.ok = ok;
  if (it.kind == Kind::Node && it.ended_at == 0) it.ended_at = WallNow();
  Record(id);
  if (progress_) progress_->Count(it.kind == Kind::Node, StatusName(it.st));
  for (uint32_t d : it.dependents) {
    Item& dep = items_[d];
    if (!ok && dep.blocked.empty()) dep.blocked = it.name + (it.st == St::Failed ? " failed" : " did not run");
    if (--dep.waiting == 0) activate_.push_back(d);
  }
  if (it.copy >= 0) {
    uint32_t m = copies_[it.copy].map_item;
    if (--items_[m].open == 0 && items_[m].st == St::Expanded) {
      items_[m].st = St::Done;
      Finish(m, true);
    }
  }
}

void Engine::Activate(uint32_t id) {
  Item& it = items_[id];
  if (it.done) return;
  if (!it.blocked.empty() || (stopping_ && it.kind == Kind::Node)) {
    it.st = cancelled_ ? St::Cancelled : St::NotRun;
    it.reason = !it.blocked.empty() ? it.blocked : cancelled_ ? "the run was cancelled" : "the run stopped after a failure";
    if (progress_ && it.kind == Kind::Node) progress_->Line("not run", it.name, it.reason);
    Finish(id, false);
    return;
  }
  // Guards: every one must have taken its branch.
  for (const auto& g : GuardsOf(it)) {
    const Item& gate = items_[GateOf(g.gate, it.copy >= 0, it.copy)];
    if (gate.branch == -2) {  // dry run: decided at run time
      it.st = St::WouldRun;
      it.reason = "if " + gate.name + " takes its branch";
      if (progress_ && it.kind == Kind::Node) progress_->Line("maybe", it.name, "runs " + it.reason + " (decided at run time)");
      Finish(id, true);
      return;
    }
    if (gate.st == St::Skipped || gate.branch != g.branch) {
      it.st = St::Skipped;
      it.reason = gate.st == St::Skipped ? gate.name + " was skipped"
                  : gate.branch < 0       ? gate.name + " took no branch"
                                          : fmt::format("{} took branch {}", gate.name, gate.branch);
      if (progress_ && it.kind != Kind::Gate) progress_->Line("skipped", it.name, it.reason);
      Event(id, "skipped", it.reason);
      Finish(id, true);
      return;
    }
  }
  switch (it.kind) {
    case Kind::Node: return ActivateNode(id);
    case Kind::Gate: return ActivateGate(id);
    case Kind::Map: return ActivateMap(id);
  }
}

void Engine::Fail(uint32_t id, const std::string& error) {
  Item& it = items_[id];
  it.st = St::Failed;
  it.reason = error;
  if (first_failure_.empty()) {
    first_failure_ = it.name + ": " + error;
    first_failed_ = it.name;
  }
  if (progress_) {
    progress_->Line("failed", it.name, error);
    // The end of what it said on stderr, so the cause is on screen.
    if (!it.stderr_path.empty()) {
      auto buf = llvm::MemoryBuffer::getFile(Abs(it.stderr_path));
      if (buf) {
        llvm::SmallVector<llvm::StringRef, 16> lines;
        (*buf)->getBuffer().rtrim().split(lines, '\n');
        size_t from = lines.size() > 5 ? lines.size() - 5 : 0;
        std::string tail;
        for (size_t i = from; i < lines.size(); ++i) tail += "    | " + lines[i].str() + "\n";
        if (!tail.empty()) progress_->Raw(fmt::format("  last lines of {}:\n{}", it.stderr_path, tail));
      }
    }
  }
  Event(id, "failed", error);
  if (!opt_.keep_going) stopping_ = true;
  Finish(id, false);
}

void Engine::ActivateNode(uint32_t id) {
  Item& it = items_[id];
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  plan::EvalEnv env = EnvFor(it.copy);
  for (size_t i = 0; i < inst.args.size(); ++i) {
    plan::EvalResult r = plan::Evaluate(plan_, inst.args[i].value, env);
    if (r.state == plan::EvalResult::Failed) return Fail(id, "input '" + inst.args[i].input + "': " + r.error);
    if (r.state == plan::EvalResult::Unknown) {
      if (opt_.dry_run) {
        it.st = St::WouldRun;
        it.reason = "inputs known at run time";
        if (progress_) progress_->Line("run", it.name, "(its inputs are known at run time)");
        return Finish(id, true);
      }
      return Fail(id, "input '" + inst.args[i].input + "' has no value although everything it reads is done");
    }
    json::Value v = std::move(r.value);
    // Values from params and literals get the same checks as outputs.
    const plan::Field* field = nullptr;
    for (const auto& f : stage.inputs)
      if (f.name == inst.args[i].input) field = &f;
    std::string err;
    if (field && !CheckValue(plan_, field->type, v, err))
      return Fail(id, "input '" + inst.args[i].input + "': " + err);
    it.inputs[inst.args[i].input] = std::move(v);
  }
  std::string error;
  if (!ComputeKey(id, error)) return Fail(id, error);
  if (auto from = TryCache(id)) {
    it.st = St::Cached;
    it.reason = *from;
    if (progress_) progress_->Line("cached", it.name, *from);
    Event(id, "cached", *from);
    return Finish(id, true);
  }
  if (opt_.dry_run) {
    it.st = St::WouldRun;
    std::string err;
    auto pieces = Pieces(id, stage.command, ".tmp", true, err);
    it.reason = err.empty() ? BuildCommand(pieces).text : err;
    if (progress_) progress_->Line("run", it.name, it.reason);
    return Finish(id, true);
  }
  it.st = St::Queued;
  it.ready_at = WallNow();  // recorded with its start (the run store has no row per queueing)
  sched_.AddReady(id, DemandOf(stage), inst.priority_s, inst.estimate_ms / 1000.0);
}

void Engine::ActivateGate(uint32_t id) {
  Item& it = items_[id];
  const plan::Gate& g = GateDef(it);
  plan::EvalEnv env = EnvFor(it.copy);
  it.branch = -1;
  for (size_t c = 0; c < g.conds.size(); ++c) {
    plan::EvalResult r = plan::Evaluate(plan_, g.conds[c], env);
    if (r.state == plan::EvalResult::Unknown && opt_.dry_run) {
      it.branch = -2;
      break;
    }
    if (r.state != plan::EvalResult::Known) {
      std::string e = r.state == plan::EvalResult::Failed ? r.error : "its condition has no value";
      it.st = St::Failed;
      it.reason = "condition " + std::to_string(c + 1) + ": " + e;
      if (first_failure_.empty()) first_failure_ = it.name + ": " + it.reason;
      if (progress_) progress_->Line("failed", it.name, it.reason);
      Event(id, "failed", it.reason);
      if (!opt_.keep_going) stopping_ = true;
      return Finish(id, false);
    }
    if (r.value.getAsBoolean().getValueOr(false)) {
      it.branch = static_cast<int>(c);
      break;
    }
  }
  if (it.branch == -1 && g.has_else) it.branch = static_cast<int>(g.conds.size());
  it.st = St::Decided;
  std::string what = it.branch == -2 ? "decided at run time" : it.branch < 0 ? "took no branch" : fmt::format("took branch {}", it.branch);
  if (progress_) progress_->Line("decided", it.name, what);
  Event(id, "decided", what);
  Finish(id, true);
}

void Engine::ActivateMap(uint32_t id) {
  const plan::Map& m = plan_.maps[items_[id].index];
  plan::EvalResult r = plan::Evaluate(plan_, m.over, EnvFor(-1));
  if (r.state == plan::EvalResult::Unknown && opt_.dry_run) {
    items_[id].st = St::WouldRun;
    if (progress_) progress_->Line("expand", items_[id].name, "one copy per element of a list known at run time");
    return Finish(id, true);
  }
  const json::Array* list = r.state == plan::EvalResult::Known ? r.value.getAsArray() : nullptr;
  if (!list) {
    Item& it = items_[id];
    it.st = St::Failed;
    it.reason = r.state == plan::EvalResult::Failed ? r.error : "its list has no value";
    if (r.state == plan::EvalResult::Known && r.value.getAsNull()) it.reason = "its list is none";
    if (first_failure_.empty()) first_failure_ = it.name + ": " + it.reason;
    if (progress_) progress_->Line("failed", it.name, it.reason);
    if (!opt_.keep_going) stopping_ = true;
    return Finish(id, false);
  }
  // One copy of the template per element; names get the element's index
  // where the template has [*].
  items_[id].st = St::Expanded;
  std::vector<int32_t> made;
  for (size_t e = 0; e < list->size(); ++e) {
    int32_t c = static_cast<int32_t>(copies_.size());
    copies_.push_back(Copy{id, (*list)[e], {}, {}});
    std::string idx = "[" + std::to_string(e) + "]";
    auto name = [&](const std::string& n) {
      std::string s = n;
      size_t at = s.find("[*]");
      if (at != std::string::npos) s.replace(at, 3, idx);
      return s;
    };
    for (size_t i = 0; i < m.instances.size(); ++i)
      copies_[c].nodes.push_back(NewItem(Kind::Node, c, static_cast<int32_t>(i), name(m.instances[i].name)));
    for (size_t g = 0; g < m.gates.size(); ++g)
      copies_[c].gates.push_back(NewItem(Kind::Gate, c, static_cast<int32_t>(g), name(m.gates[g].name)));
    items_[id].open += static_cast<int>(m.instances.size() + m.gates.size());
    made.push_back(c);
  }
  items_[id].copies = made;
  if (progress_) progress_->AddTotal(list->size() * m.instances.size());
  if (progress_) progress_->Line("expanded", items_[id].name, fmt::format("{} cop{}", list->size(), list->size() == 1 ? "y" : "ies"));
  Event(id, "expanded", std::to_string(list->size()));
  for (int32_t c : made) {
    for (uint32_t n : copies_[c].gates) Wire(n);
    for (uint32_t n : copies_[c].nodes) Wire(n);
  }
  if (items_[id].open == 0) {
    items_[id].st = St::Done;
    Finish(id, true);
  }
}

void Engine::Launch(uint32_t id, const std::vector<int>& gpus) {
  Item& it = items_[id];
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  ++it.attempt;
  it.gpus = gpus;
  std::string error;
  it.tmp_suffix = fmt::format(".tmp-{}-{}", run_, it.attempt);
  std::string logs = fmt::format(".flow/logs/{}", run_);
  if (!made_dirs_) {
    if (!MakeDirs(Abs(".flow/out"), error) || !MakeDirs(Abs(logs), error)) return AttemptFailed(id, error, nullptr);
    made_dirs_ = true;
  }
  it.stdout_path = fmt::format("{}/{}.{}.out", logs, SafeName(it.name), it.attempt);
  it.stderr_path = fmt::format("{}/{}.{}.err", logs, SafeName(it.name), it.attempt);
  auto pieces = Pieces(id, stage.command, it.tmp_suffix, true, error);
  if (!error.empty()) return AttemptFailed(id, "command: " + error, nullptr);
  CommandLine cmd = BuildCommand(pieces);
  it.command = cmd.text;

  LaunchSpec spec;
  spec.instance = it.name;
  spec.attempt = it.attempt;
  spec.argv = cmd.argv;
  spec.display = cmd.text;
  spec.cwd = opt_.project_dir;
  spec.stdout_path = Abs(it.stdout_path);
  spec.stderr_path = Abs(it.stderr_path);
  spec.timeout_ms = stage.timeout_ms;
  Demand d = DemandOf(stage);
  spec.reservation = {d.cpus, static_cast<int64_t>(d.memory_bytes), gpus};
  // The environment: flow's own, the stage's env block, then ours.
  if (base_env_.empty())
    for (char** e = environ; e && *e; ++e) {
      std::string s = *e;
      size_t eq = s.find('=');
      if (eq != std::string::npos) base_env_[s.substr(0, eq)] = s.substr(eq + 1);
    }
  std::map<std::string, std::string> env;
  std::map<std::string, std::string>& use = stage.env.empty() ? base_env_ : env;
  if (!stage.env.empty()) env = base_env_;
  for (const auto& var : stage.env) {
    auto ps = Pieces(id, var.value, it.tmp_suffix, false, error);
    if (!error.empty()) return AttemptFailed(id, "env " + var.name + ": " + error, nullptr);
    std::string text;
    for (const auto& p : ps) {
      if (p.literal) text += p.text;
      for (const auto& w : p.words) text += w;
    }
    env[var.name] = text;
  }
  std::string devices;
  for (size_t i = 0; i < gpus.size(); ++i) devices += (i ? "," : "") + std::to_string(gpus[i]);
  const std::pair<const char*, std::string> ours[] = {{"FLOW_RUN_ID", std::to_string(run_)},
                                                      {"FLOW_STAGE", it.name},
                                                      {"FLOW_ATTEMPT", std::to_string(it.attempt)},
                                                      {"CUDA_VISIBLE_DEVICES", devices}};
  spec.env.reserve(use.size() + 4);
  for (auto& [k, v] : use) {
    bool replaced = false;
    for (const auto& [ok, ov] : ours) replaced = replaced || k == ok;
    if (!replaced) spec.env.push_back(k + "=" + v);
  }
  for (const auto& [k, v] : ours) spec.env.push_back(std::string(k) + "=" + v);

  it.started_at = WallNow();
  auto sub = exec_.Submit(spec);
  if (auto* msg = std::get_if<std::string>(&sub)) return AttemptFailed(id, *msg, nullptr);
  it.job = std::get<uint64_t>(sub);
  by_job_[it.job] = id;
  it.st = St::Running;
  Record(id);
  AttemptRow a;
  a.instance = it.name;
  a.stage = stage.name;
  a.attempt = it.attempt;
  a.status = "running";
  a.started_at = it.started_at;
  a.stdout_path = it.stdout_path;
  a.stderr_path = it.stderr_path;
  a.command = it.command;
  store_.AddAttempt(run_, a);
  Event(id, "started", fmt::format("attempt {}", it.attempt));
  if (progress_) progress_->Started(it.name, it.attempt);
}

bool Engine::CommitOutputs(uint32_t id, std::string& error) {
  Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  json::Object outputs;
  for (const auto& f : stage.outputs) {
    std::string tmp = it.dir + "." + f.name + it.tmp_suffix;
    std::string final_path = it.dir + "." + f.name;
    struct stat st;
    bool exists = stat(Abs(tmp).c_str(), &st) == 0;
    if (f.type.kind == Type::File || f.type.kind == Type::Dir) {
      bool dir = f.type.kind == Type::Dir;
      if (!exists) {
        error = fmt::format("output '{}': expected {}, found nothing at {}", f.name, dir ? "a folder" : "a file", tmp);
        return false;
      }
      if (dir != S_ISDIR(st.st_mode) || (!dir && !S_ISREG(st.st_mode))) {
        error = fmt::format("output '{}': expected {}, found {}", f.name, dir ? "a folder" : "a file",
                            S_ISDIR(st.st_mode) ? "a folder" : "something else");
        return false;
      }
      outputs[f.name] = final_path;
      continue;
    }
    if (!exists) {
      error = fmt::format("output '{}': expected {} (as JSON in {}), found nothing", f.name, f.type.Spell(), tmp);
      return false;
    }
    auto buf = llvm::MemoryBuffer::getFile(Abs(tmp));
    if (!buf) {
      error = fmt::format("output '{}': cannot read {}: {}", f.name, tmp, buf.getError().message());
      return false;
    }
    llvm::StringRef text = (*buf)->getBuffer().trim();
    auto parsed = json::parse(text);
    if (!parsed) {
      std::string why = llvm::toString(parsed.takeError());
      error = fmt::format("output '{}': expected {}, found text that is not JSON: {} ({})", f.name, f.type.Spell(),
                          text.size() > 40 ? text.substr(0, 37).str() + "..." : text.str(), why);
      return false;
    }
    std::string type_error;
    json::Value v = std::move(*parsed);
    json::Value shown = v;
    if (!CheckValue(plan_, f.type, v, type_error)) {
      error = fmt::format("output '{}': expected {}, found {}", f.name, f.type.Spell(), Brief(shown));
      if (type_error.find("expected " + f.type.Spell() + ",") != 0) error += " (" + type_error + ")";
      return false;
    }
    outputs[f.name] = std::move(v);
  }
  // Commit: each output is renamed to its final name (rename(2) replaces
  // a stale file of a run that crashed before recording it). Only then is
  // the result recorded, so a final name never holds half an output.
  for (const auto& f : stage.outputs) {
    std::string tmp = Abs(it.dir + "." + f.name + it.tmp_suffix);
    std::string final_abs = Abs(it.dir + "." + f.name);
    struct stat st;
    if (lstat(final_abs.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::string old = final_abs + ".old-" + std::to_string(run_);
      llvm::sys::fs::remove_directories(old);
      if (::rename(final_abs.c_str(), old.c_str()) != 0) {
        error = "cannot replace " + it.dir + "." + f.name + ": " + std::strerror(errno);
        return false;
      }
      llvm::sys::fs::remove_directories(old);
    }
    if (::rename(tmp.c_str(), final_abs.c_str()) != 0) {
      error = fmt::format("output '{}': cannot commit it: {}", f.name, std::strerror(errno));
      return false;
    }
  }
  it.outputs = std::move(outputs);
  if (stage.cache) {
    CacheRow row;
    row.key = it.key;
    row.instance = it.name;
    row.stage = stage.name;
    row.run_id = run_;
    row.out_dir = it.dir;
    row.outputs = ToText(json::Value(json::Object(it.outputs)));
    row.key_parts = it.key_parts;
    store_.PutCache(row);
  }
  return true;
}

void Engine::AttemptFailed(uint32_t id, const std::string& error, const Completion* c) {
  Item& it = items_[id];
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  AttemptRow a;
  a.instance = it.name;
  a.stage = stage.name;
  a.attempt = std::max(1, it.attempt);
  a.status = c && c->kind == Completion::TimedOut ? "timed_out" : c && c->kind == Completion::Cancelled ? "cancelled" : "failed";
  a.started_at = it.started_at > 0 ? it.started_at : WallNow();
  a.ended_at = c ? c->ended_at : WallNow();
  if (c) {
    if (c->kind == Completion::Exited || c->kind == Completion::LaunchFailed) a.exit_code = c->exit_code;
    if (c->signal) a.signal = c->signal;
    a.wall_s = c->usage.wall_s;
    a.user_s = c->usage.user_s;
    a.sys_s = c->usage.sys_s;
    a.max_rss_bytes = c->usage.max_rss_bytes;
  }
  a.stdout_path = it.stdout_path;
  a.stderr_path = it.stderr_path;
  a.error = error;
  a.command = it.command;
  store_.AddAttempt(run_, a);
  if (c && c->kind == Completion::Cancelled) {
    it.st = St::Cancelled;
    it.reason = "cancelled while running";
    it.ended_at = a.ended_at;
    if (progress_) progress_->Line("cancelled", it.name, "");
    Event(id, "cancelled", "");
    return Finish(id, false);
  }
  if (it.attempt <= stage.retry && !stopping_ && !cancelled_) {
    int64_t delay = opt_.retry_backoff_ms << std::min(it.attempt - 1, 16);
    delay = std::min<int64_t>(delay, 60000);
    it.st = St::Retrying;
    it.retry_at = Now() + delay / 1000.0;
    retries_.emplace(it.retry_at, id);
    std::string what = fmt::format("{} (attempt {} of {}; retrying in {})", error, it.attempt, stage.retry + 1,
                                   delay >= 1000 ? fmt::format("{:.3g} s", delay / 1000.0) : fmt::format("{} ms", delay));
    if (progress_) progress_->Line("retry", it.name, what);
    Event(id, "retrying", what);
    Record(id);
    return;
  }
  it.ended_at = a.ended_at;
  std::string msg = error;
  if (it.attempt > 1) msg += fmt::format(" (attempt {} of {})", it.attempt, stage.retry + 1);
  Fail(id, msg);
}

void Engine::OnCompletion(const Completion& c) {
  auto found = by_job_.find(c.job);
  if (found == by_job_.end()) return;
  uint32_t id = found->second;
  by_job_.erase(found);
  sched_.Finished(id);
  Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  std::string error;
  switch (c.kind) {
    case Completion::Exited:
      if (c.exit_code != 0) error = fmt::format("exit code {}", c.exit_code);
      break;
    case Completion::Signaled: error = fmt::format("killed by signal {} ({})", c.signal, strsignal(c.signal)); break;
    case Completion::TimedOut: {
      int64_t ms = stage.timeout_ms.value_or(0);
      error = fmt::format("timed out after {}", plan::FormatValue(json::Value(ms), Type::Scalar(Type::Duration)));
      break;
    }
    case Completion::Cancelled: error = "cancelled"; break;
    case Completion::LaunchFailed: error = c.error; break;
  }
  if (error.empty() && !CommitOutputs(id, error)) {
    // error says what is wrong with the outputs
  }
  if (!error.empty()) return AttemptFailed(id, error, &c);
  AttemptRow a;
  a.instance = it.name;
  a.stage = stage.name;
  a.attempt = it.attempt;
  a.status = "succeeded";
  a.exit_code = 0;
  a.started_at = c.started_at;
  a.ended_at = c.ended_at;
  a.wall_s = c.usage.wall_s;
  a.user_s = c.usage.user_s;
  a.sys_s = c.usage.sys_s;
  a.max_rss_bytes = c.usage.max_rss_bytes;
  a.stdout_path = it.stdout_path;
  a.stderr_path = it.stderr_path;
  a.command = it.command;
  store_.AddAttempt(run_, a);
  it.st = St::Succeeded;
  it.ended_at = c.ended_at;
  if (progress_) progress_->Line("done", it.name, fmt::format("{:.2f} s", c.usage.wall_s));
  Event(id, "succeeded", "");
  Finish(id, true);
}

void Engine::CancelAll() {
  for (auto& [job, id] : by_job_) exec_.Cancel(job);
  for (auto& [t, id] : retries_) {
    items_[id].st = St::Cancelled;
    items_[id].reason = "the run was cancelled";
    Finish(id, false);
  }
  retries_.clear();
}

RunSummary Engine::Run() {
  RunSummary sum;
  auto t0 = Clock::now();
  if (!opt_.dry_run) {
    store_.Begin();
    RunRow row;
    row.status = "running";
    row.source = plan_.source;
    row.plan_path = opt_.plan_path;
    row.entry = plan_.entry;
    row.started_at = WallNow();
    row.pid = getpid();
    json::Array args;
    for (const auto& a : opt_.args) args.push_back(a);
    row.args = ToText(json::Value(std::move(args)));
    json::Object cap;
    cap["cpus"] = opt_.capacity.cpus;
    cap["memory"] = opt_.capacity.memory_bytes;
    cap["gpus"] = opt_.capacity.gpus;
    for (const auto& [k, v] : opt_.capacity.pools) cap[k] = v;
    row.capacities = ToText(json::Value(std::move(cap)));
    row.resumed_from = opt_.resumed_from;
    run_ = store_.NewRun(row);
    for (const auto& p : plan_.params) store_.AddParam(run_, p.name, ToText(p.value));
    store_.Commit();
    if (opt_.on_started) opt_.on_started(run_);
  }
  sum.run_id = run_;
  ProgressMode mode = opt_.progress;
  if (opt_.dry_run) mode = ProgressMode::Plain;
  progress_ = MakeProgress(mode, opt_.dry_run);

  // The static graph: every top-level instance, gate and map.
  for (size_t i = 0; i < plan_.instances.size(); ++i)
    top_nodes_.push_back(NewItem(Kind::Node, -1, static_cast<int32_t>(i), plan_.instances[i].name));
  for (size_t g = 0; g < plan_.gates.size(); ++g)
    top_gates_.push_back(NewItem(Kind::Gate, -1, static_cast<int32_t>(g), plan_.gates[g].name));
  for (size_t m = 0; m < plan_.maps.size(); ++m)
    top_maps_.push_back(NewItem(Kind::Map, -1, static_cast<int32_t>(m), plan_.maps[m].name));
  if (progress_) progress_->SetTotal(plan_.instances.size());
  for (uint32_t id : top_gates_) Wire(id);
  for (uint32_t id : top_maps_) Wire(id);
  for (uint32_t id : top_nodes_) Wire(id);
  if (!opt_.dry_run) {
    store_.Begin();
    for (uint32_t id : top_nodes_) Record(id);
    store_.Commit();
  }

  // State changes are committed in groups: at most every 100 ms while
  // instances are running, and always before the loop waits with nothing
  // due. A crash loses at most the last 100 ms of records, never an output:
  // an output folder without its record is made again by the next run.
  constexpr double kCommitEvery = 0.1;
  auto steady = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  auto commit = [&] {
    if (!opt_.dry_run) store_.Commit();
  };
  store_.SetGrouping(!opt_.dry_run);
  int interrupts = InterruptCount();
  bool drained_queue = false;
  for (;;) {
    while (!activate_.empty()) {
      uint32_t id = activate_.front();
      activate_.pop_front();
      Activate(id);
    }
    if (InterruptCount() != interrupts && !cancelled_) {
      cancelled_ = true;
      stopping_ = true;
      if (progress_) progress_->Line("cancel", "", "stopping: cancelling running instances and waiting for them");
      CancelAll();
      interrupts = InterruptCount();
    }
    // Retries that are due go back to the scheduler.
    double now = Now();
    while (!retries_.empty() && retries_.begin()->first <= now) {
      uint32_t id = retries_.begin()->second;
      retries_.erase(retries_.begin());
      if (stopping_) {
        Fail(id, items_[id].reason.empty() ? "the run stopped" : items_[id].reason);
        continue;
      }
      items_[id].st = St::Queued;
      const plan::Instance& inst = InstanceOf(items_[id]);
      sched_.AddReady(id, DemandOf(plan_.StageOf(inst)), inst.priority_s, inst.estimate_ms / 1000.0);
    }
    if (stopping_) {
      // Nothing new starts; what was queued will not run.
      if (!drained_queue) {
        drained_queue = true;
        for (size_t i = 0; i < items_.size(); ++i) {
          if (items_[i].st != St::Queued) continue;
          uint32_t id = static_cast<uint32_t>(i);
          sched_.Drop(id);
          items_[id].st = cancelled_ ? St::Cancelled : St::NotRun;
          items_[id].reason = cancelled_ ? "the run was cancelled" : "the run stopped after a failure";
          Finish(id, false);
        }
      }
      while (!activate_.empty()) {
        uint32_t id = activate_.front();
        activate_.pop_front();
        Activate(id);
      }
    } else {
      for (const auto& s : sched_.Pick(Now())) Launch(s.task, s.gpu_ids);
    }
    if (!activate_.empty()) continue;
    if (exec_.Running() == 0 && sched_.queued() == 0 && retries_.empty() && by_job_.empty()) break;
    double wait = 3600;
    if (!retries_.empty()) wait = std::max(0.0, retries_.begin()->first - Now());
    if (progress_ && progress_->live()) wait = std::min(wait, 0.25);
    if (double since = store_.in_tx_since(); since >= 0) {
      double left = since + kCommitEvery - steady();
      if (left <= 0)
        commit();
      else
        wait = std::min(wait, left);
    }
    auto done = exec_.Poll(wait);
    // (The finished jobs' dependents are made ready before anything else
    // starts: starting a queued job first would let it take the place of a
    // higher-priority successor on the critical path.)
    for (const auto& c : done) OnCompletion(c);
    if (double since = store_.in_tx_since(); since >= 0 && steady() - since >= kCommitEvery) commit();
    if (progress_) progress_->Tick(sched_.queued(), exec_.Running());
  }
  commit();

  // Whatever never became ready did not run.
  if (!opt_.dry_run) store_.Begin();
  for (size_t i = 0; i < items_.size(); ++i)
    if (!items_[i].done) {
      Item& it = items_[i];
      it.st = cancelled_ ? St::Cancelled : St::NotRun;
      if (it.reason.empty())
        it.reason = cancelled_ ? "the run was cancelled" : !it.blocked.empty() ? it.blocked : "the run stopped after a failure";
      it.done = true;
      Record(static_cast<uint32_t>(i));
    }
  sum.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (const auto& it : items_) {
    if (it.kind != Kind::Node) continue;
    ++sum.total;
    switch (it.st) {
      case St::Succeeded: ++sum.ran; break;
      case St::Cached: ++sum.cached; break;
      case St::Skipped: ++sum.skipped; break;
      case St::Failed: ++sum.failed; break;
      case St::WouldRun: ++sum.ran; break;
      default: ++sum.not_run; break;
    }
  }
  sum.first_failure = first_failure_;
  sum.first_failed_instance = first_failed_;
  if (cancelled_) {
    sum.status = "cancelled";
    sum.exit_code = 130;
  } else if (sum.failed > 0 || sum.not_run > 0 || !first_failure_.empty()) {
    sum.status = "failed";
    sum.exit_code = 1;
  } else {
    sum.status = "succeeded";
    sum.exit_code = 0;
  }
  if (opt_.dry_run) {
    sum.line = fmt::format("flow: dry run: {} instance{}: {} would run, {} cached, {} skipped", sum.total,
                           sum.total == 1 ? "" : "s", sum.ran, sum.cached, sum.skipped);
  } else {
    sum.line = fmt::format("flow: run {} {} in {:.1f} s: {} instance{}: {} ran, {} cached, {} skipped, {} failed, {} not run",
                           run_, sum.status, sum.wall_s, sum.total, sum.total == 1 ? "" : "s", sum.ran, sum.cached,
                           sum.skipped, sum.failed, sum.not_run);
    if (!first_failure_.empty()) {
      sum.line += "; first failure: " + first_failure_;
      if (!first_failed_.empty()) sum.line += fmt::format(" (flow logs {} {})", run_, ShellQuote(first_failed_));
    }
    json::Object s;
    s["total"] = static_cast<int64_t>(sum.total);
    s["ran"] = static_cast<int64_t>(sum.ran);
    s["cached"] = static_cast<int64_t>(sum.cached);
    s["skipped"] = static_cast<int64_t>(sum.skipped);
    s["failed"] = static_cast<int64_t>(sum.failed);
    s["not_run"] = static_cast<int64_t>(sum.not_run);
    s["wall_s"] = sum.wall_s;
    s["first_failure"] = first_failure_;
    store_.FinishRun(run_, sum.status, ToText(json::Value(std::move(s))));
    store_.Commit();
  }
  if (progress_) progress_->Finish();
  return sum;
}

}  // namespace

RunSummary Run(const plan::Plan& plan, RunStore& store, Executor& executor, const RunOptions& options) {
  Engine engine(plan, store, executor, options);
  return engine.Run();
}

}  // namespace flow::rt
