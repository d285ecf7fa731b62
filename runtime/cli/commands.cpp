// SPDX-License-Identifier: Apache-2.0
#include "cli/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "engine/engine.h"
#include "engine/values.h"
#include "fmt/format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "plan/json_parse.h"
#include "store/run_store.h"

namespace flow::rt {

namespace json = llvm::json;

namespace {

int Err(const std::string& m, int code) {
  std::fprintf(stderr, "flow: error: %s\n", m.c_str());
  return code;
}

std::string Time(double t) {
  time_t s = static_cast<time_t>(t);
  struct tm tm;
  localtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Secs(double s) {
  if (s < 60) return fmt::format("{:.2f} s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return fmt::format("{}h{:02}m", static_cast<int>(s) / 3600, (static_cast<int>(s) / 60) % 60);
}

std::unique_ptr<RunStore> OpenStore(const std::string& dir, std::string& error) {
  std::string path = dir + "/.flow/runs.db";
  if (!llvm::sys::fs::exists(path)) {
    error = "no runs here: " + path + " does not exist (run `flow run` first, or give --dir)";
    return nullptr;
  }
  return RunStore::Open(path, false, error);
}

std::optional<int64_t> ResolveRun(RunStore& store, const std::string& text, std::string& error) {
  if (text.empty() || text == "latest") {
    auto r = store.LatestRun();
    if (!r) error = "no runs recorded yet";
    return r;
  }
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size() && store.GetRun(v)) return v;
  } catch (...) {
  }
  error = "no run '" + text + "' (see `flow runs`)";
  return std::nullopt;
}

// A whole number of at least 1 written in digits only: "3", not "3x",
// "+3", "0" or "-1".
std::optional<int> ParseCount(const std::string& text) {
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int v = std::stoi(text);
  if (v < 1) return std::nullopt;
  return v;
}

// Copies a log file to stdout a block at a time (a log may be larger than
// memory), up to its size when opened (a running attempt's log grows).
// Returns whether it wrote anything and whether that ended in a newline.
// A missing log is empty; what is no regular file is not read (the path
// comes from the store, which anything could have written).
struct Copied {
  bool any = false;
  bool ends_in_newline = false;
};
Copied CopyLog(const std::string& path) {
  Copied c;
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return c;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    std::printf("(%s is not a regular file: not shown)\n", path.c_str());
    return {true, true};
  }
  off_t left = st.st_size;
  std::vector<char> buf(1 << 16);
  while (left > 0) {
    ssize_t n = read(fd, buf.data(), static_cast<size_t>(std::min<off_t>(left, static_cast<off_t>(buf.size()))));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::fwrite(buf.data(), 1, static_cast<size_t>(n), stdout);
    c.any = true;
    c.ends_in_newline = buf[static_cast<size_t>(n) - 1] == '\n';
    left -= n;
  }
  close(fd);
  return c;
}

// A run recorded as running whose flow process is gone: stopped without a
// word (kill -9, a crash, the machine's end). The next `flow run` in the
// folder records it as interrupted; until then its row says running.
bool Gone(const RunRow& r) {
  if (r.status != "running" || r.pid <= 0) return false;
  return kill(static_cast<pid_t>(r.pid), 0) != 0 && errno == ESRCH;
}
constexpr const char* kGoneNote =
    "its flow process (pid {}) is not running on this machine: it was stopped without recording the end "
    "(kill -9, a crash); the next `flow run` in this folder records it as interrupted";

// The reads of a command as of one moment (RunStore::Snapshot), taken
// before it prints: a command whose output waits on a pager would hold the
// snapshot, and the run's write-ahead log could not start over meanwhile.
template <typename Reads>
auto ReadAtOnce(RunStore& store, Reads reads) {
  RunStore::Snapshot snapshot(store);
  return reads();
}

int Status(RunStore& store, int64_t run) {
  auto [r, params, rows] =
      ReadAtOnce(store, [&] { return std::tuple(store.GetRun(run), store.Params(run), store.Instances(run)); });
  std::printf("run %lld: %s, started %s", static_cast<long long>(run), r->status.c_str(), Time(r->started_at).c_str());
  if (Gone(*r)) std::printf(" (but %s)", fmt::format(kGoneNote, r->pid).c_str());
  if (r->ended_at) std::printf(", took %s", Secs(*r->ended_at - r->started_at).c_str());
  std::printf("\n  %s\n", r->plan_path.c_str());
  if (!params.empty()) {
    std::printf("  params:");
    for (const auto& [k, v] : params) {
      auto parsed = plan::ParseJson(v, plan::kMaxJsonDepth);
      std::string text = parsed ? Brief(*parsed) : v;
      if (!parsed) llvm::consumeError(parsed.takeError());
      std::printf(" %s=%s", k.c_str(), text.c_str());
    }
    std::printf("\n");
  }
  size_t w = 8;
  for (const auto& i : rows) w = std::max(w, i.name.size());
  std::printf("\n%-*s  %-9s  %8s  %8s  %s\n", static_cast<int>(w), "INSTANCE", "STATUS", "ATTEMPTS", "WALL", "NOTE");
  std::map<std::string, int> counts;
  for (const auto& i : rows) {
    ++counts[i.status];
    std::string wall = i.started_at && i.ended_at ? Secs(*i.ended_at - *i.started_at) : "-";
    std::printf("%-*s  %-9s  %8d  %8s  %s\n", static_cast<int>(w), i.name.c_str(), i.status.c_str(), i.attempts,
                wall.c_str(), i.reason.c_str());
  }
  std::printf("\n%zu instance%s:", rows.size(), rows.size() == 1 ? "" : "s");
  bool first = true;
  for (const auto& [s, n] : counts) {
    std::printf("%s %d %s", first ? "" : ",", n, s.c_str());
    first = false;
  }
  std::printf("\n");
  // The run's first failure, which may be no instance's: a condition or a
  // map's list that could not be evaluated stops the run too.
  auto summary = plan::ParseJson(r->summary.empty() ? "null" : r->summary, plan::kMaxJsonDepth);
  if (!summary) {
    llvm::consumeError(summary.takeError());
  } else if (const json::Object* o = summary->getAsObject()) {
    if (auto f = o->getString("first_failure"); f && !f->empty()) std::printf("first failure: %s\n", f->str().c_str());
  }
  return 0;
}

int Runs(RunStore& store, int limit) {
  auto runs = store.Runs(limit);
  if (runs.empty()) {
    std::printf("no runs yet\n");
    return 0;
  }
  std::printf("%5s  %-11s  %-19s  %9s  %-34s  %s\n", "RUN", "STATUS", "STARTED", "WALL", "INSTANCES", "SOURCE");
  std::vector<int64_t> gone;
  for (const auto& r : runs) {
    std::string counts = "-";
    auto s = plan::ParseJson(r.summary.empty() ? "null" : r.summary, plan::kMaxJsonDepth);
    if (s) {
      if (const json::Object* o = s->getAsObject())
        counts = fmt::format("{} ran, {} cached, {} skipped, {} failed", o->getInteger("ran").getValueOr(0),
                             o->getInteger("cached").getValueOr(0), o->getInteger("skipped").getValueOr(0),
                             o->getInteger("failed").getValueOr(0));
    } else {
      llvm::consumeError(s.takeError());
    }
    std::string wall = r.ended_at ? Secs(*r.ended_at - r.started_at) : "-";
    bool is_gone = Gone(r);
    if (is_gone) gone.push_back(r.pid);
    std::printf("%5lld  %-11s  %-19s  %9s  %-34s  %s\n", static_cast<long long>(r.id),
                is_gone ? "running?" : r.status.c_str(), Time(r.started_at).c_str(), wall.c_str(), counts.c_str(),
                r.plan_path.c_str());
  }
  for (int64_t pid : gone) std::printf("running?: %s\n", fmt::format(kGoneNote, pid).c_str());
  return 0;
}

int Logs(RunStore& store, const std::string& dir, int64_t run, const std::string& name, const std::string& which,
         int attempt) {
  auto [attempts, inst, run_row] = ReadAtOnce(
      store, [&] { return std::tuple(store.Attempts(run, name), store.GetInstance(run, name), store.GetRun(run)); });
  // An attempt's row is written when it ends: one that is running now is
  // found by its instance's row, and its logs at their usual paths (what
  // it wrote in its first second is still in its spool file).
  if (inst && inst->status == "running" && inst->attempts > 0 &&
      (attempts.empty() || attempts.back().attempt < inst->attempts)) {
    AttemptRow live;
    live.attempt = static_cast<int>(inst->attempts);
    live.status = "running";
    live.stdout_path = AttemptLogPath(run, name, live.attempt, false);
    live.stderr_path = AttemptLogPath(run, name, live.attempt, true);
    attempts.push_back(live);
  }
  if (attempts.empty()) {
    if (!inst) return Err(fmt::format("run {} has no instance '{}' (see `flow status {}`)", run, name, run), 1);
    if (inst->status == "pending") {
      if (run_row && Gone(*run_row))
        std::printf("%s did not start in run %lld: no logs (it was pending, but %s)\n", name.c_str(),
                    static_cast<long long>(run), fmt::format(kGoneNote, run_row->pid).c_str());
      else
        std::printf("%s has not started in run %lld (pending): no logs yet\n", name.c_str(), static_cast<long long>(run));
      return 0;
    }
    std::printf("%s did not run in run %lld (%s%s%s): no logs\n", name.c_str(), static_cast<long long>(run),
                inst->status.c_str(), inst->reason.empty() ? "" : ": ", inst->reason.c_str());
    return 0;
  }
  const AttemptRow* a = &attempts.back();
  if (attempt > 0) {
    a = nullptr;
    for (const auto& x : attempts)
      if (x.attempt == attempt) a = &x;
    if (!a) return Err(fmt::format("{} has no attempt {} in run {} ({} attempts)", name, attempt, run, attempts.size()), 1);
  }
  std::string out = dir + "/" + a->stdout_path, err = dir + "/" + a->stderr_path;
  if (which == "stdout" || which == "stderr") {
    CopyLog(which == "stdout" ? out : err);
    return 0;
  }
  std::printf("==> %s, run %lld, attempt %d (%s)%s%s\n", name.c_str(), static_cast<long long>(run), a->attempt,
              a->status.c_str(), a->command.empty() ? "" : ": ", a->command.c_str());
  for (const auto& [label, path, shown] : {std::tuple{"stdout", out, a->stdout_path},
                                          std::tuple{"stderr", err, a->stderr_path}}) {
    std::printf("==> %s (%s)\n", label, shown.c_str());
    std::fflush(stdout);
    Copied c = CopyLog(path);
    if (c.any && !c.ends_in_newline) std::printf("\n");
  }
  return 0;
}

}  // namespace

