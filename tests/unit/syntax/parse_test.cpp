// SPDX-License-Identifier: Apache-2.0
// Parser unit tests: the AST shape of each construct, via the AST dump.
#include "compile_helper.h"

namespace flow::testing {
namespace {

using ::testing::HasSubstr;

TEST(ParseTest, PrecedenceOfCoalesceAndComparison) {
  CompileHelper c("param x: float? = none\nparam y = (x ?? 0.5) >= 0.9\npipeline main {}\n");
  std::string dump = c.Dump();
  EXPECT_THAT(dump, HasSubstr("binary >="));
  CompileHelper d("param x: int? = none\nparam y = x ?? 1 + 2 < 4\n");
  // ?? binds looser than + and tighter than <: (x ?? (1 + 2)) < 4
  EXPECT_THAT(d.Dump(), HasSubstr("binary <\n      2:11 binary ??\n        2:11 name x\n        2:16 binary +"));
}

TEST(ParseTest, DurationsAndSizesUsePowersOf1024) {
  CompileHelper c("param a = 4GB\nparam b = 512B\nparam c = 30m\nparam d = 500ms\nparam e = 1d\n");
  std::string dump = c.Dump();
  EXPECT_THAT(dump, HasSubstr("size 4294967296B"));
  EXPECT_THAT(dump, HasSubstr("size 512B"));
  EXPECT_THAT(dump, HasSubstr("duration 1800000ms"));
  EXPECT_THAT(dump, HasSubstr("duration 500ms"));
  EXPECT_THAT(dump, HasSubstr("duration 86400000ms"));
}

TEST(ParseTest, StringInterpolationAndEscapes) {
  CompileHelper c("param n = 3\nparam s = \"a{{b}} {n} \\\"q\\\"\\t\"\n");
  std::string dump = c.Dump();
  EXPECT_THAT(dump, HasSubstr("text \"a{b} \""));
  EXPECT_THAT(dump, HasSubstr("interp"));
  EXPECT_THAT(dump, HasSubstr("name n"));
  EXPECT_THAT(dump, HasSubstr("text \" \\\"q\\\"\\t\""));
}

TEST(ParseTest, TripleQuotedStringSpansLines) {
  CompileHelper c("stage s(x: int) {\n  run \"\"\"echo {x}\necho done\"\"\"\n}\npipeline main { s(x: 1) }\n");
  EXPECT_TRUE(c.ok());
  EXPECT_THAT(c.Dump(), HasSubstr("string\"\"\""));
}

TEST(ParseTest, ElseIfChainsAreFlat) {
  CompileHelper c(
      "param x = 1\nstage s() { run \"true\" }\n"
      "pipeline main {\n  if x == 1 { s() } else if x == 2 { s() } else if x == 3 { s() } else { s() }\n}\n");
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
  std::string dump = c.Dump();
  size_t whens = 0;
  for (size_t at = dump.find("when"); at != std::string::npos; at = dump.find("when", at + 1)) ++whens;
  EXPECT_EQ(whens, 3u);
  EXPECT_THAT(dump, HasSubstr("else"));
}

TEST(ParseTest, SyntaxErrorsInOurWordsAndRecovery) {
  CompileHelper c("stage s(x: int) { run \"a\" }\npipeline main {\n  let a = s(x: )\n  let b = s(x 1)\n  s(x: 1)\n}\n");
  auto errors = c.errors();
  ASSERT_GE(errors.size(), 2u) << ::testing::PrintToString(c.diags());
  EXPECT_THAT(errors[0], IsDiagMsg(DiagKind::SyntaxError, 3, 16, "expected an expression, found ')'"));
  EXPECT_THAT(errors[1], IsDiag(DiagKind::SyntaxError, 4, 15));
}

TEST(ParseTest, StatementsNeedNoSeparators) {
  CompileHelper c("stage s(x: int) -> (y: int) { run \"echo {x} > {y}\" }\n"
                  "pipeline main { let a = s(x: 1) let b = s(x: a.y) s(x: b.y) }\n");
  EXPECT_TRUE(c.ok()) << ::testing::PrintToString(c.diags());
}

TEST(ParseTest, BadNumbersAndCharacters) {
  CompileHelper c("param a = 5min\nparam b = 3 $ 4\n");
  EXPECT_THAT(c.errors(), ::testing::ElementsAre(IsDiag(DiagKind::BadNumber, 1, 11),
                                                 IsDiag(DiagKind::UnexpectedChar, 2, 13)));
}

TEST(ParseTest, UnterminatedStrings) {
  CompileHelper c("param a = \"abc\nparam b = 1\n");
  EXPECT_THAT(c.errors(), ::testing::ElementsAre(IsDiag(DiagKind::UnterminatedString, 1, 11)));
  CompileHelper d("param a = \"\"\"abc\n");
  EXPECT_THAT(d.errors(), ::testing::ElementsAre(IsDiag(DiagKind::UnterminatedString, 1, 11)));
}

TEST(ParseTest, NonAsciiTextKeepsByteColumns) {
  // "é" is two bytes; the error column is counted in bytes, as clang does.
  CompileHelper c("param a = \"é\" + 1\n");
  EXPECT_THAT(c.errors(), ::testing::ElementsAre(IsDiag(DiagKind::OperandType, 1, 16)));
}

}  // namespace
}  // namespace flow::testing
