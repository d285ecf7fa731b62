// SPDX-License-Identifier: Apache-2.0
// From a stage's `run` template, with its placeholders evaluated, to what is
// started: an argv for a direct exec when the template's own text uses no
// shell syntax, else `/bin/sh -c TEXT` with every value single-quoted. Both
// forms give the program the same words (docs/runtime.md, "The command").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flow::rt {

/// A piece of an evaluated template: literal text from the `.flow` file, or
/// the words of an interpolated value (one per list element; none for an
/// empty list or an absent optional).
struct CommandPiece {
  bool literal = true;
  std::string text;                // literal
  std::vector<std::string> words;  // value
  static CommandPiece Text(std::string t) { return {true, std::move(t), {}}; }
  static CommandPiece Words(std::vector<std::string> w) { return {false, {}, std::move(w)}; }
};

struct CommandLine {
  bool shell = false;
  std::vector<std::string> argv;  // direct exec: the words; shell: {"/bin/sh", "-c", text}
  std::string text;               // as a shell would read it (for logs and the run store)
};

/// Quotes `word` for a POSIX shell: itself when it is made only of safe
/// characters, else single-quoted with embedded quotes as '\''.
std::string ShellQuote(std::string_view word);

/// True when `text` (a template's literal text) needs a shell: any shell
/// metacharacter, quote, glob, expansion, comment or newline.
bool NeedsShell(std::string_view text);

/// True for the shell's builtins and keywords (cd, export, if, ...): a
/// command starting with one needs a shell even without metacharacters.
bool IsShellBuiltin(std::string_view word);

CommandLine BuildCommand(const std::vector<CommandPiece>& pieces);

}  // namespace flow::rt
