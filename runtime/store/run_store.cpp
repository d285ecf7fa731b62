// SPDX-License-Identifier: Apache-2.0
#include "store/run_store.h"

#include "fmt/format.h"
#include "llvm/Support/JSON.h"
#include "plan/json_parse.h"
#include "util/hex.h"

#include <algorithm>
#include <chrono>
#include <set>

namespace flow::rt {

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double SteadyNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO meta VALUES('schema_version', '1');
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY, status TEXT NOT NULL, source TEXT, plan_path TEXT, entry TEXT,
  started_at REAL NOT NULL, ended_at REAL, pid INTEGER, args TEXT, capacities TEXT, summary TEXT,
  resumed_from INTEGER);
CREATE TABLE IF NOT EXISTS run_params(run_id INTEGER NOT NULL, name TEXT NOT NULL, value TEXT, given INTEGER,
  PRIMARY KEY(run_id, name));
CREATE TABLE IF NOT EXISTS instances(
  run_id INTEGER NOT NULL, name TEXT NOT NULL, stage TEXT, status TEXT NOT NULL, reason TEXT,
  cache_key TEXT, priority_s REAL, estimate_ms INTEGER, resources TEXT, outputs TEXT, key_parts TEXT,
  ready_at REAL, started_at REAL, ended_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(run_id, name));
CREATE TABLE IF NOT EXISTS attempts(
  run_id INTEGER NOT NULL, instance TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL,
  status TEXT NOT NULL, exit_code INTEGER, signal INTEGER, started_at REAL, ended_at REAL,
  wall_s REAL, user_s REAL, sys_s REAL, cpu_s REAL, max_rss_bytes INTEGER,
  stdout_path TEXT, stderr_path TEXT, error TEXT, command TEXT, max_rss_exact INTEGER,
  PRIMARY KEY(run_id, instance, attempt));
-- An index no query used, which cost each attempt's row a third b-tree
-- insert: gone from stores made before.
DROP INDEX IF EXISTS attempts_stage;
CREATE TABLE IF NOT EXISTS events(run_id INTEGER NOT NULL, t REAL NOT NULL, instance TEXT, event TEXT NOT NULL,
  detail TEXT);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, t);
CREATE TABLE IF NOT EXISTS cache(key TEXT PRIMARY KEY, instance TEXT, stage TEXT, run_id INTEGER, out_dir TEXT,
  outputs TEXT, key_parts TEXT, created_at REAL);
CREATE TABLE IF NOT EXISTS run_plans(run_id INTEGER PRIMARY KEY, instances TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_hashes(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER,
  hash TEXT);
)sql";

}  // namespace

struct RunStore::Statements {
  explicit Statements(Db& db)
      : put_instance(db,
                     // An instance's row is written when it is first decided (ready, skipped,
                     // cached, ...) and again as it changes: updated in place, where OR REPLACE
                     // deleted the row and its index entry and inserted both again.
                     "INSERT INTO instances(run_id, name, stage, status, reason, cache_key, priority_s, "
                     "estimate_ms, resources, outputs, key_parts, ready_at, started_at, ended_at, attempts) "
                     "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, name) DO UPDATE SET "
                     "stage = excluded.stage, status = excluded.status, reason = excluded.reason, "
                     "cache_key = excluded.cache_key, priority_s = excluded.priority_s, "
                     "estimate_ms = excluded.estimate_ms, resources = excluded.resources, "
                     "outputs = excluded.outputs, key_parts = excluded.key_parts, ready_at = excluded.ready_at, "
                     "started_at = excluded.started_at, ended_at = excluded.ended_at, attempts = excluded.attempts"),
        add_event(db, "INSERT INTO events(run_id, t, instance, event, detail) VALUES(?,?,?,?,?)"),
        find_cache(db, "SELECT key, instance, stage, run_id, out_dir, outputs, key_parts FROM cache WHERE key = ?"),
        put_cache(db,
                  "INSERT OR REPLACE INTO cache(key, instance, stage, run_id, out_dir, outputs, key_parts, created_at) "
                  "VALUES(?,?,?,?,?,?,?,?)"),
        drop_cache(db, "DELETE FROM cache WHERE key = ?"),
        find_hash(db, "SELECT size, mtime_ns, inode, hash FROM file_hashes WHERE path = ?"),
        put_hash(db, "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, inode, hash) VALUES(?,?,?,?,?)"),
        drop_hash(db, "DELETE FROM file_hashes WHERE path = ?") {}
  Stmt put_instance, add_event, find_cache, put_cache, drop_cache, find_hash, put_hash, drop_hash;
  // Made when first used: it names a column that came later, which a store
  // only read (opened without create) may lack.
  std::optional<Stmt> add_attempt;
};

