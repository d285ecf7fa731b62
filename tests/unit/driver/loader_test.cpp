// SPDX-License-Identifier: Apache-2.0
// Loader tests: relative imports, std modules, missing files and cycles,
// over real files in a temporary folder.
#include <fstream>

#include "compile_helper.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace flow::testing {
namespace {

using ::testing::ElementsAre;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("flow-loader", dir));
    dir_ = dir.str().str();
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir_); }
  std::string Write(const std::string& rel, const std::string& text) {
    llvm::SmallString<128> path(dir_);
    llvm::sys::path::append(path, rel);
    llvm::sys::fs::create_directories(llvm::sys::path::parent_path(path));
    std::ofstream(path.str().str()) << text;
    return path.str().str();
  }
  std::vector<Diag> Lint(const std::string& path) {
    SourceManager sm;
    DiagSink sink;
    driver::FrontendResult result;
    driver::RunFrontend(sm, path, sink, driver::LoadOptions{}, result);
    std::vector<Diag> out;
    for (const auto& d : sink.diagnostics()) {
      LineCol lc = d.range.valid() ? sm.GetLineCol(d.range.file, d.range.begin) : LineCol{};
      out.push_back({d.kind, d.severity, lc.line, lc.col, d.message});
    }
    return out;
  }
  std::string dir_;
};

TEST_F(LoaderTest, RelativeImportBringsDeclarations) {
  Write("lib/common.flow", "stage hello(who: string) { run \"echo {who}\" }\n");
  std::string main = Write("main.flow", "import \"lib/common.flow\"\npipeline main { hello(who: \"x\") }\n");
  EXPECT_THAT(Lint(main), ::testing::IsEmpty());
}

TEST_F(LoaderTest, DiamondImportsLoadEachFileOnce) {
  Write("a.flow", "import \"c.flow\"\n");
  Write("b.flow", "import \"c.flow\"\n");
  Write("c.flow", "stage hello() { run \"true\" }\n");
  std::string main = Write("main.flow", "import \"a.flow\"\nimport \"b.flow\"\npipeline main { hello() }\n");
  EXPECT_THAT(Lint(main), ::testing::IsEmpty());  // no duplicate definition of hello
}

TEST_F(LoaderTest, MissingImportIsReportedAtTheImport) {
  std::string main = Write("main.flow", "\nimport \"nope.flow\"\nimport std.nope\n");
  EXPECT_THAT(Lint(main), ElementsAre(IsDiagMsg(DiagKind::ImportNotFound, 2, 1, "nope.flow"),
                                      IsDiagMsg(DiagKind::ImportNotFound, 3, 1, "std.nope")));
}

TEST_F(LoaderTest, ImportCycleIsAnError) {
  Write("a.flow", "import \"b.flow\"\n");
  Write("b.flow", "import \"a.flow\"\n");
  std::string main = Write("main.flow", "import \"a.flow\"\n");
  auto diags = Lint(main);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].kind, DiagKind::ImportCycle);
  EXPECT_EQ(diags[0].message, "import cycle: a.flow -> b.flow -> a.flow");
}

TEST_F(LoaderTest, MissingEntryFile) {
  auto diags = Lint(dir_ + "/absent.flow");
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].kind, DiagKind::FileNotFound);
}

}  // namespace
}  // namespace flow::testing
