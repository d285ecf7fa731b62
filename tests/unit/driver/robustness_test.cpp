// SPDX-License-Identifier: Apache-2.0
// "Bad input never crashes": runs the real `flowc --lint` binary on hostile
// files and checks that it exits with status 1 (never a signal, never 0 for
// a broken file), says why with a diagnostic of the right kind, and finishes
// well within a time limit (`timeout` kills a hang, which then fails here
// instead of blocking the suite).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

extern char** environ;

namespace flow::testing {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

/// flowc is killed after this long; a run that needs it is a failure.
constexpr int kTimeoutSeconds = 60;
/// Inputs that must not only finish but finish fast (a 10 MB literal, a
/// 100,000-term expression) must take less than this.
constexpr double kQuickSeconds = 20.0;

/// One diagnostic of `--diagnostics-format json`.
struct JsonDiag {
  std::string kind;
  std::string severity;
  int64_t line = 0;
  int64_t column = 0;
  int64_t end_column = 0;
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const JsonDiag& d) {
  return os << d.line << ":" << d.column << " " << d.severity << " " << d.kind << " "
            << (d.message.size() > 120 ? d.message.substr(0, 117) + "..." : d.message);
}

MATCHER_P(HasKind, kind, "") { return arg.kind == kind; }
MATCHER_P3(IsAt, kind, line, column, "") { return arg.kind == kind && arg.line == line && arg.column == column; }

/// How one flowc run ended.
struct Outcome {
  bool exited = false;  // false: killed by a signal
  int exit_code = -1;
  int signal = 0;
  double seconds = 0;
  std::string out;  // stdout
  std::string err;  // stderr
  std::vector<JsonDiag> diags;  // parsed from `out` in JSON mode
  bool json_ok = false;

