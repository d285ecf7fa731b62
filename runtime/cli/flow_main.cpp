// SPDX-License-Identifier: Apache-2.0
// `flow`: run pipelines and read their history (docs/runtime.md).
//   flow run FILE.flow|PLAN [options]
//   flow status [RUN] | flow runs | flow logs RUN STAGE | flow why [RUN] STAGE
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "diag/diagnostic.h"
#include "driver/frontend.h"
#include "engine/engine.h"
#include "exec/local_executor.h"
#include "exec/spawn.h"
#include "fmt/format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "lower/lower.h"
#include "plan_io/load_plan.h"
#include "store/run_store.h"

namespace {

using namespace flow;
using namespace flow::rt;

constexpr const char* kUsage =
    "usage:\n"
    "  flow run FILE.flow|PLAN [--param K=V]... [--cpus N] [--memory SIZE] [--gpus N]\n"
    "                          [--pool NAME=N]... [--executor local|slurm] [--resume]\n"
    "                          [--dry-run] [--keep-going] [--entry NAME]\n"
    "                          [--progress auto|live|plain|none]\n"
    "  flow status [RUN] [--dir DIR]     the instances of a run (default: the latest)\n"
    "  flow runs [--limit N] [--dir DIR] the runs in this folder, newest first\n"
    "  flow logs RUN STAGE [--stdout|--stderr] [--attempt N] [--dir DIR]\n"
    "  flow why [RUN] STAGE [--dir DIR]  why an instance ran again\n"
    "  flow --version | --help\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "flow: error: %s\n%s", message.c_str(), kUsage);
  return 2;
}

int Error(const std::string& message, int code = 2) {
  std::fprintf(stderr, "flow: error: %s\n", message.c_str());
  return code;
}

std::string Absolute(const std::string& path) {
  llvm::SmallString<256> p(path);
  llvm::sys::fs::make_absolute(p);
  llvm::sys::path::remove_dots(p, /*remove_dot_dot=*/true);
  return std::string(p.str());
}

int DefaultCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
}

double DefaultMemory() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// GPUs: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`, else none.
std::vector<int> DefaultGpus() {
  std::vector<int> ids;
  if (const char* env = std::getenv("CUDA_VISIBLE_DEVICES")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ',')) {
      try {
        size_t used = 0;
        int v = std::stoi(item, &used);
        if (used == item.size() && v >= 0) ids.push_back(v);
      } catch (...) {
        // GPU-UUIDs or "NoDevFiles": counted by position below
      }
    }
    return ids;
  }
  // Only when nvidia-smi is there: popen starts a shell either way.
  if (FindInPath("nvidia-smi").empty()) return ids;
  if (FILE* p = popen("nvidia-smi -L 2>/dev/null", "r")) {
    char line[512];
    int n = 0;
    while (std::fgets(line, sizeof line, p))
      if (std::strncmp(line, "GPU ", 4) == 0) ids.push_back(n++);
    pclose(p);
  }
  return ids;
}

bool ParseNumber(const std::string& text, double& out) {
  try {
    size_t used = 0;
    out = std::stod(text, &used);
    return used == text.size() && out >= 0;
  } catch (...) {
    return false;
  }
}

int64_t EnvMs(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  try {
    return std::max<int64_t>(0, std::stoll(v));
  } catch (...) {
    return fallback;
  }
}

// Holds .flow/lock for the life of the run; a second run is refused.
class FolderLock {
 public:
  bool Acquire(const std::string& flow_dir, std::string& error) {
    std::string path = flow_dir + "/lock";
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      error = "cannot open " + path + ": " + std::strerror(errno);
      return false;
    }
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char buf[128] = {};
      [[maybe_unused]] ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);
      std::string holder = buf;
      while (!holder.empty() && holder.back() == '\n') holder.pop_back();
      error = fmt::format("another run ({}) is using .flow/ in this folder; wait for it or stop it",
                          holder.empty() ? "unknown" : holder);
      close(fd_);
      fd_ = -1;
      return false;
    }
    return true;
  }
  void Describe(const std::string& text) {
    if (fd_ < 0) return;
    if (ftruncate(fd_, 0) == 0) {
      [[maybe_unused]] ssize_t n = pwrite(fd_, text.data(), text.size(), 0);
    }
  }
  ~FolderLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_ = -1;
};

