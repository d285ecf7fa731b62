// SPDX-License-Identifier: Apache-2.0
// RemoveTree: folders at any depth, links never followed.
#include "util/remove_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <cstring>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace flow::rt {
namespace {

namespace fs = std::filesystem;

class RemoveTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flow_remove_tree_test.XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static void Write(int dir_fd, const char* name, const std::string& text) {
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
  }
  std::string root_;
};

// 1,500 levels: paths of 4,500 bytes, beyond PATH_MAX (4,096), where a
// removal by paths cannot reach the bottom. Files at several depths, links
// to a file and a folder outside, which stay.
TEST_F(RemoveTreeTest, RemovesATreeDeeperThanPathMax) {
  std::string outside = root_ + "/outside";
  fs::create_directories(outside + "/keep");
  std::ofstream(outside + "/keep/file.txt") << "kept";
  std::string tree = root_ + "/tree";
  ASSERT_EQ(mkdir(tree.c_str(), 0755), 0);
  int fd = open(tree.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  for (int level = 0; level < 1500; ++level) {
    if (level % 500 == 0) {
      Write(fd, "f1", "x");
      Write(fd, "f2", "y");
      ASSERT_EQ(symlinkat((outside + "/keep").c_str(), fd, "to_dir"), 0);
      ASSERT_EQ(symlinkat((outside + "/keep/file.txt").c_str(), fd, "to_file"), 0);
      ASSERT_EQ(mkdirat(fd, "empty", 0755), 0);
    }
    ASSERT_EQ(mkdirat(fd, "dd", 0755), 0) << "level " << level;
    int next = openat(fd, "dd", O_RDONLY | O_DIRECTORY);
    ASSERT_GE(next, 0);
    close(fd);
    fd = next;
  }
  Write(fd, "bottom", "z");
  close(fd);

  EXPECT_TRUE(RemoveTree(tree)) << std::strerror(errno);
  EXPECT_FALSE(fs::exists(tree));
  EXPECT_TRUE(fs::exists(outside + "/keep/file.txt")) << "a link was followed";
}

TEST_F(RemoveTreeTest, FilesLinksAndNothing) {
  EXPECT_TRUE(RemoveTree(root_ + "/none"));  // nothing there: no error
  std::ofstream(root_ + "/file") << "x";
  EXPECT_TRUE(RemoveTree(root_ + "/file"));
  EXPECT_FALSE(fs::exists(root_ + "/file"));
  fs::create_directories(root_ + "/target/inside");
  fs::create_directory_symlink(root_ + "/target", root_ + "/link");
  EXPECT_TRUE(RemoveTree(root_ + "/link"));  // the link goes, not what it names
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ + "/link")));
  EXPECT_TRUE(fs::exists(root_ + "/target/inside"));
  // Wide: many entries in one folder, folders between files.
  for (int i = 0; i < 300; ++i) {
    fs::create_directories(root_ + "/wide/d" + std::to_string(i) + "/sub");
    std::ofstream(root_ + "/wide/f" + std::to_string(i)) << i;
  }
  EXPECT_TRUE(RemoveTree(root_ + "/wide"));
  EXPECT_FALSE(fs::exists(root_ + "/wide"));
}

}  // namespace
}  // namespace flow::rt
