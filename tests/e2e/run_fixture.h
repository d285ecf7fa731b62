// SPDX-License-Identifier: Apache-2.0
// The fixture of the end-to-end tests of `flow run` (run_test.cpp,
// run_more_test.cpp): a fresh folder per test, flow run as a subprocess, the
// run store read back.
#pragma once
// End-to-end tests of `flow run` against its contract (docs/runtime.md,
// SPEC.md section 2): each test copies a small pipeline from tests/e2e/ into
// a fresh folder, runs the real `flow` binary there as a subprocess under a
// hard time limit, and checks the exit code, the summary line, the files the
// commands wrote and the run store `.flow/runs.db`.
//
// Stage commands write what they see into files of the working folder (the
// entry file's folder), so most checks do not depend on where flow keeps its
// outputs. FLOW_E2E_KEEP=1 keeps the folder of a failed test.
#include <iostream>
#include <memory>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "run_helper.h"

namespace flow::e2e {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ContainsRegex;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

/// Environment of every flow run: short retry back-off and kill grace.
const std::vector<std::string> kFastEnv = {"FLOW_RETRY_BACKOFF_MS=10", "FLOW_KILL_GRACE_MS=200"};

/// The string value of "KEY" in a flat JSON object ("" when absent).
inline std::string JsonStringField(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
  return std::regex_search(json, m, re) ? std::string(m[1]) : std::string();
}

class RunE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/flow-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << strerror(errno);
    root_ = fs::canonical(pattern);
    work_ = root_ / "work";
    io_ = root_ / "io";
    fs::create_directories(work_);
    fs::create_directories(io_);
  }

  void TearDown() override {
    // A flow that a failed assertion left running: kill it (only our own
    // unreaped children; waitpid says which).
    for (pid_t pid : started_) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
    }
    if (HasFailure() && std::getenv("FLOW_E2E_KEEP")) {
      std::cerr << "flow e2e: kept " << root_ << "\n";
      return;
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  /// Copies tests/e2e/NAME into `dir` (default: the working folder).
  fs::path Use(const std::string& name, const fs::path& dir = {}) {
    fs::path to = (dir.empty() ? work_ : dir) / name;
    fs::create_directories(to.parent_path());
    fs::copy_file(fs::path(FLOW_SOURCE_DIR) / "tests" / "e2e" / name, to, fs::copy_options::overwrite_existing);
    return to;
  }

  /// Starts `flow ARGS...` in `cwd` (default: the working folder).
  Process Start(const std::vector<std::string>& args, const fs::path& cwd = {},
                const std::vector<std::string>& env = kFastEnv) {
    std::vector<std::string> argv = {FLOW_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    int n = ++commands_;
    Process p = Spawn(argv, cwd.empty() ? work_ : cwd, env, io_ / ("cmd" + std::to_string(n) + ".out"),
                      io_ / ("cmd" + std::to_string(n) + ".err"));
    EXPECT_TRUE(p.started()) << "cannot fork: " << strerror(errno);
    if (p.started()) started_.push_back(p.pid());
    return p;
  }

  /// Whether `p` (a `flow run`) got as far as a command that writes
  /// started.txt in the working folder, and is still running then.
  ::testing::AssertionResult StillRunningOnceStarted(Process& p) {
    if (!p.started()) return ::testing::AssertionFailure() << "flow did not start";
    if (!WaitFor([&] { return fs::exists(work_ / "started.txt") || p.Exited(); }, 20))
      return ::testing::AssertionFailure() << "no command wrote started.txt within 20 s";
    if (p.Exited()) return ::testing::AssertionFailure() << "flow ended first: " << p.Wait(1).Describe();
    return ::testing::AssertionSuccess();
  }

  /// Runs `flow ARGS...` to the end (killed after `timeout_s`).
  Result Flow(const std::vector<std::string>& args, const fs::path& cwd = {}, double timeout_s = 60,
              const std::vector<std::string>& env = kFastEnv) {
    Process p = Start(args, cwd, env);
    if (!p.started()) return Result();
    Result r = p.Wait(timeout_s);
    EXPECT_FALSE(r.timed_out) << r.Describe();
    return r;
  }

  fs::path Db(const fs::path& dir = {}) const { return (dir.empty() ? work_ : dir) / ".flow" / "runs.db"; }

  /// Runs `sql` on the run store of work_, as another program (or an
  /// earlier flow) would have changed it.
  void AlterStore(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Db().c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db) << " in: " << sql;
    sqlite3_close(db);
  }

  /// Checks the summary line: its format, its status, the counts that add
  /// up, and the `expected` ones. Returns it (run -1 when it does not parse).
  Summary CheckSummary(const Result& r, const std::string& status, Counts expected) {
    auto s = ParseSummary(r.err);
    if (!s) {
      ADD_FAILURE() << "the last line of stderr is not a summary line as docs/runtime.md shows it: '"
                    << LastLine(r.err) << "'\n"
                    << r.Describe();
      return Summary();
    }
    EXPECT_EQ(s->status, status) << s->line;
    EXPECT_GE(s->seconds, 0) << s->line;
    EXPECT_EQ(s->ran + s->cached + s->skipped + s->failed + s->not_run, s->instances)
        << "the counts do not add up to the instances: " << s->line;
    auto check = [&](const char* what, int want, int got) {
      if (want >= 0) {
        EXPECT_EQ(got, want) << what << " in: " << s->line;
      }
    };
    check("instances", expected.instances, s->instances);
    check("ran", expected.ran, s->ran);
    check("cached", expected.cached, s->cached);
    check("skipped", expected.skipped, s->skipped);
    check("failed", expected.failed, s->failed);
    check("not run", expected.not_run, s->not_run);
    if (status == "succeeded") {
      EXPECT_THAT(s->first_failure, IsEmpty()) << s->line;
    }
    return *s;
  }

  /// The id of the newest run in the store of `dir`.
  int LatestRun(const fs::path& dir = {}) {
    RunStore store(Db(dir));
    std::string id = store.Scalar("SELECT max(id) FROM runs");
    EXPECT_TRUE(store.ok()) << store.error();
    return id.empty() ? -1 : std::stoi(id);
  }

  fs::path root_, work_, io_;
  std::vector<pid_t> started_;
  int commands_ = 0;
};

}  // namespace flow::e2e