  std::vector<JsonDiag> Errors() const {
    std::vector<JsonDiag> errors;
    for (const auto& d : diags)
      if (d.severity == "error") errors.push_back(d);
    return errors;
  }
  std::string Describe() const {
    std::ostringstream os;
    if (exited)
      os << "exit " << exit_code;
    else
      os << "killed by signal " << signal << " (" << strsignal(signal) << ")";
    os << " after " << seconds << " s";
    os << "\n--- stderr (first 2000 bytes) ---\n" << err.substr(0, 2000);
    os << "\n--- stdout (first 2000 bytes) ---\n" << out.substr(0, 2000);
    return os.str();
  }
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class RobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("flow-robustness", dir));
    llvm::SmallString<128> real;
    ASSERT_FALSE(llvm::sys::fs::real_path(dir, real));
    dir_ = real.str().str();
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir_); }

  std::string Path(const std::string& rel) {
    llvm::SmallString<128> path(dir_);
    llvm::sys::path::append(path, rel);
    return path.str().str();
  }
  std::string Write(const std::string& rel, const std::string& bytes) {
    std::string path = Path(rel);
    llvm::sys::fs::create_directories(llvm::sys::path::parent_path(path));
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  /// Runs `timeout 60 flowc --lint [--diagnostics-format json] FILE`.
  Outcome Lint(const std::string& file, bool json = true) {
    std::string out_path = Path("flowc.stdout"), err_path = Path("flowc.stderr");
    std::vector<std::string> args = {"timeout", "--kill-after=10", std::to_string(kTimeoutSeconds), FLOWC_PATH,
                                     "--lint", "--diagnostics-color=never"};
    if (json) args.insert(args.end(), {"--diagnostics-format", "json"});
    args.push_back(file);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // Sanitizer builds (FLOW_SANITIZE, FLOW_FUZZ) report errors with exit
    // status 1 by default, which would pass for "an error in the file".
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
      const char* old = std::getenv(var);
      std::string value = std::string(var) + "=" + (old ? std::string(old) + ":" : "") + "exitcode=77";
      bool replaced = false;
      for (auto& s : env_strings)
        if (s.rfind(std::string(var) + "=", 0) == 0) s = value, replaced = true;
      if (!replaced) env_strings.push_back(value);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    Outcome o;
    auto start = std::chrono::steady_clock::now();
    pid_t pid;
    int rc = posix_spawnp(&pid, "timeout", &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "cannot start timeout(1): " << strerror(rc);
    if (rc != 0) return o;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    o.exited = WIFEXITED(status);
    o.exit_code = o.exited ? WEXITSTATUS(status) : -1;
    o.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    o.out = ReadAll(out_path);
    o.err = ReadAll(err_path);
    if (json) ParseJson(o);
    return o;
  }

  static void ParseJson(Outcome& o) {
    auto value = llvm::json::parse(o.out);
    if (!value) {
      llvm::consumeError(value.takeError());
      return;
    }
    const llvm::json::Array* array = value->getAsArray();
    if (!array) return;
    for (const llvm::json::Value& v : *array) {
      const llvm::json::Object* obj = v.getAsObject();
      if (!obj) return;
      JsonDiag d;
      d.kind = obj->getString("kind").getValueOr("").str();
      d.severity = obj->getString("severity").getValueOr("").str();
      d.line = obj->getInteger("line").getValueOr(0);
      d.column = obj->getInteger("column").getValueOr(0);
      d.end_column = obj->getInteger("end_column").getValueOr(0);
      d.message = obj->getString("message").getValueOr("").str();
      o.diags.push_back(std::move(d));
    }
    o.json_ok = true;
  }

  /// The common contract: flowc ran to completion (no signal, no timeout),
  /// printed no crash report, and exited with `code`.
  static void ExpectCleanExit(const Outcome& o, int code, bool json = true) {
    EXPECT_TRUE(o.exited) << o.Describe();
    EXPECT_NE(o.exit_code, 124) << "flowc ran past " << kTimeoutSeconds << " s\n" << o.Describe();
    EXPECT_EQ(o.exit_code, code) << o.Describe();
    EXPECT_THAT(o.err, Not(HasSubstr("Sanitizer"))) << o.Describe();
    EXPECT_THAT(o.err, Not(HasSubstr("Stack dump"))) << o.Describe();
    EXPECT_THAT(o.err, Not(HasSubstr("PLEASE submit a bug report"))) << o.Describe();
    if (json) {
      EXPECT_TRUE(o.json_ok) << "stdout is not a JSON array of diagnostics\n" << o.Describe();
    }
  }

  /// Exit 1, and every error is of `kind` (at least one).
  static void ExpectOnlyErrorsOfKind(const Outcome& o, const std::string& kind) {
    ExpectCleanExit(o, 1);
    EXPECT_THAT(o.Errors(), AllOf(Not(IsEmpty()), Each(HasKind(kind)))) << o.Describe();
  }

  std::string dir_;
};

// ------------------------------------------------------------- encodings

TEST_F(RobustnessTest, EmptyFileHasNothingToReport) {
  Outcome o = Lint(Write("empty.flow", ""));
  ExpectCleanExit(o, 0);
  EXPECT_THAT(o.diags, IsEmpty()) << o.Describe();
}

TEST_F(RobustnessTest, ElfBinaryIsRejectedAsBinary) {
  std::string elf("\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00", 20);
  std::mt19937 rng(42);
  for (int i = 0; i < 4096; ++i) elf.push_back(static_cast<char>(rng() & 0xFF));
  Outcome o = Lint(Write("prog.flow", elf));
  ExpectOnlyErrorsOfKind(o, "file-binary");
  EXPECT_THAT(o.diags, ElementsAre(IsAt("file-binary", 1, 8))) << o.Describe();  // the first NUL
}

TEST_F(RobustnessTest, RandomBytesAreRejected) {
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::string bytes;
    for (int i = 0; i < 65536; ++i) bytes.push_back(static_cast<char>(rng() & 0xFF));
    Outcome o = Lint(Write("random" + std::to_string(round) + ".flow", bytes));
    ExpectCleanExit(o, 1);
    ASSERT_THAT(o.Errors(), SizeIs(1)) << o.Describe();
    EXPECT_THAT(o.Errors()[0].kind, ::testing::AnyOf("file-binary", "file-not-utf8")) << o.Describe();
  }
}

TEST_F(RobustnessTest, Latin1FileIsRejectedAtTheFirstBadByte) {
  // "café" in Latin-1 on line 2: é is the single byte 0xE9.
  Outcome o = Lint(Write("latin1.flow", "# fine so far\nparam s = \"caf\xe9\"\npipeline main {}\n"));
  ExpectOnlyErrorsOfKind(o, "file-not-utf8");
  ASSERT_THAT(o.diags, ElementsAre(IsAt("file-not-utf8", 2, 15))) << o.Describe();
  EXPECT_THAT(o.diags[0].message, HasSubstr("0xE9"));
}

