// SPDX-License-Identifier: Apache-2.0
// Differential test: the hand-written lexer must produce exactly the tokens
// of the ANTLR lexer generated from grammar/Flow.g4 (type, start, stop, line,
// column), on every .flow file in the tree and on random text built from the
// fragments where lexers usually disagree.
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "syntax/reference.h"

namespace flow::syntax {
namespace {

std::string Show(const RawToken& t) {
  std::ostringstream os;
  os << "type " << static_cast<int>(t.type) << " [" << t.start << "," << t.stop << "] " << t.line << ":" << t.col;
  return os.str();
}

// Returns "" when equal, else a description of the first difference.
std::string Compare(const std::string& text) {
  std::vector<RawToken> ref = LexWithAntlr(text);
  std::vector<RawToken> fast = LexFast(text);
  for (size_t i = 0; i < std::max(ref.size(), fast.size()); ++i) {
    if (i >= ref.size() || i >= fast.size()) return "token counts differ at token " + std::to_string(i);
    const RawToken& a = ref[i];
    const RawToken& b = fast[i];
    if (a.type != b.type || a.start != b.start || a.stop != b.stop || a.line != b.line || a.col != b.col)
      return "token " + std::to_string(i) + ": antlr " + Show(a) + ", fast " + Show(b);
  }
  return "";
}

TEST(LexerTest, AgreesOnHandPickedCases) {
  const char* cases[] = {
      "", " ", "\n\n", "# comment only", "a#c\nb", "5min 5ms 5m 5s 5h 5d 5x 5 5.5 5.5s 5.5x 5.",
      "1e3 1e-3 1E+3 1e 1e+ 1ex 1.5e3 1.5e3x 4GB 4GBx 512B 1KB 2TB 3MBs", "x.y 1..2 1.e5 .5",
      "\"abc\" \"a\\\"b\" \"unterminated\n\"x\\", "\"\"\"multi\nline\"\"\" \"\"\"\"x\"\"\" \"\"\"open",
      "\"\"\"a\"", "\"\"\"a\"\"", "\"\"\"", "\"\"", "\"", "\"\\", "\"\\\n\"", "-> - ?? ? == = != ! <= < >= >",
      "import param record stage pipeline let var output if else for in while true false none and or not",
      "imports letx _a A9 é \"é\" #é\n", "{ } [ ] ( ) , : . + * / %", "\t\r\n\f$@`~^&|;'", "a\r\nb\rc",
  };
  for (const char* c : cases) EXPECT_EQ(Compare(c), "") << "input: " << c;
}

TEST(LexerTest, AgreesOnEveryFlowFileInTheTree) {
  int files = 0;
  std::error_code ec;
  for (llvm::sys::fs::recursive_directory_iterator it(FLOW_SOURCE_DIR, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::StringRef path = it->path();
    if (path.contains("/build") || path.contains("/.git")) {
      it.no_push();
      continue;
    }
    if (!path.endswith(".flow")) continue;
    std::ifstream in(path.str(), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    EXPECT_EQ(Compare(buf.str()), "") << path.str();
    ++files;
  }
  EXPECT_GE(files, 2);  // at least the stdlib
}

TEST(LexerTest, AgreesOnRandomText) {
  const std::vector<std::string> fragments = {
      "\"", "\"\"\"", "\\", "\n", "\r", " ", "\t", "0", "7", "12", ".", "e", "E", "-", "+", "m", "s", "h", "d",
      "ms", "B", "KB", "GB", "x", "_", "a", "let", "in", "not", "#", "{", "}", "(", ")", "[", "]", "?", "??",
      "=", "==", "!", "!=", "<", ">=", "->", ",", ":", "é", "€", "$", "'",
  };
  const int kRandomCases = std::getenv("FLOW_LEXER_CASES") ? std::atoi(std::getenv("FLOW_LEXER_CASES")) : 20000;
  std::mt19937 rng(20261128);
  std::uniform_int_distribution<size_t> pick(0, fragments.size() - 1);
  std::uniform_int_distribution<int> length(0, 40);
  for (int i = 0; i < kRandomCases; ++i) {
    std::string text;
    for (int n = length(rng); n > 0; --n) text += fragments[pick(rng)];
    std::string diff = Compare(text);
    ASSERT_EQ(diff, "") << "input: [" << text << "]";
  }
}

}  // namespace
}  // namespace flow::syntax
