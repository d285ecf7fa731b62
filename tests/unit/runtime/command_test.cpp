// SPDX-License-Identifier: Apache-2.0
// Building commands (runtime/exec/command): shell quoting, checked by having
// a real /bin/sh read the quoted words back; when a template needs a shell;
// and BuildCommand, whose direct argv must be exactly the words the shell
// would have passed (checked by running both forms).
#include "exec/command.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace flow::rt {
namespace {

using ::testing::ElementsAre;

// Runs argv (looked up in PATH) and returns its stdout; fails the test when
// it cannot run or exits non-zero.
std::string Capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe";
    return "";
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, n);
  }
  close(fds[0]);
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << argv[0] << ": " << rc;
    return "";
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << " of " << argv.back();
  return out;
}

// What /bin/sh makes of `text` as the arguments of a command: the words,
// each followed by a NUL (printed by a script that echoes its arguments).
class ShellWords : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/flow_cmd_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    show_ = dir_ + "/showargs";
    std::ofstream(show_) << "#!/bin/sh\nfor a in \"$@\"; do printf '%s' \"$a\"; printf '\\000'; done\n";
    chmod(show_.c_str(), 0755);
  }
  static void TearDownTestSuite() {
    unlink(show_.c_str());
    rmdir(dir_.c_str());
  }
  static std::vector<std::string> Split(const std::string& out) {
    std::vector<std::string> words;
    size_t p = 0;
    for (size_t q; (q = out.find('\0', p)) != std::string::npos; p = q + 1) words.push_back(out.substr(p, q - p));
    EXPECT_EQ(p, out.size()) << "output not NUL-terminated";
    return words;
  }
  /// The words /bin/sh passes to a command when it reads `args_text`.
  static std::vector<std::string> ShellSplit(const std::string& args_text) {
    return Split(Capture({"/bin/sh", "-c", show_ + " " + args_text}));
  }
  /// Runs a built command line (direct or through the shell) and returns
  /// the words the program got (the program must be showargs).
  static std::vector<std::string> RunBuilt(const CommandLine& cl) {
    auto words = Split(Capture(cl.argv));
    return words;
  }
  static std::string dir_, show_;
};
std::string ShellWords::dir_, ShellWords::show_;

const std::vector<std::string>& TrickyWords() {
  static const std::vector<std::string> words = {
      "plain",
      "two words",
      "",
      " ",
      "it's",
      "'",
      "''",
      "\"double\"",
      "$(touch /tmp/flow_pwned)",
      "`touch /tmp/flow_pwned`",
      "$HOME",
      "${HOME}",
      "a;b",
      "x && y || z",
      "a|b",
      "<in >out 2>&1",
      "line1\nline2",
      "\n",
      "tab\there",
      "back\\slash",
      "\\",
      "*",
      "?",
      "[a-z]",
      "~",
      "~root",
      "#comment",
      "a#b",
      "!",
      "!!",
      "%d %s",
      "a=b",
      "{a,b}",
      "-n",
      "--",
      "-e",
      "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80",
      "end'\\''x",
      "'\"'\"'",
      "\t",
      "@:,.+/-_",
  };
  return words;
}

// ------------------------------------------------------------ ShellQuote

TEST_F(ShellWords, ShellQuoteRoundTripsThroughARealShell) {
  unlink("/tmp/flow_pwned");
  for (const auto& w : TrickyWords()) {
    // One word at a time: printf %s prints exactly the word.
    std::string out = Capture({"/bin/sh", "-c", "printf %s " + ShellQuote(w)});
    EXPECT_EQ(out, w) << "quoted as " << ShellQuote(w);
  }
  // All together: still one argument each.
  std::string text;
  for (const auto& w : TrickyWords()) text += " " + ShellQuote(w);
  EXPECT_EQ(ShellSplit(text), TrickyWords());
  struct stat st;
  EXPECT_NE(stat("/tmp/flow_pwned", &st), 0) << "a quoted word ran a command";
}