TEST_F(RobustnessTest, TruncatedAndOverlongUtf8AreRejected) {
  for (std::string bad : {std::string("param s = \"\xe2\x82\"\n"),       // truncated 3-byte sequence
                          std::string("param s = \"\xc0\xaf\"\n"),       // overlong '/'
                          std::string("param s = \"\xed\xa0\x80\"\n"),   // UTF-16 surrogate
                          std::string("param s = \"x\"\n\xf0\x9f\x98")}) {  // cut at end of file
    Outcome o = Lint(Write("bad.flow", bad));
    ExpectOnlyErrorsOfKind(o, "file-not-utf8");
  }
}

// --------------------------------------------------------------- nesting

TEST_F(RobustnessTest, TenThousandNestedParentheses) {
  Outcome o = Lint(Write("parens.flow", "param x = " + std::string(10000, '(') + "1" + std::string(10000, ')') + "\n"));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
  EXPECT_THAT(o.Errors(), ElementsAre(Field(&JsonDiag::message, HasSubstr("brackets nested more than 256"))));
}

TEST_F(RobustnessTest, TenThousandNestedLists) {
  Outcome o = Lint(Write("lists.flow", "param x = " + std::string(10000, '[') + "1" + std::string(10000, ']') + "\n"));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
  EXPECT_THAT(o.Errors(), ElementsAre(Field(&JsonDiag::message, HasSubstr("brackets nested more than 256"))));
}

TEST_F(RobustnessTest, NestingJustUnderTheLimitIsFine) {
  // 255 parentheses inside a list: 256 levels of brackets, the most allowed.
  Outcome o =
      Lint(Write("deep.flow", "param x = [" + std::string(255, '(') + "1" + std::string(255, ')') + "]\n"
                              "stage s(v: list<int>) { run \"echo {v}\" }\npipeline main { s(v: x) }\n"));
  ExpectCleanExit(o, 0);
  EXPECT_THAT(o.Errors(), IsEmpty()) << o.Describe();
}

// Types nest through `<`, which the bracket count does not see: 60,000
// levels overflowed the stack of the ANTLR parser (found by fuzzing).
TEST_F(RobustnessTest, SixtyThousandNestedTypes) {
  std::string deep;
  for (int i = 0; i < 60000; ++i) deep += "list<";
  deep += "int" + std::string(60000, '>');
  for (const std::string& text : {"param x: " + deep + " = []\n", "record R { a: " + deep + " }\n",
                                  "stage s(a: map<string, " + deep + ">) { run \"true\" }\n"}) {
    Outcome o = Lint(Write("types.flow", text));
    ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
    EXPECT_THAT(o.Errors(), ElementsAre(Field(&JsonDiag::message, HasSubstr("type nested more than 256"))));
  }
}

TEST_F(RobustnessTest, TypesNestedToTheLimitAndLongComparisonsAreFine) {
  std::string type = "int";
  for (int i = 0; i < 256; ++i) type = "list<" + type + ">";
  // 300 comparisons in a named argument: `<` there is no type.
  std::string cmp = "1";
  for (int i = 0; i < 300; ++i) cmp += " < 2 == true";
  Outcome o = Lint(Write("types.flow", "param x: " + type + " = []\nparam y = " + cmp +
                                           "\nstage s(v: bool) { run \"echo {v}\" }\npipeline main { s(v: " +
                                           cmp + ") }\n"));
  EXPECT_THAT(o.Errors(), Each(Field(&JsonDiag::kind, ::testing::Ne("nesting-too-deep")))) << o.Describe();
}

TEST_F(RobustnessTest, TenThousandNestedIfBlocks) {
  std::string text = "pipeline main {\n";
  for (int i = 0; i < 10000; ++i) text += "if true {\n";
  for (int i = 0; i < 10000; ++i) text += "}\n";
  text += "}\n";
  Outcome o = Lint(Write("ifs.flow", text));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
  // The pipeline's brace is level 1; the 256th if opens level 257 on line 257.
  EXPECT_THAT(o.Errors(), ElementsAre(IsAt("nesting-too-deep", 257, 9))) << o.Describe();
}

