// SPDX-License-Identifier: Apache-2.0
// The run store writing behind (SetBackground): the writer thread's order,
// its cache and hash overlays, its commit groups and its checkpoints, and
// what readers see while it runs.
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/run_store.h"
#include "store/sqlite.h"
#include "store_fixture.h"

namespace flow::rt {
namespace {

namespace fs = std::filesystem;

// Writing behind (SetBackground): rows are queued until Commit() hands them
// to the writer thread; SetBackground(false) waits until all are committed,
// in the order they were written.
TEST_F(StoreTest, BackgroundWritesLandInOrderAfterTheFlush) {
  int64_t run = store_->NewRun(Run());
  WriteBehind();
  EXPECT_LT(store_->in_tx_since(), 0);
  store_->PutInstance(run, Instance("a", "running"));
  EXPECT_GE(store_->in_tx_since(), 0);  // something is queued
  // Queued, not handed over: no other connection sees it.
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "0");
  AttemptRow a;
  a.instance = "a";
  a.stage = "a";
  a.status = "succeeded";
  a.user_s = 0.25;
  a.sys_s = 0.5;
  store_->AddAttempt(run, a);
  store_->AddEvent(run, "a", "decided", "branch 0");
  store_->PutInstance(run, Instance("a", "succeeded"));  // replaces the first row, in order
  FileHashRow h{12, 34, 56, 0xfedcba9876543210ull};
  store_->PutFileHash("in.csv", h);
  EXPECT_EQ(store_->FindFileHash("in.csv")->hash, h.hash);  // the memo answers at once
  store_->Commit();
  EXPECT_LT(store_->in_tx_since(), 0);
  for (int i = 0; i < 200; ++i) {  // more groups behind the first
    store_->PutInstance(run, Instance("m[" + std::to_string(i) + "]", "succeeded"));
    if (i % 50 == 49) store_->Commit();
  }
  store_->SetBackground(false);
  EXPECT_TRUE(store_->error().empty()) << store_->error();
  EXPECT_EQ(Query("SELECT status FROM instances WHERE name = 'a'"), "succeeded");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "201");
  EXPECT_EQ(Query("SELECT cpu_s FROM attempts WHERE instance = 'a'"), "0.75");
  EXPECT_EQ(Query("SELECT detail FROM events WHERE instance = 'a'"), "branch 0");
  EXPECT_EQ(Query("SELECT hash FROM file_hashes WHERE path = 'in.csv'"), "fedcba9876543210");
  // Back in the foreground: writes go straight to SQLite again.
  store_->FinishRun(run, "succeeded", "{}");
  store_->Commit();
  EXPECT_EQ(Query("SELECT status FROM runs"), "succeeded");
}

TEST_F(StoreTest, BackgroundCacheReadsItsOwnWrites) {
  CacheRow old;
  old.key = "old";
  old.instance = "prep";
  old.run_id = 1;
  store_->PutCache(old);  // committed before: the table is not empty
  WriteBehind();
  EXPECT_EQ(store_->FindCache("old")->run_id, 1);  // from SQLite
  CacheRow c = old;
  c.key = "new";
  c.run_id = 2;
  store_->PutCache(c);
  EXPECT_EQ(store_->FindCache("new")->run_id, 2);  // queued, seen
  store_->DropCache("old");
  EXPECT_FALSE(store_->FindCache("old").has_value());  // dropped, though SQLite still has it
  store_->Commit();
  store_->PutCache(old);  // put back after the drop
  EXPECT_EQ(store_->FindCache("old")->run_id, 1);
  store_->SetBackground(false);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM cache"), "2");
  EXPECT_EQ(store_->FindCache("new")->run_id, 2);
  EXPECT_TRUE(store_->error().empty()) << store_->error();
}

// The write-ahead log is copied back into the database (a checkpoint) by
// the writer thread between two of its batches, once the log is past 1,000
// pages; never after its last batch, nor when the last connection closes:
// that cost flow 10-20 ms after its last job (docs/runtime.md).
TEST_F(StoreTest, TheLogIsCopiedBackBetweenBatchesNeverAtTheEnd) {
  int64_t run = store_->NewRun(Run());
  store_->Commit();
  auto size = [](const std::string& path) -> uintmax_t {
    std::error_code ec;
    uintmax_t n = fs::file_size(path, ec);
    return ec ? 0 : n;
  };
  const std::string text(2000, 'x');  // two rows a page
  auto rows = [&](int from, int n) {
    for (int i = from; i < from + n; ++i) {
      InstanceRow r = Instance("r[" + std::to_string(i) + "]", "succeeded");
      r.key_parts = text;
      store_->PutInstance(run, std::move(r));
    }
  };
  store_->SetGrouping(true);
  // One batch of 1,500 pages and more: the writer's last, so no checkpoint.
  store_->SetBackground(true);
  rows(0, 3000);
  store_->SetBackground(false);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "3000");
  EXPECT_LT(size(path_), 1u << 20) << "the rows went into the database file: a checkpoint at the end";
  EXPECT_GT(size(path_ + "-wal"), 1000u * 4096);
  // More batches: a checkpoint follows the first (the log is past 1,000
  // pages), and the rows so far are in the database file. Each batch is
  // handed over when the one before is committed, so the run does not end
  // (SetBackground(false)) before the checkpoint.
  store_->SetBackground(true);
  for (int b = 0; b < 3; ++b) {
    rows(3000 + 100 * b, 100);
    store_->Commit();
    const std::string want = std::to_string(3100 + 100 * b);
    for (int wait = 0; wait < 1000 && Query("SELECT COUNT(*) FROM instances") != want; ++wait)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  rows(3300, 100);
  store_->SetBackground(false);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "3400");
  EXPECT_GT(size(path_), 5u << 20) << "no checkpoint between batches";
  // The last close leaves the log (SQLite would copy it back and delete it).
  store_.reset();
  EXPECT_GT(size(path_ + "-wal"), 0u);
  std::string error;
  store_ = RunStore::Open(path_, true, error);
  ASSERT_TRUE(store_) << error;
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "3400");
}

