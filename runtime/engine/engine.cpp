// SPDX-License-Identifier: Apache-2.0
// The engine's state machine. Every instance, gate and map of the plan (and
// every copy made from a map template) is an Item; an item waits on the
// items whose results it reads, and is activated when the last of them is
// done: a node is skipped, reused from the cache, or queued for the
// scheduler; a gate is decided; a map is expanded into copies.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/engine_impl.h"
#include "engine/values.h"
#include "exec/signals.h"
#include "fmt/format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"
#include "plan/json_text.h"
#include "store/run_store.h"

extern char** environ;

namespace flow::rt {

namespace json = llvm::json;
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
  // File names: an output is INSTANCE.KEY.OUTPUT (KEY: 16 digits) in the
  // stage's folder, and may get ".old-RUN" for a moment at commit; a copy of
  // a map template adds "[N]" to its name. A name over the file system's
  // 255 bytes would fail every attempt after its command ran: say so now,
  // once per stage.
  constexpr size_t kNameMax = 255, kMargin = 24;  // ".old-RUN" and "[N]"
  std::set<int32_t> long_stage;
  auto name_check = [&](const plan::Instance& inst) {
    const plan::Stage& s = plan.StageOf(inst);
    size_t longest_output = 3;  // the log's ".N.out"
    for (const auto& f : s.outputs) longest_output = std::max(longest_output, f.name.size());
    size_t n = engine_detail::SafeName(inst.name).size() + 1 + 16 + 1 + longest_output + kMargin;
    if ((n > kNameMax || engine_detail::SafeName(s.name).size() > kNameMax) && long_stage.insert(inst.stage).second)
      errors.push_back(fmt::format("instance '{}' (stage '{}') can never run: the names of its files would be "
                                   "about {} bytes long, over the {} a file name may have; give the stage (or the "
                                   "pipeline that calls it) a shorter name",
                                   inst.name.size() > 60 ? inst.name.substr(0, 57) + "..." : inst.name,
                                   s.name.size() > 60 ? s.name.substr(0, 57) + "..." : s.name, n, kNameMax));
  };
  for (const auto& inst : plan.instances) name_check(inst);
  for (const auto& m : plan.maps)
    for (const auto& inst : m.instances) name_check(inst);
  return errors;
}