TEST_F(RobustnessTest, HundredNestedIfBlocksAreFine) {
  std::string text = "stage s() { run \"true\" }\npipeline main {\n";
  for (int i = 0; i < 100; ++i) text += "if true {\n";
  text += "s()\n";
  for (int i = 0; i < 100; ++i) text += "}\n";
  text += "}\n";
  Outcome o = Lint(Write("ifs.flow", text));
  ExpectCleanExit(o, 0);
  EXPECT_THAT(o.Errors(), IsEmpty()) << o.Describe();
}

TEST_F(RobustnessTest, TenThousandPrefixMinuses) {
  std::string text = "param y = 1\nparam x = ";
  for (int i = 0; i < 10000; ++i) text += "- ";
  text += "y\n";
  Outcome o = Lint(Write("minus.flow", text));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
  EXPECT_THAT(o.Errors(), ElementsAre(Field(&JsonDiag::message, HasSubstr("prefix operators"))));
}

TEST_F(RobustnessTest, TenThousandPrefixNots) {
  std::string text = "param x = ";
  for (int i = 0; i < 10000; ++i) text += "not ";
  text += "true\n";
  Outcome o = Lint(Write("not.flow", text));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
}

TEST_F(RobustnessTest, HundredThousandTermSum) {
  // Left-associative, so the tree is 100,000 levels deep: over the
  // expression depth limit of 10,000, reported rather than recursed into.
  std::string text = "param x = 1";
  text.reserve(400020);
  for (int i = 1; i < 100000; ++i) text += " + 1";
  text += "\n";
  Outcome o = Lint(Write("sum.flow", text));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
  EXPECT_THAT(o.Errors(), Each(Field(&JsonDiag::message, HasSubstr("expression nested more than 10000"))));
  EXPECT_LT(o.seconds, kQuickSeconds) << o.Describe();
}

TEST_F(RobustnessTest, TenThousandTermSumIsFine) {
  std::string text = "param x = 1";
  for (int i = 1; i < 9000; ++i) text += " + 1";
  text += "\nstage s(v: int) { run \"echo {v}\" }\npipeline main { s(v: x) }\n";
  Outcome o = Lint(Write("sum.flow", text));
  ExpectCleanExit(o, 0);
  EXPECT_THAT(o.Errors(), IsEmpty()) << o.Describe();
}

// ----------------------------------------------------------------- sizes

TEST_F(RobustnessTest, TenMegabyteStringLiteral) {
  std::string text = "param s = \"";
  text.append(10 * 1024 * 1024, 'a');
  text += "\"\nstage echo(v: string) { run \"echo {v}\" }\npipeline main { echo(v: s) }\n";
  Outcome o = Lint(Write("big.flow", text));
  ExpectCleanExit(o, 0);
  EXPECT_THAT(o.diags, IsEmpty()) << o.Describe();
  EXPECT_LT(o.seconds, kQuickSeconds) << o.Describe();
}

TEST_F(RobustnessTest, MegabyteLongIdentifiers) {
  std::string name(1 << 20, 'n');
  name[0] = 'a';
  Outcome ok = Lint(Write("long.flow", "param " + name + " = 1\nstage s(v: int) { run \"echo {v}\" }\n"
                                       "pipeline main { s(v: " + name + ") }\n"));
  ExpectCleanExit(ok, 0);
  EXPECT_THAT(ok.diags, IsEmpty()) << ok.Describe();
  EXPECT_LT(ok.seconds, kQuickSeconds) << ok.Describe();

  Outcome bad = Lint(Write("unknown.flow", "pipeline main {\n  let x = " + name + "\n}\n"));
  ExpectOnlyErrorsOfKind(bad, "unknown-name");
  EXPECT_THAT(bad.Errors(), ElementsAre(IsAt("unknown-name", 2, 11))) << bad.Describe();
}

TEST_F(RobustnessTest, HugeNumberOfSyntaxErrorsIsCapped) {
  std::string text = "pipeline main {\n";
  for (int i = 0; i < 5000; ++i) text += "  let = )\n";
  text += "}\n";
  Outcome o = Lint(Write("errors.flow", text));
  ExpectCleanExit(o, 1);
  auto errors = o.Errors();
  ASSERT_THAT(errors, SizeIs(51)) << o.Describe();  // 50 syntax errors, then the cap
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(errors[i].kind, "syntax-error") << errors[i];
  EXPECT_EQ(errors[50].kind, "too-many-errors");
  EXPECT_THAT(errors[50].message, HasSubstr("stopped after 50"));
  EXPECT_LT(o.seconds, kQuickSeconds) << o.Describe();
}

