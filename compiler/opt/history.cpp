// SPDX-License-Identifier: Apache-2.0
// Profile-guided estimates: per-stage medians of the durations that earlier
// runs recorded in the run store (`.flow/runs.db`, docs/run-store.md).
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
  const char* sql = "SELECT stage, wall_s FROM attempts WHERE status = 'succeeded' AND wall_s IS NOT NULL";
  std::map<std::string, std::vector<double>> samples;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK) {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* stage = sqlite3_column_text(stmt, 0);
      if (!stage) continue;
      samples[reinterpret_cast<const char*>(stage)].push_back(sqlite3_column_double(stmt, 1) * 1000.0);
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (samples.empty()) return std::nullopt;
  History h;
  for (auto& [stage, ms] : samples) {
    std::sort(ms.begin(), ms.end());
    size_t n = ms.size();
    h.median_ms[stage] = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    h.samples[stage] = static_cast<int>(n);
  }
  return h;
}

}  // namespace flow::opt
