// SPDX-License-Identifier: Apache-2.0
// Profile-guided estimates: medians of the durations that earlier runs
// recorded in the run store (`.flow/runs.db`, docs/runtime.md), per
// instance and per stage.
#include <sqlite3.h>

#include <algorithm>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "opt/passes.h"

namespace flow::opt {

std::optional<History> ReadHistory(const std::string& flow_dir) {
  llvm::SmallString<256> path(flow_dir);
  llvm::sys::path::append(path, "runs.db");
  if (!llvm::sys::fs::exists(path)) return std::nullopt;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* stmt = nullptr;
  // Succeeded attempts only: a failed or killed attempt's time says little
  // about how long the stage takes.
  // The run store has the instance of each attempt; a store written by
  // another tool may have only (stage, status, wall_s).
  const char* sql =
      "SELECT stage, wall_s, instance FROM attempts WHERE status = 'succeeded' AND wall_s IS NOT NULL";
  const char* sql_stage_only = "SELECT stage, wall_s FROM attempts WHERE status = 'succeeded' AND wall_s IS NOT NULL";
  std::map<std::string, std::vector<double>> samples, by_instance;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql_stage_only, -1, &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      stmt = nullptr;
    }
  }
  if (stmt) {
    bool with_instance = sqlite3_column_count(stmt) == 3;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* stage = sqlite3_column_text(stmt, 0);
      if (!stage) continue;
      double ms = sqlite3_column_double(stmt, 1) * 1000.0;
      std::string s = reinterpret_cast<const char*>(stage);
      samples[s].push_back(ms);
      if (with_instance)
        if (const unsigned char* inst = sqlite3_column_text(stmt, 2))
          by_instance[s + "\t" + reinterpret_cast<const char*>(inst)].push_back(ms);
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (samples.empty()) return std::nullopt;
  auto median = [](std::vector<double>& ms) {
    std::sort(ms.begin(), ms.end());
    size_t n = ms.size();
    return n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  };
  History h;
  for (auto& [stage, ms] : samples) {
    h.median_ms[stage] = median(ms);
    h.samples[stage] = static_cast<int>(ms.size());
  }
  for (auto& [key, ms] : by_instance) h.instance_median_ms[key] = median(ms);
  return h;
}

}  // namespace flow::opt