bool TakeValue(const std::vector<std::string>& args, size_t& i, const std::string& name, std::string& value) {
  const std::string& a = args[i];
  if (a == name) {
    if (i + 1 >= args.size()) return false;
    value = args[++i];
    return true;
  }
  if (a.rfind(name + "=", 0) == 0) {
    value = a.substr(name.size() + 1);
    return true;
  }
  return false;
}

bool IsOption(const std::string& a, const std::string& name) { return a == name || a.rfind(name + "=", 0) == 0; }


namespace {

int Why(RunStore& store, int64_t run, const std::string& name) {
  RunStore::Snapshot snapshot(store);  // what it prints is a few lines: no pager holds it
  auto inst = store.GetInstance(run, name);
  if (!inst) return Err(fmt::format("run {} has no instance '{}' (see `flow status {}`)", run, name, run), 1);
  long long r = static_cast<long long>(run);
  if (inst->status == "cached") {
    std::printf("%s was reused in run %lld (%s): its cache key was unchanged\n", name.c_str(), r, inst->reason.c_str());
    return 0;
  }
  if (inst->status == "pending" || inst->status == "running") {
    auto run_row = store.GetRun(run);
    if (run_row && Gone(*run_row))
      std::printf("%s did not finish in run %lld (it was %s, but %s)\n", name.c_str(), r, inst->status.c_str(),
                  fmt::format(kGoneNote, run_row->pid).c_str());
    else
      std::printf("%s has not finished in run %lld (it is %s): ask again when it has\n", name.c_str(), r,
                  inst->status.c_str());
    return 0;
  }
  if (inst->status == "skipped" || inst->status == "not_run" || inst->status == "cancelled") {
    std::printf("%s did not run in run %lld: %s (%s)\n", name.c_str(), r, inst->status.c_str(), inst->reason.c_str());
    return 0;
  }
  auto prev = store.PreviousSuccess(run, name);
  if (!prev) {
    std::printf("%s ran in run %lld: no earlier run has a result of it to reuse\n", name.c_str(), r);
    return 0;
  }
  if (prev->second.cache_key == inst->cache_key) {
    std::printf("%s ran in run %lld with the same cache key as in run %lld: that result was no longer usable "
                "(its outputs were removed, or it was never recorded as a reusable result)\n",
                name.c_str(), r, static_cast<long long>(prev->first));
    return 0;
  }
  std::printf("%s ran again in run %lld: in run %lld it %s, and since then\n", name.c_str(), r,
              static_cast<long long>(prev->first), prev->second.status == "cached" ? "was reused" : "ran");
  auto lines = ExplainKeyChange(prev->second.key_parts, inst->key_parts);
  if (lines.empty()) lines.push_back("nothing recorded differs (the key format may have changed)");
  for (const auto& l : lines) std::printf("  %s\n", l.c_str());
  return 0;
}

}  // namespace

