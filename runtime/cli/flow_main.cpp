// SPDX-License-Identifier: Apache-2.0
// `flow`: run pipelines and read their history (docs/runtime.md).
//   flow run FILE.flow|PLAN [options]
//   flow status [RUN] | flow runs | flow logs RUN STAGE | flow why [RUN] STAGE
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "diag/diagnostic.h"
#include "driver/frontend.h"
#include "engine/engine.h"
#include "engine/values.h"
#include "exec/local_executor.h"
#include "exec/signals.h"
#include "exec/spawn.h"
#include "fmt/format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "lower/lower.h"
#include "plan/json_parse.h"
#include "plan_io/load_plan.h"
#include "store/run_store.h"
#include "store/sqlite.h"
#include "util/remove_tree.h"

namespace {

// Under AddressSanitizer, what flow run would leave to the exit is freed,
// for the leak check (RunOptions::free_at_end).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kFreeEverything = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kFreeEverything = true;
#else
constexpr bool kFreeEverything = false;
#endif
#else
constexpr bool kFreeEverything = false;
#endif

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
// The devices CUDA_VISIBLE_DEVICES makes visible, as it names them
// (indices, GPU-UUIDs, MIG ids), in order; nullopt when it is not set.
// As CUDA does, the list ends at an entry that names no device: a negative
// number ("-1": none) or "NoDevFiles" (what some Slurm setups set when a job
// has no GPU).
std::optional<std::vector<std::string>> VisibleGpus() {
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  if (!env) return std::nullopt;
  std::vector<std::string> ids;
  std::stringstream ss(env);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = llvm::StringRef(item).trim().str();
    if (item.empty() || item == "NoDevFiles" || item[0] == '-') break;
    ids.push_back(item);
  }
  return ids;
}

// The GPUs of this machine when CUDA_VISIBLE_DEVICES is not set: one index
// per line of `nvidia-smi -L`, if it is installed.
std::vector<std::string> SmiGpus() {
  std::vector<std::string> ids;
  // Only when nvidia-smi is there: popen starts a shell either way.
  if (FindInPath("nvidia-smi").empty()) return ids;
  if (FILE* p = popen("nvidia-smi -L 2>/dev/null", "r")) {
    char line[512];
    int n = 0;
    while (std::fgets(line, sizeof line, p))
      if (std::strncmp(line, "GPU ", 4) == 0) ids.push_back(std::to_string(n++));
    pclose(p);
  }
  return ids;
}

bool ParseNumber(const std::string& text, double& out) {
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) return false;
  try {
    size_t used = 0;
    out = std::stod(text, &used);
    return used == text.size() && std::isfinite(out) && out >= 0;
  } catch (...) {
    return false;
  }
}