RunStore::RunStore(const std::string& path, bool create) : db_(path, create), path_(path) {
  // Only the writer thread checkpoints, between its batches, while jobs
  // run: never a commit of the engine's thread (the first of a run, before
  // any job starts, or the last, after the last job ended), nor the
  // writer's last batch. The engine's own commits add a few pages a run.
  db_.DeferCheckpoints(true);
}

RunStore::~RunStore() {
  SetBackground(false);
  if (in_tx_) Commit();
  st_.reset();
}


void RunStore::SetBackground(bool on) {
  if (on == background_) return;
  if (on) {
    if (in_tx_) Commit();
    std::string error;
    auto writer = Open(path_, false, error);
    if (!writer) {
      db_.SetError(error);
      return;  // stays in the foreground: slower, still correct
    }
    {
      Stmt s(db_, "SELECT EXISTS(SELECT 1 FROM cache)");
      cache_was_empty_ = s.Step() && s.Int(0) == 0;
    }
    {
      Stmt s(db_, "SELECT EXISTS(SELECT 1 FROM file_hashes)");
      hashes_were_empty_ = s.Step() && s.Int(0) == 0;
    }
    writer_ = std::move(writer);
    stop_ = false;
    background_ = true;
    writer_thread_ = std::thread([this] { WriterLoop(); });
    return;
  }
  {
    // What is queued goes over with the stop, under one lock: the writer
    // knows that batch is its last (and makes no checkpoint after it).
    std::unique_lock<std::mutex> lock(mu_);
    if (!queued_.empty()) batches_.push_back(std::move(queued_));
    queued_.clear();
    stop_ = true;
    cv_.notify_all();
  }
  writer_thread_.join();
  background_ = false;
  writer_.reset();
  cache_overlay_.clear();
  if (!writer_error_.empty()) db_.SetError(writer_error_);
}

void RunStore::NoteQueued() {
  if (queued_.empty()) queued_since_ = SteadyNow();
}

void RunStore::Queue(Op op) {
  NoteQueued();
  queued_.push_back(std::move(op));
}

// Groups: a batch of fewer than kBusyOps rows is committed at once (the
// engine hands one over every 100 ms, so its records are committed within
// 100 ms). A larger one (instances changing by the thousand a second,
// stages of a few milliseconds) leaves the transaction open for the next
// batches, up to a second from its first: each commit writes its pages to
// the log, and each group of a busy run dirties much the same pages of the
// tables' indexes. The rows themselves are written as they come, so the
// last group, after the last job, is no bigger than before.
void RunStore::WriterLoop() {
  constexpr size_t kBusyOps = 300;  // about 100 instances' rows
  constexpr auto kHoldAtMost = std::chrono::seconds(1);
  RunStore& w = *writer_;
  std::optional<std::chrono::steady_clock::time_point> open_since;  // of the open transaction
  for (;;) {
    std::vector<Op> batch;
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [&] { return !batches_.empty() || stop_; };
      if (open_since)
        cv_.wait_until(lock, *open_since + kHoldAtMost, ready);
      else
        cv_.wait(lock, ready);
      if (!batches_.empty()) {
        batch = std::move(batches_.front());
        batches_.pop_front();
      }
      // The last batch came with the stop (SetBackground(false)).
      stopping = stop_ && batches_.empty();
    }
    if (!batch.empty()) {
      if (!open_since) {
        w.Begin();
        open_since = std::chrono::steady_clock::now();
      }
      for (auto& op : batch) {
        if (auto* i = std::get_if<InstanceOp>(&op))
          w.PutInstance(i->run, std::move(i->row));
        else if (auto* a = std::get_if<AttemptOp>(&op))
          w.AddAttempt(a->run, std::move(a->row));
        else if (auto* e = std::get_if<EventOp>(&op))
          w.InsertEvent(e->run, e->t, e->instance, e->event, e->detail);
        else if (auto* c = std::get_if<CacheRow>(&op))
          w.PutCache(std::move(*c));
        else if (auto* d = std::get_if<DropOp>(&op))
          w.DropCache(d->key);
        else if (auto* h = std::get_if<HashOp>(&op))
          w.WriteFileHash(h->path, h->row);
        else if (auto* p = std::get_if<PlanOp>(&op))
          w.InsertRunPlan(p->run, p->instances);
      }
    }
    bool due = open_since && (stopping || batch.size() < kBusyOps ||
                              std::chrono::steady_clock::now() >= *open_since + kHoldAtMost);
    if (due) {
      w.Commit();
      open_since.reset();
      // A checkpoint only while the run goes on: not once it has ended
      // (SetBackground(false), which hands over the last batch with the stop
      // and waits for the writer).
      bool ending;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ending = stop_;
      }
      if (!ending) w.db_.CheckpointIfLarge();
    }
    if (!w.db_.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (writer_error_.empty()) writer_error_ = w.db_.error();
    }
    if (stopping && !open_since) return;
  }
}

