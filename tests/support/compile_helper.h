// SPDX-License-Identifier: Apache-2.0
// CompileHelper (after Carbon's): runs the front end over in-memory .flow
// snippets so unit tests need no files and no hand-built ASTs.
#pragma once

#include <string>
#include <vector>

#include "diag/diagnostic.h"
#include "driver/frontend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flow::testing {

/// A diagnostic flattened for assertions.
struct Diag {
  DiagKind kind;
  Severity severity;
  unsigned line;
  unsigned col;
  std::string message;
};

inline std::ostream& operator<<(std::ostream& os, const Diag& d) {
  return os << d.line << ":" << d.col << " " << DiagId(d.kind) << " " << d.message;
}

class CompileHelper {
 public:
  /// Checks `source` as file "test.flow" (imports resolve against `dir`).
  explicit CompileHelper(const std::string& source, const std::string& dir = "/nonexistent") {
    FileId file = sm_.AddBuffer(dir + "/test.flow", source);
    driver::LoadOptions options;
    driver::RunWithLargeStack([&] { driver::RunFrontend(sm_, file, sink_, options, result_); });
    for (const auto& d : sink_.diagnostics()) {
      LineCol lc = d.range.valid() ? sm_.GetLineCol(d.range.file, d.range.begin) : LineCol{};
      diags_.push_back({d.kind, d.severity, lc.line, lc.col, d.message});
    }
  }

  const std::vector<Diag>& diags() const { return diags_; }
  std::vector<Diag> errors() const {
    std::vector<Diag> out;
    for (const auto& d : diags_)
      if (d.severity == Severity::Error) out.push_back(d);
    return out;
  }
  std::vector<Diag> warnings() const {
    std::vector<Diag> out;
    for (const auto& d : diags_)
      if (d.severity == Severity::Warning) out.push_back(d);
    return out;
  }
  bool ok() const { return !sink_.has_errors(); }
  const sema::Program& program() const { return *result_.program; }
  const ast::Module& module() const { return result_.loaded.modules.at(0); }
  SourceManager& sm() { return sm_; }
  std::string Dump() {
    std::string s;
    llvm::raw_string_ostream os(s);
    ast::Dump(module(), sm_, os);
    return os.str();
  }

 private:
  SourceManager sm_;
  DiagSink sink_;
  driver::FrontendResult result_;
  std::vector<Diag> diags_;
};

/// Matches a Diag by kind, line and column.
MATCHER_P3(IsDiag, kind, line, col, "") {
  return arg.kind == kind && arg.line == static_cast<unsigned>(line) && arg.col == static_cast<unsigned>(col);
}
/// Matches a Diag by kind, line, column and message substring.
MATCHER_P4(IsDiagMsg, kind, line, col, text, "") {
  return arg.kind == kind && arg.line == static_cast<unsigned>(line) && arg.col == static_cast<unsigned>(col) &&
         arg.message.find(text) != std::string::npos;
}

}  // namespace flow::testing
