// SPDX-License-Identifier: Apache-2.0
// flowc: the compiler's command line. Parses options, runs the front end
// (and for plans the back end) on each file and renders the diagnostics;
// the only place with cl::opt.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>

#include "driver/frontend.h"
#include "fmt/format.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "plan/plan.h"

namespace cl = llvm::cl;

namespace {

cl::OptionCategory kCategory("flowc options");

cl::list<std::string> opt_files(cl::Positional, cl::desc("FILE.flow..."), cl::cat(kCategory));
cl::opt<bool> opt_lint("lint", cl::desc("Check the files only: report every error and warning"), cl::cat(kCategory));
cl::opt<std::string> opt_output("o", cl::desc("Write the plan (versioned JSON) to this file"), cl::value_desc("PLAN"),
                                cl::cat(kCategory));
cl::opt<bool> opt_werror("werror", cl::desc("Treat warnings as errors (exit 1 when there are any)"),
                         cl::cat(kCategory));
enum class Format { Text, Json };
cl::opt<Format> opt_format("diagnostics-format", cl::desc("How to print diagnostics"),
                           cl::values(clEnumValN(Format::Text, "text", "clang-style text (default)"),
                                      clEnumValN(Format::Json, "json", "one JSON array of diagnostics")),
                           cl::init(Format::Text), cl::cat(kCategory));
enum class Emit { None, Ast, Plan, Dot };
cl::opt<Emit> opt_emit("emit", cl::desc("Print an intermediate form to standard output"),
                       cl::values(clEnumValN(Emit::Ast, "ast", "the syntax tree of the entry file"),
                                  clEnumValN(Emit::Plan, "plan", "the plan's JSON, indented"),
                                  clEnumValN(Emit::Dot, "dot", "the plan as a Graphviz graph")),
                       cl::init(Emit::None), cl::cat(kCategory));
cl::opt<bool> opt_explain("explain", cl::desc("Say what lowering and each optimization did, in plain words"),
                          cl::cat(kCategory));
cl::list<std::string> opt_params("param", cl::desc("Bind a param at compile time (folded into the plan)"),
                                 cl::value_desc("NAME=VALUE"), cl::cat(kCategory));
cl::opt<std::string> opt_entry("entry", cl::desc("The pipeline to compile (default: main)"), cl::init("main"),
                               cl::value_desc("NAME"), cl::cat(kCategory));
cl::opt<bool> opt_no_optimize("O0", cl::desc("Skip the optimizations that change the plan's shape (dead branches, "
                                             "common calls, edge reduction)"),
                              cl::cat(kCategory));
cl::opt<bool> opt_pretty("pretty", cl::desc("Indent the plan that -o writes (--emit plan always does)"),
                         cl::cat(kCategory));
cl::opt<bool> opt_time_passes("time-passes", cl::desc("Print how long each phase and pass took (to stderr)"),
                              cl::cat(kCategory));
cl::opt<bool> opt_no_history("no-history", cl::desc("Ignore measured durations in .flow/ for priorities"),
                             cl::cat(kCategory));
enum class Color { Auto, Always, Never };
cl::opt<Color> opt_color("diagnostics-color", cl::desc("Colour diagnostics"),
                         cl::values(clEnumValN(Color::Auto, "auto", "when printing to a terminal (default)"),
                                    clEnumValN(Color::Always, "always", "always"),
                                    clEnumValN(Color::Never, "never", "never")),
                         cl::init(Color::Auto), cl::cat(kCategory));
cl::opt<bool> opt_no_warnings("w", cl::desc("Do not print warnings"), cl::cat(kCategory));

void PrintVersion(llvm::raw_ostream& os) {
  os << "flowc 0.1.0 (flow language; plan format version " << flow::plan::kPlanVersion << ")\n";
}

int Usage(const std::string& message) {
  llvm::errs() << "flowc: error: " << message << "\n";
  return 2;
}

// Writes and flushes; an error is returned and cleared from the stream (a
// stream destroyed with an error set aborts the program).
std::error_code WriteTo(llvm::raw_fd_ostream& out, const flow::plan::Plan& plan, bool pretty) {
  flow::plan::WriteJson(plan, out, pretty);
  out.flush();
  std::error_code ec = out.error();
  out.clear_error();
  return ec;
}

// Closes, returning the first error of `written` and the close.
std::error_code Close(llvm::raw_fd_ostream& out, std::error_code written) {
  out.close();
  std::error_code ec = written ? written : out.error();
  out.clear_error();
  return ec;
}

// The file that writing to `path` writes, through links (also to a file not
// made yet), as the shell's `>` goes.
std::error_code FollowLinks(const std::string& path, std::string& target) {
  namespace fs = llvm::sys::fs;
  target = path;
  for (int hops = 0;; ++hops) {
    fs::file_status link;
    if (fs::status(target, link, /*follow=*/false) || !fs::is_symlink_file(link)) return {};
    if (hops == 40) return std::make_error_code(std::errc::too_many_symbolic_link_levels);
    char buf[4096];
    ssize_t n = ::readlink(target.c_str(), buf, sizeof buf);
    if (n <= 0 || n == static_cast<ssize_t>(sizeof buf)) return {};
    std::string dest(buf, static_cast<size_t>(n));
    llvm::StringRef dir = llvm::sys::path::parent_path(target);
    target = dest[0] == '/' || dir.empty() ? dest : (dir + "/" + dest).str();
  }
}

// Writes the plan to `path`. A new or regular file is written whole to a
// temporary file beside it, then renamed over it, so that a reader never
// sees half a plan; through a link, the file it points to is replaced and
// the link stays. Anything else already there (a device such as /dev/null,
// a named pipe) is written to as it is: renaming over it would replace it,
// and as root that replaced /dev/null itself. "-" is standard output.
std::error_code WritePlanFile(const std::string& path, const flow::plan::Plan& plan, bool pretty) {
  namespace fs = llvm::sys::fs;
  if (path == "-") return WriteTo(llvm::outs(), plan, pretty);  // (main refuses -o - beside other output)
  fs::file_status st;
  bool exists = !fs::status(path, st, /*follow=*/true) && fs::exists(st);
  if (exists && fs::is_directory(st)) return std::make_error_code(std::errc::is_a_directory);
  if (exists && !fs::is_regular_file(st)) {
    std::error_code ec;
    llvm::raw_fd_ostream out(path, ec);
    if (ec) return ec;
    return Close(out, WriteTo(out, plan, pretty));
  }
  std::string target;
  if (std::error_code ec = FollowLinks(path, target)) return ec;
  // PLAN.tmp-XXXXXX, made with O_EXCL (not createUniqueFile, which would
  // take every '%' of the path for a placeholder).
  int fd = -1;
  std::string tmp;
  std::random_device random;
  for (int tries = 0; fd < 0; ++tries) {
    tmp = fmt::format("{}.tmp-{:06x}", target, random() & 0xffffff);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || tries == 100)) return std::error_code(errno, std::generic_category());
  }
  std::error_code ec;
  {
    llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
    ec = Close(out, WriteTo(out, plan, pretty));
  }
  if (!ec) ec = fs::rename(tmp, target);
  if (ec) fs::remove(tmp);
  return ec;
}

