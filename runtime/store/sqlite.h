// SPDX-License-Identifier: Apache-2.0
// A thin RAII layer over the SQLite C API: a connection and prepared
// statements with typed binds and reads. Errors are values, never aborts.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flow::rt {

class Db;

/// A prepared statement. Bind 1-based parameters, then Step() until it
/// returns false; Reset() to run it again.
class Stmt {
 public:
  Stmt() = default;
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, std::string_view v);
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  /// Binds `v` without copying it: `v` must stay as it is until the
  /// statement has run (Step/Run) and is bound again or reset. For the rows
  /// a run writes by the thousand, where SQLite's copy of each text cost
  /// more than the rest of the bind.
  Stmt& BindKept(int i, const std::string& v);
  Stmt& BindKept(int i, std::string&&) = delete;  // a temporary would be gone before the statement runs
  Stmt& BindNull(int i);
  template <typename T>
  Stmt& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : BindNull(i);
  }

  /// Runs one step: true when a row is available. Errors go to the Db.
  bool Step();
  /// Runs to completion (for statements without rows).
  void Run();
  void Reset();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Real(int col) const;
  std::string Text(int col) const;

 private:
  Db* db_ = nullptr;
  sqlite3_stmt* s_ = nullptr;
};

class Db {
 public:
  /// Opens (creating when `create`) the database at `path`. On failure,
  /// ok() is false and error() says why.
  Db(const std::string& path, bool create, bool read_only = false);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void ClearError() { error_.clear(); }
  void SetError(std::string e) {
    if (error_.empty()) error_ = std::move(e);
  }
  sqlite3* raw() { return db_; }

  /// Runs one or more statements without results.
  bool Exec(const char* sql);
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

  /// A question every connection's wait for a lock asks between its
  /// retries: when it answers true, the wait ends at once (the statement
  /// fails as busy). flow run asks "has Ctrl-C come twice?". Null: never.
  static void SetGiveUp(bool (*give_up)());

  /// Checkpoints: copying the write-ahead log back into the database.
  /// SQLite makes one in the commit that takes the log past 1,000 pages,
  /// whichever connection that is; with DeferCheckpoints(true) this
  /// connection's commits do only past 4,000 pages (16 MB: a bound on the
  /// log whatever else happens), and whoever owns it calls
  /// CheckpointIfLarge() when a checkpoint costs nobody a wait (the run
  /// store's writer thread, between batches, while jobs run).
  void DeferCheckpoints(bool defer) { defer_checkpoints_ = defer; }
  /// A checkpoint that waits for nobody (PASSIVE), when the log has at
  /// least `pages` pages.
  void CheckpointIfLarge(int pages = kCheckpointPages);
  static constexpr int kCheckpointPages = 1000;  // SQLite's own default
  static constexpr int kDeferredAtMostPages = 4 * kCheckpointPages;

 private:
  static int OnBusy(void* self, int count);
  static int OnWal(void* self, sqlite3* db, const char* name, int pages);
  bool defer_checkpoints_ = false;
  int wal_pages_ = 0;
  sqlite3* db_ = nullptr;
  std::string error_;
  std::string path_;
  bool said_waiting_ = false;
};

}  // namespace flow::rt
