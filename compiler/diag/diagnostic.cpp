// SPDX-License-Identifier: Apache-2.0
// The diagnostic registry, the sink, and the two renderers.
#include "diag/diagnostic.h"

#include <algorithm>

#include "llvm/Support/JSON.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

namespace flow {

Severity DefaultSeverity(DiagKind kind) {
  switch (kind) {
#define DIAG(Name, Sev, Id) \
  case DiagKind::Name:      \
    return Severity::Sev;
#include "diag/diag_kinds.def"
  }
  return Severity::Error;
}

std::string_view DiagId(DiagKind kind) {
  switch (kind) {
#define DIAG(Name, Sev, Id) \
  case DiagKind::Name:      \
    return Id;
#include "diag/diag_kinds.def"
  }
  return "unknown";
}

Diagnostic& DiagSink::Emit(DiagKind kind, SourceRange range,
                           std::string message) {
  Severity sev = DefaultSeverity(kind);
  if (sev == Severity::Error) ++errors_;
  if (sev == Severity::Warning) ++warnings_;
  diags_.push_back(Diagnostic{kind, sev, range, std::move(message), {}, {}});
  return diags_.back();
}

size_t DiagSink::ErrorsIn(FileId file) const {
  return std::count_if(diags_.begin(), diags_.end(), [&](const Diagnostic& d) {
    return d.severity == Severity::Error && d.range.file == file;
  });
}

void SortDiagnostics(std::vector<Diagnostic>& diags) {
  std::stable_sort(diags.begin(), diags.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.range.file.value != b.range.file.value)
                       return a.range.file.value < b.range.file.value;
                     return a.range.begin < b.range.begin;
                   });
}

namespace {

llvm::SourceMgr::DiagKind ToLlvm(Severity s) {
  switch (s) {
    case Severity::Note:
      return llvm::SourceMgr::DK_Note;
    case Severity::Warning:
      return llvm::SourceMgr::DK_Warning;
    case Severity::Error:
      return llvm::SourceMgr::DK_Error;
  }
  return llvm::SourceMgr::DK_Error;
}

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::Note:
      return "note";
    case Severity::Warning:
      return "warning";
    case Severity::Error:
      return "error";
  }
  return "error";
}

// Prints one located message. Ranges that span lines are shown as a caret at
// their start (SourceMgr underlines one line only).
void PrintOne(const SourceManager& sm, SourceRange range, Severity sev,
              const std::string& message, llvm::raw_ostream& os, bool color) {
  if (!range.valid()) {
    llvm::WithColor(os, sev == Severity::Note ? llvm::HighlightColor::Note
                        : sev == Severity::Warning ? llvm::HighlightColor::Warning
                                                   : llvm::HighlightColor::Error,
                    color ? llvm::ColorMode::Enable : llvm::ColorMode::Disable)
        << SeverityName(sev) << ": ";
    os << message << "\n";
    return;
  }
  const llvm::SourceMgr& mgr = sm.llvm_mgr();
  const char* start = mgr.getMemoryBuffer(range.file.value)->getBufferStart();
  llvm::SMLoc loc = llvm::SMLoc::getFromPointer(start + range.begin);
  std::string_view text = sm.Text(range.file);
  uint32_t end = std::min<uint32_t>(range.end, text.size());
  // Clip the underline at the end of the first line.
  for (uint32_t i = range.begin; i < end; ++i)
    if (text[i] == '\n' || text[i] == '\r') {
      end = i;
      break;
    }
  llvm::SmallVector<llvm::SMRange, 1> ranges;
  if (end > range.begin + 1)
    ranges.push_back(llvm::SMRange(loc, llvm::SMLoc::getFromPointer(start + end)));
  // Buffers are registered under their paths, so SourceMgr prints those.
  mgr.PrintMessage(os, loc, ToLlvm(sev), message, ranges, {}, color);
}

}  // namespace

void RenderText(const SourceManager& sm, const std::vector<Diagnostic>& diags,
                llvm::raw_ostream& os, bool color) {
  for (const Diagnostic& d : diags) {
    PrintOne(sm, d.range, d.severity, d.message, os, color);
    if (!d.fix_hint.empty())
      PrintOne(sm, SourceRange{}, Severity::Note, d.fix_hint, os, color);
    for (const Note& n : d.notes)
      PrintOne(sm, n.range, Severity::Note, n.message, os, color);
  }
}

namespace {
llvm::json::Object Located(const SourceManager& sm, SourceRange range) {
  llvm::json::Object o;
  if (!range.valid()) return o;
  LineCol b = sm.GetLineCol(range.file, range.begin);
  LineCol e = sm.GetLineCol(range.file, std::max(range.begin, range.end));
  o["file"] = sm.Path(range.file);
  o["line"] = b.line;
  o["column"] = b.col;
  o["end_line"] = e.line;
  o["end_column"] = e.col;
  return o;
}
}  // namespace

void AppendJson(const SourceManager& sm, const std::vector<Diagnostic>& diags,
                llvm::json::Array& out) {
  for (const Diagnostic& d : diags) {
    llvm::json::Object o = Located(sm, d.range);
    o["severity"] = SeverityName(d.severity);
    o["kind"] = std::string(DiagId(d.kind));
    o["message"] = d.message;
    if (!d.fix_hint.empty()) o["fix"] = d.fix_hint;
    llvm::json::Array notes;
    for (const Note& n : d.notes) {
      llvm::json::Object no = Located(sm, n.range);
      no["message"] = n.message;
      notes.push_back(std::move(no));
    }
    o["notes"] = std::move(notes);
    out.push_back(std::move(o));
  }
}

}  // namespace flow