// What attempts that never committed left (a failed attempt, or one whose
// `flow run` was killed) is removed when the next run starts: it holds the
// lock, so no attempt is in progress. That is all of .flow/tmp (the folders
// attempts write their outputs in), and in .flow/out the `.old-` names of a
// commit that was cut short and the `.tmp-` names earlier versions of flow
// wrote there. Committed outputs are untouched.
void RemoveAttemptFolders(const std::string& flow_dir) {
  llvm::sys::fs::remove_directories(flow_dir + "/tmp");
  std::error_code ec;
  std::vector<std::string> stale;
  for (llvm::sys::fs::directory_iterator inst(flow_dir + "/out", ec), end; !ec && inst != end; inst.increment(ec)) {
    std::error_code ec2;
    for (llvm::sys::fs::directory_iterator d(inst->path(), ec2); !ec2 && d != end; d.increment(ec2)) {
      llvm::StringRef name = llvm::sys::path::filename(d->path());
      if (name.contains(".tmp-") || name.contains(".old-")) stale.push_back(d->path());
    }
  }
  for (const auto& path : stale) {
    if (llvm::sys::fs::is_directory(path))
      llvm::sys::fs::remove_directories(path);
    else
      llvm::sys::fs::remove(path);
  }
}

struct RunArgs {
  std::string input;
  std::vector<std::pair<std::string, std::string>> params;
  std::optional<double> cpus, memory;
  std::optional<int> gpus;
  std::map<std::string, double> pools;
  std::string executor = "local";
  bool resume = false, dry_run = false, keep_going = false;
  std::string entry = "main";
  ProgressMode progress = ProgressMode::Auto;
};

int ParseRunArgs(const std::vector<std::string>& args, RunArgs& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string v;
    if (IsOption(a, "--param")) {
      if (!TakeValue(args, i, "--param", v)) return UsageError("--param needs NAME=VALUE");
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) return UsageError("--param takes NAME=VALUE, not '" + v + "'");
      out.params.push_back({v.substr(0, eq), v.substr(eq + 1)});
    } else if (IsOption(a, "--cpus")) {
      double n;
      if (!TakeValue(args, i, "--cpus", v) || !ParseNumber(v, n) || n <= 0)
        return UsageError("--cpus takes a positive number, not '" + v + "'");
      out.cpus = n;
    } else if (IsOption(a, "--memory")) {
      if (!TakeValue(args, i, "--memory", v)) return UsageError("--memory needs a size such as 16GB");
      auto bytes = ParseSize(v);
      if (!bytes) return UsageError("--memory takes a size such as 16GB or 512MB, not '" + v + "'");
      out.memory = *bytes;
    } else if (IsOption(a, "--gpus")) {
      double n;
      if (!TakeValue(args, i, "--gpus", v) || !ParseNumber(v, n) || n != static_cast<int>(n))
        return UsageError("--gpus takes a whole number, not '" + v + "'");
      out.gpus = static_cast<int>(n);
    } else if (IsOption(a, "--pool")) {
      if (!TakeValue(args, i, "--pool", v)) return UsageError("--pool needs NAME=N");
      size_t eq = v.find('=');
      double n;
      if (eq == std::string::npos || eq == 0 || !ParseNumber(v.substr(eq + 1), n))
        return UsageError("--pool takes NAME=N (a number), not '" + v + "'");
      std::string name = v.substr(0, eq);
      if (name == "cpus" || name == "memory" || name == "gpus")
        return UsageError("'" + name + "' is not a pool: use --" + name);
      out.pools[name] = n;
    } else if (IsOption(a, "--executor")) {
      if (!TakeValue(args, i, "--executor", v)) return UsageError("--executor needs local or slurm");
      if (v != "local" && v != "slurm") return UsageError("--executor is local or slurm, not '" + v + "'");
      out.executor = v;
    } else if (IsOption(a, "--entry")) {
      if (!TakeValue(args, i, "--entry", v)) return UsageError("--entry needs a pipeline name");
      out.entry = v;
    } else if (IsOption(a, "--progress")) {
      if (!TakeValue(args, i, "--progress", v)) return UsageError("--progress needs auto, live, plain or none");
      if (v == "auto") out.progress = ProgressMode::Auto;
      else if (v == "live") out.progress = ProgressMode::Live;
      else if (v == "plain") out.progress = ProgressMode::Plain;
      else if (v == "none") out.progress = ProgressMode::None;
      else return UsageError("--progress is auto, live, plain or none, not '" + v + "'");
    } else if (a == "--resume") {
      out.resume = true;
    } else if (a == "--dry-run") {
      out.dry_run = true;
    } else if (a == "--keep-going" || a == "-k") {
      out.keep_going = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      return UsageError("unknown option '" + a + "' for flow run");
    } else if (out.input.empty()) {
      out.input = a;
    } else {
      return UsageError("flow run takes one file; got '" + out.input + "' and '" + a + "'");
    }
  }
  if (out.input.empty()) return UsageError("flow run needs a .flow file or a plan");
  return 0;
}

