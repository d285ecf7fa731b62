// SPDX-License-Identifier: Apache-2.0
// Helpers for the end-to-end tests of `flow run` (run_test.cpp): a fresh
// folder per test, the real `flow` binary run as a subprocess under a hard
// time limit, the summary line parsed, and the run store read with SQLite.
// Nothing here links flow's own code: the tests see flow only as a user does.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace flow::e2e {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// The last non-empty line of `text`.
inline std::string LastLine(const std::string& text) {
  auto lines = Lines(text);
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines.empty() ? std::string() : lines.back();
}

inline std::string Tail(const std::string& text, size_t n = 3000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

inline void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

/// Polls `done` every 10 ms until it holds or `timeout_s` passes.
inline bool WaitFor(const std::function<bool()>& done, double timeout_s) {
  auto start = Clock::now();
  while (!done()) {
    if (Seconds(start) > timeout_s) return false;
    SleepMs(10);
  }
  return true;
}

/// True once `pid` no longer exists or is a zombie (its parent may be an
/// init that never reaps).
inline bool ProcessGone(pid_t pid) {
  if (pid <= 0) return true;
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

/// How one command ended.
struct Result {
  std::vector<std::string> argv;
  bool exited = false;     // false: killed by a signal (or by our time limit)
  bool timed_out = false;  // we killed it after its time limit
  int code = -1;           // exit status when `exited`
  int signal = 0;
  double seconds = 0;
  std::string out, err;

  std::string Describe() const {
    std::ostringstream os;
    os << "command:";
    for (const auto& a : argv) os << " '" << a << "'";
    if (timed_out) os << "\nKILLED after our time limit of " << seconds << " s";
    else if (exited) os << "\nexit " << code << " after " << seconds << " s";
    else os << "\nkilled by signal " << signal << " (" << strsignal(signal) << ") after " << seconds << " s";
    os << "\n--- stderr ---\n" << Tail(err) << "\n--- stdout ---\n" << Tail(out);
    return os.str();
  }
};

/// A process started in its own process group, its output going to files.
class Process {
 public:
  Process() = default;
  Process(pid_t pid, std::vector<std::string> argv, fs::path out, fs::path err)
      : pid_(pid), argv_(std::move(argv)), out_(std::move(out)), err_(std::move(err)), start_(Clock::now()) {}

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  /// True when it has exited (and then it is reaped: Wait returns at once).
  bool Exited() {
    if (reaped_) return true;
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) reaped_ = true, end_ = Clock::now();
    return reaped_;
  }

  void Signal(int sig) {
    if (!reaped_) kill(pid_, sig);
  }

  /// Waits at most `timeout_s`; past it, kills the process group and
  /// reports `timed_out`.
  Result Wait(double timeout_s) {
    Result r;
    r.argv = argv_;
    auto deadline_start = Clock::now();
    while (!Exited()) {
      if (Seconds(deadline_start) > timeout_s) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
        }
        reaped_ = true;
        end_ = Clock::now();
        r.timed_out = true;
        break;
      }
      SleepMs(5);
    }
    r.seconds = std::chrono::duration<double>(end_ - start_).count();
    if (!r.timed_out) {
      r.exited = WIFEXITED(status_);
      r.code = r.exited ? WEXITSTATUS(status_) : -1;
      r.signal = WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
    }
    r.out = ReadFile(out_);
    r.err = ReadFile(err_);
    return r;
  }

 private:
  pid_t pid_ = -1;
  std::vector<std::string> argv_;
  fs::path out_, err_;
  Clock::time_point start_, end_;
  int status_ = 0;
  bool reaped_ = false;
};

/// Starts `argv` (argv[0] a path) in `cwd` with the environment plus
/// `env` ("NAME=VALUE" entries replace existing ones), stdin from /dev/null.
inline Process Spawn(const std::vector<std::string>& argv, const fs::path& cwd, const std::vector<std::string>& env,
                     const fs::path& out, const fs::path& err) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& s) { return s.substr(0, s.find('=')) == name; });
    if (!replaced) env_strings.push_back(entry);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<std::string> args = argv;
  std::vector<char*> cargv, cenv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  std::string cwd_s = cwd.string(), out_s = out.string(), err_s = err.string();

  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    setpgid(0, 0);
    int in = open("/dev/null", O_RDONLY);
    int o = open(out_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0 || chdir(cwd_s.c_str()) != 0) _exit(121);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    close(in), close(o), close(e);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(122);
  }
  if (pid < 0) return Process();
  setpgid(pid, pid);  // also from here, so the group exists before we signal it
  return Process(pid, argv, out, err);
}

/// The summary line `flow run` ends its stderr with (docs/runtime.md).
struct Summary {
  std::string line;
  int run = -1;
  std::string status;
  double seconds = -1;
  int instances = -1, ran = -1, cached = -1, skipped = -1, failed = -1, not_run = -1;
  std::string first_failure;  // after "; first failure: ", empty when absent
};

