// SPDX-License-Identifier: Apache-2.0
// The run store: `.flow/runs.db`, an SQLite database in WAL mode that records
// runs, their params, instances, attempts, state changes, the cache of
// committed results and remembered file hashes (docs/runtime.md, "The run
// store"). `flow run` writes it; `flow status|runs|logs|why`, the compiler's
// profile-guided priorities and later the report, the scheduler daemon and
// the web UI read it.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "store/sqlite.h"

namespace flow::rt {

/// Seconds since the epoch, with sub-second precision.
double WallNow();
/// Seconds on the steady clock: the clock of in_tx_since().
double SteadyNow();

struct RunRow {
  int64_t id = 0;
  std::string status;  // running, succeeded, failed, cancelled, interrupted
  std::string source, plan_path, entry;
  double started_at = 0;
  std::optional<double> ended_at;
  int64_t pid = 0;
  std::string args;        // JSON array of the command line
  std::string capacities;  // JSON object
  std::string summary;     // JSON object
  std::optional<int64_t> resumed_from;
};

struct InstanceRow {
  std::string name, stage, status, reason, cache_key;
  double priority_s = 0;
  int64_t estimate_ms = 0;
  std::string resources;  // JSON object
  std::string outputs;    // JSON object: output name -> value
  std::string key_parts;  // JSON object: what went into the cache key (for `flow why`)
  std::optional<double> ready_at, started_at, ended_at;
  int attempts = 0;
};

struct AttemptRow {
  std::string instance, stage;
  int attempt = 1;
  std::string status;  // succeeded, failed, timed_out, cancelled
  std::optional<int64_t> exit_code, signal;
  double started_at = 0, ended_at = 0, wall_s = 0, user_s = 0, sys_s = 0;
  int64_t max_rss_bytes = 0;
  // Whether max_rss_bytes is the command's own peak (true) or an upper
  // bound of it (false: see Usage::max_rss_exact); not known (NULL) in
  // rows written before the column.
  std::optional<bool> max_rss_exact;
  std::string stdout_path, stderr_path, error, command;
};

struct CacheRow {
  std::string key, instance, stage;
  int64_t run_id = 0;
  std::string out_dir;    // relative to the project folder
  std::string outputs;    // JSON object: output name -> value
  std::string key_parts;  // JSON object: what went into the key (for `flow why`)
};

struct FileHashRow {
  int64_t size = 0, mtime_ns = 0, inode = 0;
  uint64_t hash = 0;
};

class RunStore {
 public:
  /// Opens `.flow/runs.db` at `path`, creating it and its tables when
  /// `create`. Returns nullptr with `error` set on failure. Without
  /// `create` it writes nothing (not even the switch to WAL), and a store
  /// with no tables yet (an empty file) is a failure that sets `*empty`.
  static std::unique_ptr<RunStore> Open(const std::string& path, bool create, std::string& error,
                                        bool* empty = nullptr);

  /// While it lives, the store's reads are of one moment (one read
  /// transaction): reads that must agree with each other, such as an
  /// instance's row, the run's plan and the run's status, read one after
  /// the other while the run ended, showed an instance that had just run
  /// as never run. Inside a transaction already open (a run's own), it does
  /// nothing: those reads agree anyway. Instances() and GetInstance() take
  /// one; a command that reads more takes one around all of it.
  class Snapshot {
   public:
    explicit Snapshot(RunStore& store);
    ~Snapshot();
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

   private:
    Db* db_;
  };
  ~RunStore();

  const std::string& error() const { return db_.error(); }
  /// The first error of the writer thread while it writes behind (a full
  /// disk, a broken file); empty while there is none.
  std::string WriterError() {
    std::lock_guard<std::mutex> lock(mu_);
    return writer_error_;
  }

