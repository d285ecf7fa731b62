// SPDX-License-Identifier: Apache-2.0
// SPEC 1.5, "import not found or cyclic", over real files in a temporary
// folder: each diagnostic is pinned to its file, line, column and message,
// and each mistake is reported exactly once.
#include <fstream>

#include "compile_helper.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

/// A diagnostic with the file it is in (by file name) and its notes.
struct FileDiag {
  Diag diag;
  std::string file;
  std::vector<std::string> notes;
};

MATCHER_P5(IsFileDiag, file, kind, line, col, text, "") {
  return arg.file == file && arg.diag.kind == kind && arg.diag.line == static_cast<unsigned>(line) &&
         arg.diag.col == static_cast<unsigned>(col) && arg.diag.message.find(text) != std::string::npos;
}

std::ostream& operator<<(std::ostream& os, const FileDiag& d) { return os << d.file << ":" << d.diag; }

class SpecImportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("flow-spec-imports", dir));
    // Canonical, so that paths in messages compare equal to ours.
    llvm::SmallString<128> real;
    ASSERT_FALSE(llvm::sys::fs::real_path(dir, real));
    dir_ = real.str().str();
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir_); }

  std::string Write(const std::string& rel, const std::string& text) {
    llvm::SmallString<128> path(dir_);
    llvm::sys::path::append(path, rel);
    llvm::sys::fs::create_directories(llvm::sys::path::parent_path(path));
    std::ofstream(path.str().str()) << text;
    return path.str().str();
  }

  std::vector<FileDiag> Lint(const std::string& path) {
    SourceManager sm;
    DiagSink sink;
    driver::FrontendResult result;
    driver::RunWithLargeStack([&] { driver::RunFrontend(sm, path, sink, driver::LoadOptions{}, result); });
    std::vector<FileDiag> out;
    for (const auto& d : sink.diagnostics()) {
      FileDiag fd;
      LineCol lc = d.range.valid() ? sm.GetLineCol(d.range.file, d.range.begin) : LineCol{};
      fd.diag = {d.kind, d.severity, lc.line, lc.col, d.message};
      if (d.range.valid()) fd.file = llvm::sys::path::filename(sm.Path(d.range.file)).str();
      for (const auto& n : d.notes) fd.notes.push_back(n.message);
      out.push_back(std::move(fd));
    }
    return out;
  }

  std::string dir_;
};

TEST_F(SpecImportsTest, CycleBetweenTwoImportedFiles) {
  Write("a.flow", "# a\nimport \"b.flow\"\nstage sa() { run \"a\" }\n");
  Write("b.flow", "# b\n\nimport \"a.flow\"\nstage sb() { run \"b\" }\n");
  std::string main = Write("main.flow", "import \"a.flow\"\npipeline main {\n  sa()\n  sb()\n}\n");
  // Reported once, at the import that closes the cycle.
  EXPECT_THAT(Lint(main), ElementsAre(IsFileDiag("b.flow", DiagKind::ImportCycle, 3, 1,
                                                 "import cycle: a.flow -> b.flow -> a.flow")));
}

TEST_F(SpecImportsTest, CycleThroughTheEntryFile) {
  Write("lib.flow", "import \"main.flow\"\nstage helper() { run \"true\" }\n");
  std::string main = Write("main.flow", "import \"lib.flow\"\npipeline main { helper() }\n");
  EXPECT_THAT(Lint(main), ElementsAre(IsFileDiag("lib.flow", DiagKind::ImportCycle, 1, 1,
                                                 "import cycle: main.flow -> lib.flow -> main.flow")));
}

TEST_F(SpecImportsTest, CycleOfThreeFiles) {
  Write("a.flow", "import \"b.flow\"\n");
  Write("b.flow", "import \"c.flow\"\n");
  Write("c.flow", "stage sc() { run \"c\" }\nimport \"a.flow\"\n");
  std::string main = Write("main.flow", "import \"a.flow\"\npipeline main { sc() }\n");
  EXPECT_THAT(Lint(main), ElementsAre(IsFileDiag("c.flow", DiagKind::ImportCycle, 2, 1,
                                                 "import cycle: a.flow -> b.flow -> c.flow -> a.flow")));
}

