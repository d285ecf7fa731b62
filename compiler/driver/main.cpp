// SPDX-License-Identifier: Apache-2.0
// flowc: the compiler's command line. Parses options, runs the front end on
// each file and renders the diagnostics; the only place with cl::opt.
#include <unistd.h>

#include <cstdio>

#include "driver/frontend.h"
#include "fmt/format.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

namespace {

cl::OptionCategory kCategory("flowc options");

cl::list<std::string> opt_files(cl::Positional, cl::desc("FILE.flow..."), cl::cat(kCategory));
cl::opt<bool> opt_lint("lint", cl::desc("Check the files only: report every error and warning"), cl::cat(kCategory));
cl::opt<bool> opt_werror("werror", cl::desc("Treat warnings as errors (exit 1 when there are any)"),
                         cl::cat(kCategory));
enum class Format { Text, Json };
cl::opt<Format> opt_format("diagnostics-format", cl::desc("How to print diagnostics"),
                           cl::values(clEnumValN(Format::Text, "text", "clang-style text (default)"),
                                      clEnumValN(Format::Json, "json", "one JSON array of diagnostics")),
                           cl::init(Format::Text), cl::cat(kCategory));
enum class Emit { None, Ast };
cl::opt<Emit> opt_emit("emit", cl::desc("Print an intermediate form"),
                       cl::values(clEnumValN(Emit::Ast, "ast", "the syntax tree of the entry file")),
                       cl::init(Emit::None), cl::cat(kCategory));
enum class Color { Auto, Always, Never };
cl::opt<Color> opt_color("diagnostics-color", cl::desc("Colour diagnostics"),
                         cl::values(clEnumValN(Color::Auto, "auto", "when printing to a terminal (default)"),
                                    clEnumValN(Color::Always, "always", "always"),
                                    clEnumValN(Color::Never, "never", "never")),
                         cl::init(Color::Auto), cl::cat(kCategory));
cl::opt<bool> opt_no_warnings("w", cl::desc("Do not print warnings"), cl::cat(kCategory));

void PrintVersion(llvm::raw_ostream& os) { os << "flowc 0.1.0 (flow language)\n"; }

}  // namespace

int main(int argc, char** argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter(PrintVersion);
  cl::HideUnrelatedOptions(kCategory);
  if (!cl::ParseCommandLineOptions(argc, argv,
                                   "flowc: checks .flow pipelines\n\n"
                                   "  flowc --lint FILE...        check; exit 0 when no errors, 1 when any\n"
                                   "  flowc FILE --emit ast       print the syntax tree\n",
                                   &llvm::errs()))
    return 2;  // a usage error: the parser has said what is wrong
  if (opt_files.empty()) {
    llvm::errs() << "flowc: error: no input files (try 'flowc --help')\n";
    return 2;
  }
  if (!opt_lint && opt_emit == Emit::None) {
    llvm::errs() << "flowc: error: nothing to do: pass --lint to check the files, or --emit ast\n";
    return 2;
  }
  if (opt_emit != Emit::None && opt_files.size() != 1) {
    llvm::errs() << "flowc: error: --emit takes exactly one file\n";
    return 2;
  }
  if (opt_emit != Emit::None && opt_format == Format::Json) {
    llvm::errs() << "flowc: error: --emit prints to standard output, as do JSON diagnostics; use one at a time\n";
    return 2;
  }
  bool color = opt_color == Color::Always || (opt_color == Color::Auto && isatty(STDERR_FILENO));
  llvm::errs().enable_colors(color);
  flow::driver::LoadOptions load = flow::driver::DefaultLoadOptions(argv[0]);

  size_t errors = 0, warnings = 0;
  llvm::json::Array json;
  for (const std::string& file : opt_files) {
    flow::SourceManager sm;
    flow::DiagSink sink;
    flow::driver::FrontendResult result;
    flow::driver::RunWithLargeStack([&] { flow::driver::RunFrontend(sm, file, sink, load, result); });
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
