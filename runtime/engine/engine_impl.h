// SPDX-License-Identifier: Apache-2.0
// The engine's internals, shared by its source files: the items of the run
// (instances, gates, maps and the copies of map templates) and the Engine
// class. engine.cpp has the state machine, engine_eval.cpp evaluation and
// cache keys, engine_attempt.cpp starting attempts and taking their results.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "engine/engine.h"
#include "engine/progress.h"
#include "exec/command.h"
#include "llvm/Support/JSON.h"
#include "plan/eval.h"
#include "store/run_store.h"

namespace flow::rt {
class RunStore;
namespace engine_detail {

namespace json = llvm::json;
using plan::ExprId;
using plan::ExprNode;
using plan::Op;
using plan::Type;

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


// A few named values (an instance's inputs or outputs), looked up by name.
// Not a json::Object: that allocates 64 slots (3.5 KB) for its first entry,
// which for 10,000 instances was 70 MB and a page fault each.
class Fields {
 public:
  const json::Value* get(llvm::StringRef name) const {
    for (const auto& [k, v] : items_)
      if (k == name) return &v;
    return nullptr;
  }
  /// The value of `name`, inserted as null when missing.
  json::Value& operator[](llvm::StringRef name) {
    for (auto& [k, v] : items_)
      if (k == name) return v;
    return items_.emplace_back(name.str(), nullptr).second;
  }
  static Fields From(json::Object&& o) {
    Fields f;
    for (auto& kv : o) f.items_.emplace_back(kv.first.str(), std::move(kv.second));
    return f;
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, json::Value>> items_;
};

struct Item {
  Kind kind;
  int32_t copy = -1;  // the map copy it belongs to; -1: top level
  int32_t index = 0;  // into plan.instances/gates/maps, or the template's instances/gates
  std::string name;
  St st = St::Waiting;
  bool done = false, ok = false;
  bool dirty = false;  // its run-store row is not up to date
  int waiting = 0;
  std::string blocked;  // why it cannot run: a dependency failed
  std::string reason;   // skipped / failed / not run: why
  std::vector<uint32_t> dependents;
  // nodes
  Fields inputs;   // evaluated args
  Fields outputs;            // committed output values
  std::string outputs_text;  // ToText(outputs), once they are committed (or reused)
  std::string key, key_parts, dir;  // cache key (hex), what went into it, the output folder name
  int attempt = 0;
  uint64_t job = 0;
  double ready_at = 0, started_at = 0, ended_at = 0, retry_at = 0;
  // An attempt writes each output to TMP.OUTPUT, TMP = .flow/tmp/SLOT/NAME
  // (NAME: the last part of dir), and a success renames it to DIR.OUTPUT.
  std::string tmp, command, stdout_path, stderr_path;
  int tmp_slot = -1;  // in tmp_roots_[stage_tmp_root_[its stage]]
  std::vector<int> gpus;
  // gates: the branch taken, -1 none, -2 unknown (dry run)
  int branch = -1;
  // maps: items of its copies not yet done
  int open = 0;
  bool copy_failed = false;  // an item of one of its copies did not succeed
  std::vector<int32_t> copies;
};

struct Copy {
  uint32_t map_item;
  json::Value element = nullptr;
  std::vector<uint32_t> nodes, gates;
};

const char* StatusName(St s);
std::string SafeName(const std::string& name);
bool MakeDirs(const std::string& path, std::string& error);
std::string ToText(const json::Value& v);
// The text of a JSON object with these fields, keys sorted (as
// ToText(json::Value) writes an object).
std::string ToText(const Fields& f);
/// A canonical text of an expression, for the stage-definition part of cache keys.
void ExprText(const plan::Plan& plan, ExprId id, std::string& out, int depth = 0);
std::string TemplateText(const plan::Plan& plan, const std::vector<plan::TemplatePart>& parts, bool canonical);
/// `.flow/out/STAGE/INSTANCE.KEY.OUTPUT` -> `.flow/out/STAGE/INSTANCE.*.OUTPUT` in a text.
std::string NormalizeOutputPaths(const std::string& text);

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
  void DrainActivations();
  void QueueActivation(uint32_t id);
  double ActivationBound(const Item& it) const;
  void Activate(uint32_t id);
  void ActivateNode(uint32_t id);
  void ActivateGate(uint32_t id);
  void ActivateMap(uint32_t id);
  void Fail(uint32_t id, const std::string& error);
  void Launch(uint32_t id, const std::vector<int>& gpus);
  void OnCompletion(const Completion& c);
  void StartEarly(const std::vector<Completion>& done, size_t from);
  AttemptRow AttemptOf(uint32_t id, const Completion* c, const char* status) const;
  void AttemptFailed(uint32_t id, const std::string& error, const Completion* c);
  bool CommitOutputs(uint32_t id, std::string& error);
  void RecordCache(uint32_t id);
  std::string WhyNotCached(uint32_t id);
  void CheckStore();
  void FindRunsCutShort();
  bool CommitPathsIn(uint32_t id, const plan::Field& output, json::Value& value, std::string& error);
  bool TakeTmpSlot(uint32_t id, std::string& error);
  void ReleaseTmpSlot(uint32_t id, bool reuse);
  void Record(uint32_t id);
  void FlushRecords();
  void WriteRecord(uint32_t id);
  void Event(uint32_t id, const std::string& event, const std::string& detail);
  void CancelAll();
  void ShowNotices();