std::unique_ptr<RunStore> RunStore::Open(const std::string& path, bool create, std::string& error, bool* empty) {
  if (empty) *empty = false;
  std::unique_ptr<RunStore> s(new RunStore(path, create));
  if (!s->db_.ok()) {
    error = "cannot open the run store " + path + ": " + s->db_.error();
    return nullptr;
  }
  // WAL: readers never block the writer; NORMAL sync: a commit survives a
  // crash of flow (not necessarily a power cut), without an fsync each.
  // journal_size_limit: the log's file is cut back to 4 MB when a
  // checkpoint lets it start over (it is kept between runs). The switch to
  // WAL is written into the file: only a flow that creates or updates the
  // store makes it (its readers find the mode in the file).
  s->db_.Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA journal_size_limit=4194304;");
  if (create) s->db_.Exec("PRAGMA journal_mode=WAL;");
  // What to do about a store that cannot be used: it depends on why.
  auto advice = [&](const std::string& why) {
    if (why.find("locked") != std::string::npos || why.find("busy") != std::string::npos)
      return std::string("; another process holds it (a flow run, or a tool reading it): try again when it is done");
    if (why.find("full") != std::string::npos || why.find("I/O") != std::string::npos)
      return std::string("; check the free space of its file system");
    return std::string("; if it is damaged or from another version of flow, move it aside with its -wal and -shm files (runs, cache and history start anew)");
  };
  if (create && !s->CreateSchema()) {
    error = "cannot set up the run store " + path + ": " + s->db_.error() + advice(s->db_.error());
    return nullptr;
  }
  if (!create && !s->HasColumn("runs", "id")) {
    if (!s->db_.ok()) {
      error = "cannot read the run store " + path + ": " + s->db_.error() + advice(s->db_.error());
      return nullptr;
    }
    if (empty) *empty = true;
    error = "no runs here: " + path + " holds none yet (it has no tables: a first `flow run` stopped before making them, or an empty file)";
    return nullptr;
  }
  // A store whose tables lack columns (altered by hand or by another program)
  // would take writes that go nowhere: `flow run` recorded "run 0".
  if (std::string missing = s->MissingColumns(); !missing.empty()) {
    error = "the run store " + path + " lacks the columns " + missing + advice("");
    return nullptr;
  }
  s->st_ = std::make_unique<Statements>(s->db_);
  if (!s->db_.ok()) {
    error = "the run store " + path + " is not usable (" + s->db_.error() + ")" + advice(s->db_.error());
    return nullptr;
  }
  return s;
}

std::string RunStore::MissingColumns() {
  // Every (table, column) of a store.
  static constexpr const char* kColumns =
      "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'";
  // The schema's columns, once per process, from an empty store made with it.
  static const std::vector<std::pair<std::string, std::string>> expected = [] {
    std::vector<std::pair<std::string, std::string>> out;
    Db ref(":memory:", true);
    if (!ref.Exec(kSchema)) return out;
    Stmt s(ref, kColumns);
    while (s.Step()) out.emplace_back(s.Text(0), s.Text(1));
    return out;
  }();
  std::set<std::pair<std::string, std::string>> have;
  {
    Stmt s(db_, kColumns);
    while (s.Step()) have.emplace(s.Text(0), s.Text(1));
  }
  if (have.empty()) return {};  // a store not made yet (opened without creating): nothing to compare
  // Columns that came later are added when flow opens the store to run
  // (CreateSchema); until then their readers do without them.
  static const std::set<std::pair<std::string, std::string>> kAddedLater = {
      {"run_params", "given"}, {"attempts", "max_rss_exact"}, {"run_plans", "run_id"}, {"run_plans", "instances"}};
  std::string missing;
  for (const auto& tc : expected)
    if (!have.count(tc) && !kAddedLater.count(tc)) missing += (missing.empty() ? "" : ", ") + tc.first + "." + tc.second;
  return missing;
}

bool RunStore::CreateSchema() {
  if (!db_.Exec(kSchema)) return false;
  // Columns that came later: a store made before them gets them, NULL (not
  // known) in its earlier rows.
  return AddColumn("run_params", "given", "INTEGER") && AddColumn("attempts", "max_rss_exact", "INTEGER");
}

