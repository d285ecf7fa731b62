// SPDX-License-Identifier: Apache-2.0
// `flowc FILE -o PLAN` where PLAN is not a plain file, or writing goes
// wrong. A named pipe (what a device such as /dev/null is to this code: it
// existed before and is not a regular file, so it is written to, never
// renamed over; renaming over /dev/null as root replaced it with a regular
// file), links (the file they point to is written, even one not made yet,
// and the link stays; a loop of them is an error), "-" (standard output;
// refused beside other output there), a folder (an error), a regular file
// (replaced whole, with no temporary file left), a '%' in the folder (the
// temporary file's name must not treat it as a placeholder), and a write
// error (reported, no temporary file left, no abort). They run the flowc of
// this build; /dev/null itself is not used: a regression would break the
// machine the tests run on.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Result {
  int status = -1;  // exit code, or 128 + signal
  std::string out, err;
};

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flowc_output_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "a.flow") << "stage s() -> (o: file) {\n  run \"touch {o}\"\n}\n"
                                      "pipeline main {\n  s()\n}\n";
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
    std::string flowc = FLOWC_PATH;
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
  /// Runs flowc a.flow --no-history -o OUT; returns its exit code, puts its
  /// stdout in `out`, and keeps what it said in last_.
  int Compile(const std::string& output, std::string* out = nullptr) {
    last_ = Run({"a.flow", "--no-history", "-o", output});
    if (out) *out = last_.out;
    return last_.status;
  }
  /// The plan as a plain file gets it, for comparison.
  std::string Expected() {
    EXPECT_EQ(Compile("expected.plan"), 0);
    return ReadFile(dir_ / "expected.plan");
  }
  /// `plan` (as Expected() gives it, with "source":"a.flow") with another
  /// source: a plan names its source relative to its own folder, or
  /// absolute where that folder cannot be known (a pipe, standard output).
  std::string WithSource(std::string plan, const std::string& source) {
    const std::string from = "\"source\":\"a.flow\"";
    size_t at = plan.find(from);
    EXPECT_NE(at, std::string::npos) << plan;
    if (at != std::string::npos) plan.replace(at, from.size(), "\"source\":\"" + source + "\"");
    return plan;
  }
  std::string AbsoluteSource() { return fs::canonical(dir_ / "a.flow").string(); }
  /// Temporary files left in the folder (names with ".tmp").
  std::vector<std::string> Leftovers() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      std::string n = e.path().filename().string();
      if (n.find(".tmp") != std::string::npos) names.push_back(n);
    }
    return names;
  }
  fs::path dir_;
  Result last_;  // of the last Compile
};