// A param's or pool's name: an identifier of the language.
bool IsName(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
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
  RemoveTree(flow_dir + "/tmp");
  std::error_code ec;
  std::vector<std::string> stale;
  for (llvm::sys::fs::directory_iterator inst(flow_dir + "/out", ec), end; !ec && inst != end; inst.increment(ec)) {
    std::error_code ec2;
    for (llvm::sys::fs::directory_iterator d(inst->path(), ec2); !ec2 && d != end; d.increment(ec2)) {
      llvm::StringRef name = llvm::sys::path::filename(d->path());
      if (name.contains(".tmp-") || name.contains(".old-")) stale.push_back(d->path());
    }
  }
  for (const auto& path : stale) RemoveTree(path);
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
    // An option's value, after '=' or as the next argument; a next argument
    // that is itself an option (`--cpus --dry-run`) is not taken as one.
    auto take = [&](const std::string& name) {
      if (a == name && i + 1 < args.size() && args[i + 1].rfind("--", 0) == 0) return false;
      return TakeValue(args, i, name, v);
    };
    // The error for option `name` without its value.
    auto missing = [&](const std::string& name, const std::string& what) {
      std::string next = a == name && i + 1 < args.size() ? args[i + 1] : "";
      return UsageError(fmt::format("{} needs {}{}", name, what, next.empty() ? "" : ", before the option '" + next + "'"));
    };
    if (IsOption(a, "--param")) {
      if (!take("--param")) return missing("--param", "NAME=VALUE");
      size_t eq = v.find('=');
      if (eq == std::string::npos || !IsName(v.substr(0, eq)))
        return UsageError("--param takes NAME=VALUE, NAME a param's name, not '" + v + "'");
      // The last --param of a name wins.
      std::string name = v.substr(0, eq);
      out.params.erase(std::remove_if(out.params.begin(), out.params.end(), [&](const auto& p) { return p.first == name; }),
                       out.params.end());
      out.params.push_back({name, v.substr(eq + 1)});
    } else if (IsOption(a, "--cpus")) {
      double n;
      if (!take("--cpus")) return missing("--cpus", "a number");
      if (!ParseNumber(v, n) || n <= 0) return UsageError("--cpus takes a positive number, not '" + v + "'");
      out.cpus = n;
    } else if (IsOption(a, "--memory")) {
      if (!take("--memory")) return missing("--memory", "a size such as 16GB");
      auto bytes = ParseSize(v);
      if (!bytes)
        return UsageError("--memory takes a size such as 16GB, 512MB or 16G (units B, KB, MB, GB, TB, KiB, MiB, "
                          "GiB, TiB, K, M, G, T, in these capitals; or a number of bytes), not '" + v + "'");
      out.memory = *bytes;
    } else if (IsOption(a, "--gpus")) {
      double n;
      if (!take("--gpus")) return missing("--gpus", "a number");
      if (!ParseNumber(v, n) || n != std::floor(n) || n > 1e6)
        return UsageError("--gpus takes a whole number, not '" + v + "'");
      out.gpus = static_cast<int>(n);
    } else if (IsOption(a, "--pool")) {
      if (!take("--pool")) return missing("--pool", "NAME=N");
      size_t eq = v.find('=');
      double n;
      if (eq == std::string::npos || !IsName(v.substr(0, eq)) || !ParseNumber(v.substr(eq + 1), n))
        return UsageError("--pool takes NAME=N (a number), not '" + v + "'");
      std::string name = v.substr(0, eq);
      if (name == "cpus" || name == "memory" || name == "gpus")
        return UsageError("'" + name + "' is not a pool: use --" + name);
      out.pools[name] = n;
    } else if (IsOption(a, "--executor")) {
      if (!take("--executor")) return missing("--executor", "local or slurm");
      if (v != "local" && v != "slurm") return UsageError("--executor is local or slurm, not '" + v + "'");
      out.executor = v;
    } else if (IsOption(a, "--entry")) {
      if (!take("--entry")) return missing("--entry", "a pipeline name");
      out.entry = v;
    } else if (IsOption(a, "--progress")) {
      if (!take("--progress")) return missing("--progress", "auto, live, plain or none");
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

// Param values as a plan holds them (JSON), by name.
using ParamValues = std::vector<std::pair<std::string, llvm::json::Value>>;

// Compiles the .flow file with the --param values of `ra` and, for params
// they do not name, the values --resume carries over (`carried`).
struct Compiled {
  std::optional<plan::Plan> plan;  // none: errors
  std::string diagnostics;         // rendered for stderr
};

Compiled CompileFlowFile(const std::string& path, const RunArgs& ra, const ParamValues& carried, const char* argv0) {
  flow::SourceManager sm;
  flow::DiagSink sink;
  flow::driver::FrontendResult result;
  std::optional<plan::Plan> plan;
  flow::driver::CompileOptions options;
  options.lower.entry = ra.entry;
  options.lower.params = ra.params;
  options.lower.param_values = carried;
  flow::driver::LoadOptions load = flow::driver::DefaultLoadOptions(argv0);
  flow::driver::RunWithLargeStack([&] {
    flow::driver::RunFrontend(sm, path, sink, load, result);
    if (!sink.has_errors()) plan = flow::driver::CompileToPlan(result, sm, options, sink, nullptr, nullptr);
  });
  std::vector<flow::Diagnostic> diags = sink.diagnostics();
  flow::SortDiagnostics(diags);
  bool color = isatty(STDERR_FILENO);
  Compiled out;
  // A string that renders as the terminal would: LLVM colours only a stream
  // that says it is displayed.
  class TerminalText : public llvm::raw_string_ostream {
   public:
    TerminalText(std::string& s, bool color) : llvm::raw_string_ostream(s), color_(color) { enable_colors(color); }
    bool is_displayed() const override { return color_; }

   private:
    bool color_;
  } text(out.diagnostics, color);
  flow::RenderText(sm, diags, text, color);
  text.flush();
  if (!sink.has_errors()) out.plan = std::move(plan);
  return out;
}

// The plan of a .flow file, from the compile that CmdRun started (the
// diagnostics printed here, in the order of the rest of flow's output).
std::optional<plan::Plan> TakePlan(std::future<Compiled>& compile) {
  Compiled c = compile.get();
  if (!c.diagnostics.empty()) {
    std::fflush(stdout);
    std::fputs(c.diagnostics.c_str(), stderr);
  }
  return std::move(c.plan);
}

// Binds --param values, then the values --resume carries over from run
// `from`, into a loaded plan (params that do not shape it).
bool BindParams(plan::Plan& plan, const std::vector<std::pair<std::string, std::string>>& params,
                const ParamValues& carried, std::optional<int64_t> from) {
  for (const auto& [name, value] : carried) {
    plan::Param* p = nullptr;
    for (auto& q : plan.params)
      if (q.name == name) p = &q;
    if (!p || (!p->required && p->value == value)) continue;  // not in the plan (any more); or nothing changes
    if (p->structural) {
      Error(fmt::format("param '{}' was {} in run {}, which --resume carries over, but it decides this plan's "
                        "shape (compiled in as {}); give --param {}=... again, or run the .flow file",
                        name, Brief(value), *from, Brief(p->value), name));
      return false;
    }
    p->value = value;
    p->required = false;
  }
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

// Checks every param's value against its type, as the runtime checks the
// values stages receive (CheckValue): `--param` text is parsed for its type
// but lists and records only as JSON, so their elements and fields are
// checked here, before anything runs. Prints each problem; false when any.
bool CheckParams(const plan::Plan& plan, const RunArgs& ra, const ParamValues& carried, std::optional<int64_t> from) {
  bool ok = true;
  for (const auto& p : plan.params) {
    if (p.required) continue;  // no value: PreflightErrors says so
    llvm::json::Value value = p.value;  // CheckValue normalizes; the plan keeps what was bound
    std::string error;
    if (CheckValue(plan, p.type, value, error)) continue;
    auto named = [&](const auto& list) {
      return std::any_of(list.begin(), list.end(), [&](const auto& q) { return q.first == p.name; });
    };
    if (named(ra.params))
      Error(fmt::format("--param {}: {}; param '{}' is of type {}", p.name, error, p.name, p.type.Spell()));
    else if (named(carried))
      Error(fmt::format("param '{}', carried over from run {} by --resume: {}; it is of type {} now: give it again "
                        "with --param {}=...",
                        p.name, *from, error, p.type.Spell(), p.name));
    else
      Error(fmt::format("param '{}': the value the plan holds: {}; it is of type {}", p.name, error, p.type.Spell()));
    ok = false;
  }
  return ok;
}

// A --pool that no stage of the plan asks for is likely a typo: say so.
void WarnUnusedPools(const plan::Plan& plan, const std::map<std::string, double>& pools) {
  for (const auto& [name, n] : pools) {
    bool used = std::any_of(plan.stages.begin(), plan.stages.end(), [&](const plan::Stage& st) {
      return std::any_of(st.resources.begin(), st.resources.end(), [&](const plan::Resource& r) { return r.name == name; });
    });
    if (!used)
      std::fprintf(stderr, "flow: warning: --pool %s=%g: no stage of this pipeline uses pool '%s'\n", name.c_str(), n,
                   name.c_str());
  }
}

int CmdRun(const std::vector<std::string>& args, const char* argv0) {
  RunArgs ra;
  if (int rc = ParseRunArgs(args, ra)) return rc;
  if (ra.executor == "slurm")
    return Error("the slurm executor is not available yet (it is the next milestone); use --executor local");
  std::string input = Absolute(ra.input);
  if (!llvm::sys::fs::is_regular_file(input))
    return Error("cannot read '" + ra.input + "': " +
                 (llvm::sys::fs::is_directory(input) ? "it is a folder; give a .flow file or a plan"
                  : llvm::sys::fs::exists(input)     ? "it is not a regular file"
                                                     : "no such file"));
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
    // A relative source is relative to the plan file's own folder (flowc -o
    // writes it so); through a link, the folder of the file it points to.
    llvm::SmallString<256> plan_dir;
    if (llvm::sys::fs::real_path(input, plan_dir)) plan_dir = input;
    llvm::sys::path::remove_filename(plan_dir);
    std::string src = plan->source;
    if (src.empty()) {
      project = std::string(plan_dir);
    } else {
      llvm::SmallString<256> p(src);
      if (!llvm::sys::path::is_absolute(p)) {
        p = plan_dir;
        llvm::sys::path::append(p, src);
      }
      project = std::string(llvm::sys::path::parent_path(Absolute(std::string(p))));
    }
    // Never make up a project folder: .flow/ and the commands' working
    // folder belong beside the source.
    if (!llvm::sys::fs::is_directory(project))
      return Error(fmt::format("cannot run {}: its source '{}' would be in {}, which is not a folder; recompile it "
                               "with flowc FILE.flow -o PLAN",
                               ra.input, src, project));
  }
  std::string flow_dir = project + "/.flow";
  std::string error;
  if (!ra.dry_run) {
    if (auto ec = llvm::sys::fs::create_directories(flow_dir))
      return Error("cannot create " + flow_dir + ": " + ec.message());
  }
  FolderLock lock;
  if (!ra.dry_run && !lock.Acquire(flow_dir, error)) return Error(error);
  // The compile of a .flow file runs while the run store opens (5-10 ms to
  // create one, with its fsyncs), except with --resume, whose carried-over
  // params the compile needs.
  std::future<Compiled> compile;
  if (is_flow && !ra.resume)
    compile = std::async(std::launch::async, [&] { return CompileFlowFile(input, ra, {}, argv0); });
  std::unique_ptr<RunStore> store;
  bool no_history = ra.dry_run && !llvm::sys::fs::exists(flow_dir + "/runs.db");
  if (!no_history) {
    // A dry run writes nothing: it reads the store as it is (no schema
    // update either) and keeps the file hashes it computes to itself.
    store = RunStore::Open(flow_dir + "/runs.db", !ra.dry_run, error, &no_history);
    if (store) store->SetMemoOnly(ra.dry_run);
    else if (!no_history) return Error(error);
  }
  if (no_history) {
    store = RunStore::Open(":memory:", true, error);  // a dry run with no history: nothing is cached
    if (!store) return Error(error);
  }
  if (!ra.dry_run) {
    int n = store->MarkInterrupted();
    if (n > 0) std::fprintf(stderr, "flow: %d earlier run%s in this folder ended without finishing (marked interrupted)\n", n, n == 1 ? "" : "s");
    RemoveAttemptFolders(flow_dir);
  }

  // --resume: the latest run of this program (file and entry), when it did
  // not succeed. The params it was given (on its command line, or carried
  // over from the run it resumed) are carried over unless given again;
  // those that took their default take it again.
  std::optional<int64_t> resumed_from;
  ParamValues carried;
  if (ra.resume) {
    if (auto prev = store->LatestUnfinished(input, is_flow ? ra.entry : plan->entry)) {
      resumed_from = prev->id;
      for (const auto& [name, text] : store->GivenParams(prev->id)) {
        if (std::any_of(ra.params.begin(), ra.params.end(), [&](const auto& p) { return p.first == name; })) continue;
        auto value = plan::ParseJson(text, plan::kMaxJsonDepth);
        if (!value) {
          llvm::consumeError(value.takeError());
          continue;  // not JSON: not written by flow
        }
        carried.push_back({name, std::move(*value)});
      }
      std::fprintf(stderr, "flow: resuming run %lld (%s)\n", static_cast<long long>(prev->id), prev->status.c_str());
    } else {
      std::fprintf(stderr, "flow: nothing to resume for %s (its latest run here succeeded, or it has none); running anew\n",
                   ra.input.c_str());
    }
  }

  if (is_flow) {
    if (!compile.valid())
      compile = std::async(std::launch::deferred, [&] { return CompileFlowFile(input, ra, carried, argv0); });
    plan = TakePlan(compile);
    if (!plan) return Error(fmt::format("'{}' has errors: nothing ran", ra.input));
  } else if (!BindParams(*plan, ra.params, carried, resumed_from)) {
    return 2;
  }
  if (!CheckParams(*plan, ra, carried, resumed_from)) return Error("nothing ran: a param's value has the wrong type");
  // What this run records as given: what a --resume of it carries over.
  std::vector<std::string> given;
  for (const auto& [name, text] : ra.params) given.push_back(name);
  for (const auto& [name, value] : carried) {
    if (std::any_of(plan->params.begin(), plan->params.end(), [&](const plan::Param& p) { return p.name == name; }))
      given.push_back(name);
    else
      std::fprintf(stderr, "flow: param '%s' of run %lld is not in the program any more: not carried over\n",
                   name.c_str(), static_cast<long long>(*resumed_from));
  }
  store->SetGivenParams(std::move(given));
  WarnUnusedPools(*plan, ra.pools);

  Capacity cap;
  cap.cpus = ra.cpus.value_or(DefaultCpus());
  cap.memory_bytes = ra.memory.value_or(DefaultMemory());
  // GPUs: the devices CUDA_VISIBLE_DEVICES names (the first N of them with
  // --gpus N: a job never gets a device outside that list), else those of
  // nvidia-smi; each is handed out by its name.
  std::optional<std::vector<std::string>> visible = VisibleGpus();
  if (ra.gpus) {
    cap.gpus = *ra.gpus;
    if (visible) {
      if (static_cast<size_t>(*ra.gpus) > visible->size()) {
        std::string list;
        for (const auto& id : *visible) list += (list.empty() ? "" : ",") + id;
        return Error(fmt::format("--gpus {}: CUDA_VISIBLE_DEVICES makes {} device{} visible{}; give at most that many, "
                                 "or change CUDA_VISIBLE_DEVICES",
                                 *ra.gpus, visible->size(), visible->size() == 1 ? "" : "s",
                                 list.empty() ? "" : " (" + list + ")"));
      }
      cap.gpu_names.assign(visible->begin(), visible->begin() + *ra.gpus);
    }
  } else {
    cap.gpu_names = visible ? *visible : SmiGpus();
    cap.gpus = static_cast<int>(cap.gpu_names.size());
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
  // A second Ctrl-C ends any wait for a locked run store at once (the
  // first one still lets the cancelled run be recorded).
  Db::SetGiveUp([] { return InterruptCount() >= 2; });
  if (!ra.dry_run) {
    lock.Describe(fmt::format("pid {}", getpid()));
    opt.on_started = [&lock](int64_t run) { lock.Describe(fmt::format("run {}, pid {}", run, getpid())); };
  }
  opt.free_at_end = kFreeEverything;
  RunSummary sum = Run(*plan, *store, executor, opt);
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", sum.line.c_str());
  // The plan too is left to the exit (5 ms for 10,000 instances).
  if (!kFreeEverything) new plan::Plan(std::move(*plan));
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