bool RunStore::HasColumn(const char* table, const char* column) {
  Stmt s(db_, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?");
  s.Bind(1, table).Bind(2, column);
  return s.Step() && s.Int(0) == 1;
}

bool RunStore::AddColumn(const char* table, const char* column, const char* type) {
  if (HasColumn(table, column) || db_.Exec(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, column, type).c_str()))
    return true;
  // Another flow opening the same old store may have added it first.
  return HasColumn(table, column);
}

void RunStore::Begin() {
  if (in_tx_ || background_) return;
  db_.Exec("BEGIN IMMEDIATE");
  in_tx_ = true;
  tx_since_ = SteadyNow();
}

void RunStore::Commit() {
  if (background_) {
    if (queued_.empty()) return;
    std::lock_guard<std::mutex> lock(mu_);
    batches_.push_back(std::move(queued_));
    queued_.clear();
    cv_.notify_one();
    return;
  }
  if (!in_tx_) return;
  db_.Exec("COMMIT");
  in_tx_ = false;
}

int64_t RunStore::NewRun(const RunRow& r) {
  Write();
  Stmt s(db_,
         "INSERT INTO runs(status, source, plan_path, entry, started_at, pid, args, capacities, summary, "
         "resumed_from) VALUES(?,?,?,?,?,?,?,?,?,?)");
  s.Bind(1, r.status).Bind(2, r.source).Bind(3, r.plan_path).Bind(4, r.entry).Bind(5, r.started_at);
  s.Bind(6, r.pid).Bind(7, r.args).Bind(8, r.capacities).Bind(9, r.summary).Bind(10, r.resumed_from);
  s.Run();
  return db_.LastInsertId();
}

void RunStore::FinishRun(int64_t run, const std::string& status, const std::string& summary) {
  Write();
  Stmt s(db_, "UPDATE runs SET status = ?, summary = ?, ended_at = ? WHERE id = ?");
  s.Bind(1, status).Bind(2, summary).Bind(3, WallNow()).Bind(4, run);
  s.Run();
}

std::vector<RunStore::CutShort> RunStore::RunsCutShort(int64_t run) {
  Stmt s(db_,
         "SELECT r.pid, r.status, r.started_at, (SELECT min(n.started_at) FROM runs n WHERE n.id > r.id) "
         "FROM runs r WHERE r.status IN ('interrupted', 'running') AND r.id != ? ORDER BY r.id");
  s.Bind(1, run);
  std::vector<CutShort> out;
  while (s.Step()) {
    CutShort c;
    c.pid = s.Int(0);
    c.status = s.Text(1);
    c.started_at = s.Real(2);
    if (!s.IsNull(3)) c.next_started_at = s.Real(3);
    out.push_back(std::move(c));
  }
  return out;
}

int RunStore::MarkInterrupted() {
  std::vector<int64_t> ids;
  {
    Stmt s(db_, "SELECT id FROM runs WHERE status = 'running'");
    while (s.Step()) ids.push_back(s.Int(0));
  }
  // One transaction: a run of thousands of instances gets as many rows.
  bool own_tx = !ids.empty() && !in_tx_ && !background_;
  if (own_tx) Begin();
  for (int64_t id : ids) {
    Stmt r(db_, "UPDATE runs SET status = 'interrupted', ended_at = COALESCE(ended_at, ?) WHERE id = ?");
    r.Bind(1, WallNow()).Bind(2, id);
    r.Run();
    Stmt i(db_, "UPDATE instances SET status = 'not_run', reason = 'the run was interrupted' "
                "WHERE run_id = ? AND status IN ('pending', 'running')");
    i.Bind(1, id);
    i.Run();
    // Those of its plan that never started get their rows now.
    Stmt n(db_, "INSERT INTO instances(run_id, name, stage, status, reason) "
                "VALUES(?, ?, ?, 'not_run', 'the run was interrupted') ON CONFLICT(run_id, name) DO NOTHING");
    for (const auto& [name, stage] : PlannedInstances(id)) {
      n.Bind(1, id).Bind(2, name).Bind(3, stage);
      n.Run();
    }
  }
  if (own_tx) Commit();
  return static_cast<int>(ids.size());
}

void RunStore::AddParam(int64_t run, const std::string& name, const std::string& value_json) {
  Write();
  bool given = std::find(given_params_.begin(), given_params_.end(), name) != given_params_.end();
  Stmt s(db_, "INSERT OR REPLACE INTO run_params(run_id, name, value, given) VALUES(?,?,?,?)");
  s.Bind(1, run).Bind(2, name).Bind(3, value_json).Bind(4, static_cast<int64_t>(given));
  s.Run();
}

