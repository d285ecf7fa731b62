// SPDX-License-Identifier: Apache-2.0
#include "sched/scheduler.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "fmt/format.h"
#include "plan/units.h"

namespace flow::rt {

namespace {
constexpr double kEps = 1e-9;
constexpr size_t kCpus = 0, kMemory = 1, kGpus = 2, kPools = 3;
}  // namespace

Scheduler::Scheduler(const Capacity& c) {
  cap_ = {c.cpus, c.memory_bytes, static_cast<double>(c.gpus)};
  for (const auto& [name, amount] : c.pools) {
    pool_names_.push_back(name);
    cap_.push_back(amount);
  }
  used_.assign(cap_.size(), 0);
  free_gpus_ = c.gpu_ids;
  if (free_gpus_.empty())
    for (int i = 0; i < c.gpus; ++i) free_gpus_.push_back(i);
}

Amounts Scheduler::ToAmounts(const Demand& d) const {
  Amounts a(cap_.size(), 0);
  a[kCpus] = d.cpus;
  a[kMemory] = d.memory_bytes;
  a[kGpus] = d.gpus;
  for (size_t i = 0; i < pool_names_.size(); ++i) {
    auto it = d.pools.find(pool_names_[i]);
    if (it != d.pools.end()) a[kPools + i] = it->second;
  }
  return a;
}

std::optional<std::string> Scheduler::NeverFits(const Demand& d) const {
  auto say = [](double need, double have, const char* what) {
    return fmt::format("needs {} {}, the run has {}", need, what, have);
  };
  if (d.cpus > cap_[kCpus] + kEps) return say(d.cpus, cap_[kCpus], "cpus") + " (--cpus)";
  if (d.memory_bytes > cap_[kMemory] + kEps)
    return fmt::format("needs {} of memory, the run has {} (--memory)", FormatBytes(d.memory_bytes),
                       FormatBytes(cap_[kMemory]));
  if (d.gpus > cap_[kGpus] + kEps) return say(d.gpus, cap_[kGpus], "gpus") + " (--gpus)";
  for (const auto& [name, amount] : d.pools) {
    if (amount <= 0) continue;
    auto it = std::find(pool_names_.begin(), pool_names_.end(), name);
    if (it == pool_names_.end())
      return fmt::format("needs {} of pool '{}', which has no capacity (give one with --pool {}=N)", amount, name,
                         name);
    double have = cap_[kPools + (it - pool_names_.begin())];
    if (amount > have + kEps) return fmt::format("needs {} of pool '{}', the run has {} (--pool)", amount, name, have);
  }
  return std::nullopt;
}

bool Scheduler::Fits(const Amounts& need, const Amounts& free) const {
  for (size_t i = 0; i < need.size(); ++i)
    if (need[i] > free[i] + kEps) return false;
  return true;
}

void Scheduler::AddReady(uint32_t id, const Demand& d, double priority, double estimate_s) {
  Task t{id, ToAmounts(d), d.gpus, priority, std::max(0.0, estimate_s), seq_++, 0, {}};
  auto [it, inserted] = tasks_.insert_or_assign(id, std::move(t));
  queue_.insert(&it->second);
  if (it->second.need[kCpus] < kEps) ++zero_cpu_queued_;
}

std::vector<StartDecision> Scheduler::Pick(double now) { return PickImpl(now, -1e300); }

std::vector<StartDecision> Scheduler::PickAtLeast(double now, double min_priority) {
  return PickImpl(now, min_priority);
}

std::vector<StartDecision> Scheduler::PickImpl(double now, double min_priority) {
  std::vector<StartDecision> out;
  // Nothing can start while no cpu is free (every task but those asking
  // for 0 cpus needs one), or nothing queued is of that priority.
  if (queue_.empty() || (*queue_.begin())->priority < min_priority ||
      (cap_[kCpus] - used_[kCpus] < kEps && zero_cpu_queued_ == 0))
    return out;
  Amounts free(cap_.size());
  for (size_t i = 0; i < cap_.size(); ++i) free[i] = cap_[i] - used_[i];
  auto start = [&](Task* t) {
    for (size_t i = 0; i < free.size(); ++i) {
      free[i] -= t->need[i];
      used_[i] += t->need[i];
    }
    t->gpu_ids.assign(free_gpus_.begin(), free_gpus_.begin() + t->gpus);
    free_gpus_.erase(free_gpus_.begin(), free_gpus_.begin() + t->gpus);
    t->end_estimate = now + t->estimate_s;
    running_[t->id] = t;
    out.push_back({t->id, t->gpu_ids});
  };

  bool reserved = false;
  double shadow = 0;  // when the blocked head is estimated to fit
  Amounts extra;      // what stays free at `shadow` after the head starts
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (free[kCpus] < kEps && zero_cpu_queued_ == 0) break;  // full: nothing more can start
    Task* t = *it;
    if (t->priority < min_priority) break;  // the queue is in priority order
    bool fits = Fits(t->need, free);
    if (!reserved) {
      if (fits) {
        start(t);
        if (t->need[kCpus] < kEps) --zero_cpu_queued_;
        it = queue_.erase(it);
        continue;
      }
      // The head is blocked: reserve its start. Walk the running tasks by
      // estimated end until enough would be free.
      std::vector<Task*> by_end;
      for (auto& [id, r] : running_) by_end.push_back(r);
      std::sort(by_end.begin(), by_end.end(),
                [](const Task* a, const Task* b) { return a->end_estimate < b->end_estimate; });
      Amounts avail = free;
      shadow = now;
      for (Task* r : by_end) {
        if (Fits(t->need, avail)) break;
        for (size_t i = 0; i < avail.size(); ++i) avail[i] += r->need[i];
        shadow = std::max(now, r->end_estimate);
      }
      extra = avail;
      for (size_t i = 0; i < extra.size(); ++i) extra[i] -= t->need[i];
      reserved = true;
      ++it;
      continue;
    }
    // Backfilling behind the reservation.
    if (fits) {
      bool ends_in_time = now + t->estimate_s <= shadow + kEps;
      bool leaves_room = Fits(t->need, extra);
      if (ends_in_time || leaves_room) {
        if (!ends_in_time)
          for (size_t i = 0; i < extra.size(); ++i) extra[i] -= t->need[i];
        start(t);
        if (t->need[kCpus] < kEps) --zero_cpu_queued_;
        it = queue_.erase(it);
        continue;
      }
    }
    ++it;
  }
  return out;
}

