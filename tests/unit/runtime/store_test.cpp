// SPDX-License-Identifier: Apache-2.0
// The run store (runtime/store/run_store): opening and creating, runs,
// params, instances, attempts, events, cache and file-hash rows, marking
// interrupted runs and run plans, PreviousSuccess, and a reader that is not
// blocked by a writer's open transaction (WAL). Writing behind
// (SetBackground): store_background_test.cpp.
#include "store/run_store.h"
#include "store/sqlite.h"
#include "store_fixture.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flow::rt {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;


TEST_F(StoreTest, CreatesTheFileInWalMode) {
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(Query("PRAGMA journal_mode"), "wal");
  for (const char* table : {"runs", "run_params", "instances", "attempts", "events", "cache", "file_hashes"})
    EXPECT_EQ(Query(std::string("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='") + table + "'"),
              "1")
        << table;
  // Opening again (as the readers do, without create) works and sees it.
  int64_t id = store_->NewRun(Run());
  std::string error;
  auto again = RunStore::Open(path_, false, error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->LatestRun(), id);
  // Creating again on an existing store keeps its rows.
  auto create_again = RunStore::Open(path_, true, error);
  ASSERT_TRUE(create_again) << error;
  EXPECT_EQ(create_again->LatestRun(), id);
}

TEST_F(StoreTest, OpenFailsWithAMessage) {
  std::string error;
  EXPECT_EQ(RunStore::Open(dir_ + "/missing.db", false, error), nullptr);
  EXPECT_THAT(error, HasSubstr("missing.db"));
  EXPECT_FALSE(fs::exists(dir_ + "/missing.db"));
  error.clear();
  EXPECT_EQ(RunStore::Open(dir_ + "/no/such/dir/runs.db", true, error), nullptr);
  EXPECT_THAT(error, HasSubstr("runs.db"));
  // Not a database at all.
  std::ofstream(dir_ + "/junk.db") << std::string(4096, 'x');
  error.clear();
  EXPECT_EQ(RunStore::Open(dir_ + "/junk.db", false, error), nullptr);
  EXPECT_THAT(error, HasSubstr("junk.db"));
  // A database without flow's tables (another program's, or an older one).
  {
    sqlite3* db;
    ASSERT_EQ(sqlite3_open(std::string(dir_ + "/other.db").c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  error.clear();
  EXPECT_EQ(RunStore::Open(dir_ + "/other.db", false, error), nullptr);
  EXPECT_THAT(error, HasSubstr("other.db"));
}

TEST_F(StoreTest, NewRunAndFinishRun) {
  EXPECT_FALSE(store_->LatestRun().has_value());
  EXPECT_TRUE(store_->Runs(10).empty());
  int64_t a = store_->NewRun(Run());
  RunRow second = Run();
  second.resumed_from = a;
  int64_t b = store_->NewRun(second);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(store_->LatestRun(), b);

  auto r = store_->GetRun(a);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, "running");
  EXPECT_EQ(r->source, "/p/main.flow");
  EXPECT_EQ(r->entry, "main");
  EXPECT_DOUBLE_EQ(r->started_at, 1700000000.25);
  EXPECT_FALSE(r->ended_at.has_value());
  EXPECT_EQ(r->pid, 1234);
  EXPECT_EQ(r->args, R"(["flow","run","main.flow"])");
  EXPECT_EQ(r->capacities, R"({"cpus":4})");
  EXPECT_FALSE(r->resumed_from.has_value());
  EXPECT_EQ(store_->GetRun(b)->resumed_from, a);
  EXPECT_FALSE(store_->GetRun(99).has_value());

  double before = WallNow();
  store_->FinishRun(a, "failed", R"({"ran":1})");
  r = store_->GetRun(a);
  EXPECT_EQ(r->status, "failed");
  EXPECT_EQ(r->summary, R"({"ran":1})");
  ASSERT_TRUE(r->ended_at.has_value());
  EXPECT_GE(*r->ended_at, before - 1);
  EXPECT_LE(*r->ended_at, WallNow() + 1);
  EXPECT_EQ(store_->GetRun(b)->status, "running");  // only that run

  // Newest first, limited.
  int64_t c = store_->NewRun(Run());
  std::vector<int64_t> ids;
  for (const auto& x : store_->Runs(2)) ids.push_back(x.id);
  EXPECT_THAT(ids, ElementsAre(c, b));
}

TEST_F(StoreTest, LatestUnfinished) {
  const std::string f = "/p/main.flow";
  EXPECT_FALSE(store_->LatestUnfinished(f, "main").has_value());
  int64_t a = store_->NewRun(Run());
  store_->FinishRun(a, "failed", "{}");
  EXPECT_EQ(store_->LatestUnfinished(f, "main")->id, a);
  int64_t b = store_->NewRun(Run());
  store_->FinishRun(b, "cancelled", "{}");
  EXPECT_EQ(store_->LatestUnfinished(f, "main")->id, b);
  int64_t c = store_->NewRun(Run());
  store_->MarkInterrupted();
  EXPECT_EQ(store_->LatestUnfinished(f, "main")->id, c);
  EXPECT_EQ(store_->LatestUnfinished(f, "main")->status, "interrupted");
  int64_t d = store_->NewRun(Run());
  store_->FinishRun(d, "succeeded", "{}");
  auto after_success = store_->LatestUnfinished(f, "main");
  EXPECT_TRUE(!after_success || after_success->id != d) << "a succeeded run is not unfinished";
}

TEST_F(StoreTest, LatestUnfinishedIsOfTheSameProgramAndEntry) {
  // A failed run of another file, or of another entry of the same file, is
  // not what --resume of this one continues.
  RunRow other = Run();
  other.plan_path = other.source = "/p/other.flow";
  int64_t a = store_->NewRun(Run());
  store_->FinishRun(a, "failed", "{}");
  int64_t b = store_->NewRun(other);
  store_->FinishRun(b, "failed", "{}");
  RunRow entry = Run();
  entry.entry = "nightly";
  int64_t c = store_->NewRun(entry);
  store_->FinishRun(c, "failed", "{}");
  EXPECT_EQ(store_->LatestUnfinished("/p/main.flow", "main")->id, a);
  EXPECT_EQ(store_->LatestUnfinished("/p/other.flow", "main")->id, b);
  EXPECT_EQ(store_->LatestUnfinished("/p/main.flow", "nightly")->id, c);
  EXPECT_FALSE(store_->LatestUnfinished("/p/new.flow", "main").has_value());
  // The latest run of the program decides: it succeeded, nothing to resume.
  int64_t d = store_->NewRun(Run());
  store_->FinishRun(d, "succeeded", "{}");
  EXPECT_FALSE(store_->LatestUnfinished("/p/main.flow", "main").has_value());
  EXPECT_EQ(store_->LatestUnfinished("/p/other.flow", "main")->id, b);
}

TEST_F(StoreTest, GivenParamsAreThoseMarkedGiven) {
  using P = std::pair<std::string, std::string>;
  store_->SetGivenParams({"lr"});
  int64_t run = store_->NewRun(Run());
  store_->AddParam(run, "lr", "0.1");
  store_->AddParam(run, "epochs", "10");  // took its default
  EXPECT_THAT(store_->GivenParams(run), ElementsAre(P{"lr", "0.1"}));
  EXPECT_THAT(store_->Params(run), ElementsAre(P{"epochs", "10"}, P{"lr", "0.1"}));
  EXPECT_EQ(Query("SELECT given FROM run_params WHERE name = 'epochs'"), "0");
}

TEST_F(StoreTest, AStoreWithoutTheGivenColumnGetsItAndItsCommandLineSaysWhatWasGiven) {
  // A run store made before run_params.given: opening it adds the column;
  // its earlier rows say nothing, so the run's command line decides: a
  // param it named (either spelling) is carried over, one that took its
  // default is not (carrying it would pin the default from then on).
  using P = std::pair<std::string, std::string>;
  store_.reset();
  fs::remove(path_);
  AlterStore("CREATE TABLE runs(id INTEGER PRIMARY KEY, status TEXT NOT NULL, source TEXT, plan_path TEXT, "
             "entry TEXT, started_at REAL NOT NULL, ended_at REAL, pid INTEGER, args TEXT, capacities TEXT, "
             "summary TEXT, resumed_from INTEGER);"
             "INSERT INTO runs(id, status, started_at, args) VALUES(1, 'failed', 0, "
             "'[\"a.flow\",\"--param\",\"x=3\",\"--param=z=[1]\",\"--cpus\",\"2\"]');"
             "CREATE TABLE run_params(run_id INTEGER NOT NULL, name TEXT NOT NULL, value TEXT, "
             "PRIMARY KEY(run_id, name)); INSERT INTO run_params VALUES(1, 'x', '3'), (1, 'y', '20'), "
             "(1, 'z', '[1]');");
  std::string error;
  store_ = RunStore::Open(path_, true, error);
  ASSERT_TRUE(store_) << error;
  EXPECT_THAT(store_->GivenParams(1), ElementsAre(P{"x", "3"}, P{"z", "[1]"}));
  int64_t run = store_->NewRun(Run());
  store_->AddParam(run, "x", "1");
  EXPECT_TRUE(store_->GivenParams(run).empty());
}

// A store altered by hand or by another program: a column gone. Writes
// would go nowhere (`flow run` recorded "run 0"; `flow status` aborted), so
// opening it says what is missing and what to do.
TEST_F(StoreTest, AStoreLackingAColumnIsRefusedWithWhatToDo) {
  int64_t run = store_->NewRun(Run());
  store_->FinishRun(run, "succeeded", "{}");
  store_.reset();
  AlterStore("ALTER TABLE runs DROP COLUMN args; ALTER TABLE attempts DROP COLUMN command;");
  for (bool create : {true, false}) {
    std::string error;
    EXPECT_FALSE(RunStore::Open(path_, create, error));
    EXPECT_THAT(error, HasSubstr("lacks the columns runs.args, attempts.command")) << error;
    EXPECT_THAT(error, HasSubstr("move it aside with its -wal and -shm files"));
  }
}

TEST_F(StoreTest, AStoreFromBeforeAColumnCameIsReadAsItIs) {
  // run_params.given and attempts.max_rss_exact came later: reading an
  // older store (flow status, flow logs) does not need them and leaves it
  // as it is, and opening it to run adds them.
  store_.reset();
  fs::remove(path_);
  {
    std::string error;
    auto fresh = RunStore::Open(path_, true, error);  // every table, as now
    ASSERT_TRUE(fresh) << error;
  }
  AlterStore(
      "ALTER TABLE run_params DROP COLUMN given; ALTER TABLE attempts DROP COLUMN max_rss_exact;"
      "INSERT INTO runs(id, status, started_at) VALUES(1, 'succeeded', 0);"
      "INSERT INTO attempts(run_id, instance, stage, attempt, status, max_rss_bytes) "
      "VALUES(1, 'a', 's', 1, 'succeeded', 4096);");
  std::string error;
  {
    auto reader = RunStore::Open(path_, false, error);
    ASSERT_TRUE(reader) << error;
    auto attempts = reader->Attempts(1, "a");
    ASSERT_EQ(attempts.size(), 1u) << reader->error();
    EXPECT_EQ(attempts[0].max_rss_bytes, 4096);
    EXPECT_FALSE(attempts[0].max_rss_exact.has_value());
    EXPECT_TRUE(reader->GivenParams(1).empty());
    EXPECT_TRUE(reader->error().empty()) << reader->error();
  }
  EXPECT_EQ(Query("SELECT count(*) FROM pragma_table_info('attempts') WHERE name = 'max_rss_exact'"), "0")
      << "a reader changed the store";
  store_ = RunStore::Open(path_, true, error);
  ASSERT_TRUE(store_) << error;
  EXPECT_EQ(Query("SELECT count(*) FROM pragma_table_info('attempts') WHERE name = 'max_rss_exact'"), "1");
  EXPECT_EQ(Query("SELECT count(*) FROM pragma_table_info('run_params') WHERE name = 'given'"), "1");
  EXPECT_FALSE(store_->Attempts(1, "a")[0].max_rss_exact.has_value()) << "its earlier rows: not known";
}

// Opened without create (a dry run, flow status), a store is only read:
// one in another journal mode stays in it, and an empty file (a first run
// stopped before it made the tables) is no store yet, said as such.
TEST_F(StoreTest, OpeningWithoutCreateWritesNothing) {
  int64_t run = store_->NewRun(Run());
  store_->FinishRun(run, "succeeded", "{}");
  store_.reset();
  AlterStore("PRAGMA journal_mode=DELETE;");
  std::string error;
  bool empty = true;
  {
    auto reader = RunStore::Open(path_, false, error, &empty);
    ASSERT_TRUE(reader) << error;
    EXPECT_FALSE(empty);
    EXPECT_EQ(reader->LatestRun(), run);
  }
  EXPECT_EQ(Query("PRAGMA journal_mode"), "delete");
  EXPECT_FALSE(fs::exists(path_ + "-wal"));

  std::string blank = dir_ + "/blank.db";
  std::ofstream{blank};
  EXPECT_FALSE(RunStore::Open(blank, false, error, &empty));
  EXPECT_TRUE(empty);
  EXPECT_THAT(error, HasSubstr("no runs here: " + blank + " holds none yet"));
  EXPECT_EQ(fs::file_size(blank), 0u);
  // A file that is no database is not an empty store.
  std::ofstream(dir_ + "/junk.db") << std::string(4096, 'x');
  EXPECT_FALSE(RunStore::Open(dir_ + "/junk.db", false, error, &empty));
  EXPECT_FALSE(empty);
  EXPECT_THAT(error, HasSubstr("file is not a database"));
  // Opened to run, the empty file becomes a store.
  EXPECT_TRUE(RunStore::Open(blank, true, error)) << error;
}

// attempts_stage, an index of earlier stores that no query used, cost each
// attempt's row a third b-tree: opening such a store to run drops it;
// reading it (flow status) leaves it.
TEST_F(StoreTest, TheUnusedAttemptsIndexOfAnOlderStoreIsDroppedWhenItIsOpenedToRun) {
  store_.reset();
  AlterStore("CREATE INDEX attempts_stage ON attempts(stage, status);");
  const std::string count = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'attempts_stage'";
  ASSERT_EQ(Query(count), "1");
  std::string error;
  EXPECT_TRUE(RunStore::Open(path_, false, error)) << error;
  EXPECT_EQ(Query(count), "1") << "a reader changed the store";
  store_ = RunStore::Open(path_, true, error);
  ASSERT_TRUE(store_) << error;
  EXPECT_EQ(Query(count), "0");
  // The attempts' own index (their primary key) stays.
  EXPECT_EQ(Query("SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'attempts' AND type = 'index'"), "1");
}

TEST_F(StoreTest, MarkInterrupted) {
  int64_t done = store_->NewRun(Run());
  store_->PutInstance(done, Instance("a", "running"));  // a finished run keeps its rows
  store_->FinishRun(done, "failed", "{}");
  int64_t dead = store_->NewRun(Run());
  store_->PutInstance(dead, Instance("a", "succeeded"));
  store_->PutInstance(dead, Instance("b", "running"));
  store_->PutInstance(dead, Instance("c", "pending"));
  store_->PutInstance(dead, Instance("d", "failed"));
  // e never started: only the run's plan names it.
  store_->PutRunPlan(dead, R"([["a","a"],["b","b"],["c","c"],["d","d"],["e","e"]])");
  EXPECT_EQ(store_->MarkInterrupted(), 1);

  auto r = store_->GetRun(dead);
  EXPECT_EQ(r->status, "interrupted");
  EXPECT_TRUE(r->ended_at.has_value());
  EXPECT_EQ(store_->GetInstance(dead, "a")->status, "succeeded");
  EXPECT_EQ(store_->GetInstance(dead, "b")->status, "not_run");
  EXPECT_THAT(store_->GetInstance(dead, "b")->reason, HasSubstr("interrupted"));
  EXPECT_EQ(store_->GetInstance(dead, "c")->status, "not_run");
  EXPECT_EQ(store_->GetInstance(dead, "d")->status, "failed");
  // e gets its row (not only what the plan says).
  EXPECT_EQ(Query("SELECT status || ': ' || reason FROM instances WHERE run_id = " + std::to_string(dead) +
                  " AND name = 'e'"),
            "not_run: the run was interrupted");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances WHERE run_id = " + std::to_string(dead)), "5");
  EXPECT_EQ(Query("SELECT stage FROM instances WHERE run_id = " + std::to_string(dead) + " AND name = 'e'"), "e");
  EXPECT_EQ(store_->GetRun(done)->status, "failed");
  EXPECT_EQ(store_->GetInstance(done, "a")->status, "running");
  // Nothing left to mark.
  EXPECT_EQ(store_->MarkInterrupted(), 0);
}

// A run's plan (PutRunPlan) stands for the rows of its instances that have
// not started: they read as pending, after those with times, by name; an
// instance's own row wins over its entry in the plan.
TEST_F(StoreTest, InstancesOfThePlanWithoutARowArePending) {
  int64_t run = store_->NewRun(Run());
  store_->PutRunPlan(run, R"([["b","s"],["c[1]","c"],["a","s"],["c[0]","c"]])");
  InstanceRow a = Instance("a", "running");
  a.started_at = 1700000001.0;
  a.attempts = 1;
  store_->PutInstance(run, a);
  auto rows = store_->Instances(run);
  std::vector<std::string> got;
  for (const auto& r : rows) got.push_back(r.name + "=" + r.status + "/" + r.stage);
  EXPECT_EQ(got, (std::vector<std::string>{"a=running/a", "b=pending/s", "c[0]=pending/c", "c[1]=pending/c"}));
  auto b = store_->GetInstance(run, "b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status, "pending");
  EXPECT_EQ(b->stage, "s");
  EXPECT_EQ(b->attempts, 0);
  EXPECT_EQ(store_->GetInstance(run, "a")->status, "running");
  EXPECT_FALSE(store_->GetInstance(run, "zz").has_value());
  // Another run's plan is its own.
  int64_t other = store_->NewRun(Run());
  EXPECT_TRUE(store_->Instances(other).empty());
  EXPECT_FALSE(store_->GetInstance(other, "b").has_value());
}

// Written behind (the writer thread), as flow run does, it lands with the
// rows queued after it.
TEST_F(StoreTest, TheRunPlanIsWrittenBehind) {
  int64_t run = store_->NewRun(Run());
  WriteBehind();
  store_->PutRunPlan(run, R"([["x","s"],["y","s"]])");
  store_->PutInstance(run, Instance("x", "succeeded"));
  store_->Commit();
  store_->SetBackground(false);
  EXPECT_EQ(Query("SELECT instances FROM run_plans WHERE run_id = " + std::to_string(run)), R"([["x","s"],["y","s"]])");
  auto rows = store_->Instances(run);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name + rows[0].status + rows[1].name + rows[1].status, "xsucceededypending");
}

// A run marked interrupted by a flow from before run_plans (which knew
// nothing of them) has instances without rows: they read as not run.
TEST_F(StoreTest, InstancesOfThePlanOfARunThatEndedReadAsNotRun) {
  int64_t run = store_->NewRun(Run());
  store_->PutRunPlan(run, R"([["a","s"],["b","s"]])");
  store_->PutInstance(run, Instance("a", "succeeded"));
  EXPECT_EQ(store_->GetInstance(run, "b")->status, "pending");
  store_->FinishRun(run, "interrupted", "");
  auto b = store_->GetInstance(run, "b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status + ": " + b->reason, "not_run: the run was interrupted");
  auto rows = store_->Instances(run);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].name + " " + rows[1].status, "b not_run");
  store_->FinishRun(run, "failed", "");
  EXPECT_EQ(store_->GetInstance(run, "b")->reason, "the run ended before it started");
}

// A store of an earlier flow has no run_plans table until a run opens it:
// reading its instances works without it.
TEST_F(StoreTest, InstancesOfAStoreWithoutRunPlansAreItsRows) {
  int64_t run = store_->NewRun(Run());
  store_->PutInstance(run, Instance("a", "pending"));
  store_.reset();
  AlterStore("DROP TABLE run_plans;");
  std::string error;
  auto reader = RunStore::Open(path_, false, error);
  ASSERT_TRUE(reader) << error;
  auto rows = reader->Instances(run);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "pending");
  EXPECT_FALSE(reader->GetInstance(run, "b").has_value());
  EXPECT_EQ(reader->error(), "");
  reader.reset();
  store_ = RunStore::Open(path_, true, error);  // opened to run: the table comes
  ASSERT_TRUE(store_) << error;
  EXPECT_EQ(Query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'run_plans'"), "1");
}

TEST_F(StoreTest, Params) {
  int64_t run = store_->NewRun(Run());
  store_->AddParam(run, "lr", "0.1");
  store_->AddParam(run, "epochs", "10");
  store_->AddParam(run, "lr", "0.01");  // replaces
  store_->AddParam(store_->NewRun(Run()), "lr", "5");
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(store_->Params(run), ElementsAre(P{"epochs", "10"}, P{"lr", "0.01"}));
}

TEST_F(StoreTest, InstancesRoundTripAndReplace) {
  int64_t run = store_->NewRun(Run());
  InstanceRow i = Instance("train[2]", "running");
  i.reason = "why";
  i.priority_s = 12.5;
  i.estimate_ms = 3000;
  i.resources = R"({"cpus":2})";
  i.outputs = R"({"model":"m.pt"})";
  i.ready_at = 100.5;
  i.started_at = 101.25;
  i.attempts = 1;
  store_->PutInstance(run, i);
  auto got = store_->GetInstance(run, "train[2]");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->name, "train[2]");
  EXPECT_EQ(got->stage, "train");
  EXPECT_EQ(got->status, "running");
  EXPECT_EQ(got->reason, "why");
  EXPECT_EQ(got->cache_key, "key-train[2]");
  EXPECT_DOUBLE_EQ(got->priority_s, 12.5);
  EXPECT_EQ(got->estimate_ms, 3000);
  EXPECT_EQ(got->resources, R"({"cpus":2})");
  EXPECT_EQ(got->outputs, R"({"model":"m.pt"})");
  EXPECT_EQ(got->key_parts, R"({"stage":"train"})");
  EXPECT_EQ(got->ready_at, 100.5);
  EXPECT_EQ(got->started_at, 101.25);
  EXPECT_FALSE(got->ended_at.has_value());
  EXPECT_EQ(got->attempts, 1);

  // The same name again replaces the row.
  i.status = "succeeded";
  i.ended_at = 110.0;
  i.attempts = 2;
  store_->PutInstance(run, i);
  got = store_->GetInstance(run, "train[2]");
  EXPECT_EQ(got->status, "succeeded");
  EXPECT_EQ(got->ended_at, 110.0);
  EXPECT_EQ(got->attempts, 2);
  // Every column is replaced, those now empty or absent too.
  InstanceRow cleared = Instance("train[2]", "pending");
  store_->PutInstance(run, cleared);
  got = store_->GetInstance(run, "train[2]");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, "pending");
  EXPECT_EQ(got->reason, "");
  EXPECT_DOUBLE_EQ(got->priority_s, cleared.priority_s);
  EXPECT_EQ(got->resources, cleared.resources);
  EXPECT_EQ(got->outputs, cleared.outputs);
  EXPECT_FALSE(got->ready_at.has_value());
  EXPECT_FALSE(got->started_at.has_value());
  EXPECT_FALSE(got->ended_at.has_value());
  EXPECT_EQ(got->attempts, 0);
  store_->PutInstance(run, i);  // back, for what follows
  EXPECT_FALSE(store_->GetInstance(run, "train[3]").has_value());
  EXPECT_FALSE(store_->GetInstance(run + 1, "train[2]").has_value());

  // Instances: in the order they started (else became ready), the rest
  // last, by name.
  InstanceRow late = Instance("a", "succeeded");
  late.started_at = 200;
  InstanceRow early = Instance("z", "succeeded");
  early.ready_at = 50;
  store_->PutInstance(run, late);
  store_->PutInstance(run, early);
  store_->PutInstance(run, Instance("n", "pending"));
  store_->PutInstance(run, Instance("m", "pending"));
  std::vector<std::string> names;
  for (const auto& x : store_->Instances(run)) names.push_back(x.name);
  EXPECT_THAT(names, ElementsAre("z", "train[2]", "a", "m", "n"));
  EXPECT_EQ(store_->Instances(run)[1].outputs, R"({"model":"m.pt"})");
}