// The params of the run being resumed, from its command line.
std::vector<std::pair<std::string, std::string>> ParamsOfArgs(const std::string& args_json) {
  std::vector<std::pair<std::string, std::string>> out;
  auto parsed = llvm::json::parse(args_json);
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return out;
  }
  const llvm::json::Array* arr = parsed->getAsArray();
  if (!arr) return out;
  std::vector<std::string> args;
  for (const auto& v : *arr)
    if (auto s = v.getAsString()) args.push_back(s->str());
  // Parse quietly: a malformed old command line gives no params.
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    if (IsOption(args[i], "--param") && TakeValue(args, i, "--param", v)) {
      size_t eq = v.find('=');
      if (eq != std::string::npos && eq > 0) out.push_back({v.substr(0, eq), v.substr(eq + 1)});
    }
  }
  return out;
}

std::optional<plan::Plan> CompileFlowFile(const std::string& path, const RunArgs& ra, const char* argv0) {
  flow::SourceManager sm;
  flow::DiagSink sink;
  flow::driver::FrontendResult result;
  std::optional<plan::Plan> plan;
  flow::driver::CompileOptions options;
  options.lower.entry = ra.entry;
  options.lower.params = ra.params;
  flow::driver::LoadOptions load = flow::driver::DefaultLoadOptions(argv0);
  flow::driver::RunWithLargeStack([&] {
    flow::driver::RunFrontend(sm, path, sink, load, result);
    if (!sink.has_errors()) plan = flow::driver::CompileToPlan(result, sm, options, sink, nullptr, nullptr);
  });
  std::vector<flow::Diagnostic> diags = sink.diagnostics();
  flow::SortDiagnostics(diags);
  bool color = isatty(STDERR_FILENO);
  llvm::errs().enable_colors(color);
  flow::RenderText(sm, diags, llvm::errs(), color);
  llvm::errs().flush();
  if (sink.has_errors()) return std::nullopt;
  return plan;
}

// Binds --param values into a loaded plan (params that do not shape it).
bool BindParams(plan::Plan& plan, const std::vector<std::pair<std::string, std::string>>& params) {
  for (const auto& [name, text] : params) {
    plan::Param* p = nullptr;
    for (auto& q : plan.params)
      if (q.name == name) p = &q;
    if (!p) {
      std::string known;
      for (const auto& q : plan.params) known += (known.empty() ? "" : ", ") + q.name;
      Error(fmt::format("the plan has no param '{}'{}", name, known.empty() ? "" : " (it has: " + known + ")"));
      return false;
    }
    if (p->structural) {
      Error(fmt::format("param '{}' decides the plan's shape (loops or conditions over it were compiled in); "
                        "recompile with flowc --param {}=... or run the .flow file",
                        name, name));
      return false;
    }
    auto v = lower::ParseParamValue(text, p->type);
    if (auto* err = std::get_if<std::string>(&v)) {
      Error(fmt::format("--param {}: {}", name, *err));
      return false;
    }
    p->value = std::move(std::get<llvm::json::Value>(v));
    p->required = false;
  }
  return true;
}

