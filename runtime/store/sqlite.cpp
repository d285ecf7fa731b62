// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite.h"

#include <atomic>
#include <cstdio>

namespace flow::rt {

Db::Db(const std::string& path, bool create, bool read_only) : path_(path) {
  int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  flags |= SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    error_ = db_ ? sqlite3_errmsg(db_) : "out of memory";
    return;
  }
  // Readers and the writer never wait long on each other (WAL); one that
  // finds the database locked (another process holds a write transaction)
  // retries for up to 10 s, and says so after the first second.
  sqlite3_busy_handler(db_, &Db::OnBusy, this);
  // The last connection to close does not copy the write-ahead log into
  // the database (a checkpoint, with two fsyncs): that was most of the
  // time `flow run` took after its last job (10-20 ms for 10,000 stages).
  // The log stays next to the database and readers read through it; a
  // later commit copies it back (the run store's writer thread, while jobs
  // run: DeferCheckpoints). What a commit guarantees does not change: it
  // is in the log, which survives a crash of flow (synchronous=NORMAL,
  // docs/runtime.md).
  if (!read_only) {
    sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    sqlite3_wal_hook(db_, &Db::OnWal, this);  // replaces SQLite's automatic checkpoint (the same, unless deferred)
  }
}

int Db::OnWal(void* self, sqlite3*, const char*, int pages) {
  auto* d = static_cast<Db*>(self);
  d->wal_pages_ = pages;
  d->CheckpointIfLarge(d->defer_checkpoints_ ? kDeferredAtMostPages : kCheckpointPages);
  return SQLITE_OK;
}

void Db::CheckpointIfLarge(int pages) {
  if (wal_pages_ < pages) return;
  // A busy log (a reader in the middle of it) is copied as far as it can
  // be; the rest goes at a later checkpoint.
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  wal_pages_ = 0;
}

// SQLite's busy handler: `count` is the number of retries so far. Waits
// 1, 2, 5, 10 ms, then 20 ms a time: about 10 s in all before giving up.
namespace {
std::atomic<bool (*)()> g_give_up{nullptr};
}  // namespace

void Db::SetGiveUp(bool (*give_up)()) { g_give_up.store(give_up); }

int Db::OnBusy(void* self, int count) {
  auto* db = static_cast<Db*>(self);
  if (auto give_up = g_give_up.load(); give_up && give_up()) return 0;
  static constexpr int kDelaysMs[] = {1, 2, 5, 10};
  int waited_ms = 0;
  for (int i = 0; i < count; ++i) waited_ms += i < 4 ? kDelaysMs[i] : 20;
  if (waited_ms >= 10000) return 0;
  if (waited_ms >= 1000 && !db->said_waiting_) {
    db->said_waiting_ = true;
    std::fprintf(stderr, "flow: waiting for %s: another process holds it locked (gives up after 10 s)\n",
                 db->path_.c_str());
  }
  sqlite3_sleep(count < 4 ? kDelaysMs[count] : 20);
  return 1;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

bool Db::Exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    SetError(msg ? msg : sqlite3_errmsg(db_));
    sqlite3_free(msg);
    return false;
  }
  return true;
}

Stmt::Stmt(Db& db, const char* sql) : db_(&db) {
  if (sqlite3_prepare_v2(db.raw(), sql, -1, &s_, nullptr) != SQLITE_OK) {
    db.SetError(std::string(sqlite3_errmsg(db.raw())) + " (in: " + sql + ")");
    s_ = nullptr;
  }
}

Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  if (s_) sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, double v) {
  if (s_) sqlite3_bind_double(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, std::string_view v) {
  if (s_) sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindKept(int i, const std::string& v) {
  if (s_) sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  if (s_) sqlite3_bind_null(s_, i);
  return *this;
}

bool Stmt::Step() {
  if (!s_) return false;
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) db_->SetError(sqlite3_errmsg(db_->raw()));
  return false;
}

void Stmt::Run() {
  while (Step()) {
  }
  Reset();
}

void Stmt::Reset() {
  if (!s_) return;
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

bool Stmt::IsNull(int col) const { return !s_ || sqlite3_column_type(s_, col) == SQLITE_NULL; }
int64_t Stmt::Int(int col) const { return s_ ? sqlite3_column_int64(s_, col) : 0; }
double Stmt::Real(int col) const { return s_ ? sqlite3_column_double(s_, col) : 0; }
std::string Stmt::Text(int col) const {
  if (!s_) return {};
  const unsigned char* t = sqlite3_column_text(s_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, col)) : std::string();
}

}  // namespace flow::rt