int RunQueryCommand(const std::string& cmd, const std::vector<std::string>& args) {
  std::string dir = ".";
  std::vector<std::string> pos;
  std::string which = "both";
  int attempt = 0, limit = 20;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& name, std::string& out) { return TakeValue(args, i, name, out); };
    std::string v;
    if (value("--dir", v)) {
      if (v.empty()) return Err("--dir takes the folder that holds a .flow/, not an empty name", 2);
      dir = v;
    } else if (cmd == "logs" && (a == "--stdout" || a == "--stderr" || a == "--both")) {
      which = a.substr(2);
    } else if (cmd == "logs" && IsOption(a, "--attempt")) {
      auto n = value("--attempt", v) ? ParseCount(v) : std::nullopt;
      if (!n) return Err(fmt::format("--attempt takes an attempt's number (1 for the first), not '{}'", v), 2);
      attempt = *n;
    } else if (cmd == "runs" && IsOption(a, "--limit")) {
      auto n = value("--limit", v) ? ParseCount(v) : std::nullopt;
      if (!n) return Err(fmt::format("--limit takes how many runs to list, a whole number of at least 1, not '{}'", v), 2);
      limit = *n;
    } else if (!a.empty() && a[0] == '-') {
      return Err(fmt::format("unknown option '{}' for flow {}", a, cmd), 2);
    } else {
      pos.push_back(a);
    }
  }
  std::string error;
  auto store = OpenStore(dir, error);
  if (!store) return Err(error, 1);
  if (cmd == "runs") {
    if (!pos.empty()) return Err("flow runs takes no arguments", 2);
    return Runs(*store, limit);
  }
  if (cmd == "status") {
    if (pos.size() > 1) return Err("flow status takes at most one run", 2);
    auto run = ResolveRun(*store, pos.empty() ? "" : pos[0], error);
    if (!run) return Err(error, 1);
    return Status(*store, *run);
  }
  if (cmd == "logs") {
    if (pos.size() != 2) return Err("usage: flow logs RUN STAGE [--stdout|--stderr] [--attempt N]", 2);
    auto run = ResolveRun(*store, pos[0], error);
    if (!run) return Err(error, 1);
    return Logs(*store, dir, *run, pos[1], which, attempt);
  }
  // why
  if (pos.empty() || pos.size() > 2) return Err("usage: flow why [RUN] STAGE", 2);
  auto run = ResolveRun(*store, pos.size() == 2 ? pos[0] : "", error);
  if (!run) return Err(error, 1);
  return Why(*store, *run, pos.back());
}

}  // namespace flow::rt
