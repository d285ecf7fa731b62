// SPDX-License-Identifier: Apache-2.0
// The front end's phases in order: load and parse, then check.
#include "driver/frontend.h"

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

}  // namespace flow::driver