TEST_F(StoreTest, AttemptsRoundTrip) {
  int64_t run = store_->NewRun(Run());
  AttemptRow a;
  a.instance = "fit";
  a.stage = "fit";
  a.attempt = 2;
  a.status = "timed_out";
  a.signal = 9;
  a.started_at = 10;
  a.ended_at = 12.5;
  a.wall_s = 2.5;
  a.user_s = 1.25;
  a.sys_s = 0.5;
  a.max_rss_bytes = int64_t{5} << 32;
  a.stdout_path = ".flow/logs/1/fit.2.out";
  a.stderr_path = ".flow/logs/1/fit.2.err";
  a.error = "timed out after 2s";
  a.command = "python fit.py";
  a.max_rss_exact = true;
  store_->AddAttempt(run, a);
  AttemptRow first = a;
  first.attempt = 1;
  first.status = "failed";
  first.signal.reset();
  first.exit_code = 3;
  first.max_rss_exact = false;
  store_->AddAttempt(run, first);
  AttemptRow other = first;
  other.instance = "other";
  other.max_rss_exact.reset();
  store_->AddAttempt(run, other);

  auto rows = store_->Attempts(run, "fit");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].attempt, 1);
  EXPECT_EQ(rows[0].status, "failed");
  EXPECT_EQ(rows[0].exit_code, 3);
  EXPECT_FALSE(rows[0].signal.has_value());
  EXPECT_EQ(rows[0].max_rss_exact, false);
  const AttemptRow& b = rows[1];
  EXPECT_EQ(b.attempt, 2);
  EXPECT_EQ(b.instance, "fit");
  EXPECT_EQ(b.stage, "fit");
  EXPECT_EQ(b.status, "timed_out");
  EXPECT_FALSE(b.exit_code.has_value());
  EXPECT_EQ(b.signal, 9);
  EXPECT_DOUBLE_EQ(b.started_at, 10);
  EXPECT_DOUBLE_EQ(b.ended_at, 12.5);
  EXPECT_DOUBLE_EQ(b.wall_s, 2.5);
  EXPECT_DOUBLE_EQ(b.user_s, 1.25);
  EXPECT_DOUBLE_EQ(b.sys_s, 0.5);
  EXPECT_EQ(b.max_rss_bytes, int64_t{5} << 32);
  EXPECT_EQ(b.max_rss_exact, true);
  EXPECT_EQ(b.stdout_path, ".flow/logs/1/fit.2.out");
  EXPECT_EQ(b.stderr_path, ".flow/logs/1/fit.2.err");
  EXPECT_EQ(b.error, "timed out after 2s");
  EXPECT_EQ(b.command, "python fit.py");
  // cpu_s is user + sys, for other readers.
  EXPECT_EQ(Query("SELECT cpu_s FROM attempts WHERE instance='fit' AND attempt=2"), "1.75");
  EXPECT_TRUE(store_->Attempts(run, "nope").empty());
  // Not known: NULL, read back as not known.
  EXPECT_EQ(Query("SELECT quote(max_rss_exact) FROM attempts WHERE instance='other'"), "NULL");
  ASSERT_EQ(store_->Attempts(run, "other").size(), 1u);
  EXPECT_FALSE(store_->Attempts(run, "other")[0].max_rss_exact.has_value());
}

