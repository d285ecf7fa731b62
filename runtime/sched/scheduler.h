// SPDX-License-Identifier: Apache-2.0
// Resource-aware list scheduling with EASY backfilling. Pure logic, no
// processes and no clock of its own: the engine says when a task is ready,
// asks which to start now, and says when one finished.
//
// - Never more reserved than the capacity, in any resource, at any moment.
// - Ready tasks start in priority order (critical-path priority, highest
//   first; ties in the order they became ready).
// - When the first task in that order does not fit, it gets a reservation:
//   the time its resources will be free, from the estimated ends of the
//   running tasks. A later task may start before it only if it is
//   estimated to end by then, or if it fits in what will still be free
//   when the blocked task starts. So a big task never starves.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace flow::rt {

/// Amounts of every resource: cpus, memory (bytes), gpus, then the custom
/// pools in the order of Capacity::pool_names.
using Amounts = std::vector<double>;

struct Capacity {
  double cpus = 1;
  double memory_bytes = 0;
  int gpus = 0;
  std::vector<int> gpu_ids;  // device indices; empty: 0..gpus-1
  // What CUDA_VISIBLE_DEVICES calls the device of each index (numbers,
  // GPU-UUIDs, MIG ids, as given); empty: the index itself.
  std::vector<std::string> gpu_names;
  std::map<std::string, double> pools;
};

struct Demand {
  double cpus = 1;
  double memory_bytes = 0;
  int gpus = 0;
  std::map<std::string, double> pools;
};

struct StartDecision {
  uint32_t task;
  std::vector<int> gpu_ids;
};

class Scheduler {
 public:
  explicit Scheduler(const Capacity& capacity);

  /// Why `d` can never run under this capacity ("needs 8 cpus, the run has
  /// 4"), or nothing when it can.
  std::optional<std::string> NeverFits(const Demand& d) const;

  void AddReady(uint32_t task, const Demand& d, double priority, double estimate_s);
  /// The tasks to start at time `now` (seconds, any epoch), in order; their
  /// resources are reserved until Finished().
  std::vector<StartDecision> Pick(double now);
  /// The same, starting only tasks whose priority is at least
  /// `min_priority` (the engine starts queued work this way before the
  /// successors of a finished task are known, when none of them can
  /// outrank it).
  std::vector<StartDecision> PickAtLeast(double now, double min_priority);
  void Finished(uint32_t task);
  /// Removes a task that was ready but will not start (cancelled run).
  void Drop(uint32_t task);

  size_t queued() const { return queue_.size(); }
  size_t running() const { return running_.size(); }
  /// What is reserved now (for tests and the progress line).
  const Amounts& in_use() const { return used_; }
  const Amounts& capacity() const { return cap_; }
  const std::vector<std::string>& pool_names() const { return pool_names_; }

 private:
  struct Task {
    uint32_t id;
    Amounts need;
    int gpus;
    double priority, estimate_s;
    uint64_t seq;
    double end_estimate = 0;  // running: start + estimate
    std::vector<int> gpu_ids;
  };
  struct Order {
    bool operator()(const Task* a, const Task* b) const {
      if (a->priority != b->priority) return a->priority > b->priority;
      return a->seq < b->seq;
    }
  };
  std::vector<StartDecision> PickImpl(double now, double min_priority);
  Amounts ToAmounts(const Demand& d) const;
  bool Fits(const Amounts& need, const Amounts& free) const;

  Amounts cap_, used_;
  std::vector<std::string> pool_names_;
  std::vector<int> free_gpus_;
  std::map<uint32_t, Task> tasks_;
  std::set<Task*, Order> queue_;
  std::map<uint32_t, Task*> running_;
  uint64_t seq_ = 0;
  size_t zero_cpu_queued_ = 0;  // queued tasks that ask for no cpu
};

/// Parses "4GB", "512MB", "1.5GiB", "1000" (bytes) into bytes.
std::optional<double> ParseSize(const std::string& text);
/// "4 GB", "512 MB" for messages.
std::string FormatBytes(double bytes);

}  // namespace flow::rt