TEST_F(OutputFileTest, NamedPipeIsWrittenToAndStaysAPipe) {
  std::string expected = Expected();
  ASSERT_FALSE(expected.empty());
  expected = WithSource(expected, AbsoluteSource());  // whoever reads the pipe may be anywhere
  fs::path fifo = dir_ / "pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  // The reader holds the pipe open for writing too (O_RDWR), so that
  // neither side waits on the other to open it, and reads until it has the
  // whole plan or 10 seconds passed: a flowc that renamed over the pipe
  // fails the test instead of hanging it.
  int fd = open(fifo.c_str(), O_RDWR | O_NONBLOCK);
  ASSERT_GE(fd, 0);
  std::string got;
  std::thread reader([&] {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    char buf[4096];
    while (got.size() < expected.size() && std::chrono::steady_clock::now() < until) {
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
    }
  });
  int rc = Compile("pipe");
  reader.join();
  close(fd);
  EXPECT_EQ(rc, 0) << last_.err;
  EXPECT_EQ(got, expected);
  struct stat st;
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the pipe was replaced by a regular file";
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(OutputFileTest, LinksAreFollowedAndStayLinks) {
  std::string expected = Expected();
  // To an existing file, to one not made yet, and a relative link in a subfolder.
  std::ofstream(dir_ / "old.plan") << "old";
  fs::create_symlink("old.plan", dir_ / "to-old.plan");
  fs::create_symlink("new.plan", dir_ / "to-new.plan");
  fs::create_directory(dir_ / "sub");
  fs::create_symlink("../sub/deep.plan", dir_ / "sub" / "to-deep.plan");
  for (const char* link : {"to-old.plan", "to-new.plan", "sub/to-deep.plan"}) {
    EXPECT_EQ(Compile(link), 0) << link << ": " << last_.err;
    EXPECT_TRUE(fs::is_symlink(dir_ / link)) << link << " was replaced by a regular file";
  }
  EXPECT_EQ(ReadFile(dir_ / "old.plan"), expected);
  EXPECT_EQ(ReadFile(dir_ / "new.plan"), expected);
  EXPECT_EQ(ReadFile(dir_ / "sub" / "deep.plan"), WithSource(expected, "../a.flow"))
      << "the source is relative to the folder of the file written";
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(OutputFileTest, DashIsStandardOutput) {
  std::string expected = Expected();
  std::string out;
  EXPECT_EQ(Compile("-", &out), 0);
  EXPECT_EQ(out, WithSource(expected, AbsoluteSource()));
  EXPECT_FALSE(fs::exists(dir_ / "-"));
}

// /dev/stdout to a pipe (how the tests run flowc) is written as it is, like
// `-o -`: the plan's folder cannot be known, so its source is absolute (it
// was made relative to /proc/self/fd, which `..` cannot leave).
TEST_F(OutputFileTest, DevStdoutToAPipeGivesAnAbsoluteSource) {
  std::string expected = Expected();
  std::string out;
  EXPECT_EQ(Compile("/dev/stdout", &out), 0) << last_.err;
  EXPECT_EQ(out, WithSource(expected, AbsoluteSource()));
}

TEST_F(OutputFileTest, FolderIsAnErrorAndRegularFileIsReplacedWhole) {
  fs::create_directory(dir_ / "folder");
  EXPECT_EQ(Compile("folder"), 1);
  EXPECT_NE(last_.err.find("cannot write 'folder': Is a directory"), std::string::npos)
      << last_.err;
  EXPECT_TRUE(fs::is_directory(dir_ / "folder"));

  std::string expected = Expected();
  std::ofstream(dir_ / "plain.plan") << std::string(100000, 'x');  // longer than the plan
  EXPECT_EQ(Compile("plain.plan"), 0);
  EXPECT_EQ(ReadFile(dir_ / "plain.plan"), expected);
  EXPECT_TRUE(Leftovers().empty());
}


// The temporary file's name comes from a model in which '%' is a
// placeholder: a '%' of the path itself must stay a '%'.
TEST_F(OutputFileTest, PercentSignInTheOutputFolder) {
  fs::create_directory(dir_ / "100%");
  Result r = Run({"a.flow", "-o", "100%/plan.json"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(dir_ / "100%" / "plan.json"));
}

// A write error (here: a file size limit of 0) is reported as "flowc:
// error: cannot write ..." with exit code 1, and no temporary file is left
// (an output stream destroyed with its error set would abort flowc).
TEST_F(OutputFileTest, AWriteErrorIsReportedAndLeavesNoTemporaryFile) {
  Result r = Run({"a.flow", "-o", "plan.json"}, /*no_file_growth=*/true);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("flowc: error: cannot write 'plan.json'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("LLVM ERROR"), std::string::npos) << r.err;
  EXPECT_TRUE(Leftovers().empty());
}

// `-o -` writes the plan to standard output, where JSON diagnostics (and
// --explain, --emit) also go: two documents would run together, so the
// combination is refused as a usage error.
TEST_F(OutputFileTest, PlanOnStdoutBesideOtherOutputIsRefused) {
  for (const char* other : {"--diagnostics-format=json", "--explain", "--emit=dot"}) {
    Result r = Run({"a.flow", "-o", "-", other});
    EXPECT_EQ(r.status, 2) << other << ": " << r.err;
    EXPECT_NE(r.err.find("-o - writes the plan to standard output"), std::string::npos) << other << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << other;
  }
  Result r = Run({"a.flow", "-o", "-"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"format\":\"flow-plan\"", 0), 0u) << r.out.substr(0, 80);
}

// A loop of links: an error (ELOOP), as for the shell's `>`; the links stay.
TEST_F(OutputFileTest, ALoopOfLinksIsAnErrorAndStaysLinks) {
  fs::create_symlink("loopB", dir_ / "loopA");
  fs::create_symlink("loopA", dir_ / "loopB");
  Result r = Run({"a.flow", "-o", "loopA"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write 'loopA': Too many levels of symbolic links"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "loopA"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "loopB"));
}

// docs/plan-format.md: a plan file names its source, and the files of its
// imports, relative to its own folder, where `flow run PLAN` resolves them;
// not relative to the folder flowc ran in.
TEST_F(OutputFileTest, PathsInThePlanAreRelativeToThePlansFolder) {
  fs::create_directories(dir_ / "p" / "lib");
  fs::create_directories(dir_ / "p" / "plans");
  std::ofstream(dir_ / "p" / "lib" / "c.flow") << "stage c() {\n  run \"true\"\n}\n";
  std::ofstream(dir_ / "p" / "r.flow") << "import \"lib/c.flow\"\npipeline main {\n  c()\n}\n";
  // From the source's folder's parent; with the source given absolute (the
  // source is still made relative, an import given absolute stays so, as
  // the stdlib's do); and with the plan in the source's folder.
  struct Case {
    std::vector<std::string> args;
    fs::path plan;
    std::string source, lib;
  } cases[] = {
      {{"p/r.flow", "-o", "p/plans/r.plan"}, dir_ / "p" / "plans" / "r.plan", "../r.flow", "../lib/c.flow"},
      {{(dir_ / "p" / "r.flow").string(), "-o", (dir_ / "p" / "plans" / "abs.plan").string()},
       dir_ / "p" / "plans" / "abs.plan", "../r.flow", (dir_ / "p" / "lib" / "c.flow").string()},
      {{"p/r.flow", "-o", "p/here.plan"}, dir_ / "p" / "here.plan", "r.flow", "lib/c.flow"},
  };
  for (const auto& c : cases) {
    Result r = Run(c.args);
    ASSERT_EQ(r.status, 0) << c.plan << ": " << r.err;
    std::string plan = ReadFile(c.plan);
    EXPECT_NE(plan.find("\"source\":\"" + c.source + "\""), std::string::npos) << c.plan << ": " << plan.substr(0, 120);
    EXPECT_NE(plan.find("\"file\":\"" + c.lib + "\""), std::string::npos) << c.plan << ": " << plan;
  }
  // --emit plan has no file to be relative to: paths as flowc was given them.
  Result emitted = Run({"p/r.flow", "--emit", "plan"});
  EXPECT_EQ(emitted.status, 0) << emitted.err;
  EXPECT_NE(emitted.out.find("\"source\": \"p/r.flow\""), std::string::npos) << emitted.out.substr(0, 120);
}

}  // namespace