TEST(ShellQuote, SafeWordsStayAsTheyAre) {
  EXPECT_EQ(ShellQuote("data/train.csv"), "data/train.csv");
  EXPECT_EQ(ShellQuote("-v"), "-v");
  EXPECT_EQ(ShellQuote("a,b:c+d@e"), "a,b:c+d@e");
  EXPECT_EQ(ShellQuote("0.001"), "0.001");
}

TEST(ShellQuote, EverythingElseIsSingleQuoted) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$x"), "'$x'");
  EXPECT_EQ(ShellQuote("a=b"), "'a=b'");
  EXPECT_EQ(ShellQuote("~"), "'~'");
  EXPECT_EQ(ShellQuote("caf\xc3\xa9"), "'caf\xc3\xa9'");
}

// ------------------------------------------------------------ NeedsShell, IsShellBuiltin

TEST(NeedsShell, EveryDocumentedMetacharacter) {
  // docs/runtime.md: | & ; < > ( ) $ ` \ " ' * ? [ ] # ~ = % { } and newline.
  for (char c : std::string("|&;<>()$`\\\"'*?[]#~=%{}\n")) {
    std::string text = std::string("prog a") + c + "b";
    EXPECT_TRUE(NeedsShell(text)) << "'" << c << "'";
  }
  EXPECT_TRUE(NeedsShell("echo $HOME"));
  EXPECT_TRUE(NeedsShell("A=1 prog"));
  EXPECT_TRUE(NeedsShell("prog > out.txt"));
  EXPECT_TRUE(NeedsShell("a\nb"));
}

TEST(NeedsShell, PlainCommandsDoNot) {
  EXPECT_FALSE(NeedsShell(""));
  EXPECT_FALSE(NeedsShell("python train.py --lr 0.1 --out models/m.pt"));
  EXPECT_FALSE(NeedsShell("cp -r a/b c:d x,y +z @w"));
  EXPECT_FALSE(NeedsShell("prog\targ"));
}

TEST(IsShellBuiltin, BuiltinsAndKeywords) {
  for (const char* w : {"cd", "export", "if", "for", "while", "until", "case", "exec", "exit", "source", ".", "set",
                        "unset", "eval", "trap", "ulimit", "umask", "wait", "read", "alias", "unalias", "{", "!",
                        "in", "do", "done", "then", "fi", "local", "return", "shift", "readonly", "command", "type"})
    EXPECT_TRUE(IsShellBuiltin(w)) << w;
  for (const char* w : {"python", "ls", "cdx", "c", "", "ifconfig", "/bin/cd", "echo2", "true2"})
    EXPECT_FALSE(IsShellBuiltin(w)) << w;
}

// ------------------------------------------------------------ BuildCommand

TEST_F(ShellWords, DirectWhenTheTemplateHasNoShellSyntax) {
  auto cl = BuildCommand({CommandPiece::Text(show_ + " --lr "), CommandPiece::Words({"0.1"}),
                          CommandPiece::Text(" --name "), CommandPiece::Words({"my run; rm -rf /"})});
  EXPECT_FALSE(cl.shell);
  EXPECT_THAT(cl.argv, ElementsAre(show_, "--lr", "0.1", "--name", "my run; rm -rf /"));
  EXPECT_EQ(cl.text, show_ + " --lr 0.1 --name 'my run; rm -rf /'");
  // The direct argv is what the shell would have passed.
  EXPECT_EQ(RunBuilt(cl), ShellSplit(cl.text.substr(show_.size() + 1)));
}