// ------------------------------------------------------- files and paths

TEST_F(RobustnessTest, ImportCycleBetweenTwoFiles) {
  Write("a.flow", "import \"b.flow\"\nstage sa() { run \"true\" }\n");
  Write("b.flow", "import \"a.flow\"\nstage sb() { run \"true\" }\n");
  Outcome o = Lint(Path("a.flow"));
  ExpectOnlyErrorsOfKind(o, "import-cycle");
  ASSERT_THAT(o.Errors(), SizeIs(1)) << o.Describe();
  EXPECT_THAT(o.Errors()[0].message, HasSubstr("a.flow -> b.flow -> a.flow"));
}

TEST_F(RobustnessTest, MissingFile) {
  std::string path = Path("absent.flow");
  Outcome o = Lint(path);
  ExpectOnlyErrorsOfKind(o, "file-not-found");
  ASSERT_THAT(o.Errors(), SizeIs(1)) << o.Describe();
  EXPECT_THAT(o.Errors()[0].message, AllOf(HasSubstr(path), HasSubstr("No such file or directory")));

  Outcome text = Lint(path, /*json=*/false);
  ExpectCleanExit(text, 1, /*json=*/false);
  EXPECT_THAT(text.err, HasSubstr("error: cannot read '" + path + "': No such file or directory")) << text.Describe();
}

TEST_F(RobustnessTest, DirectoryGivenAsTheFile) {
  std::string dir = Path("folder.flow");
  ASSERT_FALSE(llvm::sys::fs::create_directories(dir));
  Outcome o = Lint(dir);
  ExpectOnlyErrorsOfKind(o, "file-not-found");
  ASSERT_THAT(o.Errors(), SizeIs(1)) << o.Describe();
  EXPECT_THAT(o.Errors()[0].message, AllOf(HasSubstr(dir), HasSubstr("Is a directory")));

  Outcome text = Lint(dir, /*json=*/false);
  ExpectCleanExit(text, 1, /*json=*/false);
  EXPECT_THAT(text.err, HasSubstr("Is a directory")) << text.Describe();
}

TEST_F(RobustnessTest, ImportOfADirectoryOrBinaryFile) {
  ASSERT_FALSE(llvm::sys::fs::create_directories(Path("lib.flow")));
  Write("bin.flow", std::string("\x7f" "ELF\0\0\0", 7));
  Outcome o = Lint(Write("main.flow", "import \"lib.flow\"\nimport \"bin.flow\"\npipeline main {}\n"));
  ExpectCleanExit(o, 1);
  EXPECT_THAT(o.Errors(), Contains(IsAt("import-not-found", 1, 1))) << o.Describe();
  EXPECT_THAT(o.Errors(), Contains(HasKind("file-binary"))) << o.Describe();
}

// ------------------------------------------------------------ line ends

