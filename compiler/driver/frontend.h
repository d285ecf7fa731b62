// SPDX-License-Identifier: Apache-2.0
// The front end as one call: load the entry file and its imports, parse them,
// check them. Used by flowc, the tests and the fuzzer.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ast/ast.h"
#include "diag/diagnostic.h"
#include "lower/lower.h"
#include "opt/passes.h"
#include "sema/check.h"

namespace flow::driver {

struct LoadOptions {
  /// Folders searched, in order, for `import a.b` (as a/b.flow) before the
  /// stdlib next to the binary and the stdlib embedded in it.
  std::vector<std::string> search_paths;
  bool use_embedded_stdlib = true;
};

/// The default search path: $FLOW_PATH (colon-separated), then
/// <prefix>/share/flow/stdlib relative to the running binary.
LoadOptions DefaultLoadOptions(const char* argv0);

/// The entry file and every module it imports, each parsed once; the entry
/// module is modules[0]. Import errors (not found, cycles) are diagnostics.
struct LoadedModules {
  std::vector<ast::Module> modules;
  bool entry_loaded = false;
};
LoadedModules LoadModules(SourceManager& sm, const std::string& entry_path, DiagSink& sink,
                          const LoadOptions& options);
/// The same for an entry file already in `sm` (tests, fuzzing).
LoadedModules LoadModules(SourceManager& sm, FileId entry, DiagSink& sink, const LoadOptions& options);

struct FrontendResult {
  LoadedModules loaded;
  std::optional<sema::Program> program;  // set when the entry file was read
};

/// Loads, parses and checks. The program refers into `result.loaded`, so the
/// result must not be copied or moved apart; `sm` must outlive both.
void RunFrontend(SourceManager& sm, const std::string& entry_path, DiagSink& sink, const LoadOptions& options,
                 FrontendResult& result);
void RunFrontend(SourceManager& sm, FileId entry, DiagSink& sink, const LoadOptions& options,
                 FrontendResult& result);

/// From a checked program to an optimized plan: lowering, then the passes.
/// History for profile-guided priorities is read from the `.flow/` folder
/// beside the entry file when it exists.
struct CompileOptions {
  lower::LowerOptions lower;
  opt::OptimizeOptions optimize;
  bool use_history = true;
};
std::optional<plan::Plan> CompileToPlan(const FrontendResult& frontend, const SourceManager& sm,
                                        const CompileOptions& options, DiagSink& sink, opt::Explain* explain,
                                        lower::LowerNotes* notes);

/// Runs `fn` on a thread with a large stack (deeply nested input recurses in
/// the parser and checker even within their nesting limits).
void RunWithLargeStack(const std::function<void()>& fn);

}  // namespace flow::driver