TEST_F(SpecImportsTest, FileImportingItself) {
  std::string main = Write("main.flow", "import \"main.flow\"\npipeline main { }\n");
  EXPECT_THAT(Lint(main), ElementsAre(IsFileDiag("main.flow", DiagKind::ImportCycle, 1, 1,
                                                 "'main.flow' imports itself")));
}

TEST_F(SpecImportsTest, DeclarationsOfACycleAreStillChecked) {
  // The cycle is an error, but each file is loaded once: no duplicate
  // definitions, and an error inside the cycle is reported too.
  Write("a.flow", "import \"b.flow\"\nstage sa(x: int) { run \"a {y}\" }\n");
  Write("b.flow", "import \"a.flow\"\nstage sb() { run \"b\" }\n");
  std::string main = Write("main.flow", "import \"a.flow\"\npipeline main {\n  sa(x: 1)\n  sb()\n}\n");
  EXPECT_THAT(Lint(main),
              ::testing::UnorderedElementsAre(
                  IsFileDiag("b.flow", DiagKind::ImportCycle, 1, 1, "import cycle: a.flow -> b.flow -> a.flow"),
                  IsFileDiag("a.flow", DiagKind::RunPlaceholder, 2, 28, "'{y}' names no input or output of stage 'sa'")));
}

TEST_F(SpecImportsTest, MissingFileIsResolvedAgainstTheImportingFile) {
  Write("lib/common.flow", "import \"util.flow\"\nstage hello() { run \"true\" }\n");
  std::string main = Write("main.flow", "\nimport \"lib/common.flow\"\npipeline main { hello() }\n");
  auto diags = Lint(main);
  ASSERT_THAT(diags, ElementsAre(IsFileDiag("common.flow", DiagKind::ImportNotFound, 1, 1,
                                            "cannot find imported file 'util.flow'")));
  EXPECT_THAT(diags[0].notes, ElementsAre("looked for " + dir_ + "/lib/util.flow"));
}

TEST_F(SpecImportsTest, MissingFileAndMissingModuleInTheEntryFile) {
  std::string main = Write("main.flow", "import \"steps.flow\"\nimport std.shell\nimport tools.fmt\npipeline main { }\n");
  EXPECT_THAT(Lint(main), ElementsAre(IsFileDiag("main.flow", DiagKind::ImportNotFound, 1, 1,
                                                 "cannot find imported file 'steps.flow'"),
                                      IsFileDiag("main.flow", DiagKind::ImportNotFound, 3, 1,
                                                 "cannot find module 'tools.fmt'")));
}

TEST_F(SpecImportsTest, ImportingAFolderIsNotFound) {
  llvm::sys::fs::create_directories(dir_ + "/lib.flow");
  std::string main = Write("main.flow", "import \"lib.flow\"\npipeline main { }\n");
  EXPECT_THAT(Lint(main), ElementsAre(IsFileDiag("main.flow", DiagKind::ImportNotFound, 1, 1,
                                                 "cannot find imported file 'lib.flow'")));
}

TEST_F(SpecImportsTest, DuplicateDefinitionAcrossAnImportIsReportedInTheImportingFile) {
  Write("lib.flow", "# lib\nstage hello(who: string) { run \"echo {who}\" }\n");
  std::string main = Write("main.flow",
                           "import \"lib.flow\"\nstage hello(who: string) { run \"echo hi {who}\" }\n"
                           "pipeline main { hello(who: \"x\") }\n");
  auto diags = Lint(main);
  ASSERT_THAT(diags, ElementsAre(IsFileDiag("main.flow", DiagKind::DuplicateDefinition, 2, 7,
                                            "duplicate definition of 'hello'")));
  EXPECT_THAT(diags[0].notes, ElementsAre(::testing::HasSubstr("(a stage) is here")));
}

TEST_F(SpecImportsTest, ValidImportsLintClean) {
  Write("lib/common.flow", "import \"../shared.flow\"\nstage hello(who: string) { run \"echo {who}\" }\n");
  Write("shared.flow", "stage bye(who: string) { run \"echo bye {who}\" }\n");
  std::string main = Write("main.flow",
                           "import \"lib/common.flow\"\nimport std.shell\n"
                           "pipeline main {\n  hello(who: \"a\")\n  bye(who: \"b\")\n  sh(command: \"true\")\n}\n");
  EXPECT_THAT(Lint(main), IsEmpty());
}

}  // namespace
}  // namespace flow::testing