TEST_F(StoreTest, Events) {
  int64_t run = store_->NewRun(Run());
  double before = WallNow();
  store_->AddEvent(run, "a", "started", "attempt 1");
  store_->AddEvent(run, "a", "succeeded", "");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM events WHERE run_id=1 AND instance='a'"), "2");
  EXPECT_EQ(Query("SELECT detail FROM events WHERE event='started'"), "attempt 1");
  EXPECT_GE(std::stod(Query("SELECT MIN(t) FROM events")), before - 1);
}

TEST_F(StoreTest, CacheRows) {
  EXPECT_FALSE(store_->FindCache("k1").has_value());
  CacheRow c;
  c.key = "k1";
  c.instance = "prep";
  c.stage = "prep";
  c.run_id = 3;
  c.out_dir = ".flow/out/prep.k1";
  c.outputs = R"({"data":"x.csv"})";
  c.key_parts = R"({"stage":"prep"})";
  store_->PutCache(c);
  auto got = store_->FindCache("k1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->key, "k1");
  EXPECT_EQ(got->instance, "prep");
  EXPECT_EQ(got->stage, "prep");
  EXPECT_EQ(got->run_id, 3);
  EXPECT_EQ(got->out_dir, ".flow/out/prep.k1");
  EXPECT_EQ(got->outputs, R"({"data":"x.csv"})");
  EXPECT_EQ(got->key_parts, R"({"stage":"prep"})");
  // Replace, then drop.
  c.run_id = 4;
  store_->PutCache(c);
  EXPECT_EQ(store_->FindCache("k1")->run_id, 4);
  EXPECT_FALSE(store_->FindCache("k2").has_value());
  store_->DropCache("k1");
  EXPECT_FALSE(store_->FindCache("k1").has_value());
  store_->DropCache("never-there");
  EXPECT_TRUE(store_->error().empty()) << store_->error();
}

TEST_F(StoreTest, FileHashRowsKeepAll64Bits) {
  EXPECT_FALSE(store_->FindFileHash("/a").has_value());
  for (uint64_t h : {uint64_t{0}, uint64_t{1}, uint64_t{0xffffffffffffffffull}, uint64_t{0x8000000000000000ull},
                     uint64_t{0xdeadbeefcafef00dull}}) {
    store_->PutFileHash("/a", {10, 1234567890123456789, 42, h});
    auto r = store_->FindFileHash("/a");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->hash, h);
    EXPECT_EQ(r->size, 10);
    EXPECT_EQ(r->mtime_ns, 1234567890123456789);
    EXPECT_EQ(r->inode, 42);
  }
  EXPECT_FALSE(store_->FindFileHash("/b").has_value());
}

