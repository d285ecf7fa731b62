// SPDX-License-Identifier: Apache-2.0
#include "exec/command.h"

#include <algorithm>
#include <array>

namespace flow::rt {

namespace {

bool SafeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == '/' || c == ',' || c == ':' || c == '+' || c == '@';
}

bool Space(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::string ShellQuote(std::string_view word) {
  if (!word.empty() && std::all_of(word.begin(), word.end(), SafeChar)) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += "'";
  return out;
}

bool NeedsShell(std::string_view text) {
  static constexpr std::string_view kSpecial = "|&;<>()$`\\\"'*?[]#~=%{}!\n\r";
  return text.find_first_of(kSpecial) != std::string_view::npos;
}

bool IsShellBuiltin(std::string_view w) {
  static constexpr std::array<std::string_view, 44> kBuiltins = {
      "!",     "{",     "}",        ".",        ":",      "alias", "bg",     "break",   "case",   "cd",   "command",
      "continue", "do", "done",     "elif",     "else",   "esac",  "eval",   "exec",    "exit",   "export", "fc",
      "fg",    "fi",    "for",      "getopts",  "hash",   "if",    "jobs",   "local",   "read",   "readonly",
      "return", "set",  "shift",    "source",   "then",   "times", "trap",   "type",    "ulimit", "umask",
      "unset", "until"};
  if (w == "while" || w == "wait" || w == "unalias" || w == "in") return true;
  return std::find(kBuiltins.begin(), kBuiltins.end(), w) != kBuiltins.end();
}

CommandLine BuildCommand(const std::vector<CommandPiece>& pieces) {
  CommandLine out;
  // The text a shell would read: literal text as written, values quoted.
  bool shell = false;
  for (const auto& p : pieces) {
    if (p.literal) {
      out.text += p.text;
      shell = shell || NeedsShell(p.text);
    } else {
      for (size_t i = 0; i < p.words.size(); ++i) out.text += (i ? " " : "") + ShellQuote(p.words[i]);
    }
  }
  // The words: literal text splits at blanks; a value's first word joins
  // what comes right before it, its last word what comes right after (as
  // the shell does with x'a' 'b'y).
  std::vector<std::string> words;
  bool open = false;  // a word is in progress
  for (const auto& p : pieces) {
    if (p.literal) {
      for (char c : p.text) {
        if (Space(c)) {
          open = false;
          continue;
        }
        if (!open) words.emplace_back();
        open = true;
        words.back() += c;
      }
      continue;
    }
    for (size_t i = 0; i < p.words.size(); ++i) {
      if (i > 0) open = false;
      if (!open) words.emplace_back();
      open = true;
      words.back() += p.words[i];
    }
  }
  if (words.empty() || IsShellBuiltin(words[0])) shell = true;
  // An assignment prefix (`A=1 cmd`) is caught by '=' above.
  out.shell = shell;
  if (shell)
    out.argv = {"/bin/sh", "-c", out.text};
  else
    out.argv = std::move(words);
  return out;
}

}  // namespace flow::rt