inline std::optional<Summary> ParseSummary(const std::string& stderr_text) {
  static const std::regex re(
      R"(^flow: run (\d+) ([a-z_]+) in ([0-9]+(?:\.[0-9]+)?) s: (\d+) instances?: (\d+) ran, (\d+) cached, )"
      R"((\d+) skipped, (\d+) failed, (\d+) not run(?:; first failure: (.*))?$)");
  std::string line = LastLine(stderr_text);
  std::smatch m;
  if (!std::regex_match(line, m, re)) return std::nullopt;
  Summary s;
  s.line = line;
  s.run = std::stoi(m[1]);
  s.status = m[2];
  s.seconds = std::stod(m[3]);
  s.instances = std::stoi(m[4]);
  s.ran = std::stoi(m[5]);
  s.cached = std::stoi(m[6]);
  s.skipped = std::stoi(m[7]);
  s.failed = std::stoi(m[8]);
  s.not_run = std::stoi(m[9]);
  s.first_failure = m[10];
  return s;
}

/// Expected counts of a summary line; -1: do not check.
struct Counts {
  int instances = -1, ran = -1, cached = -1, skipped = -1, failed = -1, not_run = -1;
};

/// A read-only connection to a run store.
class RunStore {
 public:
  using Row = std::vector<std::optional<std::string>>;

  explicit RunStore(const fs::path& db) {
    if (!fs::exists(db)) {
      error_ = "no run store at " + db.string();
      return;
    }
    if (sqlite3_open_v2(db.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      error_ = std::string("cannot open ") + db.string() + ": " + (db_ ? sqlite3_errmsg(db_) : "?");
      return;
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RunStore() {
    if (db_) sqlite3_close(db_);
  }
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  /// Every row of `sql` with its `?` bound to `args` (as text or integers);
  /// NULL columns are nullopt. On an error, `error()` says it and the result is empty.
  std::vector<Row> Query(const std::string& sql, const std::vector<std::string>& args = {}) {
    std::vector<Row> rows;
    if (!db_) return rows;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      error_ = std::string(sqlite3_errmsg(db_)) + " in: " + sql;
      return rows;
    }
    for (size_t i = 0; i < args.size(); ++i) sqlite3_bind_text(stmt, static_cast<int>(i + 1), args[i].c_str(), -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      Row row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
          row.push_back(std::nullopt);
        } else {
          const unsigned char* text = sqlite3_column_text(stmt, c);
          row.push_back(std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt, c)));
        }
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) error_ = std::string(sqlite3_errmsg(db_)) + " in: " + sql;
    sqlite3_finalize(stmt);
    return rows;
  }

  /// The first column of the first row, "" when none or NULL.
  std::string Scalar(const std::string& sql, const std::vector<std::string>& args = {}) {
    auto rows = Query(sql, args);
    if (rows.empty() || rows[0].empty() || !rows[0][0]) return "";
    return *rows[0][0];
  }

  /// name -> status of every instance of `run`.
  std::map<std::string, std::string> InstanceStatuses(int run) {
    std::map<std::string, std::string> m;
    for (auto& row : Query("SELECT name, status FROM instances WHERE run_id = ?", {std::to_string(run)}))
      m[row[0].value_or("")] = row[1].value_or("<null>");
    return m;
  }

  /// [started_at, ended_at] of every attempt of `run`, by instance.
  std::vector<std::pair<double, double>> AttemptSpans(int run, const std::string& like = "%") {
    std::vector<std::pair<double, double>> spans;
    for (auto& row : Query("SELECT started_at, ended_at FROM attempts WHERE run_id = ? AND instance LIKE ?",
                           {std::to_string(run), like})) {
      if (!row[0] || !row[1]) continue;
      spans.emplace_back(std::stod(*row[0]), std::stod(*row[1]));
    }
    return spans;
  }

 private:
  sqlite3* db_ = nullptr;
  std::string error_;
};

/// The largest number of spans that overlap at one moment; a span that
/// ends exactly when another starts does not overlap it.
inline int MaxOverlap(const std::vector<std::pair<double, double>>& spans) {
  std::vector<std::pair<double, int>> events;
  for (auto& [start, end] : spans) {
    events.emplace_back(start, +1);
    events.emplace_back(end, -1);
  }
  std::sort(events.begin(), events.end());  // at equal times, -1 sorts first
  int now = 0, most = 0;
  for (auto& e : events) most = std::max(most, now += e.second);
  return most;
}

/// Spans from a log of "NAME start T" / "NAME end T" lines, by NAME.
inline std::map<std::string, std::pair<double, double>> SpansFromLog(const std::string& log) {
  std::map<std::string, std::pair<double, double>> spans;
  for (const auto& line : Lines(log)) {
    std::istringstream in(line);
    std::string name, what;
    double t = 0;
    if (!(in >> name >> what >> t)) continue;
    auto& span = spans.try_emplace(name, -1.0, -1.0).first->second;
    (what == "start" ? span.first : span.second) = t;
  }
  return spans;
}

}  // namespace flow::e2e