int CmdRun(const std::vector<std::string>& args, const char* argv0) {
  RunArgs ra;
  if (int rc = ParseRunArgs(args, ra)) return rc;
  if (ra.executor == "slurm")
    return Error("the slurm executor is not available yet (it is the next milestone); use --executor local");
  std::string input = Absolute(ra.input);
  if (!llvm::sys::fs::is_regular_file(input)) return Error("cannot read '" + ra.input + "': no such file");
  bool is_flow = llvm::sys::path::extension(input) == ".flow";

  // The project folder: the entry .flow file's, where .flow/ lives.
  std::string project;
  std::optional<plan::Plan> plan;
  if (is_flow) {
    project = std::string(llvm::sys::path::parent_path(input));
  } else {
    auto loaded = LoadPlanFile(input);
    if (!loaded) return Error(llvm::toString(loaded.takeError()));
    plan = std::move(*loaded);
    std::string src = plan->source;
    if (src.empty()) {
      project = std::string(llvm::sys::path::parent_path(input));
    } else {
      llvm::SmallString<256> p(src);
      if (!llvm::sys::path::is_absolute(p)) {
        p = llvm::sys::path::parent_path(input);
        llvm::sys::path::append(p, src);
      }
      project = std::string(llvm::sys::path::parent_path(Absolute(std::string(p))));
    }
  }
  std::string flow_dir = project + "/.flow";
  std::string error;
  if (!ra.dry_run) {
    if (auto ec = llvm::sys::fs::create_directories(flow_dir))
      return Error("cannot create " + flow_dir + ": " + ec.message());
  }
  FolderLock lock;
  if (!ra.dry_run && !lock.Acquire(flow_dir, error)) return Error(error);
  std::unique_ptr<RunStore> store;
  if (!ra.dry_run || llvm::sys::fs::exists(flow_dir + "/runs.db")) {
    store = RunStore::Open(flow_dir + "/runs.db", true, error);
    if (!store) return Error(error);
  } else {
    store = RunStore::Open(":memory:", true, error);  // a dry run with no history: nothing is cached
    if (!store) return Error(error);
  }
  if (!ra.dry_run) {
    int n = store->MarkInterrupted();
    if (n > 0) std::fprintf(stderr, "flow: %d earlier run%s in this folder ended without finishing (marked interrupted)\n", n, n == 1 ? "" : "s");
    RemoveAttemptFolders(flow_dir);
  }

  std::optional<int64_t> resumed_from;
  if (ra.resume) {
    if (auto prev = store->LatestUnfinished()) {
      resumed_from = prev->id;
      // Its params, unless given again.
      for (const auto& [k, v] : ParamsOfArgs(prev->args)) {
        bool given = false;
        for (const auto& [k2, v2] : ra.params) given = given || k2 == k;
        if (!given) ra.params.push_back({k, v});
      }
      std::fprintf(stderr, "flow: resuming run %lld (%s)\n", static_cast<long long>(prev->id), prev->status.c_str());
    } else {
      std::fprintf(stderr, "flow: nothing to resume (the latest run succeeded or there is none); running anew\n");
    }
  }

  if (is_flow) {
    plan = CompileFlowFile(input, ra, argv0);
    if (!plan) return Error(fmt::format("'{}' has errors: nothing ran", ra.input));
  } else if (!BindParams(*plan, ra.params)) {
    return 2;
  }

  Capacity cap;
  cap.cpus = ra.cpus.value_or(DefaultCpus());
  cap.memory_bytes = ra.memory.value_or(DefaultMemory());
  if (ra.gpus) {
    cap.gpus = *ra.gpus;
  } else {
    cap.gpu_ids = DefaultGpus();
    cap.gpus = static_cast<int>(cap.gpu_ids.size());
  }
  cap.pools = ra.pools;
  auto problems = PreflightErrors(*plan, cap);
  if (!problems.empty()) {
    for (const auto& p : problems) std::fprintf(stderr, "flow: error: %s\n", p.c_str());
    return Error(fmt::format("nothing ran: {} problem{} above", problems.size(), problems.size() == 1 ? "" : "s"));
  }

  RunOptions opt;
  opt.project_dir = project;
  opt.plan_path = input;
  opt.args = args;
  opt.capacity = cap;
  opt.keep_going = ra.keep_going;
  opt.dry_run = ra.dry_run;
  opt.progress = ra.progress;
  opt.resumed_from = resumed_from;
  opt.retry_backoff_ms = EnvMs("FLOW_RETRY_BACKOFF_MS", 1000);
  opt.kill_grace_ms = EnvMs("FLOW_KILL_GRACE_MS", 5000);
  LocalExecutor executor(opt.kill_grace_ms);
  if (!ra.dry_run) {
    lock.Describe(fmt::format("pid {}", getpid()));
    opt.on_started = [&lock](int64_t run) { lock.Describe(fmt::format("run {}, pid {}", run, getpid())); };
  }
  RunSummary sum = Run(*plan, *store, executor, opt);
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", sum.line.c_str());
  return ra.dry_run ? 0 : sum.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any file is opened: a closed stdin, stdout or stderr must not
  // hand its number to the run store or a job's pipe.
  flow::rt::EnsureStandardFds();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return UsageError("no command");
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("flow 0.1.0 (plan format version %d)\n", plan::kPlanVersion);
    return 0;
  }
  if (cmd == "run") return CmdRun(args, argv[0]);
  if (cmd == "status" || cmd == "runs" || cmd == "logs" || cmd == "why") return flow::rt::RunQueryCommand(cmd, args);
  if (cmd == "report")
    return Error("flow report is not available yet: the profiler report is the next milestone; "
                 "`flow status` shows each instance's times");
  return UsageError("unknown command '" + cmd + "'");
}