TEST_F(ShellWords, ShellWhenTheTemplateHasShellSyntax) {
  auto cl = BuildCommand({CommandPiece::Text(show_ + " "), CommandPiece::Words({"a b", "$(x)"}),
                          CommandPiece::Text(" | cat")});
  EXPECT_TRUE(cl.shell);
  ASSERT_EQ(cl.argv.size(), 3u);
  EXPECT_EQ(cl.argv[0], "/bin/sh");
  EXPECT_EQ(cl.argv[1], "-c");
  EXPECT_EQ(cl.argv[2], cl.text);
  EXPECT_EQ(cl.text, show_ + " 'a b' '$(x)' | cat");
  EXPECT_THAT(RunBuilt(cl), ElementsAre("a b", "$(x)"));
}

TEST_F(ShellWords, ShellSyntaxInsideAValueDoesNotNeedAShell) {
  // Only the template's own text decides; values are data.
  auto cl = BuildCommand({CommandPiece::Text(show_ + " "), CommandPiece::Words({"x | y", "`z`", "'q'"})});
  EXPECT_FALSE(cl.shell);
  EXPECT_THAT(RunBuilt(cl), ElementsAre("x | y", "`z`", "'q'"));
}

TEST_F(ShellWords, ListsGiveOneWordPerElement) {
  auto cl = BuildCommand({CommandPiece::Text(show_ + " --files "), CommandPiece::Words({"a.txt", "b c.txt", ""}),
                          CommandPiece::Text(" --end")});
  EXPECT_FALSE(cl.shell);
  EXPECT_THAT(cl.argv, ElementsAre(show_, "--files", "a.txt", "b c.txt", "", "--end"));
  EXPECT_EQ(RunBuilt(cl), ShellSplit(cl.text.substr(show_.size() + 1)));
}

TEST_F(ShellWords, AdjacentTextJoinsTheFirstAndLastWords) {
  // x{list}y with list = [a, b] -> xa by, as the shell reads x'a' 'b'y.
  auto cl = BuildCommand({CommandPiece::Text(show_ + " x"), CommandPiece::Words({"a", "b"}),
                          CommandPiece::Text("y")});
  EXPECT_FALSE(cl.shell);
  EXPECT_THAT(cl.argv, ElementsAre(show_, "xa", "by"));
  EXPECT_EQ(cl.text, show_ + " xa by");
  EXPECT_THAT(ShellSplit("xa by"), ElementsAre("xa", "by"));
  // With words that need quoting the text quotes them, and the shell agrees.
  auto q = BuildCommand({CommandPiece::Text(show_ + " --opt="), CommandPiece::Words({"a b"}),
                         CommandPiece::Text(" pre"), CommandPiece::Words({"1 2", "3"}), CommandPiece::Text(".txt")});
  EXPECT_TRUE(q.shell);  // '=' in the template
  EXPECT_THAT(RunBuilt(q), ElementsAre("--opt=a b", "pre1 2", "3.txt"));
}

TEST_F(ShellWords, AdjacentValuesJoin) {
  auto cl = BuildCommand({CommandPiece::Text(show_ + " "), CommandPiece::Words({"a"}),
                          CommandPiece::Words({"b", "c"}), CommandPiece::Text(" d")});
  EXPECT_FALSE(cl.shell);
  EXPECT_THAT(cl.argv, ElementsAre(show_, "ab", "c", "d"));
  EXPECT_EQ(RunBuilt(cl), ShellSplit(cl.text.substr(show_.size() + 1)));
}

