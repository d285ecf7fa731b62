// SPDX-License-Identifier: Apache-2.0
// The fixture of the run store's tests: a fresh store in a folder of its
// own, plain SQLite reads of it, and rows to write.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "store/run_store.h"

// Not in an anonymous namespace: the tests of store_test.cpp and
// store_background_test.cpp are one suite, which needs one fixture class.
namespace flow::rt {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flow_store_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/runs.db";
    std::string error;
    store_ = RunStore::Open(path_, true, error);
    ASSERT_TRUE(store_) << error;
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  /// The store as `flow run` sets it while instances run: changes grouped
  /// and written behind, by the writer thread.
  void WriteBehind() {
    store_->SetGrouping(true);
    store_->SetBackground(true);
  }
  /// Runs `sql` on the store's file with plain SQLite, as another program
  /// (or an earlier flow) would have changed it.
  void AlterStore(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db) << " in: " << sql;
    sqlite3_close(db);
  }
  /// One value from the database, read with plain SQLite (another connection).
  std::string Query(const std::string& sql) {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
          sqlite3_column_text(st, 0))
        out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      else
        ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
  }
  RunRow Run(const std::string& status = "running") {
    RunRow r;
    r.status = status;
    r.source = "/p/main.flow";
    r.plan_path = "/p/main.flow";
    r.entry = "main";
    r.started_at = 1700000000.25;
    r.pid = 1234;
    r.args = R"(["flow","run","main.flow"])";
    r.capacities = R"({"cpus":4})";
    r.summary = "";
    return r;
  }
  InstanceRow Instance(const std::string& name, const std::string& status) {
    InstanceRow i;
    i.name = name;
    i.stage = name.substr(0, name.find('['));
    i.status = status;
    i.cache_key = "key-" + name;
    i.key_parts = R"({"stage":")" + i.stage + R"("})";
    return i;
  }
  std::string dir_, path_;
  std::unique_ptr<RunStore> store_;
};

}  // namespace flow::rt