// A store written only in the foreground (no writer thread, which makes
// the checkpoints) still has its log copied back, past 4,000 pages.
TEST_F(StoreTest, TheLogIsCopiedBackPast4000PagesWithoutAWriterThread) {
  int64_t run = store_->NewRun(Run());
  store_->Commit();
  const std::string text(2500, 'x');  // one row a page
  store_->SetGrouping(true);
  store_->Begin();
  for (int i = 0; i < 3000; ++i) {  // a page each: 3,000 pages and a few more
    InstanceRow r = Instance("r[" + std::to_string(i) + "]", "succeeded");
    r.key_parts = text;
    store_->PutInstance(run, std::move(r));
  }
  store_->Commit();
  EXPECT_LT(fs::file_size(path_), 1u << 20) << "checkpointed below 4,000 pages";
  store_->Begin();
  for (int i = 3000; i < 5000; ++i) {  // past 4,000
    InstanceRow r = Instance("r[" + std::to_string(i) + "]", "succeeded");
    r.key_parts = text;
    store_->PutInstance(run, std::move(r));
  }
  store_->Commit();
  EXPECT_GT(fs::file_size(path_), 10u << 20) << "the log was not copied back";
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "5000");
}

TEST_F(StoreTest, BackgroundOnAnEmptyCacheNeverMissesItsOwnRows) {
  WriteBehind();
  EXPECT_FALSE(store_->FindCache("k").has_value());
  CacheRow c;
  c.key = "k";
  c.run_id = 7;
  store_->PutCache(c);
  EXPECT_EQ(store_->FindCache("k")->run_id, 7);
  store_->SetBackground(false);
  EXPECT_EQ(store_->FindCache("k")->run_id, 7);
}

TEST_F(StoreTest, ClosingTheStoreFlushesTheWriter) {
  int64_t run = store_->NewRun(Run());
  WriteBehind();
  store_->PutInstance(run, Instance("a", "succeeded"));
  store_->Commit();
  store_->PutInstance(run, Instance("b", "succeeded"));  // queued, not handed over
  store_.reset();
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances"), "2");
}

TEST_F(StoreTest, ReadersSeeEachHandedOverGroupWhileTheWriterRuns) {
  int64_t run = store_->NewRun(Run());
  WriteBehind();
  store_->PutInstance(run, Instance("a", "succeeded"));
  store_->Commit();
  // The writer commits on its own; a reader sees the group within a moment.
  std::string count;
  for (int i = 0; i < 500 && count != "1"; ++i) {
    count = Query("SELECT COUNT(*) FROM instances");
    if (count != "1") usleep(2000);
  }
  EXPECT_EQ(count, "1");
  store_->SetBackground(false);
}

// A group of fewer than 300 rows (100 instances' changes in the engine's
// 100 ms) is committed as it comes; a larger one stays in the writer's open
// transaction, with the groups after it, for up to a second, and the stop
// (the end of the run) commits what is open at once.
TEST_F(StoreTest, TheWriterHoldsTheGroupsOfABusyRunForUpToASecond) {
  int64_t run = store_->NewRun(Run());
  WriteBehind();
  auto count = [&] { return std::stoi(Query("SELECT COUNT(*) FROM instances")); };
  auto hand_over = [&](const std::string& prefix, int rows) {
    for (int i = 0; i < rows; ++i) store_->PutInstance(run, Instance(prefix + std::to_string(i), "succeeded"));
    store_->Commit();
    return std::chrono::steady_clock::now();
  };
  auto wait_for = [&](int n) {
    for (int i = 0; i < 2500 && count() < n; ++i) usleep(2000);
    return std::chrono::steady_clock::now();
  };
  // Small: committed as it comes (in milliseconds; a loaded machine may
  // take longer, never as long as a held group).
  auto small = hand_over("s", 10);
  auto seen = wait_for(10);
  EXPECT_EQ(count(), 10);
  EXPECT_LT(seen - small, std::chrono::milliseconds(900));
  // Large: not committed at once, then at most a second after it came.
  auto large = hand_over("l", 400);
  usleep(300000);
  EXPECT_EQ(count(), 10) << "a group of 400 rows was committed at once";
  seen = wait_for(410);
  EXPECT_EQ(count(), 410);
  EXPECT_GE(seen - large, std::chrono::milliseconds(900));
  // Large, then the stop: committed when SetBackground(false) returns.
  hand_over("m", 400);
  store_->SetBackground(false);
  EXPECT_EQ(count(), 810);
}

}  // namespace
}  // namespace flow::rt
