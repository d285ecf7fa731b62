// SPDX-License-Identifier: Apache-2.0
// What the engine writes to the run store as the run goes (instance rows in
// groups, events, a store that cannot be written), and what it reads of the
// runs before it (those cut short, whose committed outputs it may reuse).
#include <signal.h>

#include <cerrno>
#include <limits>

#include "engine/engine_impl.h"
#include "store/run_store.h"

namespace flow::rt {

namespace json = llvm::json;

namespace engine_detail {

// An instance's row is written when the group of changes is committed, in
// the state it has then: an instance that starts and ends within one group
// (100 ms) is written once, not three times.
void Engine::Record(uint32_t id) {
  Item& it = items_[id];
  if (it.kind != Kind::Node || opt_.dry_run || it.dirty) return;
  it.dirty = true;
  if (dirty_.empty()) dirty_since_ = SteadyNow();
  dirty_.push_back(id);
}

// When the changes that wait (records not yet written, or writes not yet
// handed to the run store) are due, on SteadyNow()'s clock: 100 ms after the
// first; negative when none wait. (The store's writer may group those of a
// busy run further: RunStore::WriterLoop.)
double Engine::CommitDue() const {
  constexpr double kCommitEvery = 0.1;
  double since = store_.in_tx_since();
  if (!dirty_.empty() && (since < 0 || dirty_since_ < since)) since = dirty_since_;
  return since < 0 ? -1 : since + kCommitEvery;
}

void Engine::FlushRecords() {
  store_.Reserve(dirty_.size());
  for (uint32_t id : dirty_) {
    WriteRecord(id);
    items_[id].dirty = false;
  }
  dirty_.clear();
}

void Engine::WriteRecord(uint32_t id) {
  const Item& it = items_[id];
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
      for (int g : it.gpus) ids.push_back(GpuName(g));
      res["gpu_ids"] = std::move(ids);
      row.resources = ToText(json::Value(std::move(res)));
    } else {
      cached = resources_text_.emplace(inst.stage, ToText(json::Value(std::move(res)))).first;
    }
  }
  if (it.gpus.empty()) row.resources = cached->second;
  row.outputs = it.outputs_text.empty() ? ToText(it.outputs) : it.outputs_text;
  row.key_parts = it.key_parts;
  if (it.ready_at > 0) row.ready_at = it.ready_at;
  if (it.started_at > 0) row.started_at = it.started_at;
  if (it.ended_at > 0) row.ended_at = it.ended_at;
  row.attempts = it.attempt;
  store_.PutInstance(run_, std::move(row));
}

void Engine::Event(uint32_t id, const std::string& event, const std::string& detail) {
  if (!opt_.dry_run) store_.AddEvent(run_, items_[id].name, event, detail);
}

// When the run store cannot be written (a full disk, a broken file), the
// results of what finishes are not recorded and would not be reused: say so
// at once, and stop the run (what runs is cancelled, nothing new starts).
// Outputs already committed stay in .flow/out.
void Engine::CheckStore() {
  if (store_failed_) return;
  std::string err = store_.WriterError();
  if (err.empty()) return;
  store_failed_ = true;
  std::string what = "the run store .flow/runs.db could not be written (" + err +
                     "): what finishes now is not recorded, so the run stops; free the space (or fix the file) "
                     "and run again with --resume";
  std::fprintf(stderr, "flow: error: %s\n", what.c_str());
  if (first_failure_.empty()) first_failure_ = what;
  if (!stopping_) {
    stopping_ = true;
    CancelAll();
  }
}

void Engine::FindRunsCutShort() {
  for (const auto& c : store_.RunsCutShort(run_)) {
    // A run still recorded as running whose flow is alive (beside a dry
    // run, which takes no lock) is not cut short: it records what it does.
    if (c.status == "running" && c.pid > 0 && !(kill(static_cast<pid_t>(c.pid), 0) != 0 && errno == ESRCH)) continue;
    // The clock of a file's ctime may lag the one of started_at by a tick.
    cut_short_.emplace_back(c.started_at - 0.05, c.next_started_at.value_or(std::numeric_limits<double>::infinity()));
  }
}

}  // namespace engine_detail

}  // namespace flow::rt