namespace engine_detail {

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

std::string SafeName(const std::string& name) {
  std::string s;
  s.reserve(name.size());
  for (char c : name) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '@' ||
              c == '#' || c == '[' || c == ']';
    s += ok ? c : '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

}  // namespace engine_detail

std::string AttemptLogPath(int64_t run, const std::string& instance, int attempt, bool stderr_log) {
  std::string s = ".flow/logs/" + std::to_string(run) + "/" + engine_detail::SafeName(instance) + "." +
                  std::to_string(attempt);
  s += stderr_log ? ".err" : ".out";
  return s;
}

namespace engine_detail {

bool MakeDirs(const std::string& path, std::string& error) {
  if (auto ec = llvm::sys::fs::create_directories(path)) {
    error = "cannot create " + path + ": " + ec.message();
    return false;
  }
  return true;
}

std::string ToText(const json::Value& v) { return plan::JsonText(v); }

std::string ToText(const Fields& o) {
  std::vector<const std::pair<std::string, json::Value>*> items;
  items.reserve(o.size());
  for (const auto& kv : o) items.push_back(&kv);
  std::sort(items.begin(), items.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  std::string s;
  {
    plan::StringAppender os(s);
    json::OStream j(os);
    j.objectBegin();
    for (const auto* kv : items) j.attribute(kv->first, kv->second);
    j.objectEnd();
  }
  return s;
}


uint32_t Engine::NewItem(Kind kind, int32_t copy, int32_t index, std::string name) {
  Item& it = items_.emplace_back();  // built in place: an Item is large to move
  it.kind = kind;
  it.copy = copy;
  it.index = index;
  it.name = std::move(name);
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
  if (items_[id].waiting == 0) QueueActivation(id);
}

// ------------------------------------------------------------------ evaluation

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
    if (!ok && dep.blocked.empty()) dep.blocked = it.name + (it.st == St::Failed       ? " failed"
                                            : it.st == St::Done ? ": a copy did not succeed"
                                                                : " did not run");
    if (--dep.waiting == 0) QueueActivation(d);
  }
  if (it.copy >= 0) {
    uint32_t m = copies_[it.copy].map_item;
    if (!ok) items_[m].copy_failed = true;
    // The map's values exist when every copy is done; if one did not
    // succeed, what reads them does not run ("for@16 did not succeed").
    if (--items_[m].open == 0 && items_[m].st == St::Expanded) {
      items_[m].st = St::Done;
      Finish(m, !items_[m].copy_failed);
    }
  }
}

// The highest priority activating `it` can make ready: its own for an
// instance; unbounded for a gate or a map (they may unblock anything).
double Engine::ActivationBound(const Item& it) const {
  return it.kind == Kind::Node ? InstanceOf(it).priority_s : HUGE_VAL;
}

void Engine::QueueActivation(uint32_t id) {
  activate_.push_back(id);
  activate_bounds_.insert(ActivationBound(items_[id]));
}

// Activates, in order, everything whose last dependency has finished
// (activating one may make others ready: they join the queue). When many
// became ready at once (the 9,999 successors of a fan-out's root took 80 ms
// to activate, both cpus idle), what is already queued starts on free cpus
// on the way, as long as nothing still to be activated could outrank it.
void Engine::DrainActivations() {
  constexpr int kLookEvery = 8;
  int n = 0;
  while (!activate_.empty()) {
    uint32_t id = activate_.front();
    activate_.pop_front();
    activate_bounds_.erase(activate_bounds_.find(ActivationBound(items_[id])));
    Activate(id);
    if (++n % kLookEvery || stopping_ || opt_.dry_run || activate_.empty() || sched_.queued() == 0) continue;
    double bound = *activate_bounds_.rbegin();
    if (bound == HUGE_VAL) continue;
    for (const auto& st : sched_.PickAtLeast(Now(), bound)) Launch(st.task, st.gpu_ids);
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
    first_failed_ = it.attempt > 0 ? it.name : "";  // `flow logs` only helps if it ran
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
    auto pieces = Pieces(id, stage.command, it.dir, true, err);  // shows the final output paths
    it.reason = err.empty() ? BuildCommand(pieces).text : err;
    if (progress_) progress_->Line("run", it.name + " (" + WhyNotCached(id) + ")", it.reason);
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

// What the executor did on its own (killing what a job left running after
// it ended): on the progress output, and as an event of the instance.
void Engine::ShowNotices() {
  for (const auto& n : exec_.TakeNotices()) {
    if (progress_) progress_->Line("killed", n.instance.empty() ? "(a job of this run)" : n.instance, n.text);
    if (opt_.dry_run) continue;
    for (size_t i = 0; i < items_.size(); ++i)
      if (items_[i].kind == Kind::Node && items_[i].name == n.instance) {
        Event(static_cast<uint32_t>(i), "leftover-killed", n.text);
        break;
      }
  }
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

// Starts queued work before the bookkeeping of the jobs in done[from..]
// (output checks, commit, records, what they unblock), so a cpu does not
// wait on flow's records, but only what none of their successors could
// outrank: a successor's priority is at most the finished instance's minus
// its own estimate. Only after clean exits: after a failure, fail-fast
// starts nothing new.
void Engine::StartEarly(const std::vector<Completion>& done, size_t from) {
  if (stopping_ || from >= done.size()) return;
  double successors_at_most = -1e300;
  for (size_t i = from; i < done.size(); ++i) {
    const Completion& c = done[i];
    auto f = by_job_.find(c.job);
    if (f == by_job_.end()) continue;
    if (c.kind != Completion::Exited || c.exit_code != 0) return;
    const plan::Instance& inst = InstanceOf(items_[f->second]);
    successors_at_most = std::max(successors_at_most, inst.priority_s - inst.estimate_ms / 1000.0);
  }
  // What earlier completions of this batch made ready is still to be
  // activated: it must not be outrun either.
  if (!activate_bounds_.empty()) successors_at_most = std::max(successors_at_most, *activate_bounds_.rbegin());
  for (size_t i = from; i < done.size(); ++i)
    if (auto f = by_job_.find(done[i].job); f != by_job_.end()) sched_.Finished(f->second);
  for (const auto& st : sched_.PickAtLeast(Now(), successors_at_most)) Launch(st.task, st.gpu_ids);
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
  FindRunsCutShort();
  ProgressMode mode = opt_.progress;
  if (opt_.dry_run) mode = ProgressMode::Plain;
  progress_ = MakeProgress(mode, opt_.dry_run);

  // The static graph: every top-level instance, gate and map (reserved:
  // growing the vector item by item moved each item about once more and
  // touched twice the memory, 8% of the time before the first job).
  items_.reserve(plan_.instances.size() + plan_.gates.size() + plan_.maps.size());
  top_nodes_.reserve(plan_.instances.size());
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
  // From here on the run store writes behind (the writer thread), the
  // run's instances first: one row for all (RunStore::PutRunPlan), each
  // instance a row of its own when it starts.
  store_.SetGrouping(!opt_.dry_run);
  store_.SetBackground(!opt_.dry_run);
  if (!opt_.dry_run) {
    std::string planned;
    {
      plan::StringAppender os(planned);
      json::OStream j(os);
      j.array([&] {
        for (uint32_t id : top_nodes_) {
          const Item& it = items_[id];
          j.array([&] {
            j.value(it.name);
            j.value(plan_.StageOf(InstanceOf(it)).name);
          });
        }
      });
    }
    store_.PutRunPlan(run_, std::move(planned));
    store_.Commit();
  }

  // State changes go to the run store in groups (CommitDue: 100 ms; its
  // writer commits them then, or, while instances change by the thousand a
  // second, up to a second later), and always before the loop waits with
  // nothing due. A crash loses at most those records, never an output: the
  // next run reuses outputs committed without their record (RecoverCommitted).
  auto commit = [&] {
    if (opt_.dry_run) return;
    FlushRecords();
    store_.Commit();
    CheckStore();
  };
  int interrupts = InterruptCount();
  const int interrupts_before = interrupts;
  bool drained_queue = false;
  for (;;) {
    // Ctrl-C and due retries before activations: DrainActivations may start
    // queued work, which must not outrank a due retry or follow a Ctrl-C.
    if (int now = InterruptCount(); now != interrupts) {
      if (!cancelled_) {
        cancelled_ = true;
        stopping_ = true;
        if (progress_)
          progress_->Line("cancel", "",
                          "stopping: cancelling running instances and waiting for them (Ctrl-C again kills them at once)");
        CancelAll();
      }
      // A second Ctrl-C (even one that came with the first): what still
      // runs is killed now, not after the grace period (and the run store
      // stops waiting for a lock).
      if (now - interrupts_before >= 2) {
        if (progress_ && !by_job_.empty()) progress_->Line("cancel", "", "killing what still runs");
        for (auto& [job, id] : by_job_) exec_.Kill(job);
      }
      interrupts = now;
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
    DrainActivations();
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
      DrainActivations();
    } else {
      for (const auto& s : sched_.Pick(Now())) Launch(s.task, s.gpu_ids);
    }
    if (!activate_.empty()) continue;
    if (exec_.Running() == 0 && sched_.queued() == 0 && retries_.empty() && by_job_.empty()) break;
    double wait = 3600;
    if (!retries_.empty()) wait = std::min(wait, std::max(0.0, retries_.begin()->first - Now()));
    if (progress_ && progress_->live()) wait = std::min(wait, 0.25);
    if (double due = CommitDue(); due >= 0) {
      double left = due - SteadyNow();
      if (left <= 0)
        commit();
      else
        wait = std::min(wait, left);
    }
    auto done = exec_.Poll(wait);
    StartEarly(done, 0);
    for (size_t i = 0; i < done.size(); ++i) {
      OnCompletion(done[i]);
      // A job that ended during this bookkeeping gets its successor on the
      // cpu now, not after the rest of it.
      if (stopping_ || opt_.dry_run) continue;
      auto more = exec_.Poll(0);
      if (more.empty()) continue;
      size_t from = done.size();
      for (auto& c : more) done.push_back(std::move(c));
      StartEarly(done, from);
    }
    ShowNotices();
    if (double due = CommitDue(); due >= 0 && SteadyNow() >= due) commit();
    if (progress_) progress_->Tick(sched_.queued(), exec_.Running());
  }
  exec_.EndOfRun();  // what the jobs left running is killed now
  ShowNotices();
  // The last records go to the writer with its stop (no checkpoint after
  // them: docs/runtime.md), and flow waits until they are committed.
  if (!opt_.dry_run) FlushRecords();
  store_.SetBackground(false);
  if (!opt_.dry_run) CheckStore();

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
      if (!first_failed_.empty()) {
        // `flow logs` reads the run store of the current folder: from
        // another one, the hint names the project's with --dir, relative
        // when it lies below, so that it works as printed.
        std::string dir;
        llvm::SmallString<256> cwd;
        bool same = false;
        if (llvm::sys::fs::current_path(cwd) || llvm::sys::fs::equivalent(cwd, opt_.project_dir, same) || !same) {
          llvm::StringRef project = opt_.project_dir;
          llvm::StringRef below = project;
          if (!cwd.empty() && below.consume_front(cwd) && below.consume_front("/") && !below.empty()) project = below;
          dir = " --dir " + ShellQuote(project);
        }
        sum.line += fmt::format(" (flow logs {} {}{})", run_, ShellQuote(first_failed_), dir);
      }
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
    FlushRecords();
    store_.FinishRun(run_, sum.status, ToText(json::Value(std::move(s))));
    store_.Commit();
  }
  if (progress_) progress_->Finish();
  return sum;
}


}  // namespace engine_detail

RunSummary Run(const plan::Plan& plan, RunStore& store, Executor& executor, const RunOptions& options) {
  auto engine = std::make_unique<engine_detail::Engine>(plan, store, executor, options);
  RunSummary sum = engine->Run();
  if (!options.free_at_end) (void)engine.release();  // left to the exit (RunOptions::free_at_end)
  return sum;
}

}  // namespace flow::rt