void RunStore::PutInstance(int64_t run, InstanceRow r) {
  if (background_) return QueueInPlace<InstanceOp>(run, std::move(r));
  Write();
  Stmt& s = st_->put_instance;
  // The texts are kept, not copied: `r` outlives the statement's run.
  s.Bind(1, run).BindKept(2, r.name).BindKept(3, r.stage).BindKept(4, r.status).BindKept(5, r.reason);
  s.BindKept(6, r.cache_key).Bind(7, r.priority_s).Bind(8, r.estimate_ms).BindKept(9, r.resources);
  s.BindKept(10, r.outputs).BindKept(11, r.key_parts);
  s.Bind(12, r.ready_at).Bind(13, r.started_at).Bind(14, r.ended_at).Bind(15, r.attempts);
  s.Run();
}

void RunStore::PutRunPlan(int64_t run, std::string instances_json) {
  if (background_) return QueueInPlace<PlanOp>(run, std::move(instances_json));
  InsertRunPlan(run, instances_json);
}

void RunStore::InsertRunPlan(int64_t run, const std::string& instances_json) {
  Write();
  Stmt s(db_, "INSERT OR REPLACE INTO run_plans(run_id, instances) VALUES(?,?)");
  s.Bind(1, run).BindKept(2, instances_json);
  s.Run();
}