TEST_F(StoreTest, PreviousSuccess) {
  // Run 1: prep succeeded. Run 2: cached. Run 3: failed. Run 4: ran again.
  int64_t r1 = store_->NewRun(Run());
  InstanceRow p = Instance("prep", "succeeded");
  p.cache_key = "K1";
  p.key_parts = R"({"inputs":{"n":1}})";
  store_->PutInstance(r1, p);
  int64_t r2 = store_->NewRun(Run());
  p.status = "cached";
  p.reason = "from run 1";
  store_->PutInstance(r2, p);
  int64_t r3 = store_->NewRun(Run());
  p.status = "failed";
  p.cache_key = "K3";
  p.key_parts = R"({"inputs":{"n":3}})";
  store_->PutInstance(r3, p);
  int64_t r4 = store_->NewRun(Run());
  p.status = "succeeded";
  store_->PutInstance(r4, p);

  auto prev = store_->PreviousSuccess(r4, "prep");
  ASSERT_TRUE(prev.has_value());
  EXPECT_EQ(prev->first, r2);
  EXPECT_EQ(prev->second.name, "prep");
  EXPECT_EQ(prev->second.stage, "prep");
  EXPECT_EQ(prev->second.status, "cached");
  EXPECT_EQ(prev->second.reason, "from run 1");
  EXPECT_EQ(prev->second.cache_key, "K1");
  EXPECT_EQ(prev->second.key_parts, R"({"inputs":{"n":1}})");
  EXPECT_EQ(store_->PreviousSuccess(r2, "prep")->first, r1);
  EXPECT_FALSE(store_->PreviousSuccess(r1, "prep").has_value());
  EXPECT_FALSE(store_->PreviousSuccess(r4, "other").has_value());
  // A later run does not count as "previous".
  EXPECT_EQ(store_->PreviousSuccess(r3, "prep")->first, r2);
}