void Scheduler::Finished(uint32_t id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  Task* t = it->second;
  for (size_t i = 0; i < used_.size(); ++i) used_[i] = std::max(0.0, used_[i] - t->need[i]);
  free_gpus_.insert(free_gpus_.end(), t->gpu_ids.begin(), t->gpu_ids.end());
  std::sort(free_gpus_.begin(), free_gpus_.end());
  running_.erase(it);
  tasks_.erase(id);
}

void Scheduler::Drop(uint32_t id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end() || running_.count(id)) return;
  if (queue_.erase(&it->second) && it->second.need[kCpus] < kEps) --zero_cpu_queued_;
  tasks_.erase(it);
}

std::optional<double> ParseSize(const std::string& text) {
  // The language's size units, plus plain bytes and the K/M/G/T shorthands
  // that command lines use (--memory 16G).
  static constexpr plan::UnitTable kShorthands[] = {
      {"", 1}, {"K", 1024.}, {"M", 1048576.}, {"G", 1073741824.}, {"T", 1099511627776.}};
  if (auto v = plan::ParseWithUnit(text, plan::kSizeUnits)) return v;
  return plan::ParseWithUnit(text, kShorthands);
}

std::string FormatBytes(double b) {
  // In the language's units (1 GB = 1024 MB), shortest form first.
  static const std::pair<const char*, double> kUnits[] = {
      {"TB", 1099511627776.}, {"GB", 1073741824.}, {"MB", 1048576.}, {"KB", 1024.}};
  for (const auto& [u, m] : kUnits)
    if (b >= m) return fmt::format("{:.4g} {}", b / m, u);
  return fmt::format("{} B", b);
}

}  // namespace flow::rt