TEST_F(ShellWords, EmptyListGivesNoWord) {
  auto alone = BuildCommand({CommandPiece::Text(show_ + " a "), CommandPiece::Words({}), CommandPiece::Text(" b")});
  EXPECT_FALSE(alone.shell);
  EXPECT_THAT(alone.argv, ElementsAre(show_, "a", "b"));
  EXPECT_EQ(RunBuilt(alone), ShellSplit(alone.text.substr(show_.size() + 1)));
  // Between text without blanks, the text still joins: x{[]}y -> xy.
  auto joined = BuildCommand({CommandPiece::Text(show_ + " x"), CommandPiece::Words({}), CommandPiece::Text("y")});
  EXPECT_THAT(joined.argv, ElementsAre(show_, "xy"));
  EXPECT_EQ(RunBuilt(joined), ShellSplit(joined.text.substr(show_.size() + 1)));
  // An empty string is a word (an empty argument), unlike an empty list.
  auto empty_word = BuildCommand({CommandPiece::Text(show_ + " a "), CommandPiece::Words({""}),
                                  CommandPiece::Text(" b")});
  EXPECT_THAT(empty_word.argv, ElementsAre(show_, "a", "", "b"));
  EXPECT_EQ(RunBuilt(empty_word), ShellSplit(empty_word.text.substr(show_.size() + 1)));
}

TEST_F(ShellWords, DirectArgvEqualsTheShellsWordsForTrickyValues) {
  // Each tricky word, alone and glued to text, in a template without shell
  // syntax: the direct argv and the shell's reading of the text agree.
  for (const auto& w : TrickyWords()) {
    for (int glue = 0; glue < 3; ++glue) {
      std::vector<CommandPiece> pieces = {CommandPiece::Text(show_ + (glue == 1 ? " pre" : " ")),
                                          CommandPiece::Words({w, w}),
                                          CommandPiece::Text(glue == 2 ? "post tail" : " tail")};
      auto cl = BuildCommand(pieces);
      ASSERT_FALSE(cl.shell) << cl.text;
      EXPECT_EQ(RunBuilt(cl), ShellSplit(cl.text.substr(show_.size() + 1))) << cl.text;
      // And forced through the shell (by a template with a harmless
      // metacharacter), the program gets the same words.
      pieces.push_back(CommandPiece::Text(" ;"));
      auto sh = BuildCommand(pieces);
      ASSERT_TRUE(sh.shell);
      EXPECT_EQ(RunBuilt(sh), RunBuilt(cl)) << sh.text;
    }
  }
}

TEST(BuildCommand, BuiltinsForceTheShell) {
  auto cd = BuildCommand({CommandPiece::Text("cd data")});
  EXPECT_TRUE(cd.shell);
  EXPECT_THAT(cd.argv, ElementsAre("/bin/sh", "-c", "cd data"));
  auto exp = BuildCommand({CommandPiece::Text("export "), CommandPiece::Words({"X"})});
  EXPECT_TRUE(exp.shell);
  // A builtin that comes from a value forces it too.
  auto from_value = BuildCommand({CommandPiece::Words({"exit"}), CommandPiece::Text(" 3")});
  EXPECT_TRUE(from_value.shell);
  EXPECT_EQ(from_value.text, "exit 3");
  // ...but only as the first word.
  auto later = BuildCommand({CommandPiece::Text("prog cd export")});
  EXPECT_FALSE(later.shell);
  EXPECT_THAT(later.argv, ElementsAre("prog", "cd", "export"));
}

TEST(BuildCommand, BuiltinThroughTheShellWorks) {
  auto cl = BuildCommand({CommandPiece::Text("exit "), CommandPiece::Words({"7"})});
  ASSERT_TRUE(cl.shell);
  std::vector<char*> args;
  for (const auto& a : cl.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST(BuildCommand, NothingAtAllRunsAnEmptyShell) {
  auto cl = BuildCommand({CommandPiece::Words({}), CommandPiece::Text("  ")});
  EXPECT_TRUE(cl.shell);
  EXPECT_EQ(cl.argv[0], "/bin/sh");
}

TEST(BuildCommand, BlanksSplitLiteralText) {
  auto cl = BuildCommand({CommandPiece::Text("  prog \t a   b\t")});
  EXPECT_FALSE(cl.shell);
  EXPECT_THAT(cl.argv, ElementsAre("prog", "a", "b"));
  EXPECT_EQ(cl.text, "  prog \t a   b\t");
}

}  // namespace
}  // namespace flow::rt
