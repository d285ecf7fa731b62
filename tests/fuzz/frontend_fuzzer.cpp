// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the input bytes are one in-memory .flow file, run through
// the whole front end as flowc --lint runs it (load and imports with the
// embedded stdlib, encoding and nesting checks, parse, AST build, check),
// then sorted, rendered as text and as JSON, and dumped as an AST.
//
// Besides crashes, hangs, leaks and UB (ASan, UBSan, LSan), it checks that
// every diagnostic points inside its file: a range past the end would make
// the renderers read out of bounds. See tests/fuzz/README.md.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ast/ast.h"
#include "diag/diagnostic.h"
#include "driver/frontend.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace {

// Relative imports resolve against this folder, which does not exist, so
// `import "x.flow"` is an import-not-found error rather than a disk read.
constexpr const char* kInputPath = "/nonexistent/flow-fuzz/input.flow";

[[noreturn]] void Fail(const flow::SourceManager& sm, const flow::SourceRange& r, const char* what) {
  std::fprintf(stderr, "frontend_fuzzer: %s: file %u (%s) range [%u, %u), file size %zu\n", what, r.file.value,
               sm.Path(r.file).c_str(), r.begin, r.end, sm.Text(r.file).size());
  std::abort();
}

void CheckRange(const flow::SourceManager& sm, const flow::SourceRange& r, size_t num_files) {
  if (!r.valid()) return;
  if (r.file.value > num_files) Fail(sm, r, "diagnostic names an unknown file");
  size_t size = sm.Text(r.file).size();
  if (r.begin > size || r.end > size) Fail(sm, r, "diagnostic range past the end of its file");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flow::SourceManager sm;
  flow::DiagSink sink;
  flow::driver::FrontendResult result;
  flow::FileId file = sm.AddBuffer(kInputPath, std::string(reinterpret_cast<const char*>(data), size));
  flow::driver::LoadOptions options;  // no search paths: std.* comes from the embedded stdlib
  flow::driver::RunWithLargeStack([&] { flow::driver::RunFrontend(sm, file, sink, options, result); });

  std::vector<flow::Diagnostic> diags = sink.diagnostics();
  size_t num_files = sm.llvm_mgr().getNumBuffers();
  for (const auto& d : diags) {
    CheckRange(sm, d.range, num_files);
    for (const auto& n : d.notes) CheckRange(sm, n.range, num_files);
  }

  flow::SortDiagnostics(diags);
  std::string text;
  llvm::raw_string_ostream os(text);
  flow::RenderText(sm, diags, os, /*color=*/false);
  flow::RenderText(sm, diags, os, /*color=*/true);
  llvm::json::Array json;
  flow::AppendJson(sm, diags, json);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(json)));
  if (result.loaded.entry_loaded && !result.loaded.modules.empty())
    flow::ast::Dump(result.loaded.modules[0], sm, os);
  os.flush();
  return 0;
}