  // State changes are grouped: Begin() ... Commit() is one transaction.
  // Every change is inside one; `flow run` commits before it waits.
  void Begin();
  void Commit();
  /// Grouping: every write opens a transaction when none is open, and it
  /// stays open until Commit(). in_tx_since() is when it was opened
  /// (steady seconds), or a negative number when none is open.
  void SetGrouping(bool on) { grouping_ = on; }
  double in_tx_since() const { return background_ ? (queued_.empty() ? -1 : queued_since_) : in_tx_ ? tx_since_ : -1; }
  /// Writing behind, for `flow run` while instances run: from
  /// SetBackground(true) to SetBackground(false), PutInstance, AddAttempt,
  /// AddEvent, PutCache, DropCache and PutFileHash only queue their rows
  /// (in_tx_since() is when the first was queued), and Commit() hands them
  /// to a writer thread with a connection of its own, which writes and
  /// commits them as one transaction, in order. So flow never waits on
  /// SQLite (statements, commits, the fsyncs of checkpoints) between one
  /// instance's end and the next one's start. FindCache sees the queued
  /// cache rows. SetBackground(false) commits what is queued and waits
  /// until the writer has committed everything; a write error of the
  /// writer shows in error() then.
  void SetBackground(bool on);

  int64_t NewRun(const RunRow& run);
  void FinishRun(int64_t run, const std::string& status, const std::string& summary);
  /// Runs left `running` by a `flow run` that died: marked `interrupted`,
  /// with their running instances and attempts. Returns how many.
  int MarkInterrupted();
  /// A run other than `run` that was stopped before it recorded all it did
  /// (`interrupted`, or still `running`: not marked yet, or alive), with
  /// the time the run after it started (none: no run after it). Only it
  /// can have committed outputs in between whose success it did not record.
  struct CutShort {
    int64_t pid = 0;
    std::string status;
    double started_at = 0;
    std::optional<double> next_started_at;
  };
  std::vector<CutShort> RunsCutShort(int64_t run);
  /// Records a param's value (JSON) for `run`, marked as given when its name
  /// is among those of SetGivenParams.
  void AddParam(int64_t run, const std::string& name, const std::string& value_json);
  /// The params of the runs recorded from now on that were given on the
  /// command line or carried over by --resume (the others took their
  /// default): what a later --resume carries over.
  void SetGivenParams(std::vector<std::string> names) { given_params_ = std::move(names); }
  void PutInstance(int64_t run, InstanceRow row);
  /// The instances a run starts with, as the JSON text of an array of
  /// [name, stage] pairs: one row for all of them, where one row each
  /// (status `pending`) cost the writer thread about a quarter of its work
  /// on a run of short stages. An instance gets its own row when it starts
  /// (or is reused, skipped, ...); until then Instances() and GetInstance()
  /// give it as `pending` while the run runs and as `not_run` once it has
  /// ended (NotStarted), and MarkInterrupted() writes it as `not_run`.
  void PutRunPlan(int64_t run, std::string instances_json);
  /// Room for `n` more queued rows (writing behind), for a caller about
  /// to write that many: the queue does not grow, moving each row, as
  /// they come.
  void Reserve(size_t n) {
    if (background_) queued_.reserve(queued_.size() + n);
  }
  void AddAttempt(int64_t run, AttemptRow row);
  void AddEvent(int64_t run, const std::string& instance, const std::string& event, const std::string& detail);
  void InsertEvent(int64_t run, double t, const std::string& instance, const std::string& event,
                   const std::string& detail);

  std::optional<CacheRow> FindCache(const std::string& key);
  void PutCache(CacheRow row);
  void DropCache(const std::string& key);

  std::optional<FileHashRow> FindFileHash(const std::string& path);
  void PutFileHash(const std::string& path, const FileHashRow& row);
  /// The path has no hash to remember (an empty file): a row from when it
  /// had content goes, or it would be trusted again should the file get
  /// content of that size with that modification time.
  void ForgetFileHash(const std::string& path);
  /// For a dry run: file hashes are remembered for this process only,
  /// never written (the only writes a dry run would make).
  void SetMemoOnly(bool on) { memo_only_ = on; }

