// SPDX-License-Identifier: Apache-2.0
// `flowc -o` when writing goes wrong or the path is unusual: a '%' in the
// folder (the temporary file's name is made from a model where '%' is a
// placeholder), a write error (reported, no temporary file left, no abort),
// `-o -` beside other output on stdout (refused), a loop of links (an
// error; the links stay). They run the flowc of this build; none touches a
// device.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;

std::string Flowc() { return FLOWC_PATH; }

struct Result {
  int status = -1;  // exit code, or 128 + signal
  std::string out, err;
};

class OutputFileErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flowc_output_errors_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "p.flow") << "stage a() -> (out: file) {\n  run \"echo hi > {out}\"\n}\n"
                                      "pipeline main {\n  a()\n}\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs flowc in dir_; `no_file_growth`: RLIMIT_FSIZE 0 (writes to regular
  // files fail with EFBIG, as on a full disk) with SIGXFSZ ignored.
  Result Run(const std::vector<std::string>& args, bool no_file_growth = false) {
    int out_pipe[2], err_pipe[2];
    EXPECT_EQ(pipe(out_pipe), 0);
    EXPECT_EQ(pipe(err_pipe), 0);
    std::string flowc = Flowc();
    pid_t pid = fork();
    if (pid == 0) {
      if (chdir(dir_.c_str()) != 0) _exit(120);
      dup2(out_pipe[1], 1);
      dup2(err_pipe[1], 2);
      close(out_pipe[0]);
      close(err_pipe[0]);
      if (no_file_growth) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_FSIZE, &rl);
      }
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(flowc.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(flowc.c_str(), argv.data());
      _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    Result r;
    // Read both to the end (stderr is small; stdout may hold a plan).
    char buf[65536];
    for (bool out_open = true, err_open = true; out_open || err_open;) {
      if (out_open) {
        ssize_t n = read(out_pipe[0], buf, sizeof buf);
        if (n > 0) r.out.append(buf, static_cast<size_t>(n));
        else out_open = false;
      }
      if (!out_open && err_open) {
        ssize_t n = read(err_pipe[0], buf, sizeof buf);
        if (n > 0) r.err.append(buf, static_cast<size_t>(n));
        else err_open = false;
      }
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
  }
  std::vector<std::string> Names() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    return names;
  }
  fs::path dir_;
};

// The temporary file's name comes from a model in which '%' is a
// placeholder: a '%' of the path itself must stay a '%'.
TEST_F(OutputFileErrorsTest, PercentSignInTheOutputFolder) {
  fs::create_directory(dir_ / "100%");
  Result r = Run({"p.flow", "-o", "100%/plan.json"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(dir_ / "100%" / "plan.json"));
}

// A write error (here: a file size limit of 0) is reported as "flowc:
// error: cannot write ..." with exit code 1, and no temporary file is left
// (an output stream destroyed with its error set would abort flowc).
TEST_F(OutputFileErrorsTest, AWriteErrorIsReportedAndLeavesNoTemporaryFile) {
  Result r = Run({"p.flow", "-o", "plan.json"}, /*no_file_growth=*/true);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("flowc: error: cannot write 'plan.json'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("LLVM ERROR"), std::string::npos) << r.err;
  for (const auto& n : Names()) EXPECT_EQ(n.find(".tmp-"), std::string::npos) << n;
}

// `-o -` writes the plan to standard output, where JSON diagnostics (and
// --explain, --emit) also go: two documents would run together, so the
// combination is refused as a usage error.
TEST_F(OutputFileErrorsTest, PlanOnStdoutBesideOtherOutputIsRefused) {
  for (const char* other : {"--diagnostics-format=json", "--explain", "--emit=dot"}) {
    Result r = Run({"p.flow", "-o", "-", other});
    EXPECT_EQ(r.status, 2) << other << ": " << r.err;
    EXPECT_NE(r.err.find("-o - writes the plan to standard output"), std::string::npos) << other << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << other;
  }
  Result r = Run({"p.flow", "-o", "-"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"format\":\"flow-plan\"", 0), 0u) << r.out.substr(0, 80);
}

// A loop of links: an error (ELOOP), as for the shell's `>`; the links stay.
TEST_F(OutputFileErrorsTest, ALoopOfLinksIsAnErrorAndStaysLinks) {
  fs::create_symlink("loopB", dir_ / "loopA");
  fs::create_symlink("loopA", dir_ / "loopB");
  Result r = Run({"p.flow", "-o", "loopA"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write 'loopA': Too many levels of symbolic links"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "loopA"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "loopB"));
}

}  // namespace
