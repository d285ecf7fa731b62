// SPDX-License-Identifier: Apache-2.0
// What `flow run` shows while it runs: on a terminal a live line (counts,
// running instances, elapsed time) with notable events printed above it;
// otherwise one plain line per event.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "engine/engine.h"

namespace flow::rt {

class Progress {
 public:
  Progress(bool live, bool quiet, bool dry_run);
  ~Progress();
  bool live() const { return live_; }
  void SetTotal(size_t n) { total_ = n; }
  void AddTotal(size_t n) { total_ += n; }
  /// An instance (node) or gate/map reached a final status.
  void Count(bool node, const char* status);
  void Started(const std::string& name, int attempt);
  /// One event: a verb ("done", "failed", "skipped") and its detail.
  void Line(const std::string& verb, const std::string& name, const std::string& detail);
  void Tick(size_t queued, size_t running);
  /// Text printed as it is (above the live line), unless quiet.
  void Raw(const std::string& text);
  void Finish();

 private:
  void Draw(bool force);
  void Clear();
  double Elapsed() const;
  bool live_, quiet_, dry_run_;
  size_t total_ = 0, done_ = 0, failed_ = 0, queued_ = 0;
  std::set<std::string> running_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
  bool drawn_ = false;
};

std::unique_ptr<Progress> MakeProgress(ProgressMode mode, bool dry_run);

}  // namespace flow::rt
