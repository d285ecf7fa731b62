// SPDX-License-Identifier: Apache-2.0
// Diagnostics as plain values: every phase emits them into a DiagSink, and
// rendering (text through llvm::SourceMgr, or JSON) happens in one place.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "llvm/Support/JSON.h"
#include "source/source_manager.h"

namespace flow {

enum class Severity { Note, Warning, Error };

enum class DiagKind {
#define DIAG(Name, Sev, Id) Name,
#include "diag/diag_kinds.def"
};

/// The registry entry of a kind: its default severity and its stable id
/// (the `kind` field of JSON diagnostics).
Severity DefaultSeverity(DiagKind kind);
std::string_view DiagId(DiagKind kind);

struct Note {
  SourceRange range;  // may be invalid: a note without a location
  std::string message;
};

struct Diagnostic {
  DiagKind kind;
  Severity severity;
  SourceRange range;
  std::string message;
  std::vector<Note> notes;
  std::string fix_hint;  // a suggestion in words ("write 'max N'"), may be empty
};

/// Collects diagnostics. Phases only Emit(); nothing is printed until the
/// driver renders the sink. Not thread-safe.
class DiagSink {
 public:
  /// Emits with the kind's default severity; returns the stored diagnostic so
  /// the caller can attach notes or a fix hint.
  Diagnostic& Emit(DiagKind kind, SourceRange range, std::string message);

  const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  size_t error_count() const { return errors_; }
  size_t warning_count() const { return warnings_; }
  bool has_errors() const { return errors_ > 0; }
  /// Count of errors in one file (used to cap cascades from a broken file).
  size_t ErrorsIn(FileId file) const;

 private:
  std::vector<Diagnostic> diags_;
  size_t errors_ = 0;
  size_t warnings_ = 0;
};

/// Renders clang-style: `FILE:LINE:COL: error: MESSAGE`, the source line and
/// a caret under the range, notes after it. Colour when `color` is true.
void RenderText(const SourceManager& sm, const std::vector<Diagnostic>& diags,
                llvm::raw_ostream& os, bool color);

/// Diagnostics as JSON objects {file, line, column, end_line, end_column,
/// severity, kind, message, notes[], fix}, appended to `out` (so that the
/// diagnostics of several files make one array).
void AppendJson(const SourceManager& sm, const std::vector<Diagnostic>& diags,
                llvm::json::Array& out);

/// Sorts diagnostics by file, then position, keeping emission order for ties.
void SortDiagnostics(std::vector<Diagnostic>& diags);

}  // namespace flow