TEST_F(StoreTest, TransactionsGroupChanges) {
  int64_t run = store_->NewRun(Run());
  store_->Begin();
  store_->PutInstance(run, Instance("a", "running"));
  store_->AddEvent(run, "a", "started", "");
  // Not visible to another connection until committed.
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "0");
  store_->Begin();  // nested Begin: still one transaction
  store_->Commit();
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "1");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM events"), "1");
  store_->Commit();  // nothing open: harmless
  // A store closed inside a transaction commits it.
  store_->Begin();
  store_->PutInstance(run, Instance("b", "running"));
  store_.reset();
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "2");
}

// A writer waits up to 10 s for a lock another process holds, unless the
// give-up question (flow run: "has Ctrl-C come twice?") says to stop: then
// the write fails at once, as busy, without the "waiting for" notice that
// comes after a second of waiting.
TEST_F(StoreTest, AWaitForALockEndsWhenTheGiveUpQuestionSaysSo) {
  int64_t run = store_->NewRun(Run());
  std::string error;
  auto other = RunStore::Open(path_, false, error);
  ASSERT_TRUE(other) << error;
  other->Begin();
  other->PutInstance(run, Instance("held", "running"));  // holds the write lock until its Commit
  static std::atomic<bool> give_up{false};
  Db::SetGiveUp([] { return give_up.load(); });
  give_up = true;
  ::testing::internal::CaptureStderr();
  auto t0 = std::chrono::steady_clock::now();
  store_->PutInstance(run, Instance("a", "running"));
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string said = ::testing::internal::GetCapturedStderr();
  Db::SetGiveUp(nullptr);
  give_up = false;
  EXPECT_THAT(store_->error(), HasSubstr("locked"));
  EXPECT_LT(waited, 1.0);
  EXPECT_THAT(said, Not(HasSubstr("waiting for")));
  other->Commit();
  EXPECT_TRUE(other->error().empty()) << other->error();
}