// A plan file names its source (and the files of its imports) relative to
// its own folder, where `flow run PLAN` resolves them, whatever folder
// flowc ran in; lowering gives them relative to flowc's folder, or absolute.
// The source becomes relative to the plan's folder even when given
// absolute, so that a folder holding .flow files and their plans can move;
// an imported file given absolute (the stdlib's) stays so. Where the plan
// file's folder cannot be known (standard output, a device or a pipe) the
// paths become absolute.
void RebasePaths(flow::plan::Plan& plan, const std::string& output) {
  namespace fs = llvm::sys::fs;
  namespace path = llvm::sys::path;
  auto absolute = [](const std::string& p) {
    llvm::SmallString<256> out;
    if (!fs::real_path(p, out)) return std::string(out);
    out = p;
    fs::make_absolute(out);
    path::remove_dots(out, /*remove_dot_dot=*/true);
    return std::string(out);
  };
  // The real folder of the file written: a regular file, or one to make.
  std::optional<std::filesystem::path> dir;
  std::string target;
  fs::file_status st;
  llvm::SmallString<256> real;
  // Something that exists and is no regular file (a device, a pipe, also
  // through /dev/stdout) is written as it is, as WritePlanFile does: no folder.
  fs::file_status direct;
  bool special = !fs::status(output, direct, /*follow=*/true) && !fs::is_regular_file(direct);
  if (output != "-" && !special && !FollowLinks(output, target) &&
      (fs::status(target, st, /*follow=*/true) || fs::is_regular_file(st))) {
    std::string parent(path::parent_path(target));
    if (!fs::real_path(parent.empty() ? "." : parent, real)) dir = std::string(real);
  }
  auto rebase = [&](const std::string& p) {
    std::string abs = absolute(p);
    if (!dir) return abs;
    std::filesystem::path rel = std::filesystem::path(abs).lexically_relative(*dir);
    return rel.empty() ? abs : rel.string();
  };
  if (!plan.source.empty()) plan.source = rebase(plan.source);
  std::map<std::string, std::string> rebased;
  auto loc = [&](flow::plan::SourceLoc& l) {
    if (l.file.empty() || path::is_absolute(l.file)) return;
    auto it = rebased.find(l.file);
    if (it == rebased.end()) it = rebased.emplace(l.file, rebase(l.file)).first;
    l.file = it->second;
  };
  for (auto& stage : plan.stages) loc(stage.loc);
  for (auto& inst : plan.instances) loc(inst.loc);
  for (auto& g : plan.gates) loc(g.loc);
  for (auto& m : plan.maps) {
    loc(m.loc);
    for (auto& inst : m.instances) loc(inst.loc);
    for (auto& g : m.gates) loc(g.loc);
  }
}

}  // namespace