void RunStore::AddAttempt(int64_t run, AttemptRow r) {
  if (background_) return QueueInPlace<AttemptOp>(run, std::move(r));
  Write();
  if (!st_->add_attempt)
    st_->add_attempt.emplace(db_,
                             "INSERT OR REPLACE INTO attempts(run_id, instance, stage, attempt, status, exit_code, "
                             "signal, started_at, ended_at, wall_s, user_s, sys_s, cpu_s, max_rss_bytes, stdout_path, "
                             "stderr_path, error, command, max_rss_exact) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  Stmt& s = *st_->add_attempt;
  s.Bind(1, run).BindKept(2, r.instance).BindKept(3, r.stage).Bind(4, r.attempt).BindKept(5, r.status);
  s.Bind(6, r.exit_code).Bind(7, r.signal).Bind(8, r.started_at).Bind(9, r.ended_at).Bind(10, r.wall_s);
  s.Bind(11, r.user_s).Bind(12, r.sys_s).Bind(13, r.user_s + r.sys_s).Bind(14, r.max_rss_bytes);
  s.BindKept(15, r.stdout_path).BindKept(16, r.stderr_path).BindKept(17, r.error).BindKept(18, r.command);
  s.Bind(19, r.max_rss_exact ? std::optional<int64_t>(*r.max_rss_exact) : std::nullopt);
  s.Run();
}

void RunStore::AddEvent(int64_t run, const std::string& instance, const std::string& event,
                        const std::string& detail) {
  if (background_) return Queue(EventOp{run, WallNow(), instance, event, detail});
  InsertEvent(run, WallNow(), instance, event, detail);
}

void RunStore::InsertEvent(int64_t run, double t, const std::string& instance, const std::string& event,
                           const std::string& detail) {
  Write();
  Stmt& s = st_->add_event;
  s.Bind(1, run).Bind(2, t).BindKept(3, instance).BindKept(4, event).BindKept(5, detail);
  s.Run();
}

std::optional<CacheRow> RunStore::FindCache(const std::string& key) {
  if (background_) {
    if (auto it = cache_overlay_.find(key); it != cache_overlay_.end()) return it->second;
    if (cache_was_empty_) return std::nullopt;
  }
  Stmt& s = st_->find_cache;
  s.Bind(1, key);
  std::optional<CacheRow> out;
  if (s.Step()) {
    out.emplace();
    out->key = s.Text(0);
    out->instance = s.Text(1);
    out->stage = s.Text(2);
    out->run_id = s.Int(3);
    out->out_dir = s.Text(4);
    out->outputs = s.Text(5);
    out->key_parts = s.Text(6);
  }
  s.Reset();
  return out;
}

void RunStore::PutCache(CacheRow r) {
  if (background_) {
    cache_overlay_[r.key] = r;
    return Queue(std::move(r));
  }
  Write();
  Stmt& s = st_->put_cache;
  s.BindKept(1, r.key).BindKept(2, r.instance).BindKept(3, r.stage).Bind(4, r.run_id).BindKept(5, r.out_dir);
  s.BindKept(6, r.outputs).BindKept(7, r.key_parts).Bind(8, WallNow());
  s.Run();
}

void RunStore::DropCache(const std::string& key) {
  if (background_) {
    cache_overlay_[key] = std::nullopt;
    return Queue(DropOp{key});
  }
  Write();
  Stmt& s = st_->drop_cache;
  s.Bind(1, key);
  s.Run();
}

namespace {
// In the memo: the path has no row (ForgetFileHash), whatever SQLite still
// holds until the writer deletes it.
constexpr int64_t kNoRow = -1;
}  // namespace

std::optional<FileHashRow> RunStore::FindFileHash(const std::string& path) {
  if (auto it = file_hash_memo_.find(path); it != file_hash_memo_.end()) {
    if (it->second.size == kNoRow) return std::nullopt;
    return it->second;
  }
  if (background_ && hashes_were_empty_) return std::nullopt;  // all this run put is in the memo
  Stmt& s = st_->find_hash;
  s.Bind(1, path);
  std::optional<FileHashRow> out;
  if (s.Step()) out = FileHashRow{s.Int(0), s.Int(1), s.Int(2), FromHex64(s.Text(3))};
  s.Reset();
  if (out) file_hash_memo_[path] = *out;
  return out;
}

void RunStore::PutFileHash(const std::string& path, const FileHashRow& r) {
  file_hash_memo_[path] = r;
  if (memo_only_) return;
  if (background_) return Queue(HashOp{path, r});
  WriteFileHash(path, r);
}

void RunStore::WriteFileHash(const std::string& path, const FileHashRow& r) {
  Write();
  if (r.size == kNoRow) {
    Stmt& s = st_->drop_hash;
    s.BindKept(1, path);
    s.Run();
    return;
  }
  Stmt& s = st_->put_hash;
  s.BindKept(1, path).Bind(2, r.size).Bind(3, r.mtime_ns).Bind(4, r.inode).Bind(5, Hex64(r.hash));
  s.Run();
}

void RunStore::ForgetFileHash(const std::string& path) {
  bool had = FindFileHash(path).has_value();
  FileHashRow none;
  none.size = kNoRow;
  file_hash_memo_[path] = none;  // found or not: not looked up again
  if (!had || memo_only_) return;
  if (background_) return Queue(HashOp{path, none});
  WriteFileHash(path, none);
}

// ------------------------------------------------------------- reading

namespace {
const char* kRunCols =
    "SELECT id, status, source, plan_path, entry, started_at, ended_at, pid, args, capacities, summary, "
    "resumed_from FROM runs ";

RunRow ReadRun(const Stmt& s) {
  RunRow r;
  r.id = s.Int(0);
  r.status = s.Text(1);
  r.source = s.Text(2);
  r.plan_path = s.Text(3);
  r.entry = s.Text(4);
  r.started_at = s.Real(5);
  if (!s.IsNull(6)) r.ended_at = s.Real(6);
  r.pid = s.Int(7);
  r.args = s.Text(8);
  r.capacities = s.Text(9);
  r.summary = s.Text(10);
  if (!s.IsNull(11)) r.resumed_from = s.Int(11);
  return r;
}

const char* kInstanceCols =
    "SELECT name, stage, status, reason, cache_key, priority_s, estimate_ms, resources, outputs, key_parts, "
    "ready_at, started_at, ended_at, attempts FROM instances ";

// The columns of kInstanceCols, starting at column `at`.
InstanceRow ReadInstance(const Stmt& s, int at = 0) {
  InstanceRow r;
  r.name = s.Text(at + 0);
  r.stage = s.Text(at + 1);
  r.status = s.Text(at + 2);
  r.reason = s.Text(at + 3);
  r.cache_key = s.Text(at + 4);
  r.priority_s = s.Real(at + 5);
  r.estimate_ms = s.Int(at + 6);
  r.resources = s.Text(at + 7);
  r.outputs = s.Text(at + 8);
  r.key_parts = s.Text(at + 9);
  if (!s.IsNull(at + 10)) r.ready_at = s.Real(at + 10);
  if (!s.IsNull(at + 11)) r.started_at = s.Real(at + 11);
  if (!s.IsNull(at + 12)) r.ended_at = s.Real(at + 12);
  r.attempts = static_cast<int>(s.Int(at + 13));
  return r;
}
}  // namespace

std::vector<RunRow> RunStore::Runs(int limit) {
  Stmt s(db_, (std::string(kRunCols) + "ORDER BY id DESC LIMIT ?").c_str());
  s.Bind(1, static_cast<int64_t>(limit));
  std::vector<RunRow> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

std::optional<RunRow> RunStore::GetRun(int64_t id) {
  Stmt s(db_, (std::string(kRunCols) + "WHERE id = ?").c_str());
  s.Bind(1, id);
  if (s.Step()) return ReadRun(s);
  return std::nullopt;
}

std::optional<int64_t> RunStore::LatestRun() {
  Stmt s(db_, "SELECT MAX(id) FROM runs");
  if (s.Step() && !s.IsNull(0)) return s.Int(0);
  return std::nullopt;
}

std::optional<RunRow> RunStore::LatestUnfinished(const std::string& plan_path, const std::string& entry) {
  Stmt s(db_, (std::string(kRunCols) + "WHERE plan_path = ? AND entry = ? ORDER BY id DESC LIMIT 1").c_str());
  s.Bind(1, plan_path).Bind(2, entry);
  if (s.Step()) {
    RunRow r = ReadRun(s);
    if (r.status != "succeeded") return r;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> RunStore::Params(int64_t run) {
  Stmt s(db_, "SELECT name, value FROM run_params WHERE run_id = ? ORDER BY name");
  s.Bind(1, run);
  std::vector<std::pair<std::string, std::string>> out;
  while (s.Step()) out.emplace_back(s.Text(0), s.Text(1));
  return out;
}

std::vector<std::pair<std::string, std::string>> RunStore::GivenParams(int64_t run) {
  // Rows written before `given` existed (NULL) are given when the run's
  // command line named them (--param NAME=... or --param=NAME=...), so
  // that their defaults are not carried over and pinned from then on.
  std::vector<std::string> named;
  bool parsed_args = false;
  auto on_command_line = [&](const std::string& name) {
    if (!parsed_args) {
      parsed_args = true;
      Stmt a(db_, "SELECT args FROM runs WHERE id = ?");
      a.Bind(1, run);
      auto args = a.Step() ? plan::ParseJson(a.Text(0), plan::kMaxJsonDepth) : plan::ParseJson("[]", plan::kMaxJsonDepth);
      if (!args) llvm::consumeError(args.takeError());
      const llvm::json::Array* arr = args ? args->getAsArray() : nullptr;
      for (size_t i = 0; arr && i < arr->size(); ++i) {
        std::string v = (*arr)[i].getAsString().getValueOr("").str();
        if (v == "--param" && i + 1 < arr->size())
          v = (*arr)[++i].getAsString().getValueOr("").str();
        else if (v.rfind("--param=", 0) == 0)
          v = v.substr(8);
        else
          continue;
        if (size_t eq = v.find('='); eq != std::string::npos) named.push_back(v.substr(0, eq));
      }
    }
    return std::find(named.begin(), named.end(), name) != named.end();
  };
  // A store of a flow from before the column, read without being opened to
  // run (a dry run), has no `given` at all: all of them are NULL then.
  Stmt s(db_, HasColumn("run_params", "given")
                  ? "SELECT name, value, given FROM run_params WHERE run_id = ? AND (given IS NULL OR given != 0) "
                    "ORDER BY name"
                  : "SELECT name, value, NULL FROM run_params WHERE run_id = ? ORDER BY name");
  s.Bind(1, run);
  std::vector<std::pair<std::string, std::string>> out;
  while (s.Step())
    if (!s.IsNull(2) || on_command_line(s.Text(0))) out.emplace_back(s.Text(0), s.Text(1));
  return out;
}

std::vector<std::pair<std::string, std::string>> RunStore::PlannedInstances(int64_t run) {
  std::vector<std::pair<std::string, std::string>> out;
  // A store of an earlier flow, read without being opened to run, may not
  // have the table.
  if (!HasColumn("run_plans", "instances")) return out;
  Stmt s(db_, "SELECT instances FROM run_plans WHERE run_id = ?");
  s.Bind(1, run);
  if (!s.Step()) return out;
  auto parsed = plan::ParseJson(s.Text(0), plan::kMaxJsonDepth);
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return out;
  }
  if (const llvm::json::Array* a = parsed->getAsArray())
    for (const llvm::json::Value& v : *a)
      if (const llvm::json::Array* pair = v.getAsArray(); pair && pair->size() == 2)
        if (auto name = (*pair)[0].getAsString(), stage = (*pair)[1].getAsString(); name && stage)
          out.emplace_back(name->str(), stage->str());
  return out;
}

RunStore::Snapshot::Snapshot(RunStore& store)
    : db_(sqlite3_get_autocommit(store.db_.raw()) ? &store.db_ : nullptr) {
  if (db_ && !db_->Exec("BEGIN")) db_ = nullptr;
}

RunStore::Snapshot::~Snapshot() {
  if (db_) db_->Exec("COMMIT");
}

// An instance of a run's plan without a row of its own: it has not started
// (PutRunPlan). Pending while the run runs; of a run that ended without
// giving it a row (marked interrupted by a flow from before run_plans),
// not run.
InstanceRow RunStore::NotStarted(int64_t run, const std::string& name, const std::string& stage) {
  InstanceRow r;
  r.name = name;
  r.stage = stage;
  r.status = "pending";
  auto run_row = GetRun(run);
  if (run_row && run_row->status != "running") {
    r.status = "not_run";
    r.reason = run_row->status == "interrupted" ? "the run was interrupted" : "the run ended before it started";
  }
  return r;
}

std::vector<InstanceRow> RunStore::Instances(int64_t run) {
  Snapshot snapshot(*this);
  Stmt s(db_, (std::string(kInstanceCols) + "WHERE run_id = ? ORDER BY COALESCE(started_at, ready_at, 1e300), name")
                  .c_str());
  s.Bind(1, run);
  std::vector<InstanceRow> out;
  while (s.Step()) out.push_back(ReadInstance(s));
  // Those not started yet come last, by name, as rows without times do.
  std::set<std::string> have;
  size_t timed = 0;
  for (const auto& r : out) {
    have.insert(r.name);
    if (r.started_at || r.ready_at) ++timed;
  }
  auto planned = PlannedInstances(run);
  size_t before = out.size();
  std::optional<InstanceRow> model;  // the same status and reason for all
  for (const auto& [name, stage] : planned)
    if (!have.count(name)) {
      if (!model) model = NotStarted(run, name, stage);
      InstanceRow r = *model;
      r.name = name;
      r.stage = stage;
      out.push_back(std::move(r));
    }
  if (out.size() != before)
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(timed), out.end(),
              [](const InstanceRow& a, const InstanceRow& b) { return a.name < b.name; });
  return out;
}

std::optional<InstanceRow> RunStore::GetInstance(int64_t run, const std::string& name) {
  Snapshot snapshot(*this);
  {
    Stmt s(db_, (std::string(kInstanceCols) + "WHERE run_id = ? AND name = ?").c_str());
    s.Bind(1, run).Bind(2, name);
    if (s.Step()) return ReadInstance(s);
  }
  for (const auto& [n, stage] : PlannedInstances(run))
    if (n == name) return NotStarted(run, n, stage);
  return std::nullopt;
}

std::vector<AttemptRow> RunStore::Attempts(int64_t run, const std::string& instance) {
  // A store from before max_rss_exact, read without being opened to run
  // (`flow logs`), has no such column: not known then.
  Stmt s(db_, fmt::format("SELECT instance, stage, attempt, status, exit_code, signal, started_at, ended_at, wall_s, "
                          "user_s, sys_s, max_rss_bytes, stdout_path, stderr_path, error, command, {} FROM attempts "
                          "WHERE run_id = ? AND instance = ? ORDER BY attempt",
                          HasColumn("attempts", "max_rss_exact") ? "max_rss_exact" : "NULL")
                  .c_str());
  s.Bind(1, run).Bind(2, instance);
  std::vector<AttemptRow> out;
  while (s.Step()) {
    AttemptRow a;
    a.instance = s.Text(0);
    a.stage = s.Text(1);
    a.attempt = static_cast<int>(s.Int(2));
    a.status = s.Text(3);
    if (!s.IsNull(4)) a.exit_code = s.Int(4);
    if (!s.IsNull(5)) a.signal = s.Int(5);
    a.started_at = s.Real(6);
    a.ended_at = s.Real(7);
    a.wall_s = s.Real(8);
    a.user_s = s.Real(9);
    a.sys_s = s.Real(10);
    a.max_rss_bytes = s.Int(11);
    a.stdout_path = s.Text(12);
    a.stderr_path = s.Text(13);
    a.error = s.Text(14);
    a.command = s.Text(15);
    if (!s.IsNull(16)) a.max_rss_exact = s.Int(16) != 0;
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<std::pair<int64_t, InstanceRow>> RunStore::PreviousSuccess(int64_t run, const std::string& name) {
  Stmt s(db_, (std::string("SELECT run_id, ") + (kInstanceCols + 7) +
               "WHERE run_id < ? AND name = ? AND status IN ('succeeded', 'cached') ORDER BY run_id DESC LIMIT 1")
                  .c_str());
  s.Bind(1, run).Bind(2, name);
  if (!s.Step()) return std::nullopt;
  return std::make_pair(s.Int(0), ReadInstance(s, 1));
}

}  // namespace flow::rt