TEST_F(RobustnessTest, CrlfLineEndingsGiveTheSameDiagnosticsAsLf) {
  const std::string lf =
      "param a = 1\n"
      "param b = 2\n"
      "param c = a + \"x\"\n"
      "stage s(v: int) {\n"
      "  run \"\"\"echo {v}\n"
      "echo {v}\"\"\"\n"
      "}\n"
      "pipeline main {\n"
      "  s(v: b)\n"
      "  s(v: \"no\")\n"
      "}\n";
  std::string crlf;
  for (char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  Outcome a = Lint(Write("lf.flow", lf));
  Outcome b = Lint(Write("crlf.flow", crlf));
  ExpectCleanExit(a, 1);
  ExpectCleanExit(b, 1);
  EXPECT_THAT(b.Errors(), ElementsAre(IsAt("operand-type", 3, 13), IsAt("argument-type", 10, 8))) << b.Describe();
  ASSERT_EQ(a.diags.size(), b.diags.size()) << a.Describe() << "\n" << b.Describe();
  for (size_t i = 0; i < a.diags.size(); ++i) {
    EXPECT_EQ(a.diags[i].kind, b.diags[i].kind) << a.diags[i] << " vs " << b.diags[i];
    EXPECT_EQ(a.diags[i].line, b.diags[i].line) << a.diags[i] << " vs " << b.diags[i];
    EXPECT_EQ(a.diags[i].column, b.diags[i].column) << a.diags[i] << " vs " << b.diags[i];
    EXPECT_EQ(a.diags[i].end_column, b.diags[i].end_column) << a.diags[i] << " vs " << b.diags[i];
  }
}

TEST_F(RobustnessTest, CrlfCleanFileLintsClean) {
  Outcome o = Lint(Write("ok.flow",
                         "stage s(v: int) {\r\n  run \"echo {v}\"\r\n}\r\npipeline main {\r\n  s(v: 1)\r\n}\r\n"));
  ExpectCleanExit(o, 0);
  EXPECT_THAT(o.diags, IsEmpty()) << o.Describe();
}

TEST_F(RobustnessTest, CrlfUnterminatedStringStopsAtTheLineEnd) {
  Outcome o = Lint(Write("unterminated.flow", "param a = \"abc\r\nparam b = 1\r\n"));
  ExpectOnlyErrorsOfKind(o, "unterminated-string");
  EXPECT_THAT(o.Errors(), ElementsAre(IsAt("unterminated-string", 1, 11))) << o.Describe();
}

// A name missing after `pipeline` or `for`. Up to 3bf7123 this was a
// SIGSEGV: AstBuilder::RangeOf(TerminalNode*) dereferenced the missing
// IDENT() in BeginPipeline and in BuildStatement's for branch. By 4672a69
// the bridge no longer builds pieces that failed to parse, but RangeOf still
// does not check for null. Found by the fuzzer: tests/fuzz/regressions/
// pipeline-keyword-at-eof.flow and for-without-variable.flow.
TEST_F(RobustnessTest, KeywordWithoutName) {
  for (std::string text : {"pipeline", "pipeline 1 {}\n", "x\npipeline m=for"}) {
    Outcome o = Lint(Write("nameless.flow", text));
    ExpectCleanExit(o, 1);
    EXPECT_THAT(o.Errors(), Contains(HasKind("syntax-error"))) << o.Describe();
  }
}

// ------------------------------------------------- regressions
// Each of these crashed flowc or gave a wrong diagnostic once (found while
// writing these tests and fuzzing; see tests/fuzz/README.md).

// Was a stack overflow: `not 1 == not 1 == ...` recurses in the generated
// parser once per `not`; the number of prefix operators in one statement is
// now bounded before parsing.
TEST_F(RobustnessTest, MillionsOfNotEqualsLevels) {
  std::string text = "param x = ";
  text.reserve(7 * 2000000 + 20);
  for (int i = 0; i < 2000000; ++i) text += "not 1==";
  text += "1\n";
  Outcome o = Lint(Write("not_eq.flow", text));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
}

// A UTF-8 byte order mark (which Windows editors write) is skipped, with
// positions intact.
TEST_F(RobustnessTest, ByteOrderMarkIsSkipped) {
  Outcome o = Lint(Write("bom.flow", "\xef\xbb\xbfparam a = 1\nparam b = a + \"x\"\n"));
  ExpectCleanExit(o, 1);
  EXPECT_THAT(o.Errors(), ElementsAre(IsAt("operand-type", 2, 13))) << o.Describe();
}

// An over-deep expression is reported once.
TEST_F(RobustnessTest, ExpressionDepthReportedOnce) {
  std::string text = "param x = 1";
  for (int i = 1; i < 100000; ++i) text += " + 1";
  Outcome o = Lint(Write("sum.flow", text + "\n"));
  ExpectOnlyErrorsOfKind(o, "nesting-too-deep");
  EXPECT_THAT(o.Errors(), SizeIs(1)) << o.Describe();
}

// A character device never ends (/dev/zero): only regular files are read.
TEST_F(RobustnessTest, CharacterDeviceWithoutEnd) {
  Outcome o = Lint("/dev/zero");
  ExpectCleanExit(o, 1);
  EXPECT_THAT(o.Errors(), SizeIs(1)) << o.Describe();
}

}  // namespace
}  // namespace flow::testing