int main(int argc, char** argv) {
  llvm::InitLLVM init(argc, argv);
  // Past a file size limit a write fails (EFBIG) and is reported like any
  // other write error, instead of killing flowc with a crash report.
  std::signal(SIGXFSZ, SIG_IGN);
  cl::SetVersionPrinter(PrintVersion);
  cl::HideUnrelatedOptions(kCategory);
  if (!cl::ParseCommandLineOptions(argc, argv,
                                   "flowc: checks .flow pipelines and compiles them to plans\n\n"
                                   "  flowc --lint FILE...          check; exit 0 when no errors, 1 when any\n"
                                   "  flowc FILE -o PLAN            compile to a plan (versioned JSON)\n"
                                   "  flowc FILE --emit dot         the plan as a Graphviz graph\n"
                                   "  flowc FILE --explain          what each optimization did\n",
                                   &llvm::errs()))
    return 2;  // a usage error: the parser has said what is wrong
  if (opt_files.empty()) return Usage("no input files (try 'flowc --help')");
  bool compile = !opt_output.empty() || opt_emit == Emit::Plan || opt_emit == Emit::Dot || opt_explain;
  if (!opt_lint && opt_emit == Emit::None && !compile)
    return Usage("nothing to do: pass --lint to check, -o PLAN to compile, or --emit ast|plan|dot");
  if (opt_lint && compile) return Usage("--lint checks only; drop it to compile (-o, --emit plan|dot, --explain)");
  if ((opt_emit != Emit::None || compile) && opt_files.size() != 1)
    return Usage("compiling and --emit take exactly one file");
  if (opt_emit != Emit::None && opt_format == Format::Json)
    return Usage("--emit prints to standard output, as do JSON diagnostics; use one at a time");
  if (opt_output == "-" && (opt_emit != Emit::None || opt_explain || opt_format == Format::Json))
    return Usage("-o - writes the plan to standard output, as do --emit, --explain and JSON diagnostics; "
                 "use one at a time");
  flow::driver::CompileOptions compile_options;
  compile_options.lower.entry = opt_entry;
  for (const std::string& p : opt_params) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) return Usage("--param takes NAME=VALUE, not '" + p + "'");
    compile_options.lower.params.push_back({p.substr(0, eq), p.substr(eq + 1)});
  }
  if (opt_no_optimize) {
    compile_options.optimize.dead_branches = false;
    compile_options.optimize.common_calls = false;
    compile_options.optimize.reduce_edges = false;
  }
  compile_options.use_history = !opt_no_history;
  compile_options.lower.lint = opt_lint;

  bool color = opt_color == Color::Always || (opt_color == Color::Auto && isatty(STDERR_FILENO));
  llvm::errs().enable_colors(color);
  flow::driver::LoadOptions load = flow::driver::DefaultLoadOptions(argv[0]);

  size_t errors = 0, warnings = 0;
  llvm::json::Array json;
  for (const std::string& file : opt_files) {
    flow::SourceManager sm;
    flow::DiagSink sink;
    flow::driver::FrontendResult result;
    std::optional<flow::plan::Plan> plan;
    flow::opt::Explain explain;
    flow::lower::LowerNotes notes;
    flow::driver::RunWithLargeStack([&] {
      auto start = std::chrono::steady_clock::now();
      flow::driver::RunFrontend(sm, file, sink, load, result);
      explain.seconds.push_back({"front end", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
      if (compile && !sink.has_errors())
        plan = flow::driver::CompileToPlan(result, sm, compile_options, sink, &explain, &notes);
    });
    std::vector<flow::Diagnostic> diags = sink.diagnostics();
    if (opt_no_warnings)
      diags.erase(std::remove_if(diags.begin(), diags.end(),
                                 [](const flow::Diagnostic& d) { return d.severity == flow::Severity::Warning; }),
                  diags.end());
    if (opt_werror)
      for (auto& d : diags)
        if (d.severity == flow::Severity::Warning) d.severity = flow::Severity::Error;
    flow::SortDiagnostics(diags);
    for (const auto& d : diags) {
      if (d.severity == flow::Severity::Error) ++errors;
      if (d.severity == flow::Severity::Warning) ++warnings;
    }
    if (opt_format == Format::Json)
      flow::AppendJson(sm, diags, json);
    else
      flow::RenderText(sm, diags, llvm::errs(), color);
    if (opt_emit == Emit::Ast && result.loaded.entry_loaded)
      flow::ast::Dump(result.loaded.modules[0], sm, llvm::outs());
    auto report_times = [&] {
      if (!opt_time_passes) return;
      for (const auto& [phase, s] : explain.seconds) llvm::errs() << fmt::format("{:>22}: {:8.3f} s\n", phase, s);
    };
    if (errors || !plan) {
      report_times();
      continue;
    }
    auto write_start = std::chrono::steady_clock::now();
    if (opt_emit == Emit::Plan) flow::plan::WriteJson(*plan, llvm::outs(), /*pretty=*/true);
    if (opt_emit == Emit::Dot) llvm::outs() << flow::plan::ToDot(*plan);
    if (opt_explain) {
      llvm::outs() << "lowering:\n";
      for (const auto& line : notes.lines) llvm::outs() << "  " << line << "\n";
      std::string pass;
      for (const auto& [p, line] : explain.entries) {
        if (p != pass) llvm::outs() << (pass = p) << ":\n";
        llvm::outs() << "  " << line << "\n";
      }
      llvm::outs() << fmt::format("result: {} instance{}, {} gate{}, {} map template{}\n", plan->instances.size(),
                                  plan->instances.size() == 1 ? "" : "s", plan->gates.size(),
                                  plan->gates.size() == 1 ? "" : "s", plan->maps.size(), plan->maps.size() == 1 ? "" : "s");
    }
    if (!opt_output.empty()) {
      RebasePaths(*plan, opt_output);
      if (std::error_code ec = WritePlanFile(opt_output, *plan, opt_pretty)) {
        llvm::errs() << "flowc: error: cannot write '" << opt_output << "': " << ec.message() << "\n";
        return 1;
      }
    }
    explain.seconds.push_back({"writing", std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count()});
    report_times();
  }
  if (opt_format == Format::Json) {
    llvm::outs() << llvm::formatv("{0:2}", llvm::json::Value(std::move(json))) << "\n";
  } else if (errors || warnings) {
    llvm::errs() << fmt::format("{} error{}, {} warning{}\n", errors, errors == 1 ? "" : "s", warnings,
                                warnings == 1 ? "" : "s");
  }
  llvm::outs().flush();
  return errors ? 1 : 0;
}