  // ---- reading (flow status, runs, logs, why; reports)
  std::vector<RunRow> Runs(int limit);
  std::optional<RunRow> GetRun(int64_t id);
  std::optional<int64_t> LatestRun();
  /// The latest run of the program `plan_path` (the .flow file or plan
  /// that `flow run` was given) with entry `entry`, when it did not succeed
  /// (for --resume).
  std::optional<RunRow> LatestUnfinished(const std::string& plan_path, const std::string& entry);
  /// name -> value (JSON) of every param of `run`, by name.
  std::vector<std::pair<std::string, std::string>> Params(int64_t run);
  /// The params of `run` that were given (see SetGivenParams); for a run
  /// recorded by a flow that did not mark them, all of them.
  std::vector<std::pair<std::string, std::string>> GivenParams(int64_t run);
  std::vector<InstanceRow> Instances(int64_t run);
  std::optional<InstanceRow> GetInstance(int64_t run, const std::string& name);
  std::vector<AttemptRow> Attempts(int64_t run, const std::string& instance);
  /// The instance `name` in the latest run before `run` where it succeeded
  /// or was cached (for `flow why`): that run's id and the row.
  std::optional<std::pair<int64_t, InstanceRow>> PreviousSuccess(int64_t run, const std::string& name);

 private:
  explicit RunStore(const std::string& path, bool create);
  bool CreateSchema();
  bool HasColumn(const char* table, const char* column);
  /// Adds a column that came later to a store made before it (true when
  /// the store has it now).
  bool AddColumn(const char* table, const char* column, const char* type);
  /// The columns of the schema the store lacks, as "table.column, ...".
  std::string MissingColumns();
  Db db_;
  struct Statements;
  std::unique_ptr<Statements> st_;
  void Write() {
    if (grouping_ && !in_tx_) Begin();
  }
  bool in_tx_ = false, grouping_ = false;
  std::vector<std::string> given_params_;

  // ---- writing behind (SetBackground)
  struct InstanceOp {
    int64_t run;
    InstanceRow row;
  };
  struct AttemptOp {
    int64_t run;
    AttemptRow row;
  };
  struct EventOp {
    int64_t run;
    double t;
    std::string instance, event, detail;
  };
  struct DropOp {
    std::string key;
  };
  struct HashOp {
    std::string path;
    FileHashRow row;
  };
  struct PlanOp {
    int64_t run;
    std::string instances;
  };
  using Op = std::variant<InstanceOp, AttemptOp, EventOp, CacheRow, DropOp, HashOp, PlanOp>;
  void InsertRunPlan(int64_t run, const std::string& instances_json);
  void WriteFileHash(const std::string& path, const FileHashRow& row);  // a size of -1: delete
  bool memo_only_ = false;
  /// The [name, stage] pairs of PutRunPlan for `run` (none for a run of an
  /// earlier flow, whose instances all have rows).
  std::vector<std::pair<std::string, std::string>> PlannedInstances(int64_t run);
  InstanceRow NotStarted(int64_t run, const std::string& name, const std::string& stage);
  void Queue(Op op);
  void NoteQueued();  // queued_ is about to get its first op
  // Builds the op in place: a row is moved once here, where Queue(Op)
  // moved it three times (the op, the variant, the vector).
  template <typename T, typename... A>
  void QueueInPlace(A&&... a) {
    NoteQueued();
    queued_.emplace_back(std::in_place_type<T>, std::forward<A>(a)...);
  }
  void WriterLoop();
  std::string path_;
  bool background_ = false;
  std::vector<Op> queued_;  // not handed to the writer yet
  double queued_since_ = 0;
  std::unique_ptr<RunStore> writer_;  // the writer thread's connection
  std::thread writer_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<Op>> batches_;  // handed over, not written yet (guarded by mu_)
  bool stop_ = false;                     // guarded by mu_
  std::string writer_error_;              // guarded by mu_
  // Cache rows put or dropped while writing behind (nullopt: dropped), and
  // whether the cache table was empty when it started: FindCache asks
  // SQLite only for a key in neither.
  std::unordered_map<std::string, std::optional<CacheRow>> cache_overlay_;
  bool cache_was_empty_ = false;
  bool hashes_were_empty_ = false;  // the same for file_hashes (FindFileHash)
  std::unordered_map<std::string, FileHashRow> file_hash_memo_;  // in front of file_hashes
  double tx_since_ = 0;
};

}  // namespace flow::rt
