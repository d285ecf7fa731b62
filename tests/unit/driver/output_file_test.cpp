// SPDX-License-Identifier: Apache-2.0
// `flowc FILE -o PLAN` where PLAN is not a plain file: a named pipe (what a
// device such as /dev/null is to this code: it existed before and is not a
// regular file, so it is written to, never renamed over; renaming over
// /dev/null as root replaced it with a regular file), links (the file they
// point to is written, even one not made yet, and the link stays), "-"
// (standard output), a folder (an error), and a regular file (replaced
// whole, with no temporary file left). /dev/null itself is not used here:
// a regression would break the machine the tests run on.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flowc_output_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "a.flow") << "stage s() -> (o: file) {\n  run \"touch {o}\"\n}\n"
                                      "pipeline main {\n  s()\n}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Runs flowc a.flow -o OUT in the test folder; returns its exit code and
  /// puts its stdout in `out`.
  int Compile(const std::string& output, std::string* out = nullptr) {
    std::string cmd = "cd '" + dir_.string() + "' && '" FLOWC_PATH "' a.flow --no-history -o '" + output +
                      "' > flowc.out 2> flowc.err";
    int rc = std::system(cmd.c_str());
    if (out) *out = ReadFile(dir_ / "flowc.out");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  /// The plan as a plain file gets it, for comparison.
  std::string Expected() {
    EXPECT_EQ(Compile("expected.plan"), 0);
    return ReadFile(dir_ / "expected.plan");
  }
  /// Names in the folder other than the test's own files.
  std::vector<std::string> Leftovers() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      std::string n = e.path().filename().string();
      if (n.find(".tmp") != std::string::npos) names.push_back(n);
    }
    return names;
  }
  fs::path dir_;
};

TEST_F(OutputFileTest, NamedPipeIsWrittenToAndStaysAPipe) {
  std::string expected = Expected();
  ASSERT_FALSE(expected.empty());
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
  EXPECT_EQ(rc, 0) << ReadFile(dir_ / "flowc.err");
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
    EXPECT_EQ(Compile(link), 0) << link << ": " << ReadFile(dir_ / "flowc.err");
    EXPECT_TRUE(fs::is_symlink(dir_ / link)) << link << " was replaced by a regular file";
  }
  EXPECT_EQ(ReadFile(dir_ / "old.plan"), expected);
  EXPECT_EQ(ReadFile(dir_ / "new.plan"), expected);
  EXPECT_EQ(ReadFile(dir_ / "sub" / "deep.plan"), expected);
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(OutputFileTest, DashIsStandardOutput) {
  std::string expected = Expected();
  std::string out;
  EXPECT_EQ(Compile("-", &out), 0);
  EXPECT_EQ(out, expected);
  EXPECT_FALSE(fs::exists(dir_ / "-"));
}

TEST_F(OutputFileTest, FolderIsAnErrorAndRegularFileIsReplacedWhole) {
  fs::create_directory(dir_ / "folder");
  EXPECT_EQ(Compile("folder"), 1);
  EXPECT_NE(ReadFile(dir_ / "flowc.err").find("cannot write 'folder': Is a directory"), std::string::npos)
      << ReadFile(dir_ / "flowc.err");
  EXPECT_TRUE(fs::is_directory(dir_ / "folder"));

  std::string expected = Expected();
  std::ofstream(dir_ / "plain.plan") << std::string(100000, 'x');  // longer than the plan
  EXPECT_EQ(Compile("plain.plan"), 0);
  EXPECT_EQ(ReadFile(dir_ / "plain.plan"), expected);
  EXPECT_TRUE(Leftovers().empty());
}

}  // namespace