TEST_F(StoreTest, ReaderIsNotBlockedByAnOpenWriteTransaction) {
  int64_t run = store_->NewRun(Run());
  store_->PutInstance(run, Instance("a", "succeeded"));
  std::string error;
  auto early_reader = RunStore::Open(path_, false, error);
  ASSERT_TRUE(early_reader) << error;

  store_->Begin();
  store_->PutInstance(run, Instance("b", "running"));
  store_->FinishRun(run, "succeeded", "{}");

  // A reader opened before, and one opened now, while the transaction is
  // open: both read at once (no wait on the 10 s busy timeout) and see the
  // last committed state.
  auto t0 = std::chrono::steady_clock::now();
  auto late_reader = RunStore::Open(path_, false, error);
  ASSERT_TRUE(late_reader) << error;
  for (RunStore* reader : {early_reader.get(), late_reader.get()}) {
    EXPECT_EQ(reader->Instances(run).size(), 1u);
    EXPECT_EQ(reader->GetRun(run)->status, "running");
    EXPECT_EQ(reader->LatestRun(), run);
    EXPECT_TRUE(reader->error().empty()) << reader->error();
  }
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 1.0);

  store_->Commit();
  EXPECT_EQ(late_reader->Instances(run).size(), 2u);
  EXPECT_EQ(early_reader->GetRun(run)->status, "succeeded");
  EXPECT_TRUE(store_->error().empty()) << store_->error();
}

