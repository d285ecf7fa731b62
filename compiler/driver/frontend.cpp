// SPDX-License-Identifier: Apache-2.0
// The front end's phases in order: load and parse, then check.
#include "driver/frontend.h"

#include <chrono>

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

namespace flow::driver {

namespace {
void CheckLoaded(DiagSink& sink, FrontendResult& result) {
  if (!result.loaded.entry_loaded) return;
  sema::CheckOptions options;
  // Parts of a file with syntax errors are missing from its AST: "never
  // used" would then be guesses.
  options.warn_unused = sink.ErrorsIn(result.loaded.modules[0].file) == 0;
  result.program.emplace(sema::Check(result.loaded.modules, 0, sink, options));
}
}  // namespace

void RunFrontend(SourceManager& sm, const std::string& entry_path, DiagSink& sink, const LoadOptions& options,
                 FrontendResult& result) {
  result.loaded = LoadModules(sm, entry_path, sink, options);
  CheckLoaded(sink, result);
}

void RunFrontend(SourceManager& sm, FileId entry, DiagSink& sink, const LoadOptions& options,
                 FrontendResult& result) {
  result.loaded = LoadModules(sm, entry, sink, options);
  CheckLoaded(sink, result);
}

std::optional<plan::Plan> CompileToPlan(const FrontendResult& frontend, const SourceManager& sm,
                                        const CompileOptions& options, DiagSink& sink, opt::Explain* explain,
                                        lower::LowerNotes* notes) {
  if (!frontend.program || sink.has_errors()) return std::nullopt;
  auto start = std::chrono::steady_clock::now();
  std::optional<plan::Plan> lowered = lower::Lower(*frontend.program, sm, options.lower, sink, notes);
  if (explain)
    explain->seconds.push_back({"lowering", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
  if (!lowered) return std::nullopt;
  opt::OptimizeOptions opt = options.optimize;
  std::optional<opt::History> history;
  if (options.use_history) {
    llvm::SmallString<256> dir(llvm::sys::path::parent_path(frontend.loaded.modules[0].path));
    llvm::sys::path::append(dir, ".flow");
    history = opt::ReadHistory(dir.str().str());
    if (history) opt.history = &*history;
  }
  return opt::Optimize(std::move(*lowered), opt, explain);
}

}  // namespace flow::driver