  // ---- evaluation
  plan::EvalEnv EnvFor(int32_t copy, const Fields* inputs = nullptr, const std::string* out_prefix = nullptr);
  bool ComputeKey(uint32_t id, std::string& error);
  std::optional<std::string> TryCache(uint32_t id);
  std::optional<std::string> RecoverCommitted(uint32_t id);
  bool ReadValueOutput(const plan::Field& f, const std::string& path, json::Value& value, std::string& error);
  std::vector<CommandPiece> Pieces(uint32_t id, const std::vector<plan::TemplatePart>& parts,
                                   const std::string& out_prefix, bool command, std::string& error);
  std::string ValueFile(uint32_t id, const json::Value& v, std::string& error);

  // The device of GPU index `g` as CUDA_VISIBLE_DEVICES names it.
  std::string GpuName(int g) const {
    const auto& names = opt_.capacity.gpu_names;
    return g >= 0 && static_cast<size_t>(g) < names.size() ? names[g] : std::to_string(g);
  }
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
  // The priority of each item in activate_ (+inf for gates and maps, which
  // may make anything ready): the highest is what DrainActivations may not
  // start anything below while it is still to be activated.
  std::multiset<double> activate_bounds_;
  std::vector<uint32_t> dirty_;  // instances whose rows to write at the next commit
  double dirty_since_ = 0;       // SteadyNow() when dirty_ became non-empty
  double CommitDue() const;
  std::unordered_map<uint64_t, uint32_t> by_job_;
  std::multimap<double, uint32_t> retries_;  // due time -> node
  struct StageKey {
    std::string hash;     // of the stage's definition
    std::string command;  // the command as the key shows it
  };
  std::map<int32_t, StageKey> stage_def_;
  std::map<std::string, std::string> base_env_;  // flow's own environment
  std::shared_ptr<const std::vector<std::string>> base_env_lines_;  // the same as NAME=VALUE, less ours
  std::map<int32_t, std::string> resources_text_;  // stage -> its resources as JSON
  bool stopping_ = false, cancelled_ = false, made_dirs_ = false;
  bool store_failed_ = false;  // the run store could not be written: the run stops
  // The times when an earlier run that was cut short ran (from its start to
  // the start of the run after it; RunStore::RunsCutShort), and so may have
  // committed outputs without recording them: an instance without a cache
  // row whose outputs were all committed then is reused (RecoverCommitted).
  std::vector<std::pair<double, double>> cut_short_;
  std::set<int32_t> made_stage_dirs_;  // stages whose output folder exists
  // Folders for the outputs of running attempts (.flow/tmp/SLOT), one per
  // attempt at a time: a command creating its outputs there never holds the
  // lock of the folder flow renames into (the stage's), nor the folder
  // another command creates in. Reused after a success; the folder of a
  // failed attempt is kept for inspection until the next run starts.
  // A stage whose output folder is on another filesystem than .flow/tmp
  // (a link to another disk) gets slot folders of its own inside it,
  // .flow/out/STAGE/.tmp-slots, since rename(2) cannot cross filesystems.
  struct TmpRoot {
    std::string path;  // relative to the project folder
    std::vector<int> free;
    int made = 0;
  };
  std::vector<TmpRoot> tmp_roots_;         // [0]: .flow/tmp
  std::string tmp_abs_;                    // .flow/tmp as an absolute path (the executor's scratch folder)
  std::map<int32_t, size_t> stage_tmp_root_;  // stage -> its root in tmp_roots_
  bool TmpRootFor(int32_t stage, const std::string& stage_folder, std::string& error);
  std::string first_failure_, first_failed_;
  size_t value_files_ = 0;
};

}  // namespace engine_detail
}  // namespace flow::rt