// A reader's view of a run's instances is of one moment: their rows, the
// run's plan and the run's status read apart, a run that ended (every
// instance's row and its end in one commit) between the first read and the
// last showed its instances as never run ("the run ended before it
// started") though each had its row.
TEST_F(StoreTest, AReaderSeesARunsInstancesAsOfOneMoment) {
  constexpr int kInstances = 3000, kRuns = 40;
  std::string plan = "[";
  for (int i = 0; i < kInstances; ++i) plan += (i ? ",[\"i" : "[\"i") + std::to_string(i) + "\",\"s\"]";
  plan += "]";
  std::atomic<bool> done{false};
  std::string writer_error;
  std::thread writer([&] {
    std::string error;
    auto w = RunStore::Open(path_, true, error);
    if (!w) {
      writer_error = error;
      done = true;
      return;
    }
    for (int r = 0; r < kRuns; ++r) {
      w->Begin();
      int64_t run = w->NewRun(Run());
      w->PutRunPlan(run, plan);
      w->Commit();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      w->Begin();
      for (int i = 0; i < kInstances; ++i) w->PutInstance(run, Instance("i" + std::to_string(i), "succeeded"));
      w->FinishRun(run, "succeeded", "{}");
      w->Commit();
    }
    writer_error = w->error();
    done = true;
  });
  int reads = 0, wrong = 0;
  std::string example;
  while (!done) {
    auto run = store_->LatestRun();
    if (!run) continue;
    auto rows = store_->Instances(*run);
    ++reads;
    size_t succeeded = 0, pending = 0;
    for (const auto& r : rows) {
      succeeded += r.status == "succeeded";
      pending += r.status == "pending";
    }
    // All pending (before the end) or all succeeded (after it), nothing else.
    if (rows.size() != size_t{kInstances} || (succeeded != rows.size() && pending != rows.size())) {
      if (!wrong++)
        example = "run " + std::to_string(*run) + ": " + std::to_string(rows.size()) + " rows, " +
                  std::to_string(succeeded) + " succeeded, " + std::to_string(pending) + " pending, first " +
                  (rows.empty() ? "-" : rows[0].status + " (" + rows[0].reason + ")");
    }
  }
  writer.join();
  ASSERT_TRUE(writer_error.empty()) << writer_error;
  EXPECT_EQ(wrong, 0) << wrong << " of " << reads << " reads mixed two moments, e.g. " << example;
  EXPECT_GT(reads, kRuns / 4) << "the reader hardly read while the runs ended";
  EXPECT_TRUE(store_->error().empty()) << store_->error();
}

}  // namespace
}  // namespace flow::rt
